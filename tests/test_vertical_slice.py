"""End to end, for real: torchvision squeezenet1_1 -> torch.onnx (process A, `python -m
zoo.export`) -> OneFlow (process B, `python -m harness.oneflow_side`), read straight from
process B's JSON.

Process A imports only torch and onnx; process B imports OneFlow, onnx and ONNX Runtime and
no source framework. OneFlow's CPU output must match both torch and ORT at the default
tolerance (rtol 1e-3, atol 1e-5). Process A's export is the session's torch squeezenet1_1
export (zoo_cache_dir; the torch column's smoke cell makes the same one), so this test adds
only process B.
"""
import json
import os
import subprocess
import sys

import pytest

from harness.versions import framework_env
from zoo_export_checks import TORCH_SMOKE_GROUP, export_cell

pytestmark = [pytest.mark.torch, pytest.mark.xdist_group(TORCH_SMOKE_GROUP)]


def test_squeezenet_torch_to_oneflow_cpu(zoo_cache_dir):
    case = export_cell("torch", "squeezenet1_1", zoo_cache_dir)
    with open(os.path.join(case, "meta.json")) as f:
        meta = json.load(f)
    assert meta["frameworks_in_process"] == ["torch"]
    assert meta["opset"] == 13

    b = subprocess.run([sys.executable, "-m", "harness.oneflow_side", case, "--device", "cpu"],
                       capture_output=True, text=True, env=framework_env("oneflow"), timeout=600)
    assert b.stdout.strip(), b.stderr[-3000:]
    result = json.loads(b.stdout.strip().splitlines()[-1])
    assert result["source_frameworks_imported"] == []
    # per-output rows of both comparisons with the source, and of the converter gate
    for key in ("ort_parity", "oneflow_parity", "oneflow_vs_ort_outputs"):
        assert result[key], key
        for p in result[key]:
            assert p["shape_ok"], (key, p)
            assert p["passed"], (key, p)
    # the gates' summaries: exporter (source vs ORT) and converter (OneFlow vs ORT)
    for key in ("ort_vs_source", "oneflow_vs_ort", "oneflow_vs_source"):
        assert result[key]["ok"], (key, result[key])
    assert b.returncode == 0
