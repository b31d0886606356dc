"""Graph mode (issue 13 item 1): handlers read their constant inputs at build time, so a
converted model runs under oneflow.nn.Graph and equals its eager run; a node that truly needs
tensor values on the host is refused with a GraphModeError naming it, before tracing. Small
models built with onnx.helper; seconds."""
from __future__ import annotations

import numpy as np
import onnx
import oneflow as flow
import pytest
from onnx import TensorProto, helper, numpy_helper

import converter
from converter.graph_mode import host_reads

F, I64 = TensorProto.FLOAT, TensorProto.INT64
X = (np.arange(48, dtype=np.float32).reshape(1, 3, 4, 4) - 20) / 9


def i64(*v):
    return np.array(v, dtype=np.int64)


# (name, nodes, constants[, y shape when inference cannot tell]) - each reads x [1, 3, 4, 4] and
# has one output "y".
CASES = [
    ("resize_scales", [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear")],
     {"scales": np.float32([1, 1, 2, 1.5])}),
    ("resize_sizes_nearest", [helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest")],
     {"sizes": i64(1, 3, 7, 5)}),
    ("slice_reshape", [helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["s"]),
                       helper.make_node("Reshape", ["s", "shape"], ["y"])],
     {"st": i64(1, 3), "en": i64(3, 0), "ax": i64(1, 3), "sp": i64(1, -1), "shape": i64(1, -1)}),
    ("expand_tile", [helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=1),
                     helper.make_node("Expand", ["m", "eshape"], ["e"]),
                     helper.make_node("Tile", ["e", "reps"], ["y"])],
     {"eshape": i64(2, 1, 3, 1), "reps": i64(1, 2, 1, 2)}),
    ("onehot_range", [helper.make_node("Range", ["r0", "r1", "r2"], ["idx"]),
                      helper.make_node("OneHot", ["idx", "depth", "vals"], ["oh"], axis=0),
                      helper.make_node("Cast", ["oh"], ["ohf"], to=F),
                      helper.make_node("MatMul", ["x", "ohf"], ["y"])],
     {"r0": i64(3), "r1": i64(-1), "r2": i64(-1), "depth": i64(4), "vals": np.float32([0, 1])}, (1, 3, 4, 3)),
    ("split_squeeze", [helper.make_node("Reshape", ["x", "rows"], ["f"]),
                            helper.make_node("Slice", ["f", "zero", "k", "minus1"], ["v"]),
                            helper.make_node("Split", ["v", "split"], ["a", "b"], axis=1),
                            helper.make_node("Unsqueeze", ["a", "ax0"], ["u"]),
                            helper.make_node("Squeeze", ["u", "ax0"], ["q"]),
                            helper.make_node("ReduceSum", ["b", "ax2"], ["rb"], keepdims=1),
                            helper.make_node("Mul", ["q", "rb"], ["y"])],
     {"rows": i64(1, 3, 16), "zero": i64(0), "k": i64(5), "minus1": i64(-1), "split": i64(1, 2), "ax0": i64(0), "ax2": i64(2)}, (1, 2, 5)),
    ("gather_constant_indices", [helper.make_node("Gather", ["x", "idx"], ["g"], axis=1),
                                 helper.make_node("GatherElements", ["g", "eidx"], ["y"], axis=3)],
     {"idx": i64(2, -3), "eidx": np.zeros((1, 2, 4, 1), np.int64) - 1}),
    ("scatter_constant_indices", [helper.make_node("ScatterElements", ["x", "sidx", "upd"], ["s"], axis=2),
                                  helper.make_node("GatherND", ["s", "nidx"], ["g"], batch_dims=1),
                                  helper.make_node("ScatterND", ["s", "nidx3", "g"], ["y"])],
     {"sidx": np.int64([[[[3, -4, 1, 0]]]]), "upd": np.full((1, 1, 1, 4), 9.0, np.float32),
      "nidx": np.int64([[0, -1]]), "nidx3": np.int64([[0, -1, 2]])}),
    ("pad_constant_of_shape", [helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect"),
                               helper.make_node("Shape", ["p"], ["sh"]),
                               helper.make_node("ConstantOfShape", ["sh"], ["ones"],
                                                value=numpy_helper.from_array(np.float32([1.5]))),
                               helper.make_node("Add", ["p", "ones"], ["y"])],
     {"pads": i64(0, 0, 1, 0, 0, 0, 0, 2)}),
    # Pad's constant_value: claimed at build time when constant, kept on the device when computed.
    ("pad_constant_value", [helper.make_node("Pad", ["x", "pads", "value"], ["y"])],
     {"pads": i64(0, 1, 2, 0, 0, 0, 1, 1), "value": np.float32(2.5)}),
    # CumSum's axis and Trilu's k: constants claimed at build time (were read back per call).
    ("cumsum_trilu", [helper.make_node("CumSum", ["x", "ax"], ["c"], reverse=1),
                      helper.make_node("Trilu", ["c", "k"], ["y"], upper=0)],
     {"ax": np.int64(-1), "k": np.int64(1)}),
    ("pad_computed_value", [helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0),
                            helper.make_node("Pad", ["x", "pads", "m"], ["y"])],
     {"pads": i64(0, 1, 2, 0, 0, 0, 1, 1)}),
]


def save(tmp_path, name, nodes, consts, y_shape=None, x_shape=(1, 3, 4, 4)):
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", F, list(x_shape))],
                          [helper.make_tensor_value_info("y", F, y_shape)],
                          [numpy_helper.from_array(v, k) for k, v in consts.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    model = onnx.shape_inference.infer_shapes(model)     # gives the output "y" its shape
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("name, nodes, consts, y_shape", [c + (None,) * (4 - len(c)) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_graph_equals_eager_and_nothing_is_read_back(tmp_path, name, nodes, consts, y_shape):
    path = save(tmp_path, name, nodes, consts, y_shape)
    eager = converter.convert(path)
    x = flow.tensor(X)
    assert host_reads(eager, x) == []           # no per-call host reads in eager mode either
    want = eager(x).numpy()
    graph = converter.convert(path, graph=True)
    for _ in range(2):                          # compile, then the compiled plan
        np.testing.assert_allclose(graph(x).numpy(), want, rtol=1e-6, atol=1e-6)


def test_symbolic_batch_shape_arithmetic_is_folded_for_the_first_calls_shapes(tmp_path):
    # Shape -> Gather -> Concat -> Reshape: left to run time by the symbolic batch; graph mode
    # converts again with the first call's shapes, so nothing is read back there.
    nodes = [helper.make_node("Shape", ["x"], ["sh"]),
             helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
             helper.make_node("Concat", ["n", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    path = save(tmp_path, "flatten_by_shape", nodes, {"zero": i64(0), "minus1": i64(-1)},
                y_shape=("N", 48), x_shape=("N", 3, 4, 4))
    x = flow.tensor(np.concatenate([X, X * 2]))
    eager = converter.convert(path)
    assert host_reads(eager, x), "the eager module reads the shape back (the point of this test)"
    graph = converter.convert(path, graph=True)
    np.testing.assert_allclose(graph(x).numpy(), eager(x).numpy(), rtol=0, atol=0)


def test_a_data_dependent_node_is_a_graph_break_or_refused_in_strict_mode(tmp_path):
    # Range's length comes from the input's values: nothing static can stand in for it.
    nodes = [helper.make_node("ReduceMax", ["x"], ["mx"], keepdims=0),
             helper.make_node("Cast", ["mx"], ["limit"], to=I64),
             helper.make_node("Range", ["zero", "limit", "one"], ["r"], name="count_up"),
             helper.make_node("Cast", ["r"], ["y"], to=F)]
    path = save(tmp_path, "data_dependent", nodes, {"zero": np.int64(0), "one": np.int64(1)})
    x = flow.tensor(X)
    expected = converter.convert(path)(x).numpy()
    assert expected.shape == (int(X.max()),)
    with pytest.raises(converter.GraphModeError, match=r"node 'count_up' \(Range\).*reads tensor values"):
        converter.convert(path, graph="strict")(x)
    graph = converter.convert(path, graph=True)
    with pytest.warns(converter.graph_mode.GraphBreakWarning):
        np.testing.assert_array_equal(graph(x).numpy(), expected)
    assert [(s.kind, len(s.nodes)) for s in graph.segments] == [("graph", 2), ("eager", 1), ("graph", 1)]
    assert "count_up" in graph.segments[1].why and "reads tensor values" in graph.segments[1].why
    x2 = flow.tensor(X * 0.5)            # same input shape, another Range length: the last segment
    np.testing.assert_array_equal(graph(x2).numpy(), converter.convert(path)(x2).numpy())   # compiles again


RUNTIME_INDEX_OPS = {"Gather": [2], "GatherElements": [2, 3], "GatherND": [2, 1], "ScatterElements": [2, 3],
                     "ScatterND": [2, 1]}


def runtime_index_model(op):
    """``op`` (node 'pick') reading data x [4, 3] and indices i fed at run time (+ updates u)."""
    inputs = [helper.make_tensor_value_info("x", F, [4, 3]),
              helper.make_tensor_value_info("i", I64, RUNTIME_INDEX_OPS[op])]
    names = ["x", "i"]
    if op.startswith("Scatter"):
        inputs.append(helper.make_tensor_value_info("u", F, [2, 3]))
        names.append("u")
    g = helper.make_graph([helper.make_node(op, names, ["y"], name="pick")], op, inputs,
                          [helper.make_tensor_value_info("y", F, None)])
    return onnx.shape_inference.infer_shapes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]))


@pytest.mark.parametrize("op", list(RUNTIME_INDEX_OPS))
def test_run_time_indices_are_checked_on_the_device_under_nn_graph(op):
    # Indices fed at run time are range-checked on the device while traced (issue 20 item 1):
    # the graph equals eager for valid (negative included) indices, and an out-of-range one is
    # the eager run's NodeExecutionError naming the node - never an abort, never a clamp.
    model, shape = runtime_index_model(op), RUNTIME_INDEX_OPS[op]
    x, u = flow.tensor(np.arange(12, dtype=np.float32).reshape(4, 3)), flow.tensor(np.ones((2, 3), np.float32))
    extra = [u] if op.startswith("Scatter") else []
    eager, graph = converter.convert(model), converter.convert(model, graph=True)
    valid = np.arange(np.prod(shape), dtype=np.int64).reshape(shape) % 3 - 2       # -2, -1, 0, ...
    for _ in range(2):                                                              # trace, then reuse
        np.testing.assert_array_equal(graph(x, flow.tensor(valid), *extra).numpy(),
                                      eager(x, flow.tensor(valid), *extra).numpy())
    for bad in (-9, 4):
        wrong = valid.copy()
        wrong.reshape(-1)[-1] = bad
        with pytest.raises(converter.NodeExecutionError, match="out of range") as eager_error:
            eager(x, flow.tensor(wrong), *extra)
        with pytest.raises(converter.NodeExecutionError, match=rf"node 'pick' \({op}\).*out of range") as graph_error:
            graph(x, flow.tensor(wrong), *extra)
        assert str(graph_error.value) == str(eager_error.value)
    np.testing.assert_array_equal(graph(x, flow.tensor(valid), *extra).numpy(),    # still usable
                                  eager(x, flow.tensor(valid), *extra).numpy())
