"""Parity failures are caught and located, for real: a deliberately wrong test-only Relu
handler turns a passing case into fail:parity; the bundle's repro.sh still fails and names
the Relu node as the first divergence; without the wrong handler the repro passes. ~25 s."""
import json
import os
import subprocess
import sys

from harness.oneflow_side import PLUGINS_ENV
from harness.paths import REPO_ROOT
from harness.runner import RunOptions, run_case
from harness.versions import framework_env
from harness_cases import prepared_case

PLUGIN = "tests.harness_plugins.misbehaving_relu"


def test_wrong_handler_fails_parity_and_repro_names_the_node(tmp_path, monkeypatch):
    case = prepared_case(tmp_path, "relu_wrong")
    opts = RunOptions(out_dir=str(tmp_path / "out"), results=str(tmp_path / "results.jsonl"))
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    assert run_case(case, opts)["status"] == "pass"

    monkeypatch.setenv(PLUGINS_ENV, PLUGIN)
    rec = run_case(case, opts)
    assert rec["status"] == "fail:parity" and rec["stage"] == "parity", rec
    assert rec["max_abs"] > rec["min_tolerance"]["atol"] - 1e-12 > 0
    assert rec["top5"] is not None
    bundle = rec["bundle"]
    for name in ("model.onnx", "inputs.npz", "expected.npz", "ort.npz", "oneflow_cpu.npz", "meta.json", "repro.sh"):
        assert os.path.exists(os.path.join(bundle, name)), name
    with open(os.path.join(bundle, "meta.json")) as f:
        meta = json.load(f)
    assert meta["stage"] == "parity" and "harness.oneflow_side" in meta["command"]
    assert meta["versions"]["oneflow"] and meta["versions"]["onnxruntime"]

    # repro.sh carries the plugin setting that produced the failure: it still fails.
    env = framework_env("oneflow")
    env.pop(PLUGINS_ENV, None)
    still = subprocess.run(["sh", os.path.join(bundle, "repro.sh")], capture_output=True, text=True,
                           env=env, timeout=600)
    assert still.returncode == 1, still.stdout + still.stderr
    assert "now: fail:parity" in still.stdout
    assert "first divergence: node 'relu_wrong' (Relu" in still.stdout, still.stdout

    # With the real handler (the "fix"), the same bundle passes.
    fixed = subprocess.run([sys.executable, "-m", "harness", "repro", bundle], capture_output=True,
                           text=True, env=env, cwd=REPO_ROOT, timeout=600)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "now: pass" in fixed.stdout
