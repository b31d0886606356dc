"""Pooling with ceil_mode (issue 9): up to opset 21 the ONNX output-shape formula keeps a last
window that starts in the end padding or past the input (ONNX Runtime and onnx shape inference
do); opset 22 drops it. A kept window that covers no input gives the dtype's lowest value
(MaxPool) or 0 (AveragePool, LpPool), as ONNX Runtime's consistent paths do: ORT 1.19's 2-D
MaxPool and AveragePool-11 kernels fill such a *row* with stale values, so the 2-D tests with
an empty row compare with onnx shape inference for the shape and with these values."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx.reference import ReferenceEvaluator

from semantics_check import assert_outputs, check_against_ort, node_model, run_converted, run_ort

rng = np.random.default_rng(5)


def x_of(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# (input shape, attributes): each keeps a ceil_mode window that covers no input cell.
EMPTY_LAST = {
    "1d": ((1, 2, 5), dict(kernel_shape=[2], strides=[2], pads=[1, 1])),
    "2d_width_only": ((1, 2, 6, 5), dict(kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1])),
    "2d_asymmetric": ((1, 1, 6, 7), dict(kernel_shape=[3, 3], strides=[2, 3], pads=[0, 1, 1, 2])),
    "3d": ((1, 1, 4, 5, 3), dict(kernel_shape=[2, 2, 2], strides=[2, 2, 2], pads=[0, 0, 1, 0, 0, 1])),
}


@pytest.mark.parametrize("opset", [12, 19, 21])
@pytest.mark.parametrize("case", EMPTY_LAST)
def test_max_pool_keeps_the_last_ceil_window_up_to_opset_21(case, opset):
    shape, attrs = EMPTY_LAST[case]
    check_against_ort("MaxPool", {"x": x_of(*shape)}, opset=opset, ceil_mode=1, **attrs)


@pytest.mark.parametrize("opset", [12, 21])
def test_max_pool_empty_last_row_follows_shape_inference(opset):
    # ORT 1.19's 2-D MaxPool fills an empty last *row* with the row above (its columns, and its
    # Indices variant, give the lowest value): compare with shape inference and the lowest value.
    x = x_of(1, 1, 5, 6)
    model = node_model("MaxPool", {"x": x}, opset=opset, ceil_mode=1, kernel_shape=[2, 2], strides=[2, 2],
                       pads=[1, 0, 1, 0])
    got = run_converted(model, {"x": x})[0]
    declared = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert list(got.shape) == declared == [1, 1, 4, 3]
    assert (got[:, :, -1] == np.finfo(np.float32).min).all()
    np.testing.assert_array_equal(got[0, 0, 1:3], x[0, 0, 1:5].reshape(2, 2, 3, 2).max(axis=(1, 3)))


@pytest.mark.parametrize("include_pad", [0, 1])
@pytest.mark.parametrize("case", EMPTY_LAST)
def test_average_pool_keeps_the_last_ceil_window_up_to_opset_21(case, include_pad):
    shape, attrs = EMPTY_LAST[case]
    check_against_ort("AveragePool", {"x": x_of(*shape)}, opset=19, ceil_mode=1,
                      count_include_pad=include_pad, **attrs)


@pytest.mark.parametrize("case", EMPTY_LAST)
def test_lp_pool_keeps_the_last_ceil_window(case):
    shape, attrs = EMPTY_LAST[case]
    check_against_ort("LpPool", {"x": x_of(*shape)}, opset=19, ceil_mode=1, p=2, **attrs)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_dilated_ceil_windows(op):
    check_against_ort(op, {"x": x_of(1, 1, 8, 9)}, opset=19, ceil_mode=1, kernel_shape=[2, 3],
                      strides=[3, 2], pads=[1, 0, 1, 2], dilations=[2, 2])


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_auto_pad_with_ceil_mode(op, auto_pad):
    check_against_ort(op, {"x": x_of(1, 2, 7, 6)}, opset=19, ceil_mode=1, kernel_shape=[3, 2],
                      strides=[2, 2], auto_pad=auto_pad)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_opset_22_drops_a_window_that_starts_in_the_padding(op):
    # ORT 1.19 stops at opset 21. The v22 text drops the window; onnx's reference does for
    # MaxPool but keeps it (NaN) for AveragePool: compare with its other cells.
    x = x_of(1, 2, 5, 5)
    model = node_model(op, {"x": x}, opset=22, ceil_mode=1, kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1])
    got = run_converted(model, {"x": x})
    assert got[0].shape == (1, 2, 3, 3)
    assert_outputs(got, [ReferenceEvaluator(model).run(None, {"x": x})[0][:, :, :3, :3]], rtol=1e-5, atol=1e-6)


def test_lp_pool_22_keeps_the_window():
    # LpPool-22's text has no sentence dropping it; the reference keeps it too.
    x = x_of(1, 2, 5, 5)
    model = node_model("LpPool", {"x": x}, opset=22, ceil_mode=1, kernel_shape=[2, 2], strides=[2, 2],
                       pads=[1, 1, 1, 1])
    assert_outputs(run_converted(model, {"x": x}), ReferenceEvaluator(model).run(None, {"x": x}), rtol=1e-5, atol=1e-6)


def test_max_pool_indices_with_ceil_mode():
    check_against_ort("MaxPool", {"x": x_of(1, 2, 7, 7)}, opset=12, n_outputs=2, ceil_mode=1,
                      kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])


@pytest.mark.parametrize("case,storage_order", [(c, 0) for c in EMPTY_LAST] + [
    (c, 1) for c, (shape, _) in EMPTY_LAST.items() if len(shape) == 4])   # storage_order=1: 2-D only
def test_max_pool_indices_of_a_window_without_input_follow_onnx_runtime(case, storage_order):
    # Undefined in the spec; ORT's value: the lowest float, and the index of coordinates
    # (-1, ..., -1) in the window's plane (e.g. plane * H*W - W - 1). Was refused before.
    shape, attrs = EMPTY_LAST[case]
    check_against_ort("MaxPool", {"x": x_of(2, *shape[1:])}, opset=12, n_outputs=2, ceil_mode=1,
                      storage_order=storage_order, rtol=0, atol=0, **attrs)


@pytest.mark.parametrize("op,n_outputs", [("MaxPool", 1), ("MaxPool", 2), ("AveragePool", 1)])
@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER"])
def test_same_auto_pad_output_length_ignores_ceil_mode(auto_pad, op, n_outputs):
    # ceil(n / stride) (spec, ORT): with a stride longer than the window the SAME pads would be
    # negative; clamped at 0 they let the ceil formula add a window past the input (length 2
    # instead of 1 here).
    check_against_ort(op, {"x": x_of(2, 3, 1, 2)}, opset=12, n_outputs=n_outputs, ceil_mode=1,
                      kernel_shape=[1, 1], strides=[2, 2], auto_pad=auto_pad, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=lambda d: np.dtype(d).name)
def test_integer_max_pool_empty_window_is_the_dtype_minimum(dtype):
    x = rng.integers(0, 100, (1, 1, 5)).astype(dtype)
    check_against_ort("MaxPool", {"x": x}, opset=12, ceil_mode=1, kernel_shape=[2], strides=[2], pads=[1, 1],
                      rtol=0, atol=0)


# F5: OneFlow has no CPU float16 max_pool kernel; the max is computed in float32 (exact).
@pytest.mark.parametrize("attrs", [dict(kernel_shape=[2, 1]), dict(kernel_shape=[2, 2], pads=[0, 1, 1, 0], ceil_mode=1),
                                   dict(kernel_shape=[3], strides=[2])], ids=["native", "padded", "1d"])
def test_max_pool_float16(attrs):
    x = rng.standard_normal((1, 2, 5, 4) if len(attrs["kernel_shape"]) == 2 else (1, 2, 7)).astype(np.float16)
    check_against_ort("MaxPool", {"x": x}, opset=13, rtol=0, atol=0, **attrs)


def test_max_pool_float16_indices():
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float16)
    check_against_ort("MaxPool", {"x": x}, opset=13, n_outputs=2, rtol=0, atol=0, kernel_shape=[2, 2], strides=[2, 2])


# F6: a window longer than the padded input with an output length of 0 gives the empty output
# as ORT (in-process here: the worker-isolated versions are in tests/properties/test_regressions.py).
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool", "LpPool"])
def test_window_longer_than_the_padded_input_by_one_is_empty(op):
    x = x_of(1, 2, 2)
    expected = check_against_ort(op, {"x": x}, opset=18, kernel_shape=[3])
    assert expected[0].shape == (1, 2, 0)


# ORT's output length is (padded - span) / stride + 1 cast to an integer, i.e. truncated
# toward zero: a window longer than the padded input by at most one stride gives an empty
# axis, a longer one is refused (the spec's floor would make most of these negative).
@pytest.mark.parametrize("n,kernel,dilation,stride,empty", [
    (1, 3, 2, 3, True), (1, 3, 2, 5, True), (2, 4, 1, 3, True), (2, 4, 1, 2, True), (1, 3, 2, 2, False)])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool", "LpPool"])
def test_window_longer_than_the_padded_input_by_at_most_a_stride_is_empty(op, n, kernel, dilation, stride, empty):
    import converter
    from converter.dtypes import to_tensor

    x = x_of(1, 2, n)
    attrs = dict(kernel_shape=[kernel], strides=[stride], dilations=[dilation])
    if empty:
        expected = check_against_ort(op, {"x": x}, opset=19, **attrs)
        assert expected[0].shape == (1, 2, 0)
        return
    model = node_model(op, {"x": x}, opset=19, **attrs)
    with pytest.raises(Exception):
        run_ort(model, {"x": x})
    with pytest.raises(converter.NodeExecutionError, match="shorter than the dilated kernel"):
        converter.convert(model)(to_tensor(x))
