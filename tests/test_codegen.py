"""converter.codegen (issue 3 item 6): readable standalone OneFlow source + flow.save weights
whose output equals the converted module's. ~15 s: one torch export subprocess, one
standalone-run subprocess, the rest in-process on onnx.helper models."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import oneflow as flow
import pytest
from onnx import TensorProto, helper, numpy_helper

import converter
from converter._cuda_libs import _nvidia_dirs
from converter.builder import build_plan
from converter.codegen import EMITTERS
from converter.graph import load
from converter.registry import all_handlers

TORCH_EXPORT = r'''
import sys, numpy as np, torch
torch.manual_seed(0)
class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1); self.b1 = torch.nn.BatchNorm2d(8)
        self.c2 = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2, bias=False)
        self.b2 = torch.nn.BatchNorm2d(8); self.fc = torch.nn.Linear(8, 5)
    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.b1(self.c1(x))), 2)
        x = torch.nn.functional.hardswish(self.b2(self.c2(x)))
        x = x * torch.sigmoid(x)
        x = torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return torch.softmax(self.fc(x), dim=1), x
m = Tiny().eval()
with torch.no_grad():
    for bn in (m.b1, m.b2):   # non-trivial statistics (docs/design.md §4)
        bn.running_mean.uniform_(-0.5, 0.5); bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5); bn.bias.uniform_(-0.5, 0.5)
x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32))
torch.onnx.export(m, (x,), sys.argv[1], opset_version=13, dynamo=False, do_constant_folding=False,
                  input_names=["image"], output_names=["probs", "features"])
np.save(sys.argv[2], x.numpy())
assert "oneflow" not in sys.modules
'''


def _import(path):
    spec = importlib.util.spec_from_file_location(f"generated_{abs(hash(path))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _outputs(out):
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def _assert_same(generated, converted):
    assert len(generated) == len(converted)
    for g, c in zip(generated, converted):
        assert g.shape == c.shape and g.dtype == c.dtype
        np.testing.assert_allclose(g, c, rtol=1e-6, atol=1e-6)    # float rounding, no more


@pytest.fixture(scope="module")
def torch_tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    onnx_path, x_path = str(d / "tiny.onnx"), str(d / "x.npy")
    subprocess.run([sys.executable, "-c", TORCH_EXPORT, onnx_path, x_path], check=True,
                   capture_output=True, timeout=300)
    return onnx_path, np.load(x_path), d


@pytest.mark.torch
def test_torch_cnn_codegen_matches_converted_module(torch_tiny):
    onnx_path, x, d = torch_tiny
    out_dir = d / "gen"
    path = converter.codegen(onnx_path, str(out_dir))
    assert path == str(out_dir / "model.py") and (out_dir / "weights").is_dir()
    source = open(path).read()
    assert "converter" not in source.replace("converter.codegen", "")
    assert "nn.Conv2d(" in source and "nn.BatchNorm2d(" in source and "nn.Linear(" in source
    generated = _import(path).load()
    with flow.no_grad():
        _assert_same(_outputs(generated(flow.tensor(x))), _outputs(converter.convert(onnx_path)(flow.tensor(x))))
    # one forward line per runtime node of the converter's plan
    plan = build_plan(load(onnx_path))
    assert sum(1 for ln in source.splitlines() if ln.startswith("        ") and "  # " in ln
               and " = " in ln) == len(plan.steps)


@pytest.mark.torch
def test_generated_code_runs_without_the_converter(torch_tiny):
    onnx_path, x, d = torch_tiny
    out_dir = d / "standalone"
    converter.codegen(onnx_path, str(out_dir))
    np.save(str(d / "input.npy"), x)
    script = ("import sys, numpy as np, oneflow as flow\n"
              f"sys.path.insert(0, {str(out_dir)!r})\n"
              "import model\n"
              f"probs, feats = model.load()(flow.tensor(np.load({str(d / 'input.npy')!r})))\n"
              f"np.save({str(d / 'probs.npy')!r}, probs.numpy())\n"
              "assert 'converter' not in sys.modules\n")
    # oneflow's own import needs its CUDA 11 libraries on the loader path (no converter preload).
    libs = [os.path.join(root, pkg, "lib") for root in _nvidia_dirs() for pkg in ("cublas", "cudnn")]
    env = dict(os.environ, LD_LIBRARY_PATH=":".join(libs + [os.environ.get("LD_LIBRARY_PATH", "")]))
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          cwd=str(d), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with flow.no_grad():
        expected = converter.convert(onnx_path)(flow.tensor(x))[0].numpy()
    np.testing.assert_allclose(np.load(str(d / "probs.npy")), expected, rtol=1e-6, atol=1e-6)


def _many_ops_model():
    rng = np.random.default_rng(3)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    init = [numpy_helper.from_array(v, k) for k, v in {
        "w": f(6, 3, 3, 3), "b": f(6), "s": np.abs(f(6)) + 0.5, "bb": f(6), "m": f(6) * 0.3,
        "v": np.abs(f(6)) + 0.5, "lo": np.array(-0.5, np.float32), "hi": np.array(2.0, np.float32),
        "shape": np.array([0, 6, -1], np.int64), "mm": f(32, 7), "gw": f(4, 7), "gb": f(4),
        "two": np.array([2.0], np.float32), "axes": np.array([1], np.int64)}.items()]
    N = helper.make_node
    nodes = [
        N("Conv", ["x", "w", "b"], ["c"], name="conv_asym", pads=[0, 1, 1, 0]),
        N("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], name="bn"),
        N("Clip", ["n", "lo", "hi"], ["clipped"], name="clip"),
        N("LeakyRelu", ["clipped"], ["lr"], name="leaky", alpha=0.2),
        N("MaxPool", ["lr"], ["mp"], name="pool_same", kernel_shape=[3, 3], strides=[2, 2],
          auto_pad="SAME_UPPER"),
        N("AveragePool", ["lr"], ["ap"], name="avg", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
          count_include_pad=1),
        N("Concat", ["mp", "ap"], ["cat"], name="cat", axis=1),
        N("HardSigmoid", ["cat"], ["hs"], name="hsig"),
        N("Div", ["hs", "two"], ["half"], name="div"),
        N("Sub", ["cat", "half"], ["diff"], name="sub"),
        N("Reshape", ["diff", "shape"], ["r"], name="reshape"),       # (1, 6, 32): 0 copies the batch
        N("Transpose", ["r"], ["t"], name="transpose", perm=[0, 2, 1]),   # (1, 32, 6)
        N("Identity", ["t"], ["t2"], name="ident"),
        N("Flatten", ["t2"], ["fl"], name="flatten", axis=2),          # (32, 6)
        N("Transpose", ["fl"], ["ft"], name="transpose_back"),
        N("Softmax", ["ft"], ["sm"], name="softmax", axis=0),
        N("Unsqueeze", ["sm", "axes"], ["u"], name="unsq"),
        N("Squeeze", ["u", "axes"], ["sq"], name="sq"),
        N("GlobalMaxPool", ["n"], ["gmp"], name="gmp"),
        N("Flatten", ["gmp"], ["g1"], name="flat1"),
        N("Tanh", ["g1"], ["g2"], name="tanh"),
        N("MatMul", ["sq", "mm"], ["mmo"], name="matmul"),                 # (6, 7)
        N("Gemm", ["mmo", "gw", "gb"], ["gemm"], name="gemm", transB=1, alpha=0.5, beta=2.0),  # (6, 4)
    ]
    graph = helper.make_graph(nodes, "many", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("sq", TensorProto.FLOAT, [6, 32]),
                               helper.make_tensor_value_info("g2", TensorProto.FLOAT, [1, 6]),
                               helper.make_tensor_value_info("gemm", TensorProto.FLOAT, [6, 4])], init)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _assert_codegen_matches_converted_and_ort(model, x, out_dir):
    """Generated module == converted module (exactly), and both match ONNX Runtime."""
    path = converter.codegen(model, str(out_dir))
    generated = _outputs(_import(path).load()(flow.tensor(x)))
    _assert_same(generated, _outputs(converter.convert(model)(flow.tensor(x))))
    reference = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for g, r in zip(generated, reference):
        np.testing.assert_allclose(g, r, rtol=1e-3, atol=1e-5)


def test_helper_model_codegen_matches_converted_and_ort(tmp_path):
    x = np.random.default_rng(4).standard_normal((1, 3, 8, 8)).astype(np.float32)
    _assert_codegen_matches_converted_and_ort(_many_ops_model(), x, tmp_path / "gen")


def test_ops_without_emitter_are_listed_at_once(tmp_path):
    # Trigonometry is convertible but has no codegen emitter (not used by CV models).
    convertible = {h.op_type for h in all_handlers() if not h.domain}
    ops = [op for op in ("Sin", "Cos", "Tan", "Asin", "Acos", "Atan") if op in convertible and op not in EMITTERS][:2]
    if len(ops) < 2:
        pytest.skip(f"needs two convertible ops without an emitter among the trig ops; have {ops}")
    nodes = [helper.make_node(ops[0], ["x"], ["a"], name="first"), helper.make_node("Relu", ["a"], ["b"], name="r"),
             helper.make_node(ops[1], ["b"], ["c"], name="second"), helper.make_node(ops[0], ["c"], ["y"], name="third")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    converter.convert(model)                      # the converter itself handles them
    with pytest.raises(converter.CodegenError) as info:
        converter.codegen(model, str(tmp_path / "gen"))
    found = {u.op_type: u.nodes for u in info.value.unsupported}
    assert found == {ops[0]: ("first", "third"), ops[1]: ("second",)}
    assert "first" in str(info.value) and "second" in str(info.value)
    assert not (tmp_path / "gen" / "model.py").exists()


def _more_ops_model():
    """Opset 17: the rest of the emitters the zoo's CV models need."""
    rng = np.random.default_rng(5)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    init = [numpy_helper.from_array(v, k) for k, v in {
        "slope": np.abs(f(4, 1, 1)) * 0.3, "split": i64(1, 3), "starts": i64(0, 1), "ends": i64(1, 100),
        "sl_axes": i64(1, 3), "pads": i64(0, 0, 1, 2, 0, 0, 2, 1), "gidx": i64(3, -1, 0),
        "eshape": i64(2, 1, 1, 1), "tw": f(4, 3, 2, 2), "tb": f(3), "ln_s": f(11), "ln_b": f(11),
        "scales": np.array([1, 1, 2, 2], np.float32), "raxes": i64(2, 3)}.items()]
    N = helper.make_node
    nodes = [
        N("PRelu", ["x", "slope"], ["p"], name="prelu"),
        N("Elu", ["p"], ["el"], name="elu", alpha=0.7),
        N("Split", ["el", "split"], ["s1", "s3"], name="split", axis=1),
        N("Sum", ["s1", "s1", "s1"], ["sum"], name="sum3"),
        N("Max", ["s3", "sum"], ["mx"], name="max"),                      # broadcast (1,1) vs (1,3)
        N("Mean", ["mx", "s3"], ["mean"], name="mean"),
        N("Slice", ["mean", "starts", "ends", "sl_axes"], ["sl"], name="slice"),   # (1, 1, 6, 5)
        N("Cast", ["sl"], ["c64"], name="to_double", to=TensorProto.DOUBLE),
        N("Cast", ["c64"], ["c32"], name="to_float", to=TensorProto.FLOAT),
        N("Pad", ["c32", "pads"], ["pd"], name="pad_reflect", mode="reflect"),    # (1, 1, 9, 8)
        N("Gather", ["pd", "gidx"], ["g"], name="gather", axis=3),                # (1, 1, 9, 3)
        N("Expand", ["g", "eshape"], ["ex"], name="expand"),                      # (2, 1, 9, 3)
        N("ConvTranspose", ["x", "tw", "tb"], ["ct"], name="deconv", strides=[2, 2], pads=[1, 1, 1, 1],
          output_padding=[1, 1]),
        N("LayerNormalization", ["ct", "ln_s", "ln_b"], ["ln"], name="layernorm", axis=-1, epsilon=1e-4),
        N("Resize", ["x", "", "scales"], ["up"], name="upsample", mode="nearest",
          coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        N("ReduceSum", ["up", "raxes"], ["rs"], name="reducesum", keepdims=0),
    ]
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "more", [vi("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                              [vi("ex", TensorProto.FLOAT, [2, 1, 9, 3]), vi("ln", TensorProto.FLOAT, [1, 3, 11, 11]),
                               vi("rs", TensorProto.FLOAT, [1, 4])], init)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_more_emitters_match_converted_and_ort(tmp_path):
    model = _more_ops_model()
    onnx.checker.check_model(model)
    x = np.random.default_rng(6).standard_normal((1, 4, 6, 6)).astype(np.float32)
    _assert_codegen_matches_converted_and_ort(model, x, tmp_path / "gen")


# --- generated == converted over every ONNX backend node case codegen can emit --------------------
def _node_cases_codegen_can_emit():
    from converter import conformance
    for name, case in conformance.discover().items():
        if case["kind"] != "node":
            continue
        model = onnx.load(case["model"])
        if all(n.op_type in EMITTERS for n in model.graph.node):
            yield name, case, model


def _run_outputs(module, inputs):
    with flow.no_grad():
        out = module(*inputs)
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def test_codegen_never_drifts_from_the_converter_on_backend_node_cases(tmp_path):
    """Every node case whose ops all have emitters: the converter converts it, and either
    codegen refuses it (CodegenError, a reported limitation) or the generated module returns
    what the converted module returns (same dtypes and shapes, values to float32 rounding).
    ~20 s for ~240 compared cases; in-process (the cases compared all convert and run)."""
    from converter import conformance
    from converter.codegen import _import_file
    from converter.dtypes import to_tensor

    compared, refused, drift = [], [], []
    for name, case, model in _node_cases_codegen_can_emit():
        try:
            converted = converter.convert(model)
        except converter.ConverterError:
            continue                                    # the converter's own limitation
        out_dir = tmp_path / name.replace("/", "_")
        try:
            path = converter.codegen(model, str(out_dir))
        except converter.CodegenError:
            refused.append(name)
            continue
        generated = _import_file(path).load(str(out_dir / "weights"))
        for inputs, _ in conformance.load_data_sets(case, model):
            try:
                args = [to_tensor(v) for v in inputs]
            except KeyError:                            # a dtype OneFlow 0.9 has no tensor for
                break
            try:
                want = _run_outputs(converted, args)
            except converter.NodeExecutionError:        # refused at run time: codegen must refuse too
                drift.append(f"{name}: the converted module refuses to run it, codegen emitted it")
                break
            try:
                got = _run_outputs(generated, args)
            except Exception as e:  # noqa: BLE001 - any failure of the generated module is drift
                drift.append(f"{name}: generated module failed: {type(e).__name__}: {str(e)[:200]}")
                break
            problem, _, _ = conformance.compare(got, want, rtol=1e-6, atol=1e-6)
            if problem:
                drift.append(f"{name}: {problem}")
                break
        else:
            compared.append(name)
    assert not drift, f"{len(drift)} node case(s) where codegen and the converter disagree:\n" + "\n".join(drift)
    assert len(compared) >= 230, (len(compared), len(refused))   # 241 compared, 193 refused when written


@pytest.mark.parametrize("opset", [12, 22])
def test_codegen_max_and_average_pool_asymmetric_pads_with_ceil_mode(tmp_path, opset):
    # Was drift: the emitter used OneFlow's ceil_mode (drops a window the converter keeps) and
    # refused/ mis-padded asymmetric pads. Both now come from the handler's PoolGeometry.
    vi = helper.make_tensor_value_info
    nodes = [helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 2],
                              ceil_mode=1),
             helper.make_node("AveragePool", ["x"], ["a"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 0, 1, 1],
                              ceil_mode=1)]
    graph = helper.make_graph(nodes, "pool", [vi("x", TensorProto.FLOAT, [1, 2, 6, 7])],
                              [vi("m", TensorProto.FLOAT, None), vi("a", TensorProto.FLOAT, None)])
    model = onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]))
    x = np.random.default_rng(8).standard_normal((1, 2, 6, 7)).astype(np.float32)
    if opset <= 21:
        _assert_codegen_matches_converted_and_ort(model, x, tmp_path / "gen")
    else:   # ORT 1.19 stops at opset 21
        path = converter.codegen(model, str(tmp_path / "gen"))
        _assert_same(_outputs(_import(path).load()(flow.tensor(x))), _outputs(converter.convert(model)(flow.tensor(x))))


@pytest.mark.parametrize("dtype", [np.int32, np.int64], ids=lambda d: np.dtype(d).name)
def test_codegen_integer_pow_keeps_the_base_dtype(tmp_path, dtype):
    # Was drift: the emitter used flow.pow, which returns float32 for integer tensors.
    vi = helper.make_tensor_value_info
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph = helper.make_graph([helper.make_node("Pow", ["x", "e"], ["y"])], "pow", [vi("x", elem, [2, 3])],
                              [vi("y", elem, [2, 3])], [numpy_helper.from_array(np.array([0, 2, 3], dtype), "e")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    x = np.array([[2, -3, 4], [5, 6, -7]], dtype)
    _assert_codegen_matches_converted_and_ort(model, x, tmp_path / "gen")
