"""Indexing handlers on cases the ONNX node tests miss, checked against plain numpy loops.

OneFlow 0.9's scatter(reduce="multiply") adds instead of multiplying on int8/uint8/int64, and
onnx's ReferenceEvaluator overwrites repeated indices under reduction="mul", so neither can
be the reference here.
"""
import numpy as np
import oneflow as flow
import pytest
from onnx import TensorProto, helper

import converter

DTYPES = {np.float32: TensorProto.FLOAT, np.float16: TensorProto.FLOAT16, np.int8: TensorProto.INT8,
          np.uint8: TensorProto.UINT8, np.int32: TensorProto.INT32, np.int64: TensorProto.INT64}


def _single_node(op, inputs, attrs, out_type):
    names = [f"in{i}" for i in range(len(inputs))]
    graph = helper.make_graph(
        [helper.make_node(op, names, ["y"], **attrs)], "g",
        [helper.make_tensor_value_info(n, DTYPES.get(a.dtype.type, TensorProto.INT64), a.shape)
         for n, a in zip(names, inputs)],
        [helper.make_tensor_value_info("y", out_type, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    return converter.convert(model, check=False)(*[flow.tensor(a) for a in inputs]).numpy()


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_scatter_elements_reduces_repeated_indices_in_order(dtype, reduction):
    x = np.arange(1, 13).reshape(3, 4).astype(dtype)
    index = np.array([[1, 0, 2, 1], [1, 1, 0, 0]], np.int64)
    updates = np.array([[2, 3, 1, 5], [3, 2, 4, 1]]).astype(dtype)
    combine = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}[reduction]
    expected = x.copy()
    for a in range(2):
        for b in range(4):
            expected[index[a, b], b] = combine(expected[index[a, b], b], updates[a, b])
    got = _single_node("ScatterElements", [x, index, updates], {"axis": 0, "reduction": reduction},
                       DTYPES[dtype])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_scatter_nd_reduces_repeated_indices_in_order(dtype, reduction):
    x = np.arange(1, 13).reshape(3, 4).astype(dtype)
    index = np.array([[1], [1], [0]], np.int64)
    updates = np.array([[2, 3, 1, 5], [3, 2, 4, 1], [1, 1, 2, 2]]).astype(dtype)
    combine = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}[reduction]
    expected = x.copy()
    for row, upd in zip(index[:, 0], updates):
        expected[row] = combine(expected[row], upd)
    got = _single_node("ScatterND", [x, index, updates], {"reduction": reduction}, DTYPES[dtype])
    np.testing.assert_array_equal(got, expected)


def test_top_k_ties_keep_the_lower_index_first():
    x = np.array([[3, 1, 3, 2, 3]], np.float32)
    graph = helper.make_graph(
        [helper.make_node("TopK", ["x", "k"], ["v", "i"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape),
         helper.make_tensor_value_info("k", TensorProto.INT64, (1,))],
        [helper.make_tensor_value_info("v", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("i", TensorProto.INT64, None)])
    module = converter.convert(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), check=False)
    values, indices = module(flow.tensor(x), flow.tensor(np.array([3], np.int64)))
    np.testing.assert_array_equal(indices.numpy(), [[0, 2, 4]])
    np.testing.assert_array_equal(values.numpy(), [[3, 3, 3]])
