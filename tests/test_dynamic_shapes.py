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
