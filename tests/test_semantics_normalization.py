"""MeanVarianceNormalization (issue 9): statistics precise to float32 rounding (two passes,
accumulated in float64), against a float64 computation and ONNX Runtime; over one element
the spec's function body gives (x - mean) / (0 + 1e-9) = 0, where ORT gives NaN: spec."""
from __future__ import annotations

import numpy as np
import pytest

from semantics_check import node_model, run_converted, run_ort


def _float64_mvn(x, axes):
    x = x.astype(np.float64)
    mean = x.mean(axis=tuple(axes), keepdims=True)
    std = np.sqrt(((x - mean) ** 2).mean(axis=tuple(axes), keepdims=True))
    return (x - mean) / (std + 1e-9)


@pytest.mark.parametrize("axes", [[0, 2, 3], [1], [2, 3]], ids=str)
def test_mvn_is_as_precise_as_float32_allows(axes):
    x = (np.random.default_rng(3).standard_normal((2, 3, 32, 32)) * 3 + 1).astype(np.float32)
    model = node_model("MeanVarianceNormalization", {"x": x}, opset=13, axes=axes)
    got = run_converted(model, {"x": x})[0]
    exact = _float64_mvn(x, axes)
    ort_error = np.abs(run_ort(model, {"x": x})[0] - exact).max()
    error = np.abs(got - exact).max()
    assert got.dtype == np.float32
    assert error <= max(ort_error, 2.5e-7), (error, ort_error)   # ~ half a float32 ulp of |y| < 4


def test_mvn_float16_keeps_its_dtype():
    # ORT 1.19 cannot run MVN on float16 (its function body mixes float and float16 constants).
    x = np.random.default_rng(4).standard_normal((1, 2, 4, 4)).astype(np.float16)
    got = run_converted(node_model("MeanVarianceNormalization", {"x": x}, opset=13), {"x": x})[0]
    assert got.dtype == np.float16
    np.testing.assert_allclose(got, _float64_mvn(x, [0, 2, 3]), rtol=1e-3, atol=1e-3)


def test_mvn_over_one_element_is_zero_per_spec():
    x = np.array([[[[3.0]], [[-2.0]]]], np.float32)   # (1, 2, 1, 1): one cell per channel
    model = node_model("MeanVarianceNormalization", {"x": x}, opset=13)
    np.testing.assert_array_equal(run_converted(model, {"x": x})[0], np.zeros_like(x))
    assert np.isnan(run_ort(model, {"x": x})[0]).all()   # ORT's departure, documented


# F10: InstanceNormalization needs N x C x D1...; ORT refuses a lower rank at run time. The
# converter refuses it while building (shape known) or at run time (rank known only then).
def test_instance_norm_rank_2_is_refused():
    import converter
    from converter.errors import NodeBuildError
    x = np.ones((2, 2), np.float32)
    model = node_model("InstanceNormalization", {"x": x}, consts={"s": np.ones(2, np.float32), "b": np.zeros(2, np.float32)},
                       opset=13)
    with pytest.raises(Exception, match="number of dimensions is less than 3"):
        run_ort(model, {"x": x})
    with pytest.raises(NodeBuildError, match="instancenormalization_node.*rank >= 3"):
        converter.convert(model)


# F11: an all-zero slice normalises to 0, as ORT (x / 0 would be NaN).
@pytest.mark.parametrize("p,axis", [(1, 0), (2, -1), (2, 1)])
def test_lp_normalization_of_an_all_zero_slice_is_zero(p, axis):
    x = np.array([[0, 1, 0], [0, 2, 0]], np.float32)
    model = node_model("LpNormalization", {"x": x}, opset=13, p=p, axis=axis)
    got, expected = run_converted(model, {"x": x})[0], run_ort(model, {"x": x})[0]
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)


# F12: float64 LayerNormalization follows the spec's function body for stash_type=1 (float32
# statistics and normalisation, scale/bias in float64); ORT 1.19 computes in float64, so the
# two agree at float32 precision only. Checked against the spec's own reference implementation.
def test_layer_norm_float64_follows_stash_type_float32():
    from onnx.reference import ReferenceEvaluator
    x = np.array([[0.1, 0.7, 2.3, -1.9]])
    model = node_model("LayerNormalization", {"x": x}, consts={"s": np.ones(4), "b": np.full(4, 0.25)}, opset=17)
    got = run_converted(model, {"x": x})[0]
    assert got.dtype == np.float64
    spec = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, spec, rtol=1e-7, atol=0)
    np.testing.assert_allclose(got, run_ort(model, {"x": x})[0], rtol=1e-6, atol=1e-7)
