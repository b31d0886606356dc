"""End to end, for real: torchvision resnet18 -> torch.onnx (process A) -> OneFlow (process B).

resnet18 is not a catalogue model id (the catalogue's ResNet is resnet50), so the export
reads a one-entry catalogue written by the test, through the same zoo.export code path.

Process A imports only torch and onnx; process B imports OneFlow, onnx and ONNX Runtime and
no source framework. OneFlow's CPU output must match both torch and ORT at the default
tolerance (rtol 1e-3, atol 1e-5).
"""
import json
import subprocess
import sys

import pytest

from harness.versions import framework_env

pytestmark = [pytest.mark.torch]


def _run(args, framework):
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          env=framework_env(framework), timeout=600)
    return proc


SLICE_CATALOGUE = """
defaults:
  input: {shape: [1, 3, 224, 224], layout: NCHW, dtype: float32, range: [-1.0, 1.0]}
models:
  resnet18:
    architecture: ResNet
    task: classification
    frameworks:
      torch: {builder: torchvision, variant: resnet18}
"""


def test_resnet18_torch_to_oneflow_cpu(tmp_path):
    catalogue = tmp_path / "slice.yaml"
    catalogue.write_text(SLICE_CATALOGUE)
    case = tmp_path / "resnet18"
    a = _run(["-m", "zoo.export", "--catalogue", str(catalogue), "--framework", "torch", "--model", "resnet18",
              "--opset", "13", "--out", str(case)], "torch")
    assert a.returncode == 0, a.stderr[-3000:]
    meta = json.loads((case / "meta.json").read_text())
    assert meta["frameworks_in_process"] == ["torch"]
    assert meta["opset"] == 13

    b = _run(["-m", "harness.oneflow_side", str(case), "--device", "cpu"], "oneflow")
    assert b.stdout.strip(), b.stderr[-3000:]
    result = json.loads(b.stdout.strip().splitlines()[-1])
    assert result["source_frameworks_imported"] == []
    # per-output rows of both comparisons with the source, and of the converter gate
    for key in ("ort_parity", "oneflow_parity", "oneflow_vs_ort_outputs"):
        for p in result[key]:
            assert p["shape_ok"], (key, p)
            assert p["passed"], (key, p)
    # the gates' summaries: exporter (source vs ORT) and converter (OneFlow vs ORT)
    for key in ("ort_vs_source", "oneflow_vs_ort", "oneflow_vs_source"):
        assert result[key]["ok"], (key, result[key])
    assert b.returncode == 0
