"""Zoo cases through the harness, one test per (framework, model, opset, device).

Parametrized by the root conftest.py: only the smoke case unless a zoo selector is given
(``--zoo``, ``--framework``, ``--model``, ``--opset``, ``--device``, ``-k``).
"""
import pytest

from harness import status as st
from harness.matrix import stale_row
from harness.runner import run_case


def test_zoo_case(zoo_case, zoo_run_options):
    rec = run_case(zoo_case, zoo_run_options)
    status = rec["status"]
    kind = st.kind(status)
    if kind == "skip":
        pytest.skip(f"{status}: {rec['reason']}")
    if kind == "xfail":
        pytest.xfail(f"{status}: {rec['reason']}")
    if status == st.XPASS:   # a stale xfail row fails, as in a strict matrix run (docs/design.md §3)
        pytest.fail(f"xpass: {stale_row(rec)}")
    assert status == st.PASS, (f"{status}: {rec['error']}\n  bundle: {rec['bundle']}\n"
                               f"  repro: python -m harness repro {rec['bundle']}")
