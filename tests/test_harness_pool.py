"""Pooled workers stay isolated (harness/pool.py): a OneFlow-side worker that aborts or hangs
in the middle of a run costs only the case it was running, the cases before and after it
pass, and the case after it runs in a fresh worker; reused workers say so in the records;
a worker past its memory limit is retired; the OneFlow worker never holds a source
framework. Real OneFlow workers on tiny hand-made cases (tests/harness_cases.py) with the
test-only Relu handlers of tests/harness_plugins/misbehaving_relu.py."""
import json
import os

import pytest

from harness import records
from harness.oneflow_side import PLUGINS_ENV
from harness.pool import WorkerPool
from harness.runner import DEFAULT_TIMEOUTS, RunOptions, oneflow_env, oneflow_side_command, run_case
from harness.scheduler import run_cases
from harness_cases import prepared_case

PLUGIN = "tests.harness_plugins.misbehaving_relu"
SOURCE_FRAMEWORKS = {"torch", "tensorflow", "paddle", "tf2onnx", "paddle2onnx"}


def _opts(tmp_path, **kw):
    return RunOptions(out_dir=str(tmp_path / "out"), results=str(tmp_path / "results.jsonl"),
                      timeouts={**DEFAULT_TIMEOUTS, "convert": 5}, **kw)


@pytest.mark.parametrize("relu, status, error", [("relu_abort", "crash:convert", "SIGABRT"),
                                                  ("relu_hang", "timeout:convert", "within 5 s")])
def test_a_bad_case_in_the_middle_costs_only_that_case(tmp_path, monkeypatch, relu, status, error):
    monkeypatch.setenv(PLUGINS_ENV, PLUGIN)
    cases = [prepared_case(tmp_path, name) for name in ("relu", relu, "relu_after")]
    with WorkerPool() as pool:
        opts = _opts(tmp_path, workers=pool)
        recs = [run_case(case, opts) for case in cases]

    assert [r["status"] for r in recs] == ["pass", status, "pass"], recs
    assert error in recs[1]["error"]
    first, bad, after = (r["worker"]["oneflow"] for r in recs)
    assert bad["pid"] == first["pid"] and (first["reuse"], bad["reuse"]) == (0, 1)   # one worker...
    assert "retired" in bad and "retired" not in first
    assert after["pid"] != bad["pid"] and after["reuse"] == 0                        # ...replaced
    # The bad case's bundle has its own stderr: the stack faulthandler printed in the worker.
    with open(os.path.join(recs[1]["bundle"], "meta.json")) as f:
        meta = json.load(f)
    assert meta["stage"] == "convert" and "misbehaving_relu.py" in meta["traceback"], meta["traceback"]
    lines = records.read(opts.results)
    assert [(r["event"], r["case"]) for r in lines] == [
        (event, case.case_id) for case in cases for event in ("started", "final")]


def test_reuse_counts_grow_and_the_oneflow_worker_holds_no_source_framework(tmp_path):
    """Through the scheduler, as python -m harness matrix runs it (pool=True)."""
    cases = [prepared_case(tmp_path, name) for name in ("relu", "relu_b", "relu_c")]
    opts = _opts(tmp_path, pool=True)
    finals = {r["case"]: r for r in run_cases(cases, opts, jobs=1)}
    workers = [finals[c.case_id]["worker"]["oneflow"] for c in cases]
    assert [f["status"] for f in finals.values()] == ["pass"] * 3
    assert [w["reuse"] for w in workers] == [0, 1, 2] and len({w["pid"] for w in workers}) == 1
    assert records.unfinished(opts.results) == []

    with WorkerPool() as pool:
        case = cases[0]
        cmd = oneflow_side_command(case.prepared_dir, "cpu", str(tmp_path / "work"), 1e-3, 1e-5, True)
        for reuse in (0, 1):
            out = pool.run(cmd, oneflow_env("cpu"), DEFAULT_TIMEOUTS, "startup")
            assert out.done["status"] == "pass" and out.worker["reuse"] == reuse
            assert out.done["source_frameworks_imported"] == []
            assert {"oneflow", "onnxruntime"} <= set(out.worker["modules"]), out.worker
            assert not SOURCE_FRAMEWORKS & set(out.worker["modules"]), out.worker


def test_a_worker_past_its_memory_limit_is_retired_after_its_case(tmp_path):
    cases = [prepared_case(tmp_path, name) for name in ("relu", "relu_b")]
    with WorkerPool(rss_limit_mib=1) as pool:     # any OneFlow process is above 1 MiB
        recs = [run_case(case, _opts(tmp_path, workers=pool)) for case in cases]
    assert [r["status"] for r in recs] == ["pass", "pass"]
    workers = [r["worker"]["oneflow"] for r in recs]
    assert all("above the limit of 1 MiB" in w["retired"] and w["reuse"] == 0 for w in workers), workers
    assert workers[0]["pid"] != workers[1]["pid"]


def test_a_pooled_command_must_run_a_module():
    with WorkerPool() as pool, pytest.raises(ValueError, match="runs a module"):
        pool.run(["python", "-c", "pass"], {}, DEFAULT_TIMEOUTS, "startup")


def test_the_cost_table_prints_cases_per_worker():
    from rich.console import Console

    from harness.costs import cases_per_worker, cost_table, summarise

    def rec(framework, oneflow_pid=None, reuse=0):
        worker = {"oneflow": {"pid": oneflow_pid, "reuse": reuse}, "export": {"pid": 99, "reuse": 0}}
        return {"framework": framework, "cached": True, "seconds": {"total": 1.0},
                **({"worker": worker} if oneflow_pid else {})}

    finals = [rec("torch", 1, 0), rec("torch", 1, 1), rec("torch", 2, 0), rec("paddle")]
    rows = summarise(finals)
    assert cases_per_worker(rows["torch", "cached"], "oneflow") == "1.5"
    assert cases_per_worker(rows["torch", "cached"], "export") == "3.0"
    assert cases_per_worker(rows["paddle", "cached"], "oneflow") == "-"   # --no-pool records
    console = Console(width=250, record=True)
    console.print(cost_table(finals))
    assert "cases/OneFlow worker" in console.export_text()
