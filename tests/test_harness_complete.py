"""Complete runs (docs/design.md §3): one final record per catalogue cell per opset, device and
mode a run covers, or the run may not replace the committed results."""
import json
import subprocess
import sys

import pytest

from harness.cases import CatalogueError
from harness.complete import problems, publish, read_records
from harness.paths import REPO_ROOT

CELLS = [{"framework": "torch", "model": "a"}, {"framework": "torch", "model": "b"},
         {"framework": "paddle", "model": "a"}]


def _final(fw, model, opset=13, device="cpu", status="pass", mode=None):
    rec = {"event": "final", "case": f"{fw}-{model}-opset{opset}-{device}", "framework": fw, "model": model,
           "opset": opset, "device": device, "status": status}
    return rec if mode is None else {**rec, "mode": mode}


def _started(fw, model, opset=13, device="cpu"):
    # as the runner writes it: no mode
    return {"event": "started", "case": f"{fw}-{model}-opset{opset}-{device}", "framework": fw, "model": model,
            "opset": opset, "device": device}


def _full(opset=13, mode=None, cells=CELLS):
    return [_final(c["framework"], c["model"], opset, mode=mode) for c in cells]


def test_a_complete_run_has_no_problems_and_publishes_one_file_per_slice(tmp_path):
    recs = [{"event": "run", "command": "x"}] + _full(11) + _full(13)
    assert problems(recs, CELLS) == []
    paths = publish(recs, str(tmp_path))
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == ["cpu-opset11.jsonl", "cpu-opset13.jsonl"]
    slice13 = read_records(str(tmp_path / "cpu-opset13.jsonl"))
    assert slice13[0]["event"] == "run" and {r["opset"] for r in slice13[1:]} == {13}


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
    recs = [{"event": "run", "command": "x"}] + eager + graph
    assert problems(recs, CELLS) == []
    paths = publish(recs, str(tmp_path))
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == ["cpu-opset13-graph.jsonl", "cpu-opset13.jsonl"]
    eager_file = read_records(str(tmp_path / "cpu-opset13.jsonl"))
    graph_file = read_records(str(tmp_path / "cpu-opset13-graph.jsonl"))
    assert eager_file == [recs[0]] + eager        # unchanged records, no mode added
    assert graph_file == [recs[0]] + graph        # each started record beside its own final
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
    assert problems(run, EXTRA) == []
    assert [p.rsplit("/", 1)[1] for p in publish(run, str(tmp_path))] == [
        "cpu-opset10.jsonl", "cpu-opset11.jsonl", "cpu-opset13.jsonl"]
    # a cell that does not name opset 10 is not a catalogue cell there
    assert problems(run + [_final("oneflow", "b", 10)], EXTRA) == [
        "opset 10 cpu: record(s) for cells not in the catalogue at this opset: oneflow/b"]
    # the cell that names it must be there
    assert problems([_final("torch", "a", 10)], EXTRA) == [
        "opset 10 cpu: 1 catalogue cell(s) without a record (a filtered or unfinished run?): oneflow/a",
        "opset 10 cpu: record(s) for cells not in the catalogue at this opset: torch/a"]
    # an opset nobody names stays an opset of every cell
    assert "2 catalogue cell(s) without a record" in " ".join(problems([_final("torch", "a", 12)], EXTRA))


def test_an_extra_opset_that_is_a_matrix_opset_is_refused():
    with pytest.raises(CatalogueError, match="oneflow/a: extra_opsets \\[13\\] names a matrix opset"):
        problems(_full(), [{"framework": "oneflow", "model": "a", "extra_opsets": [13]}])
