"""Hypothesis profiles and the converter worker for the property tests.

Profiles (HYPOTHESIS_PROFILE selects; default "ci"):
  ci       - what `make test` runs: few examples per family, derandomized, no example
             database, so every run draws the same examples (seconds in total).
  nightly  - many examples per family, random seeds: explores. Run it as
             HYPOTHESIS_PROFILE=nightly python -m pytest tests/properties -m properties -n 0
PROP_SURVEY=<file.jsonl> records every example's outcome there and lets mismatches pass,
so one long run lists every failure instead of stopping at the first (tests/properties/README.md).
"""
from __future__ import annotations

import os
import sys
import tempfile

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

sys.path.insert(0, os.path.dirname(__file__))
# Hypothesis keeps a cache under its home directory: outside the work tree.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "onnx2oneflow-hypothesis"))

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                      HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=15, derandomize=True, **_COMMON)
settings.register_profile("nightly", max_examples=400, derandomize=False, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def isolated_converter():
    from prop_oracle import IsolatedConverter
    runner = IsolatedConverter()
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def isolated_graph_converter():
    """The same worker, converting with graph=True: the model runs as nn.Graph (prop_oracle)."""
    from prop_oracle import IsolatedConverter
    runner = IsolatedConverter(mode="graph")
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def isolated_graph_sizes_converter():
    """graph=True, one converted model called with several input lists (prop_oracle)."""
    from prop_oracle import IsolatedConverter
    runner = IsolatedConverter(mode="graph-sizes")
    yield runner
    runner.close()
