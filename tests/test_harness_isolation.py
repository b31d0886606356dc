"""Isolation, for real: a conversion that segfaults and one that hangs (test-only Relu
handlers, loaded only inside the harness's OneFlow-side process) are recorded as
crash:convert and timeout:convert, and the cases after them still run. ~20 s."""
import json
import os

from harness import records
from harness.oneflow_side import PLUGINS_ENV
from harness.runner import DEFAULT_TIMEOUTS, RunOptions, run_case
from harness_cases import prepared_case

PLUGIN = "tests.harness_plugins.misbehaving_relu"


def test_segfault_and_hang_are_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv(PLUGINS_ENV, PLUGIN)
    cases = [prepared_case(tmp_path, name) for name in ("relu_segfault", "relu_hang", "relu")]
    results = str(tmp_path / "results.jsonl")
    opts = RunOptions(out_dir=str(tmp_path / "out"), results=results,
                      timeouts={**DEFAULT_TIMEOUTS, "convert": 5})

    recs = [run_case(case, opts) for case in cases]

    assert [r["status"] for r in recs] == ["crash:convert", "timeout:convert", "pass"], recs
    assert "SIGSEGV" in recs[0]["error"]
    assert "within 5 s" in recs[1]["error"]
    # One started and one final record per case, the started one first.
    lines = records.read(results)
    assert [(r["event"], r["case"]) for r in lines] == [
        (event, case.case_id) for case in cases for event in ("started", "final")]
    assert records.unfinished(results) == []
    # Failing cases leave a bundle naming the stage; the passing one leaves none.
    for rec in recs[:2]:
        with open(os.path.join(rec["bundle"], "meta.json")) as f:
            meta = json.load(f)
        assert meta["stage"] == "convert" and meta["status"] == rec["status"]
        assert os.path.exists(os.path.join(rec["bundle"], "model.onnx"))
        assert os.path.exists(os.path.join(rec["bundle"], "ort.npz"))   # ORT ran before the convert
        # faulthandler's Python stack shows where it crashed / hung.
        assert "misbehaving_relu.py" in meta["traceback"], meta["traceback"]
    assert recs[2]["bundle"] is None and not os.path.exists(opts.bundle_path(cases[2]))
