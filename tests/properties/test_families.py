"""Property-based differential tests: each family's drawn models, converted and run,
must match ONNX Runtime under the one rule in prop_oracle.mismatch (README.md here), eagerly
and as nn.Graph (graph mode also equal to eager within float noise)."""
from __future__ import annotations

import os

import pytest
from hypothesis import given, settings

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


# nn.Graph compiles each drawn model (~0.1-0.5 s): the "ci" profile draws fewer examples per
# family in graph mode so `make test` stays within its budget; "nightly" draws its full count.
GRAPH_EXAMPLES = {"ci": 5}


def _family_graph_test(name):
    @given(example=FAMILIES[name])
    def test(isolated_graph_converter, example):
        check(name, example, isolated_graph_converter)
    test.__name__ = f"test_{name}_graph"
    count = GRAPH_EXAMPLES.get(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
    return settings(max_examples=count)(test) if count else test


for _name in FAMILIES:
    globals()[f"test_{_name}"] = _family_test(_name)
    globals()[f"test_{_name}_graph"] = _family_graph_test(_name)
