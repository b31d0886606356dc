"""Property-based differential tests: each family's drawn models, converted and run,
must match ONNX Runtime under the one rule in prop_oracle.mismatch (README.md here)."""
from __future__ import annotations

import pytest
from hypothesis import given

from prop_check import check
from prop_strategies import FAMILIES as _BASE
from prop_strategies_ext import EXT_FAMILIES

FAMILIES = {**_BASE, **EXT_FAMILIES}

pytestmark = pytest.mark.properties


def _family_test(name):
    @given(example=FAMILIES[name])
    def test(isolated_converter, example):
        check(name, example, isolated_converter)
    test.__name__ = f"test_{name}"
    return test


for _name in FAMILIES:
    globals()[f"test_{_name}"] = _family_test(_name)
