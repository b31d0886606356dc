"""The graph rewrites fire on what exporters really write: tiny torch models exported to ONNX
in a torch-only subprocess (never torch beside OneFlow), converted with the rewrites on and
off, compared with ONNX Runtime."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import oneflow as flow
import onnxruntime as ort
import pytest

import converter

EXPORT = r'''
import json, sys, torch, torchvision
out = sys.argv[1]
torch.manual_seed(0)

class Mlp(torch.nn.Module):            # Linear + exact GELU + Linear + LayerNorm, as in a ViT block
    def __init__(self, approximate="none"):
        super().__init__()
        self.fc1, self.act, self.fc2 = torch.nn.Linear(8, 16), torch.nn.GELU(approximate=approximate), torch.nn.Linear(16, 8)
        self.norm = torch.nn.LayerNorm(8)
    def forward(self, x):
        return self.norm(self.fc2(self.act(self.fc1(x))))

class Rms(torch.nn.Module):           # as T5/LLaMA code writes it (aten::rms_norm has no ONNX export)
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.rand(8) + 0.5)
    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))

bn = torch.nn.BatchNorm2d(4)
with torch.no_grad():
    bn.running_mean.uniform_(-1, 1); bn.running_var.uniform_(0.5, 2); bn.weight.uniform_(0.5, 1.5); bn.bias.uniform_(-1, 1)
block = torchvision.models.vision_transformer.EncoderBlock(num_heads=2, hidden_dim=8, mlp_dim=16, dropout=0.0,
                                                          attention_dropout=0.0)
models = {
    "mlp_erf": (Mlp(), (2, 5, 8), 13, True),
    "mlp_tanh": (Mlp("tanh"), (2, 5, 8), 13, True),
    "rms_norm": (Rms(), (2, 5, 8), 13, True),
    "conv_bn": (torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), bn), (1, 3, 6, 6), 13, False),
    "vit_block": (block, (1, 5, 8), 14, True),
}
for name, (model, shape, opset, fold) in models.items():
    torch.onnx.export(model.eval(), (torch.randn(*shape),), f"{out}/{name}.onnx", opset_version=opset, dynamo=False,
                      input_names=["x"], do_constant_folding=fold, training=torch.onnx.TrainingMode.EVAL)
json.dump({k: v[1] for k, v in models.items()}, open(f"{out}/shapes.json", "w"))
'''

EXPECTED = {
    "mlp_erf": {"layer_norm": 1, "gelu": 1, "linear_bias": 2},
    "mlp_tanh": {"layer_norm": 1, "gelu": 1, "linear_bias": 2},
    "rms_norm": {"rms_norm": 1},
    "conv_bn": {"conv_fold": 1},
    "vit_block": {"layer_norm": 2, "gelu": 1, "linear_bias": 3},
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("rewrite_exports")
    done = subprocess.run([sys.executable, "-c", EXPORT, str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, json.loads((out / "shapes.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rewrites_fire_on_torch_exports(exported, name):
    out, shapes = exported
    path = str(out / f"{name}.onnx")
    x = np.random.default_rng(1).standard_normal(shapes[name]).astype(np.float32)
    fused, plain = converter.convert(path), converter.convert(path, optimize=False)
    for pass_name, count in EXPECTED[name].items():
        assert fused.rewrites.get(pass_name, 0) >= count, fused.rewrites
    assert plain.rewrites == {}
    with flow.no_grad():
        got, unfused = fused(flow.tensor(x)).numpy(), plain(flow.tensor(x)).numpy()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    want = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got, unfused, rtol=1e-5, atol=1e-6)
    assert len(fused.steps) < len(plain.steps)


def test_cli_reports_rewrites_and_switches_them_off(exported, capsys):
    from converter.cli import main

    path = str(exported[0] / "mlp_erf.onnx")
    assert main([path, "--check"]) == 0
    assert "rewrites: layer_norm×1, gelu×1, linear_bias×2" in capsys.readouterr().out
    assert main([path, "--check", "--no-optimize"]) == 0
    assert "rewrites: none" in capsys.readouterr().out


def test_folds_in_later_sweeps_never_reuse_an_earlier_sweeps_initializer_names():
    """Two Conv -> BatchNormalization pairs fold in the first sweep; only the second Conv is
    followed by a Mul, folded in a second sweep with a fresh view. That view's names must not
    overwrite the first Conv's folded weight (OneFlow GhostNet failed at run time: its stem Conv
    got another Conv's 20-channel weight)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    inits = [numpy_helper.from_array(v, n) for n, v in [
        ("wa", f32(4, 3, 3, 3)), ("wb", f32(6, 4, 1, 1)), ("c", f32(1, 6, 1, 1)),
        *[(f"{p}{k}", np.abs(f32(ch)) + 0.5 if k in ("scale", "var") else f32(ch))
          for p, ch in (("a_", 4), ("b_", 6)) for k in ("scale", "bias", "mean", "var")]]]
    nodes = [helper.make_node("Conv", ["x", "wa"], ["ca"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["ca", "a_scale", "a_bias", "a_mean", "a_var"], ["na"]),
             helper.make_node("Conv", ["na", "wb"], ["cb"]),
             helper.make_node("BatchNormalization", ["cb", "b_scale", "b_bias", "b_mean", "b_var"], ["nb"]),
             helper.make_node("Mul", ["nb", "c"], ["y"])]
    graph = helper.make_graph(nodes, "two_sweeps", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = f32(1, 3, 8, 8)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    module = converter.convert(model)
    assert module.rewrites.get("conv_fold") == 3     # two BNs in the first sweep, the Mul in the second
    np.testing.assert_allclose(module(flow.tensor(x)).numpy(), want, rtol=1e-4, atol=1e-5)
