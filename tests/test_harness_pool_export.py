"""Pooled export workers (harness/pool.py) with real exports of squeezenet1_1 (~5 MB): a
reused worker writes the same inputs and reference as a fresh zoo.export process and the same
model file (byte for byte from torch and Paddle, whose process-wide name counter
harness/pool_worker.py resets; from TensorFlow up to the numbers tf2onnx appends to node
names), and holds its framework and nothing of OneFlow's side; OneFlow's own exports keep a
fresh process; a crash in the middle of a pooled multi-opset export costs only the opset in
flight, and the rest is exported by a new worker. Slow: one to four minutes per framework."""
import os
import re
import sys

import numpy as np
import onnx
import pytest

from harness import export_stage
from harness.cases import select
from harness.paths import REPO_ROOT
from harness.pool import WorkerPool
from harness.procs import run_staged
from harness.versions import framework_env

MODEL = "squeezenet1_1"
TIMEOUTS = {"export": 900}


OTHERS = {"torch": {"oneflow", "onnxruntime", "tensorflow", "paddle"},
          "tensorflow": {"oneflow", "onnxruntime", "torch", "paddle"},
          "paddle": {"oneflow", "onnxruntime", "torch", "tensorflow"}}


def _export_cmd(framework, out) -> list:
    return [sys.executable, "-m", "zoo.export", "--framework", framework, "--model", MODEL, "--opset", "13",
            "--out", str(out)]


def _model_bytes(path, framework) -> bytes:
    if framework != "tensorflow":
        with open(path, "rb") as f:
            return f.read()
    # tf2onnx numbers the nodes it makes ("conv__6") with a counter that a fresh process
    # advances once more than a reused one: compare its models without those numbers.
    return re.sub(r"__\d+", "__N", str(onnx.load(path))).encode()


@pytest.mark.slow   # three builds of one model
@pytest.mark.parametrize("framework", sorted(OTHERS))
def test_a_reused_export_worker_writes_what_a_fresh_process_writes(tmp_path, framework):
    env = framework_env(framework)
    fresh = run_staged(_export_cmd(framework, tmp_path / "fresh"), env, TIMEOUTS, "export", cwd=REPO_ROOT)
    assert fresh.returncode == 0, fresh.stderr_tail
    with WorkerPool() as pool:
        pooled = [pool.run(_export_cmd(framework, tmp_path / f"pooled{i}"), env, TIMEOUTS, "export", cwd=REPO_ROOT)
                  for i in range(2)]
    assert [p.returncode for p in pooled] == [0, 0], pooled[-1].stderr_tail
    assert [p.worker["reuse"] for p in pooled] == [0, 1] and pooled[0].worker["pid"] == pooled[1].worker["pid"]
    modules = set(pooled[1].worker["modules"])
    assert framework in modules and not modules & OTHERS[framework], modules
    for i in range(2):   # the second build in one process is the first one again: seeded, no leftovers
        directory = tmp_path / f"pooled{i}"
        assert _model_bytes(str(directory / "model.onnx"), framework) == _model_bytes(
            str(tmp_path / "fresh" / "model.onnx"), framework)
        for name in ("inputs.npz", "expected.npz"):
            got, want = np.load(directory / name), np.load(tmp_path / "fresh" / name)
            assert sorted(got) == sorted(want) and all(np.array_equal(got[k], want[k]) for k in want)


@pytest.mark.slow   # two torch workers, three builds (~3 min under load)
def test_a_crash_in_a_pooled_export_costs_only_the_opset_in_flight(tmp_path, monkeypatch):
    monkeypatch.setenv("DYING_EXPORT_OPSET", "13")
    monkeypatch.setenv("DYING_EXPORT_MODE", "crash")
    real = export_stage.export_command
    monkeypatch.setattr(export_stage, "export_command", lambda case, cache_dir, opsets=None: [
        sys.executable, "-m", "tests.harness_plugins.dying_export", *real(case, cache_dir, opsets)[3:]])
    cases = [c for c in select(["torch"], [MODEL], [11, 13, 17], ["cpu"]) if c.model == MODEL]
    with WorkerPool() as pool:
        outcomes = export_stage.export_group(cases, str(tmp_path / "cache"), TIMEOUTS["export"], pool)
        # the same worker takes the next request: a group of opset 11 alone, served from the cache
        again = export_stage.export_group(cases[:1], str(tmp_path / "cache"), TIMEOUTS["export"], pool)
    by_opset = {c.opset: outcomes[c.case_id] for c in cases}
    assert by_opset[13].status == "crash:export" and "SIGSEGV" in by_opset[13].error
    assert by_opset[11].status is None and by_opset[17].status is None
    first, crashed, rest = (by_opset[o].worker for o in (11, 13, 17))
    assert first["pid"] == crashed["pid"] and "retired" in crashed
    assert rest["pid"] != crashed["pid"] and rest["reuse"] == 0
    reused = again[cases[0].case_id]
    assert reused.cached and reused.worker["pid"] == rest["pid"] and reused.worker["reuse"] == 1
    assert os.path.exists(os.path.join(reused.case_dir, "model.onnx"))


@pytest.mark.slow   # one OneFlow export
def test_oneflow_exports_keep_a_fresh_process_with_a_pool(tmp_path):
    cases = [c for c in select(["oneflow"], [MODEL], [13], ["cpu"]) if c.model == MODEL]
    with WorkerPool() as pool:
        outcome = export_stage.export_group(cases, str(tmp_path / "cache"), TIMEOUTS["export"], pool)
    (only,) = outcome.values()
    assert only.status is None and only.worker is None, only
