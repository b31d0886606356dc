"""Property family: ONNX Runtime's quantized com.microsoft operators on drawn scales, zero points,
8-bit types, shapes and attributes must equal ORT exactly (docs/operators.md, com.microsoft).

Single-node models; ORT runs them as written on one thread. In-process: the ops' handlers are
plain tensor arithmetic (nothing here reaches a OneFlow CHECK)."""
from __future__ import annotations

import numpy as np
import oneflow as flow
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, strategies as st
from onnx import helper, numpy_helper

import converter

pytestmark = pytest.mark.properties
MS = "com.microsoft"


def _run_both(node, feeds, inits, out_dtype, out_rank):
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for n, v in feeds.items()],
        [helper.make_tensor_value_info("y", helper.np_dtype_to_tensor_dtype(np.dtype(out_dtype)),
                                       [f"d{i}" for i in range(out_rank)])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(MS, 1)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    want = ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got = converter.convert(model)(*[flow.tensor(v) for v in feeds.values()]).numpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    diff = got.astype(np.float64) - want.astype(np.float64)
    assert not diff.any(), f"{node.op_type}: {int((diff != 0).sum())} of {diff.size} differ, max {np.abs(diff).max()}"


@st.composite
def _quant(draw):
    dtype = draw(st.sampled_from([np.uint8, np.int8]))
    lo, hi = (0, 255) if dtype == np.uint8 else (-128, 127)

    def scale():
        return np.float32(10 ** draw(st.floats(-3, 0.5)))

    def zero():
        return np.array(draw(st.integers(lo, hi)), dtype)
    return dtype, lo, hi, scale, zero, np.random.default_rng(draw(st.integers(0, 2 ** 16)))


@given(q=_quant(), op=st.sampled_from(["QLinearSigmoid", "QLinearLeakyRelu"]), alpha=st.floats(0, 1))
def test_lookup_table_ops_are_exact(q, op, alpha):
    dtype, lo, hi, scale, zero, _ = q
    x = np.arange(lo, hi + 1).astype(dtype).reshape(4, 64)     # every 8-bit value
    attrs = {"alpha": alpha} if op == "QLinearLeakyRelu" else {}
    node = helper.make_node(op, ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS, **attrs)
    _run_both(node, {"x": x}, dict(xs=scale(), xz=zero(), ys=scale(), yz=zero()), dtype, 2)


@given(q=_quant(), op=st.sampled_from(["QLinearAdd", "QLinearMul"]),
       b_shape=st.sampled_from([(3, 5, 7), (1,), (5, 1), (7,), (3, 1, 7)]))
def test_binary_ops_are_exact_with_broadcasting(q, op, b_shape):
    dtype, lo, hi, scale, zero, rng = q
    a = rng.integers(lo, hi + 1, (3, 5, 7)).astype(dtype)
    b = rng.integers(lo, hi + 1, b_shape).astype(dtype)
    node = helper.make_node(op, ["a", "as", "az", "b", "bs", "bz", "cs", "cz"], ["y"], domain=MS)
    params = {"as": scale(), "az": zero(), "bs": scale(), "bz": zero(), "cs": scale(), "cz": zero()}
    _run_both(node, {"a": a, "b": b}, params, dtype, 3)


@given(q=_quant(), kernel=st.sampled_from([[2, 2], [3, 3], [3, 2]]), stride=st.integers(1, 2),
       pad=st.integers(0, 1), ceil=st.integers(0, 1), include_pad=st.integers(0, 1))
def test_average_pools_are_exact(q, kernel, stride, pad, ceil, include_pad):
    dtype, lo, hi, scale, zero, rng = q
    x = rng.integers(lo, hi + 1, (2, 3, 7, 6)).astype(dtype)
    params = dict(xs=scale(), xz=zero(), ys=scale(), yz=zero())
    node = helper.make_node("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS,
                            kernel_shape=kernel, strides=[stride] * 2, pads=[pad] * 4, ceil_mode=ceil,
                            count_include_pad=include_pad)
    _run_both(node, {"x": x}, params, dtype, 4)
    node = helper.make_node("QLinearGlobalAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS)
    _run_both(node, {"x": x}, params, dtype, 4)


@given(q=_quant(), axis_opset=st.sampled_from([(-1, 13), (1, 13), (1, 12), (0, 12)]), length=st.integers(1, 12))
def test_softmax_is_exact(q, axis_opset, length):
    dtype, lo, hi, scale, zero, rng = q
    axis, opset = axis_opset
    x = rng.integers(lo, hi + 1, (3, 2, length)).astype(dtype)
    y_zero = np.array(0 if dtype == np.uint8 else -128, dtype)
    node = helper.make_node("QLinearSoftmax", ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS, axis=axis, opset=opset)
    _run_both(node, {"x": x}, dict(xs=scale(), xz=zero(), ys=np.float32(1 / 256), yz=y_zero), dtype, 3)


@given(q=_quant(), trans_b=st.integers(0, 1), per_column=st.booleans(), alpha=st.floats(0.1, 2))
def test_qgemm_is_exact(q, trans_b, per_column, alpha):
    dtype, lo, hi, scale, zero, rng = q
    a = rng.integers(lo, hi + 1, (4, 9)).astype(dtype)
    b = rng.integers(-128, 128, (9, 6)).astype(np.int8)
    b_scale = np.float32(rng.uniform(0.001, 0.05, 6)) if per_column else scale()
    inits = {"as": scale(), "az": zero(), "b": b.T.copy() if trans_b else b, "bs": b_scale,
             "bz": np.zeros(6 if per_column else (), np.int8), "c": rng.integers(-500, 500, 6).astype(np.int32),
             "ys": scale(), "yz": zero()}
    node = helper.make_node("QGemm", ["a", "as", "az", "b", "bs", "bz", "c", "ys", "yz"], ["y"], domain=MS,
                            alpha=alpha, transB=trans_b)
    _run_both(node, {"a": a}, inits, dtype, 2)
