import numpy as np

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


def test_compare_shape_mismatch_and_nan_fail():
    assert not compare("y", np.zeros(3), np.zeros(4)).passed
    assert not compare("y", np.array([np.nan, 1.0]), np.array([0.0, 1.0])).passed


def test_top5_agreement():
    ref = np.arange(10, dtype=np.float32)[None]
    p = compare("logits", ref, ref, classifier=True)
    assert p.top5_agreement == 1.0
