"""Dynamic shapes (issue 13 item 4): a model with a symbolic batch and spatial dimensions
converts once and runs at several sizes (checked against ONNX Runtime); the call-time check
accepts what the declared dims allow - one symbol, one size across inputs - and refuses the
rest with InputError. Seconds."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import oneflow as flow
import pytest
from onnx import TensorProto, helper, numpy_helper

import converter
from converter.errors import InputError

F = TensorProto.FLOAT


def dynamic_model() -> onnx.ModelProto:
    """x [N, 3, H, W] -> Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm, plus bias [N, 5]
    (same symbol N) added at the end; Shape -> Gather -> Reshape on the batch dimension."""
    rng = np.random.default_rng(0)
    inits = {"w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3,
             "fc": rng.standard_normal((5, 4)).astype(np.float32), "zero": np.int64([0]),
             "minus1": np.int64([-1])}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Shape", ["x"], ["sh"]),
             helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
             helper.make_node("Concat", ["n", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["p", "target"], ["flat"]),
             helper.make_node("Gemm", ["flat", "fc"], ["g"], transB=1),
             helper.make_node("Add", ["g", "bias"], ["y"])]
    g = helper.make_graph(nodes, "dynamic",
                          [helper.make_tensor_value_info("x", F, ["N", 3, "H", "W"]),
                           helper.make_tensor_value_info("bias", F, ["N", 5])],
                          [helper.make_tensor_value_info("y", F, ["N", 5])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


def feeds(n, h, w):
    rng = np.random.default_rng(n * 100 + h * 10 + w)
    return {"x": rng.standard_normal((n, 3, h, w)).astype(np.float32),
            "bias": rng.standard_normal((n, 5)).astype(np.float32)}


def test_converts_once_and_runs_at_several_sizes():
    model = dynamic_model()
    module = converter.convert(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for n, h, w in [(1, 8, 8), (3, 8, 8), (2, 5, 11), (4, 1, 1)]:
        f = feeds(n, h, w)
        got = module(flow.tensor(f["x"]), flow.tensor(f["bias"])).numpy()
        want = sess.run(None, f)[0]
        assert got.shape == (n, 5)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("x_shape, bias_shape, message", [
    ((2, 4, 8, 8), (2, 5), r"input 'x': expected shape \('N', 3, 'H', 'W'\), got \(2, 4, 8, 8\)"),
    ((2, 3, 8), (2, 5), r"input 'x': expected shape"),                     # rank
    ((2, 3, 8, 8), (3, 5), r"input 'bias': dim 'N' is 3, but input 'x' gave it 2"),
    ((2, 3, 8, 8), (2, 6), r"input 'bias': expected shape \('N', 5\), got \(2, 6\)"),
])
def test_the_call_time_check_follows_the_declared_dims(x_shape, bias_shape, message):
    module = converter.convert(dynamic_model())
    with pytest.raises(InputError, match=message):
        module(flow.zeros(*x_shape), flow.zeros(*bias_shape))


def test_unnamed_dynamic_dims_take_any_size_independently():
    model = dynamic_model()
    for vi in model.graph.input:
        vi.type.tensor_type.shape.dim[0].ClearField("dim_param")   # N -> unnamed in both inputs
    module = converter.convert(model)
    f = feeds(2, 6, 6)
    # Unnamed dims are not tied to each other: the check passes, the Add then broadcasts 2 vs 1.
    out = module(flow.tensor(f["x"]), flow.tensor(f["bias"][:1]))
    assert tuple(out.shape) == (2, 5)


def test_graph_mode_serves_a_symbolic_batch():
    model = dynamic_model()
    f = feeds(3, 8, 8)
    args = (flow.tensor(f["x"]), flow.tensor(f["bias"]))
    eager = converter.convert(model)(*args).numpy()
    graph = converter.convert(model, graph=True)
    np.testing.assert_allclose(graph(*args).numpy(), eager, rtol=1e-6, atol=1e-6)
    f = feeds(2, 8, 8)      # other shapes: a plan of their own, compiled and cached beside the first
    other = (flow.tensor(f["x"]), flow.tensor(f["bias"]))
    np.testing.assert_allclose(graph(*other).numpy(), converter.convert(model)(*other).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(graph(*args).numpy(), eager, rtol=1e-6, atol=1e-6)
    assert [s.kind for s in graph.segments] == ["graph"]



# --- dim semantics (issue 21 item 1; converter.dims) ------------------------------------------
def _one_op_model(op, inputs, outputs, value_info=(), **attrs):
    g = helper.make_graph([helper.make_node(op, [n for n, _ in inputs], [n for n, _ in outputs], **attrs)], op,
                          [helper.make_tensor_value_info(n, F, s) for n, s in inputs],
                          [helper.make_tensor_value_info(n, t, s) for n, (t, s) in outputs], value_info=list(value_info))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_paddle_style_unknown_dims_take_any_size():
    # Paddle declares [-1, 3, '?', '?']: -1 and each '?' are unknown, independently.
    model = _one_op_model("Relu", [("x", [-1, 3, "?", "?"])], [("y", (F, [-1, 3, "?", "?"]))])
    module = converter.convert(model)
    x = np.random.default_rng(0).standard_normal((1, 3, 48, 192)).astype(np.float32)
    np.testing.assert_array_equal(module(flow.tensor(x)).numpy(), np.maximum(x, 0))
    with pytest.raises(InputError, match=r"input 'x': expected shape \('\?', 3, '\?', '\?'\), got \(1, 4, 48, 192\)"):
        module(flow.zeros(1, 4, 48, 192))


def test_a_negative_declared_dim_is_not_folded_as_a_size():
    # onnx shape inference adds -1 + 3 = 2 for the Concat axis; Shape was folded to [2, 3].
    nodes = [helper.make_node("Identity", ["a"], ["a2"]), helper.make_node("Concat", ["a2", "b"], ["c"], axis=0),
             helper.make_node("Shape", ["c"], ["s"])]
    g = helper.make_graph(nodes, "neg", [helper.make_tensor_value_info("a", F, ["N", 3]),
                                         helper.make_tensor_value_info("b", F, [3, 3])],
                          [helper.make_tensor_value_info("s", TensorProto.INT64, [2])],
                          value_info=[helper.make_tensor_value_info("a2", F, [-1, 3])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    feeds_ = {"a": np.zeros((5, 3), np.float32), "b": np.zeros((3, 3), np.float32)}
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds_)[0]
    got = converter.convert(model)(*(flow.tensor(v) for v in feeds_.values())).numpy()
    np.testing.assert_array_equal(got, want)
    assert want.tolist() == [8, 3]
