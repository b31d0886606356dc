"""Graph mode with symbolic input shapes (issue 20 items 2 and 3): everything the input shapes
decide (Shape -> Slice/Gather/Concat/Cast/arithmetic -> Resize sizes, Reshape/Expand targets,
Range, ConstantOfShape, an If condition, TopK's k) is resolved when the plan for a call's shapes
is built, so the model is one compiled segment; a new input shape builds and caches a plan of
its own. What tensor values decide (NonZero) is a graph break: it runs eagerly between
compiled segments, and graph="strict" refuses it. ONNX Runtime is the reference. Seconds."""
from __future__ import annotations

import warnings

import numpy as np
import onnx
import oneflow as flow
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import converter
from converter.graph_mode import GraphBreakWarning

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def _i64(*v):
    return np.array(v, np.int64)


def shape_driven_model() -> onnx.ModelProto:
    """x [N, C, H, W] (all symbolic) -> y: every size below comes from Shape(x)."""
    n = helper.make_node
    then_g = helper.make_graph([n("Neg", ["flat"], ["t"])], "then", [], [helper.make_tensor_value_info("t", F, ["N", "P"])])
    else_g = helper.make_graph([n("Identity", ["flat"], ["e"])], "else", [], [helper.make_tensor_value_info("e", F, ["N", "P"])])
    nodes = [
        n("Shape", ["x"], ["sh"]),
        n("Slice", ["sh", "s2", "s4"], ["hw"]), n("Slice", ["sh", "s0", "s2"], ["nc"]),
        n("Cast", ["hw"], ["hw_f"], to=F), n("Mul", ["hw_f", "two"], ["hw2_f"]),
        n("Cast", ["hw2_f"], ["hw2"], to=I64), n("Concat", ["nc", "hw2"], ["sizes"], axis=0),
        n("Resize", ["x", "", "", "sizes"], ["up"], mode="nearest", name="upsample"),
        # Flatten to [N, C*H*W*4] with a target computed by Gather/Div/Mul.
        n("Gather", ["sh", "i0"], ["nn"], axis=0), n("Unsqueeze", ["nn", "ax0"], ["n1"]),
        n("ReduceProd", ["sh"], ["numel"], keepdims=1), n("Div", ["numel", "n1"], ["per"]),
        n("Mul", ["per", "four"], ["per4"]), n("Concat", ["n1", "per4"], ["target"], axis=0),
        n("Reshape", ["up", "target"], ["flat"], name="flatten"),
        # An If on a shape-only condition: H > 4.
        n("Gather", ["sh", "i2"], ["h"], axis=0), n("Greater", ["h", "four_s"], ["tall"]),
        n("If", ["tall"], ["signed"], name="by_height", then_branch=then_g, else_branch=else_g),
        # TopK whose k is W, and a Range/ConstantOfShape over the flattened width.
        n("Gather", ["sh", "i3"], ["w"], axis=0), n("Unsqueeze", ["w", "ax0"], ["k"]),
        n("TopK", ["signed", "k"], ["top", "top_i"], name="topk"),
        n("Shape", ["top"], ["tsh"]), n("ConstantOfShape", ["tsh"], ["ones"],
                                        value=numpy_helper.from_array(np.float32([0.5]))),
        n("Range", ["zero_s", "w", "one_s"], ["r"]), n("Cast", ["r"], ["r_f"], to=F),
        n("Add", ["top", "ones"], ["t1"]), n("Add", ["t1", "r_f"], ["y"]),
    ]
    consts = {"s0": _i64(0), "s2": _i64(2), "s4": _i64(4), "two": np.float32(2), "i0": np.int64(0),
              "i2": np.int64(2), "i3": np.int64(3), "ax0": _i64(0), "four": _i64(4), "four_s": np.int64(4),
              "zero_s": np.int64(0), "one_s": np.int64(1)}
    g = helper.make_graph(nodes, "shape_driven", [helper.make_tensor_value_info("x", F, ["N", "C", "H", "W"])],
                          [helper.make_tensor_value_info("y", F, ["N", "W"])],
                          [numpy_helper.from_array(v, k) for k, v in consts.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model, full_check=True)
    return model


def _x(*shape):
    return np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)


def test_shape_arithmetic_is_static_per_input_shape():
    model = shape_driven_model()
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    eager = converter.convert(model)
    graph = converter.convert(model, graph=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GraphBreakWarning)       # no graph break anywhere
        for shape in [(1, 2, 6, 3), (2, 3, 3, 5), (1, 2, 6, 3)]:   # tall, short, the first again
            x = _x(*shape)
            want = sess.run(None, {"x": x})[0]
            got = graph(flow.tensor(x)).numpy()
            np.testing.assert_array_equal(got, eager(flow.tensor(x)).numpy())
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
            assert [s.kind for s in graph.segments] == ["graph"], graph.describe()


def test_a_shape_only_if_is_refused_by_strict_mode_only_if_shapes_cannot_decide_it():
    # graph="strict" defers a shape-decided If to the call (the plan resolves it) ...
    graph = converter.convert(shape_driven_model(), graph="strict")
    x = _x(1, 2, 6, 3)
    np.testing.assert_array_equal(graph(flow.tensor(x)).numpy(),
                                  converter.convert(shape_driven_model())(flow.tensor(x)).numpy())


def nonzero_model() -> onnx.ModelProto:
    """Positions of x > 0 (data-dependent count), gathered and summed, plus a static branch."""
    n = helper.make_node
    nodes = [n("Relu", ["x"], ["r"]), n("Greater", ["r", "zero"], ["pos"]),
             n("NonZero", ["pos"], ["idx"], name="where_positive"),
             n("Transpose", ["idx"], ["idx_t"]), n("GatherND", ["r", "idx_t"], ["vals"], name="pick"),
             n("ReduceSum", ["vals"], ["total"], keepdims=0), n("Mul", ["r", "total"], ["y"])]
    g = helper.make_graph(nodes, "nonzero", [helper.make_tensor_value_info("x", F, [3, 4])],
                          [helper.make_tensor_value_info("y", F, [3, 4])],
                          [numpy_helper.from_array(np.float32(0), "zero")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_a_data_shaped_node_breaks_the_graph_into_segments():
    model = nonzero_model()
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    with pytest.raises(converter.GraphModeError, match=r"node 'where_positive' \(NonZero\).*depends on tensor values"):
        converter.convert(model, graph="strict")(flow.tensor(_x(3, 4)))
    graph = converter.convert(model, graph=True)
    for seed in range(3):                   # same input shape, a different count of positives each time
        x = np.random.default_rng(seed).standard_normal((3, 4)).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GraphBreakWarning)
            got = graph(flow.tensor(x)).numpy()
        np.testing.assert_allclose(got, sess.run(None, {"x": x})[0], rtol=1e-6, atol=1e-6)
    assert [(s.kind, s.nodes) for s in graph.segments] == [
        ("graph", ("#0:Relu", "#1:Greater")), ("eager", ("where_positive",)),
        ("graph", ("#3:Transpose", "pick", "#5:ReduceSum", "#6:Mul"))]
    assert "depends on tensor values" in graph.segments[1].why


def test_plans_are_cached_per_input_shape():
    model = shape_driven_model()
    graph = converter.convert(model, graph=True)
    shapes = [(1, 1, 2, 2), (1, 1, 3, 2), (1, 1, 2, 2)]
    for shape in shapes:
        graph(flow.tensor(_x(*shape)))
    assert list(graph._plans) == [((1, 1, 3, 2),), ((1, 1, 2, 2),)]   # the first shape was reused (LRU order)


def _matmul_relu(batch_dim="N") -> onnx.ModelProto:
    """x [N, 3] @ W [3, 2] -> Relu -> y [N, 2]: one compiled segment for any non-empty batch."""
    n = helper.make_node
    g = helper.make_graph([n("MatMul", ["x", "w"], ["m"], name="mm"), n("Relu", ["m"], ["y"], name="relu")], "mr",
                          [helper.make_tensor_value_info("x", F, [batch_dim, 3])],
                          [helper.make_tensor_value_info("y", F, [batch_dim, 2])],
                          [numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(3, 2) - 2.5, "w")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_a_zero_size_input_runs_eagerly_around_the_graph_not_into_it():
    # OneFlow 0.9's nn.Graph aborts the process (CHECK in interface_op_util: shape().At(0) > 0)
    # when a zero-size tensor enters or leaves a compiled graph; found by the hostile corpus
    # run under graph=True (prelu_empty, matmul_empty_batch, topk_empty_k0, ...). The steps a
    # zero-size value passes through break the graph; a non-empty call stays one segment.
    model = _matmul_relu()
    g = converter.convert(model, graph=True)
    x = np.ones((4, 3), np.float32)
    assert np.array_equal(g(x).numpy(), converter.convert(model)(x).numpy())
    assert [s.kind for s in g.segments] == ["graph"]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = g(np.zeros((0, 3), np.float32))
    assert out.shape == (0, 2) and out.dtype == flow.float32
    assert {s.kind for s in g.segments} == {"eager"} and "zero-size" in g.segments[0].why
    assert any(issubclass(w.category, GraphBreakWarning) for w in seen)
    assert [s.kind for s in (g(x), g)[1].segments] == ["graph"]     # the non-empty plan is still cached


def test_numpy_inputs_choose_a_plan_by_their_shapes():
    # The eager module takes numpy arrays; nn.Graph takes tensors only, and a plan is picked by the
    # input shapes: numpy inputs are made tensors first (they failed with "nn.Graph.build()'s
    # input/output item only support types: Tensor/None", found by the graph-mode property families).
    model = _matmul_relu()
    g = converter.convert(model, graph=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for rows in (2, 5, 2):
        x = np.linspace(-1, 1, rows * 3, dtype=np.float32).reshape(rows, 3)
        np.testing.assert_allclose(g(x).numpy(), sess.run(None, {"x": x})[0], rtol=1e-6, atol=1e-6)
        assert g(x).shape == (rows, 2) and [s.kind for s in g.segments] == ["graph"]


def test_past_the_compile_budget_graph_mode_runs_eagerly_instead_of_aborting(monkeypatch):
    # OneFlow 0.9 aborts the process once its stream ids run out (CHECK stream_index <=
    # kMaxStreamIndex after ~1365 compiles on CPU; found by the nightly graph-mode property run,
    # measured by benchmarks/graph_compile_limit.py). Past graph_mode.COMPILE_BUDGET nothing more
    # is compiled: a new plan runs eagerly with a GraphBreakWarning, strict mode refuses, typed.
    from converter import graph_mode

    model = _matmul_relu()
    x = np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3)
    want = converter.convert(model)(x).numpy()
    monkeypatch.setattr(graph_mode, "COMPILE_BUDGET", len(graph_mode._KEPT_ALIVE))
    compiled_before = len(graph_mode._KEPT_ALIVE)
    g = converter.convert(model, graph=True)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert np.array_equal(g(x).numpy(), want)
    assert len(graph_mode._KEPT_ALIVE) == compiled_before
    assert [s.kind for s in g.segments] == ["eager"] and "budget" in g.segments[0].why
    assert any(issubclass(w.category, GraphBreakWarning) and "budget" in str(w.message) for w in seen)
    with pytest.raises(converter.GraphModeError, match="cannot compile another oneflow.nn.Graph"):
        converter.convert(model, graph="strict")(x)
