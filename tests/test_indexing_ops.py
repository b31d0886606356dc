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


# --- issue 9: Slice clamping and BitShift broadcasting, against ONNX Runtime -----------------------
INT_MAX, INT_MIN = 2**63 - 1, -2**63
SLICES = [   # (starts, ends, axes, steps) on a (5, 4) input
    ([-10], [-20], [0], [-1]),           # start below -dim, negative step: spec clamps it to 0 -> [x0]
    ([-10], [INT_MIN], [0], [-1]),
    ([INT_MAX], [INT_MIN], [0], [-1]),   # the whole axis reversed
    ([INT_MAX], [-6], [-2], [-2]),       # negative axis
    ([10], [2], [1], [-1]),              # start past the end, negative step: clamps to dim - 1
    ([-10, 1], [INT_MAX, INT_MAX], [0, 1], [2, 1]),
    ([3], [-10], [0], [-3]),
    ([2], [1], [0], [1]),                # empty
    ([-1], [-100], [-1], [-INT_MAX]),
]


def _ort_vs_converter(model, feeds):
    import onnxruntime as ort
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got = converter.convert(model, check=False)(*[flow.tensor(v) for v in feeds.values()]).numpy()
    return got, ref


@pytest.mark.parametrize("opset", [10, 11, 13])
@pytest.mark.parametrize("starts,ends,axes,steps", SLICES)
def test_slice_clamps_like_spec_and_ort(opset, starts, ends, axes, steps):
    if opset == 10 and any(a < 0 for a in axes):
        axes = [a + 2 if a < 0 else a for a in axes]   # negative axes arrived in Slice-11
    inits = [helper.make_tensor(n, TensorProto.INT64, [len(v)], v)
             for n, v in (("s", starts), ("e", ends), ("a", axes), ("st", steps))]
    graph = helper.make_graph([helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    x = np.arange(20, dtype=np.float32).reshape(5, 4)
    got, ref = _ort_vs_converter(model, {"x": x})
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("starts,ends,axes", [([-10], [INT_MAX], [0]), ([1, -100], [INT_MAX, 2], [1, 0]),
                                              ([INT_MIN], [-2], [1])])
def test_slice_1_attributes(starts, ends, axes):
    graph = helper.make_graph([helper.make_node("Slice", ["x"], ["y"], starts=starts, ends=ends, axes=axes)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 1)])
    x = np.arange(20, dtype=np.float32).reshape(5, 4)
    got, ref = _ort_vs_converter(model, {"x": x})
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("x_shape,y_shape", [([2, 3], [1]), ([], [2, 3]), ([1], [4]), ([2, 1], [1, 3]),
                                             ([3], [2, 3]), ([], [])])
def test_bitshift_broadcasts(direction, x_shape, y_shape):
    # OneFlow's floor_divide does not broadcast: a shift amount of another shape failed at run time.
    graph = helper.make_graph([helper.make_node("BitShift", ["x", "y"], ["z"], direction=direction)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.UINT8, x_shape),
                               helper.make_tensor_value_info("y", TensorProto.UINT8, y_shape)],
                              [helper.make_tensor_value_info("z", TensorProto.UINT8, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, x_shape).astype(np.uint8)
    y = rng.integers(0, 11, y_shape).astype(np.uint8)    # shifts of 8+ give 0, as in ORT
    got, ref = _ort_vs_converter(model, {"x": x, "y": y})
    np.testing.assert_array_equal(got, ref)


def test_gather_negative_indices_in_range():
    graph = helper.make_graph([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5]),
                               helper.make_tensor_value_info("i", TensorProto.INT64, [2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    got, ref = _ort_vs_converter(model, {"x": x, "i": np.array([[-5, 4], [-1, 0]])})
    np.testing.assert_array_equal(got, ref)
