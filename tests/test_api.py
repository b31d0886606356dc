"""The public API (issue 3 items 1 and 4): convert/inventory/to_graph on models built with
onnx.helper, checked against ONNX Runtime. No source framework needed; a few seconds."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import oneflow as flow
import pytest
from onnx import TensorProto, helper, numpy_helper

import converter

RTOL, ATOL = 1e-3, 1e-5       # docs/design.md §4 fp32 defaults


def small_cnn(opset: int = 13) -> onnx.ModelProto:
    """Conv → BN → Relu → (+ offset) → GlobalAveragePool → Flatten → Gemm; two outputs."""
    rng = np.random.default_rng(0)
    init = {
        "conv.w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3,
        "conv.b": rng.standard_normal(4).astype(np.float32),
        "bn.scale": rng.uniform(0.5, 1.5, 4).astype(np.float32),
        "bn.bias": rng.standard_normal(4).astype(np.float32),
        "bn.mean": rng.standard_normal(4).astype(np.float32) * 0.5,
        "bn.var": rng.uniform(0.5, 2.0, 4).astype(np.float32),
        "offset": rng.standard_normal((1, 4, 1, 1)).astype(np.float32),
        "fc.w": rng.standard_normal((5, 4)).astype(np.float32),
        "fc.b": rng.standard_normal(5).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "conv.w", "conv.b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["n"],
                         name="bn", epsilon=1e-3),
        helper.make_node("Relu", ["n"], ["features"], name="relu"),
        helper.make_node("Add", ["features", "offset"], ["shifted"], name="add_offset"),
        helper.make_node("GlobalAveragePool", ["shifted"], ["pooled"], name="gap"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "small_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 5]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 4, 8, 8])],
        [numpy_helper.from_array(v, k) for k, v in init.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _input():
    return np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)


def _ort(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})


def _assert_matches_ort(module, model, x):
    out = module(flow.tensor(x))
    assert isinstance(out, tuple) and len(out) == 2      # multi-output graphs return tuples
    for got, ref in zip(out, _ort(model, x)):
        np.testing.assert_allclose(got.numpy(), ref, rtol=RTOL, atol=ATOL)


def test_convert_from_model_proto():
    model = small_cnn()
    _assert_matches_ort(converter.convert(model), model, _input())


def test_convert_from_path(tmp_path):
    model = small_cnn()
    path = tmp_path / "cnn.onnx"
    onnx.save(model, str(path))
    module = converter.convert(str(path))
    assert module.source == str(path)
    assert module.output_names == ["logits", "features"]
    _assert_matches_ort(module, model, _input())


def test_convert_external_data(tmp_path):
    model = small_cnn()
    path = tmp_path / "ext" / "cnn.onnx"
    path.parent.mkdir()
    stored = onnx.ModelProto()
    stored.CopyFrom(model)          # onnx.save rewrites the proto it saves to point at the file
    onnx.save(stored, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="cnn.weights", size_threshold=0)
    stored = onnx.load(str(path), load_external_data=False)
    assert all(t.data_location == TensorProto.EXTERNAL for t in stored.graph.initializer)
    _assert_matches_ort(converter.convert(str(path)), model, _input())


def test_single_output_returns_a_tensor():
    model = small_cnn()
    del model.graph.output[1]
    out = converter.convert(model)(flow.tensor(_input()))
    assert isinstance(out, flow.Tensor) and tuple(out.shape) == (1, 5)


def test_weight_bearing_ops_become_layers_with_parameters():
    model = small_cnn()
    module = converter.convert(model, optimize=False)   # node for node: conv_fold would fold the BN
    kinds = {type(m).__name__ for m in module.modules()}
    assert {"Conv2d", "BatchNorm2d", "Linear"} <= kinds, kinds
    params = {id(p): p for p in module.parameters()}
    assert params and all(isinstance(p, flow.nn.Parameter) for p in params.values())
    values = [p.numpy() for p in params.values()]
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for name in ("conv.w", "conv.b", "bn.scale", "bn.bias"):
        assert any(v.shape == inits[name].shape and np.array_equal(v, inits[name]) for v in values), name
    # Gemm with transB=1 stores W as (out, in): exactly nn.Linear's layout.
    assert any(np.array_equal(v, inits["fc.w"]) for v in values)
    bn = next(m for m in module.modules() if type(m).__name__ == "BatchNorm2d")
    np.testing.assert_array_equal(bn.running_mean.numpy(), inits["bn.mean"])
    np.testing.assert_array_equal(bn.running_var.numpy(), inits["bn.var"])


def test_other_initializers_become_buffers():
    model = small_cnn()
    module = converter.convert(model)
    offset = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == "offset"))
    buffers = [b.numpy() for b in module.buffers()]
    assert any(b.shape == offset.shape and np.array_equal(b, offset) for b in buffers)
    assert not any(np.array_equal(p.numpy(), offset) for p in module.parameters())


def _devices(module):
    return {str(t.device) for t in list(module.parameters()) + list(module.buffers())}


def test_to_moves_everything_cpu():
    module = converter.convert(small_cnn(), device="cpu")
    assert _devices(module) == {"cpu:0"}
    module = module.to("cpu")
    assert _devices(module) == {"cpu:0"}


@pytest.mark.cuda
def test_to_moves_everything_cuda():
    # Not flow.cuda.is_available(): it is True on a GPU the build has no kernels for (Hopper),
    # where the first kernel aborts the process; the harness's preflight runs one in a child.
    from harness.cuda_preflight import preflight

    pf = preflight()
    if not pf.usable:
        pytest.skip(f"{pf.skip_code}: {pf.reason}")
    model = small_cnn()
    module = converter.convert(model, device="cpu").to("cuda")
    assert _devices(module) == {"cuda:0"}
    x = _input()
    out = module(flow.tensor(x).to("cuda"))
    for got, ref in zip(out, _ort(model, x)):
        np.testing.assert_allclose(got.numpy(), ref, rtol=RTOL, atol=ATOL)
    assert _devices(converter.convert(model, device="cuda")) == {"cuda:0"}


def test_resolve_device():
    from converter.api import resolve_device
    from converter.errors import DeviceError
    assert str(resolve_device("cpu")) == "cpu:0" and str(resolve_device(flow.device("cpu"))) == "cpu:0"
    for bad in ("bogus", "gpu", "cuda:x"):
        with pytest.raises(DeviceError, match="not a OneFlow device"):
            resolve_device(bad)
    if not flow.cuda.is_available():
        # The copy of the weights to a missing GPU was a C++ CHECK (SIGABRT); the corpus in
        # tests/test_hostile_inputs.py runs the same conversion in a subprocess.
        for cuda in ("cuda", "cuda:0", flow.device("cuda")):
            with pytest.raises(DeviceError, match="no usable CUDA device"):
                resolve_device(cuda)


def test_graph_mode_matches_eager():
    model = small_cnn()
    x = _input()
    eager = converter.convert(model)(flow.tensor(x))
    graph = converter.convert(model, graph=True)
    static = graph(flow.tensor(x))
    static = graph(flow.tensor(x))       # second call: the compiled plan
    assert [s.kind for s in graph.segments] == ["graph"]    # one compiled nn.Graph, no break
    for a, b in zip(eager, static):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-6)


def test_inventory_lists_every_unsupported_op_with_node_names():
    model = small_cnn()
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    model.graph.node.insert(3, helper.make_node("Mystery", ["features"], ["m1"], name="mystery_a",
                                                domain="com.example"))
    model.graph.node.insert(4, helper.make_node("Riddle", ["m1"], ["m2"], name="riddle_a",
                                                domain="com.example"))
    model.graph.node.insert(5, helper.make_node("Mystery", ["m2"], ["m3"], name="mystery_b",
                                                domain="com.example"))
    found = {u.op_type: u for u in converter.inventory(model)}
    assert set(found) == {"Mystery", "Riddle"}
    assert found["Mystery"].nodes == ("mystery_a", "mystery_b")
    assert found["Riddle"].nodes == ("riddle_a",)
    assert all(u.domain == "com.example" and u.reason for u in found.values())
    assert converter.inventory(small_cnn()) == []
