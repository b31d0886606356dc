"""End to end, for real: torchvision mobilenet_v2 -> torch.onnx (process A) -> OneFlow (process B).

mobilenet_v2: a cheap catalogue model with BatchNorm, residual adds, depthwise convs and ReLU6
(the first slice used resnet18, which is not a catalogue model id).

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


def test_mobilenet_v2_torch_to_oneflow_cpu(tmp_path):
    case = tmp_path / "mobilenet_v2"
    a = _run(["-m", "zoo.export", "--framework", "torch", "--model", "mobilenet_v2",
              "--opset", "13", "--out", str(case)], "torch")
    assert a.returncode == 0, a.stderr[-3000:]
    meta = json.loads((case / "meta.json").read_text())
    assert meta["frameworks_in_process"] == ["torch"]
    assert meta["opset"] == 13

    b = _run(["-m", "harness.oneflow_side", str(case), "--device", "cpu"], "oneflow")
    assert b.stdout.strip(), b.stderr[-3000:]
    result = json.loads(b.stdout.strip().splitlines()[-1])
    assert result["source_frameworks_imported"] == []
    for key in ("ort_parity", "oneflow_parity", "oneflow_vs_ort"):
        for p in result[key]:
            assert p["shape_ok"], (key, p)
            assert p["passed"], (key, p)
    assert b.returncode == 0
