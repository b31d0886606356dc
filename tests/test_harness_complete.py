"""Complete runs (docs/design.md §3): one final record per catalogue cell per opset and device
a run covers, or the run may not replace the committed results."""
import json
import subprocess
import sys

from harness.complete import problems, publish, read_records
from harness.paths import REPO_ROOT

CELLS = [{"framework": "torch", "model": "a"}, {"framework": "torch", "model": "b"},
         {"framework": "paddle", "model": "a"}]


def _final(fw, model, opset=13, device="cpu", status="pass"):
    return {"event": "final", "case": f"{fw}-{model}-opset{opset}-{device}", "framework": fw, "model": model,
            "opset": opset, "device": device, "status": status}


def _full(opset=13):
    return [_final(c["framework"], c["model"], opset) for c in CELLS]


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
