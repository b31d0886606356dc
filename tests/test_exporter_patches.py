"""Each exporter patch (zoo/frameworks/patches) is necessary and sufficient: the smallest model
that shows its upstream bug fails with the stock exporter and matches ONNX Runtime with that
patch alone.

Exports run through the zoo's own exporter modules, each framework in its own process
(docs/design.md §2: TensorFlow never shares one with OneFlow); ``ZOO_EXPORTER_PATCHES`` picks
the patches (``0`` = stock, a name = that patch alone). ONNX Runtime runs here.
Cost, measured on the shared 2-core machine under load: the five oneflow-onnx cases ~2.5 min
(two export processes each, ~13 s apiece), tf2onnx-erfc + paddle2onnx-leaky-relu-alpha ~6 min
(TensorFlow's import and tf2onnx dominate), tf2onnx-einsum-opset11 ~71 s; the rest under a second.
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from harness.versions import framework_env
from zoo.frameworks import patches

# One model per patch: (framework, opset, script body). The body defines `model` and `inputs`
# with the framework's idiom; the runner exports it with the zoo's exporter module.
_ONEFLOW = """
from zoo.frameworks import oneflow_exporter as ex
import oneflow as flow
flow.manual_seed(0)
class One(flow.nn.Module):
    def __init__(self, op, module=None):
        super().__init__()
        self.op, self.module = op, module
    def forward(self, x):
        return self.op(self.module, x)
"""
# tf2onnx-einsum-opset11's equations (those Keras MultiHeadAttention emits) and operand shapes.
EINSUMS = {"abcd,aecd->acbe": ((1, 3, 2, 4), (1, 5, 2, 4)), "acbe,aecd->abcd": ((1, 2, 3, 5), (1, 5, 2, 4)),
           "abc,cde->abde": ((1, 3, 6), (6, 2, 4)), "abcd,cde->abe": ((1, 3, 2, 4), (2, 4, 6))}
CASES = {
    "oneflow-onnx-reduce-sum-axes-input": ("oneflow", 13, _ONEFLOW + """
model = One(lambda m, x: x.sum(dim=1, keepdim=True))
inputs = [rng.standard_normal((1, 3, 4, 5)).astype("float32")]
"""),
    "oneflow-onnx-hardtanh-clip-bounds": ("oneflow", 13, _ONEFLOW + """
model = One(lambda m, x: flow.nn.functional.hardtanh(x, -0.5, 0.7))
inputs = [rng.standard_normal((1, 3, 4, 5)).astype("float32")]
"""),
    "oneflow-onnx-maxpool-ceil-mode-pads": ("oneflow", 13, _ONEFLOW + """
model = One(lambda m, x: m(x), flow.nn.MaxPool2d(3, 1, 1, ceil_mode=True))
inputs = [rng.standard_normal((1, 2, 8, 8)).astype("float32")]
"""),
    "oneflow-onnx-var-opset11": ("oneflow", 11, _ONEFLOW + """
model = One(lambda m, x: x.var(dim=2, unbiased=True, keepdim=True))
inputs = [(rng.standard_normal((1, 3, 6, 5)) * 3 + 100).astype("float32")]
"""),
    "oneflow-onnx-deconv2d": ("oneflow", 13, _ONEFLOW + """
model = One(lambda m, x: m(x), flow.nn.ConvTranspose2d(4, 3, 2, stride=2))
inputs = [rng.standard_normal((1, 4, 5, 5)).astype("float32")]
"""),
    "tf2onnx-erfc": ("tensorflow", 13, """
from zoo.frameworks import tensorflow_exporter as ex
import keras
x = keras.Input((8,), batch_size=1)
model = keras.Model(x, keras.layers.Activation(lambda t: keras.activations.gelu(t, approximate=False))(x))
inputs = [(rng.standard_normal((1, 8)) * 3).astype("float32")]
"""),
    # Keras MultiHeadAttention's einsums (projections, scores, context, output), each a one-op
    # layer, at opset 11 where ONNX has no Einsum. tf.einsum itself: keras.ops.einsum rewrites
    # some static-shape equations to tf.matmul, which tf2onnx converts anyway.
    "tf2onnx-einsum-opset11": ("tensorflow", 11, f"""
from zoo.frameworks import tensorflow_exporter as ex
import keras
import tensorflow as tf
ins, outs, inputs = [], [], []
for eq, shapes in {EINSUMS!r}.items():
    pair = [keras.Input(s[1:], batch_size=s[0]) for s in shapes]
    outs.append(keras.layers.Lambda(lambda t, eq=eq: tf.einsum(eq, t[0], t[1]))(pair))
    ins += pair
    inputs += [rng.standard_normal(s).astype("float32") for s in shapes]
model = keras.Model(ins, outs)
"""),
    "paddle2onnx-leaky-relu-alpha": ("paddle", 13, """
from zoo.frameworks import paddle_exporter as ex
import paddle
model = paddle.nn.Sequential(paddle.nn.LeakyReLU(0.1))
model.eval()
inputs = [rng.standard_normal((1, 3, 4, 5)).astype("float32")]
"""),
}

# Runs in the framework's process: build, run, export; the outcome as JSON on the last line.
_RUNNER = """
import json, os, sys, traceback
import numpy as np
out = sys.argv[1]
rng = np.random.default_rng(0)
{body}
expected = ex.run(model, inputs)
np.savez(os.path.join(out, "io.npz"), **{{f"in{{i}}": x for i, x in enumerate(inputs)}},
         **{{f"out{{i}}": y for i, y in enumerate(expected)}})
from zoo.frameworks import patches
try:
    ex.export(model, inputs, os.path.join(out, "model.onnx"), {opset})
    print(json.dumps({{"ok": True, "fired": patches.fired()}}))
except BaseException as e:
    print(json.dumps({{"ok": False, "error": f"{{type(e).__name__}}: {{e}}"}}))
"""


def export_one(name: str, selection: str, tmp_path) -> dict:
    framework, opset, body = CASES[name]
    out = tmp_path / selection.replace(",", "+")
    out.mkdir()
    env = dict(framework_env(framework), **{patches.ENV: selection})
    proc = subprocess.run([sys.executable, "-c", _RUNNER.format(body=body, opset=opset), str(out)],
                          capture_output=True, text=True, env=env, timeout=900)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, f"exit {proc.returncode}:\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1])
    result["dir"] = str(out)
    return result


def ort_mismatch(result: dict):
    """None when the export loads in onnx.checker + ORT and matches the framework, else why not."""
    import onnx
    import onnxruntime as ort

    if not result["ok"]:
        return f"export failed: {result['error']}"
    path = os.path.join(result["dir"], "model.onnx")
    io = dict(np.load(os.path.join(result["dir"], "io.npz")))
    try:
        onnx.checker.check_model(path)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        feeds = {i.name: io[f"in{k}"] for k, i in enumerate(sess.get_inputs())}
        got = sess.run(None, feeds)
    except Exception as e:
        return f"{type(e).__name__}: {str(e)[:300]}"
    for k, y in enumerate(got):
        want = io[f"out{k}"]
        if y.shape != want.shape:
            return f"output {k}: shape {y.shape} != {want.shape}"
        if not np.allclose(y, want, rtol=1e-5, atol=1e-5):
            return f"output {k}: max abs diff {np.abs(y - want).max():.3g}"
    return None


def einsums_match_numpy_and_convert(result: dict) -> None:
    """The framework's outputs are numpy.einsum's, and our converter matches ORT on the export."""
    import oneflow as flow
    import onnxruntime as ort

    import converter

    io = dict(np.load(os.path.join(result["dir"], "io.npz")))
    ins = [io[f"in{k}"] for k in range(2 * len(EINSUMS))]
    # float32 sums in another order than numpy's float64-accumulating einsum: measured worst 9.5e-7
    for k, eq in enumerate(EINSUMS):
        np.testing.assert_allclose(io[f"out{k}"], np.einsum(eq, ins[2 * k], ins[2 * k + 1]), rtol=1e-5, atol=1e-5)
    path = os.path.join(result["dir"], "model.onnx")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    want = sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), ins)})
    got = converter.convert(path, device="cpu")(*[flow.tensor(x) for x in ins])
    for g, w in zip(got, want):   # OneFlow and ORT matmuls in float32; the converter's usual 1e-5
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-5, atol=1e-5)


# The stock exporter's failure, where the issue quotes it; patches whose export also runs
# through our converter (beyond ORT).
STOCK_ERRORS = {"tf2onnx-einsum-opset11": "No Op registered for Einsum with domain_version of 11"}
CONVERTED = {"tf2onnx-einsum-opset11": einsums_match_numpy_and_convert}


def test_every_patch_has_a_case_and_names_its_bug():
    assert set(CASES) == set(patches.BY_NAME)
    for p in patches.PATCHES:
        assert p.bug and p.fix and p.versions.startswith("=="), p


# TensorFlow's and Paddle's start-up dominate their two cases (~6 min on 2 busy cores): slow,
# run by the nightly tests job; the oneflow-onnx cases stay in `make test`.
_SLOW_FRAMEWORKS = ("tensorflow", "paddle")


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if CASES[n][0] in _SLOW_FRAMEWORKS else [])
                                  for n in sorted(CASES)])
def test_patch_is_necessary_and_sufficient(name, tmp_path):
    patch = patches.BY_NAME[name]
    if not patch.applies_to_installed():
        pytest.skip(f"{patch.exporter} installed is not {patch.versions}: the patch does not apply")
    stock = export_one(name, "0", tmp_path)
    assert ort_mismatch(stock) is not None, f"the stock exporter already gets {name}'s model right"
    assert STOCK_ERRORS.get(name, "") in ort_mismatch(stock)
    assert not stock.get("fired")
    patched = export_one(name, name, tmp_path)
    assert ort_mismatch(patched) is None
    assert patched["fired"] == [name]
    if name in CONVERTED:
        CONVERTED[name](patched)


def test_selection_by_environment(monkeypatch):
    monkeypatch.setenv(patches.ENV, "0")
    assert patches.selected("oneflow") == [] and not patches.enabled()
    monkeypatch.setenv(patches.ENV, "tf2onnx-erfc")
    assert [p.name for p in patches.selected("tensorflow")] == ["tf2onnx-erfc"]
    assert patches.selected("oneflow") == []
    monkeypatch.setenv(patches.ENV, "no-such-patch")
    with pytest.raises(ValueError, match="unknown patch"):
        patches.selected("oneflow")
    monkeypatch.delenv(patches.ENV)
    assert {p.name for p in patches.selected("oneflow")} == {
        p.name for p in patches.PATCHES if p.framework == "oneflow"}


def test_patch_outside_its_version_range_is_not_selected(monkeypatch):
    import importlib.metadata

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda d: "0.6.3" if d == "oneflow-onnx" else real(d))
    assert patches.selected("oneflow") == []


def test_patched_cells_are_marked_with_the_bug_and_the_patch(tmp_path):
    from reports import html_page, markdown
    from reports.matrix import build
    from reports.records import load

    def rec(model, arch, **kw):
        return {"event": "final", "case": f"oneflow-{model}-opset13-cpu", "framework": "oneflow", "model": model,
                "architecture": arch, "opset": 13, "device": "cpu", "status": "pass", "stage": None,
                "error": None, "reason": None, "max_abs": 1e-6, "max_rel": 1e-5, "time": 1764100000.0,
                "versions": {}, **kw}

    path = tmp_path / "results.jsonl"
    from harness.cases import patch_notes   # what the harness writes into each record

    name = "oneflow-onnx-reduce-sum-axes-input"
    path.write_text(json.dumps(rec("se_resnet50", "SENet", exporter_patches=[name],
                                   exporter_patch_notes=patch_notes([name])))
                    + "\n" + json.dumps(rec("resnet50", "ResNet", exporter_patches=[])) + "\n")
    m = build(load([path]))
    md = markdown.render(m)
    patched_row = next(line for line in md.splitlines() if line.startswith("| SENet"))
    plain_row = next(line for line in md.splitlines() if line.startswith("| ResNet"))
    assert "✅</span> patched" in patched_row and "patched" not in plain_row
    bug = patches.BY_NAME["oneflow-onnx-reduce-sum-axes-input"].bug
    assert "oneflow-onnx-reduce-sum-axes-input (oneflow-onnx==0.6.2)" in md and bug in md
    page = html_page.render(m)
    assert "pass (patched)" in page and "upstream bug" in page


def test_unless_patched_xfail_applies_only_under_stock_exporters(monkeypatch):
    from zoo import catalogue

    def doc(unless):
        return {"defaults": {"input": {"shape": [1, 3, 8, 8], "layout": "NCHW", "dtype": "float32",
                                       "range": [-1.0, 1.0]}},
                "models": {"m": {"architecture": "SENet", "task": "classification", "frameworks": {"oneflow": {
                    "builder": "flowvision", "variant": "se_resnet50",
                    "xfail": {"stage": "ort", "reason": "upstream bug", "unless_patched": unless}}}}}}

    with pytest.raises(catalogue.CatalogueError, match="unless_patched"):
        catalogue.parse(doc("no-such-patch"))
    cell = catalogue.parse(doc("oneflow-onnx-reduce-sum-axes-input")).cell("oneflow", "m")
    monkeypatch.delenv(patches.ENV, raising=False)
    assert cell.xfail is None and cell.as_dict()["xfail"] is None
    monkeypatch.setenv(patches.ENV, "0")
    assert cell.xfail.stage == "ort"
    assert cell.as_dict()["xfail"]["unless_patched"] == "oneflow-onnx-reduce-sum-axes-input"


def test_catalogue_xfails_that_patches_fix_name_them():
    """Every exporter-bug xfail row a patch fixes says so, so the patched run expects a pass."""
    from zoo import catalogue

    named = {x.unless_patched for c in catalogue.cells() for x in c.xfails if x.unless_patched}
    assert named <= set(patches.BY_NAME)
    assert {"tf2onnx-erfc", "tf2onnx-einsum-opset11", "paddle2onnx-leaky-relu-alpha", "oneflow-onnx-reduce-sum-axes-input",
            "oneflow-onnx-hardtanh-clip-bounds", "oneflow-onnx-maxpool-ceil-mode-pads"} <= named


def test_einsum_lowering_plan_and_unsupported_equations():
    """The opset-11 Einsum lowering's index roles; equations outside it fail naming the equation."""
    from zoo.frameworks.patches.tf2onnx import einsum_plan, parse_einsum

    plan = einsum_plan(*parse_einsum("abcd,aecd->acbe"))
    assert (plan["batch"], plan["contracted"], plan["left_free"], plan["right_free"]) == (
        ["a", "c"], ["d"], ["b"], ["e"])
    assert plan["out_perm"] == [0, 1, 2, 3]
    plan = einsum_plan(*parse_einsum("abc,cd->d"))      # a, b summed before the MatMul
    assert plan["left_summed"] == [0, 1] and plan["contracted"] == ["c"]
    for equation in ("ii,ij->j", "ab,bc,cd->ad", "...a,ab->...b", "ab,bc", "ab,bc->ax"):
        with pytest.raises(ValueError, match=re.escape(f"Einsum equation '{equation}'")):
            parse_einsum(equation)
