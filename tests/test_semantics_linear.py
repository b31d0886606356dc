"""Gemm and MatMul semantics (issue 9), against ONNX Runtime.

Gemm: a constant C of shape (M, 1) was folded into a Linear bias as if per-column whenever
M == N (its size matched N). MatMul: numpy matmul semantics for 1-D operands; two 1-D
operands failed and N-D x 1-D aborted the process inside OneFlow's broadcast matmul."""
from __future__ import annotations

import numpy as np
import oneflow as flow
import pytest

import converter
from converter.dtypes import to_tensor
from onnx import TensorProto, helper
from semantics_check import check_against_ort, node_model

rng = np.random.default_rng(7)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("c_shape", [(4, 1), (1, 4), (4,), (1,), (), (1, 1), (4, 4)],
                         ids=lambda s: "x".join(map(str, s)) or "scalar")
@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_constant_c_broadcasts_as_the_spec_says_when_m_equals_n(c_shape, trans_b):
    a, b = randn(4, 3), randn(4, 3) if trans_b else randn(3, 4)
    check_against_ort("Gemm", {"a": a}, consts={"b": b, "c": randn(*c_shape)}, opset=13,
                      alpha=0.7, beta=1.9, transB=trans_b)


def test_gemm_per_row_c_is_not_a_linear_bias():
    a, b, c = randn(3, 5), randn(5, 2), randn(3, 1)   # M != N: (M, 1) is per-row too
    check_against_ort("Gemm", {"a": a}, consts={"b": b, "c": c}, opset=13)


def test_gemm_per_column_c_still_becomes_a_linear_layer():
    model = node_model("Gemm", {"a": randn(4, 3)}, consts={"b": randn(3, 4), "c": randn(1, 4)}, opset=13)
    assert any(isinstance(m, flow.nn.Linear) for m in converter.convert(model).modules())


@pytest.mark.parametrize("a_shape, b_shape", [
    ((3,), (3,)), ((2, 3, 4), (4,)), ((5, 2, 3, 4), (4,)), ((4,), (2, 4, 5)), ((4,), (4, 3)),
    ((2, 4), (4,)), ((2, 1, 3, 4), (5, 4, 6))])
@pytest.mark.parametrize("b_const", [False, True], ids=["runtime_b", "const_b"])
def test_matmul_has_numpy_semantics(a_shape, b_shape, b_const):
    a, b = randn(*a_shape), randn(*b_shape)
    if b_const:
        check_against_ort("MatMul", {"a": a}, consts={"b": b}, opset=13, rtol=1e-4, atol=1e-5)
    else:
        check_against_ort("MatMul", {"a": a, "b": b}, opset=13, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("a_shape, b_shape", [((2, 3, 4), (3, 4, 5)), ((2, 3, 4), (5,)), ((4,), (5, 2))])
def test_matmul_shape_mismatch_is_a_typed_error_not_an_abort(a_shape, b_shape):
    # Declared with symbolic dims so that the model is valid; the mismatch shows at run time.
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"], name="matmul_node")], "g",
        [vi("a", TensorProto.FLOAT, [f"a{i}" for i in a_shape]), vi("b", TensorProto.FLOAT, [f"b{i}" for i in b_shape])],
        [vi("y", TensorProto.FLOAT, ["y0", "y1", "y2"][:max(len(a_shape), len(b_shape))])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    module = converter.convert(model)
    with pytest.raises(converter.NodeExecutionError, match="matmul_node"):
        module(to_tensor(randn(*a_shape)), to_tensor(randn(*b_shape)))
