"""The project's one comparison (converter.numerics), as the harness, the CLI's --check and
the conformance runner use it."""
import subprocess
import sys

import numpy as np

from converter.numerics import compare_output, compare_outputs
from harness.parity import compare


def test_compare_passes_within_tolerance_and_reports_errors():
    ref = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], dtype=np.float32)
    p = compare("y", ref * (1 + 5e-4), ref)
    assert p.passed and p.shape_ok
    assert np.isclose(p.max_abs, 6.0 * 5e-4, rtol=1e-3)
    assert np.isclose(p.max_rel, 5e-4, rtol=1e-3)


def test_compare_fails_outside_tolerance_and_gives_min_atol():
    ref = np.zeros((2, 3), dtype=np.float32)
    out = ref.copy()
    out[1, 2] = 1e-3
    p = compare("y", out, ref)
    assert not p.passed
    assert np.isclose(p.min_atol, 1e-3)


def test_a_bool_output_never_equals_a_float_one():
    p = compare("y", np.array([True, False]), np.array([1.0, 0.0], np.float32))
    assert not p.passed and "dtype bool, expected float32" in p.error
    assert not compare("y", np.array([1.0, 0.0]), np.array([True, False])).passed
    assert compare("y", np.array([True, False]), np.array([True, False])).passed
    # the gates ask for the dtype exactly: float64 values that match are still another output
    assert compare("y", np.ones(3, np.float32), np.ones(3, np.float32), check_dtype=True).passed
    assert not compare("y", np.ones(3, np.float64), np.ones(3, np.float32), check_dtype=True).passed


def test_compare_shape_mismatch_and_nan_fail():
    assert not compare("y", np.zeros(3), np.zeros(4)).passed
    assert not compare("y", np.array([np.nan, 1.0]), np.array([0.0, 1.0])).passed


def test_one_nan_rule_nan_where_nan_inf_same_sign():
    ref = np.array([np.nan, np.inf, -np.inf, 1.0])
    same = compare_output("y", ref.copy(), ref)
    assert same.passed and same.max_abs == 0.0
    assert not compare_output("y", np.array([0.0, np.inf, -np.inf, 1.0]), ref).passed    # NaN lost
    assert not compare_output("y", np.array([np.nan, -np.inf, -np.inf, 1.0]), ref).passed  # inf sign
    assert not compare_output("y", np.array([np.nan, np.inf, -np.inf, np.nan]), ref).passed  # NaN invented
    assert "NaN/inf" in compare_output("y", np.array([np.nan, 1.0, -np.inf, 1.0]), ref).error


def test_missing_and_extra_outputs_fail_by_name_and_by_position():
    a = np.ones(2)
    rows = compare_outputs({"y": a, "extra": a}, {"y": a, "z": a})
    assert [(r.name, r.passed) for r in rows] == [("y", True), ("z", False), ("extra", False)]
    assert "missing output 'z'" in rows[1].error and "extra output 'extra'" in rows[2].error
    assert [r.passed for r in compare_outputs([a], [a, a])] == [True, False]
    assert [r.passed for r in compare_outputs([a, a], [a])] == [True, False]


def test_top5_agreement():
    ref = np.arange(10, dtype=np.float32)[None]
    p = compare("logits", ref, ref, classifier=True)
    assert p.top5_agreement == 1.0


def test_comparison_imports_without_oneflow():
    # The harness parent and reports import it: converter's package init must not pull OneFlow in.
    code = "import sys, converter.numerics, harness.parity, harness.cases; print('oneflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stdout + out.stderr
