"""Complete runs (docs/design.md §3): one final record per catalogue cell per opset, device and
mode a run covers, or the run may not replace the committed results."""
import json
import subprocess
import sys

import pytest

from harness.cases import CatalogueError
from harness.complete import problems as _problems
from harness.complete import publish, read_records
from harness.paths import REPO_ROOT
from harness.records import RECORD_VERSION

CELLS = [{"framework": "torch", "model": "a"}, {"framework": "torch", "model": "b"},
         {"framework": "paddle", "model": "a"}]
RUN = "run-1"
HEADER = {"event": "run", "command": "x", "run_id": RUN, "commit": "abc", "code_digest": "d1"}
GATE = {"max_abs": 0.0, "max_rel": 0.0, "min_atol": 0.0, "rtol": 1e-3, "atol": 1e-5, "ok": True}
LATENCY = {"oneflow_ms": 12.5, "ort_ms": 3.1, "vs_ort": 4.03, "vs_ort_range": [3.9, 4.2], "iters": 5, "warmup": 1,
           "threads": {"oneflow": 2, "ort": 2}}


def problems(recs, cells, opsets=(13,), **kw):
    """The module's check, for the opsets these tests publish (default: opset 13 alone), with
    the run header the harness writes first (unless the test has its own)."""
    if not any(r.get("event") == "run" for r in recs):
        recs = [HEADER] + list(recs)
    return _problems(recs, cells, list(opsets) if opsets else None, **kw)


def _final(fw, model, opset=13, device="cpu", status="pass", mode=None, run_id=RUN):
    rec = {"event": "final", "record_version": RECORD_VERSION, "run_id": run_id,
           "case": f"{fw}-{model}-opset{opset}-{device}", "framework": fw, "model": model,
           "opset": opset, "device": device, "status": status, "reason": None,
           "ort_vs_source": GATE, "oneflow_vs_ort": GATE, "converter": "matches ORT", "latency": LATENCY}
    return rec if mode is None else {**rec, "mode": mode}


def _started(fw, model, opset=13, device="cpu"):
    # as the runner writes it: no mode
    return {"event": "started", "case": f"{fw}-{model}-opset{opset}-{device}", "framework": fw, "model": model,
            "opset": opset, "device": device}


def _full(opset=13, mode=None, cells=CELLS):
    return [_final(c["framework"], c["model"], opset, mode=mode) for c in cells]


def test_a_complete_run_has_no_problems_and_publishes_one_file_per_slice(tmp_path):
    recs = [HEADER] + _full(11) + _full(13)
    assert problems(recs, CELLS, (11, 13)) == []
    paths = publish(recs, str(tmp_path))
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == ["cpu-opset11.jsonl", "cpu-opset13.jsonl"]
    slice13 = read_records(str(tmp_path / "cpu-opset13.jsonl"))
    assert slice13[0]["event"] == "slice" and slice13[1] == HEADER and {r["opset"] for r in slice13[2:]} == {13}
    assert {k: slice13[0][k] for k in ("run_id", "commit", "code_digest", "device", "opset", "mode", "cases")} == \
        {"run_id": RUN, "commit": "abc", "code_digest": "d1", "device": "cpu", "opset": 13, "mode": "eager", "cases": 3}


def test_filtered_duplicated_unfinished_and_foreign_runs_are_refused():
    assert "1 catalogue cell(s) without a record" in " ".join(problems(_full()[:2], CELLS))
    assert "2 final records" in " ".join(problems(_full() + [_final("torch", "a")], CELLS))
    started = {"event": "started", "case": "torch-c-opset13-cpu"}
    assert "torch-c-opset13-cpu started but never finished" in problems(_full() + [started], CELLS)
    assert "not in the catalogue: torch/zzz" in " ".join(problems(_full() + [_final("torch", "zzz")], CELLS))
    assert problems([], CELLS) == ["no final case records"]



def test_cli_refuses_a_filtered_run_and_publishes_nothing(tmp_path):
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps(_final("torch", "squeezenet1_1")) + "\n")
    proc = subprocess.run([sys.executable, "-m", "harness", "complete", str(results), "--publish",
                           str(tmp_path / "pub")], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 1 and "not a complete run; nothing published" in proc.stderr, proc.stderr
    assert not (tmp_path / "pub").exists()
    results.write_text("[1, 2]\n")
    proc = subprocess.run([sys.executable, "-m", "harness", "complete", str(results)], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 2 and f"{results}:1" in proc.stderr


def test_graph_mode_is_its_own_slice_and_eager_files_keep_their_names(tmp_path):
    """Records without a mode are eager; a graph-mode run of the same cells neither collides
    with them nor counts as a duplicate, and publishes as <device>-opset<N>-graph.jsonl."""
    eager = [r for c in CELLS for r in (_started(c["framework"], c["model"]), _final(c["framework"], c["model"]))]
    graph = [r for c in CELLS for r in (_started(c["framework"], c["model"]),
                                        _final(c["framework"], c["model"], mode="graph"))]
    recs = [HEADER] + eager + graph
    assert problems(recs, CELLS) == []
    paths = publish(recs, str(tmp_path))
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == ["cpu-opset13-graph.jsonl", "cpu-opset13.jsonl"]
    eager_file = read_records(str(tmp_path / "cpu-opset13.jsonl"))
    graph_file = read_records(str(tmp_path / "cpu-opset13-graph.jsonl"))
    assert eager_file[1:] == [recs[0]] + eager        # unchanged records, no mode added
    assert graph_file[1:] == [recs[0]] + graph        # each started record beside its own final
    # per (opset, device, mode): an incomplete graph slice is refused even when eager is complete
    assert problems(_full() + _full(mode="graph")[:2], CELLS) == [
        "opset 13 cpu graph mode: 1 catalogue cell(s) without a record (a filtered or unfinished run?): paddle/a"]
    assert "torch-a-opset13-cpu (graph mode): 2 final records" in " ".join(
        problems(_full(mode="graph") + [_final("torch", "a", mode="graph")], CELLS))
    # an explicit eager mode is the same slice as no mode
    assert "torch-a-opset13-cpu: 2 final records" in " ".join(
        problems(_full() + [_final("torch", "a", mode="eager")], CELLS))


EXTRA = [{"framework": "torch", "model": "a"}, {"framework": "oneflow", "model": "a", "extra_opsets": [10]},
         {"framework": "oneflow", "model": "b"}]


def test_at_an_extra_opset_exactly_the_cells_naming_it_are_expected(tmp_path):
    run = _full(11, cells=EXTRA) + _full(13, cells=EXTRA) + [_final("oneflow", "a", 10)]
    assert problems(run, EXTRA, (10, 11, 13)) == []
    assert [p.rsplit("/", 1)[1] for p in publish(run, str(tmp_path))] == [
        "cpu-opset10.jsonl", "cpu-opset11.jsonl", "cpu-opset13.jsonl"]
    # a cell that does not name opset 10 is not a catalogue cell there
    assert problems(run + [_final("oneflow", "b", 10)], EXTRA, (10, 11, 13)) == [
        "opset 10 cpu: record(s) for cells not in the catalogue at this opset: oneflow/b"]
    # the cell that names it must be there
    assert problems([_final("torch", "a", 10)], EXTRA, (10,)) == [
        "opset 10 cpu: 1 catalogue cell(s) without a record (a filtered or unfinished run?): oneflow/a",
        "opset 10 cpu: record(s) for cells not in the catalogue at this opset: torch/a"]
    # an opset nobody names stays an opset of every cell
    assert "2 catalogue cell(s) without a record" in " ".join(problems([_final("torch", "a", 12)], EXTRA, (12,)))


def test_an_extra_opset_that_is_a_matrix_opset_is_refused():
    with pytest.raises(CatalogueError, match="oneflow/a: extra_opsets \\[13\\] names a matrix opset"):
        problems(_full(), [{"framework": "oneflow", "model": "a", "extra_opsets": [13]}])


def test_a_slice_is_one_run_with_its_commit_and_code_digest():
    other = [_final(c["framework"], c["model"], run_id="run-2") for c in CELLS[:1]]
    found = problems([HEADER, {**HEADER, "run_id": "run-2"}] + _full()[1:] + other, CELLS)
    assert len(found) == 1 and "opset 13 cpu: records of 2 runs in one slice" in found[0], found
    assert "run run-1 (2 records, first at record 3)" in found[0] and "run run-2 (1 records, first at record 5)" in found[0]
    # the shards of one run share its id; their headers must agree on the code they ran
    assert problems([HEADER, {**HEADER, "commit": "def"}] + _full(), CELLS) == [
        "opset 13 cpu: run run-1's headers disagree on commit: abc (record 1), def (record 2)"]
    assert problems([{**HEADER, "run_id": "run-0"}] + _full(), CELLS) == [
        "opset 13 cpu: no run header for run run-1 (the header names the commit and code digest)"]
    assert problems([{k: v for k, v in HEADER.items() if k != "code_digest"}] + _full(), CELLS) == [
        "record 1: run run-1's header lacks code_digest"]


def test_only_final_statuses_of_the_vocabulary_and_current_records_are_published():
    for status in (None, "", "fail", "fail:nowhere", "skip:", "passed"):
        recs = _full()[:2] + [_final("paddle", "a", status=status)]
        found = problems(recs, CELLS)
        assert len(found) == 1 and found[0].startswith(f"record 4: paddle-a-opset13-cpu: status {status!r} is not a final status"), found
    old = {**_final("paddle", "a"), "record_version": 2}
    found = problems(_full()[:2] + [old], CELLS)
    assert found == [f"record 4: paddle-a-opset13-cpu: record_version 2: records before version {RECORD_VERSION} lack "
                     "the run id and code digest, the latency block; re-run the case"]
    assert problems(_full()[:2] + [old], CELLS, provenance=False) == []   # records of record_version 2 read as such


def test_every_reached_gate_is_in_the_record():
    def without(status, *fields, **changes):
        rec = {k: v for k, v in _final("paddle", "a", status=status).items() if k not in fields}
        return problems(_full()[:2] + [{**rec, **changes}], CELLS)

    assert without("pass", "oneflow_vs_ort") == [
        "record 4: paddle-a-opset13-cpu: pass reached the converter gate but the record lacks oneflow_vs_ort"]
    assert without("fail:parity", "ort_vs_source", "converter") == [
        "record 4: paddle-a-opset13-cpu: fail:parity reached the converter gate but the record lacks "
        "converter, ort_vs_source"]
    assert without("fail:convert", "ort_vs_source", "oneflow_vs_ort", converter="fails at convert") == [
        "record 4: paddle-a-opset13-cpu: fail:convert reached ONNX Runtime but the record lacks ort_vs_source"]
    assert without("xfail:ort", "converter", "ort_vs_source", "oneflow_vs_ort") == [
        "record 4: paddle-a-opset13-cpu: xfail:ort reached ONNX Runtime but the record lacks converter"]
    # ORT could not run the model: no gate to carry; an export failure reached neither
    assert without("fail:ort", "ort_vs_source", "oneflow_vs_ort", converter="untested") == []
    assert without("xfail:export", "ort_vs_source", "oneflow_vs_ort", "converter") == []
    assert without("crash:convert", "ort_vs_source", "oneflow_vs_ort", "converter") == []
    # a pass whose gate says otherwise
    assert without("pass", oneflow_vs_ort={**GATE, "ok": False}) == [
        "record 4: paddle-a-opset13-cpu: pass but oneflow_vs_ort.ok is False"]


def test_a_record_whose_converted_model_ran_carries_its_latency():
    def with_latency(status="pass", **changes):
        rec = {**_final("paddle", "a", status=status), **changes}
        return problems(_full()[:2] + [{k: v for k, v in rec.items() if v is not None}], CELLS)

    assert with_latency(latency=None) == [
        "record 4: paddle-a-opset13-cpu: pass reached the converter gate but the record lacks latency"]
    assert with_latency("fail:parity", latency=None, converter="differs from ORT",
                        oneflow_vs_ort={**GATE, "ok": False}) == [
        "record 4: paddle-a-opset13-cpu: fail:parity reached the converter gate but the record lacks latency"]
    # an exporter bug whose exported model the converter still ran: timed too
    assert with_latency("xfail:ort", latency=None, ort_vs_source={**GATE, "ok": False}) == [
        "record 4: paddle-a-opset13-cpu: xfail:ort reached the converter gate but the record lacks latency"]
    # the converted model never ran: nothing to time
    assert with_latency("fail:run", latency=None, oneflow_vs_ort=None, converter="fails at run") == []
    assert with_latency("crash:latency", latency=None, oneflow_vs_ort=None, ort_vs_source=None, converter=None) == []
    # the block's numbers are real measurements, or the error that stopped them
    assert with_latency(latency={**LATENCY, "ort_ms": 0.0, "vs_ort": float("nan")}) == [
        "record 4: paddle-a-opset13-cpu: latency.ort_ms is 0.0, not a positive number",
        "record 4: paddle-a-opset13-cpu: latency.vs_ort is nan, not a positive number"]
    assert with_latency(latency={**LATENCY, "iters": 0, "threads": None}) == [
        "record 4: paddle-a-opset13-cpu: latency.iters is 0, not a count of rounds",
        "record 4: paddle-a-opset13-cpu: latency.threads is None, not the threads of oneflow and ort"]
    assert with_latency(latency={**LATENCY, "native_ms": -1.0, "vs_native": 1.0}) == [
        "record 4: paddle-a-opset13-cpu: latency.native_ms -1.0 / vs_native 1.0 are not positive numbers"]
    assert with_latency(latency={"error": "RuntimeError: boom", "threads": {"oneflow": 2, "ort": 2}}) == []
    # records of the version before latency are refused as a whole (re-run), not field by field
    assert with_latency(latency=None, record_version=3) == [
        f"record 4: paddle-a-opset13-cpu: record_version 3: records before version {RECORD_VERSION} lack the "
        "latency block; re-run the case"]


def test_a_run_covers_every_catalogue_opset_of_its_modes():
    """A results file holding only the opset-10 records (or any one opset) is not the
    catalogue's slice set; --opset names the set a run means to publish."""
    opset10 = [_final("oneflow", "a", 10)]
    found = _problems([HEADER] + opset10, EXTRA)        # the catalogue's set: 10 (extra), 11, 13, 17
    assert found == ["cpu eager: no records at opset(s) 11, 13, 17 — the catalogue's slice set is opsets "
                     "10, 11, 13, 17 (--opset names another set)"]
    assert _problems([HEADER] + opset10, EXTRA, [10]) == []
    graph = _full(13, mode="graph", cells=EXTRA)                    # graph mode's set: opset 13
    assert _problems([HEADER] + graph, EXTRA) == []


def test_a_slice_of_nothing_but_skips_is_refused():
    skipped = [{**_final(c["framework"], c["model"], device="cuda", status="skip:cuda-arch-unsupported"),
                "reason": "CUDA device 'H100' (compute capability 9.0) cannot run OneFlow 0.9.0"} for c in CELLS]
    for r in skipped:
        del r["ort_vs_source"], r["oneflow_vs_ort"], r["converter"]
    assert problems(skipped, CELLS) == [
        "opset 13 cuda: every case is skipped, nothing was tested (CUDA device 'H100' (compute capability 9.0) "
        "cannot run OneFlow 0.9.0)"]
    # some skipped cells (a model a framework lacks) are fine
    assert problems(skipped[:1] + [_final(c["framework"], c["model"], device="cuda") for c in CELLS[1:]], CELLS) == []


def test_cli_refusals_name_the_file_and_line(tmp_path):
    """The whole catalogue at opset 10 (its three cells), one with status null: refused for
    the null status at its line, and for the opsets the file does not hold."""
    from harness.cases import cells_at, extra_opsets, load_cells

    cells = load_cells()
    recs = [HEADER] + [_final(c["framework"], c["model"], 10) for c in cells_at(cells, 10, extra_opsets(cells))]
    recs[2]["status"] = None
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in recs))
    proc = subprocess.run([sys.executable, "-m", "harness", "complete", str(results), "--publish", str(tmp_path / "p")],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 1 and not (tmp_path / "p").exists(), proc.stderr
    assert f"{results}:3: {recs[2]['case']}: status None is not a final status" in proc.stderr
    assert "cpu eager: no records at opset(s) 11, 13, 17" in proc.stderr
    recs[2]["status"] = "pass"
    results.write_text("".join(json.dumps(r) + "\n" for r in recs))
    proc = subprocess.run([sys.executable, "-m", "harness", "complete", str(results), "--opset", "10", "--publish",
                           str(tmp_path / "p")], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 0 and (tmp_path / "p" / "cpu-opset10.jsonl").exists(), proc.stderr
