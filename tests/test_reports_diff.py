"""`python -m reports diff`: what changed between two runs, its exit codes, and bad input."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reports.diff import main

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "reports" / "results" / "cpu-opset13.jsonl"


def _rec(fw, model, status="pass", **kw):
    rec = {"event": "final", "case": f"{fw}-{model}-opset13-cpu", "framework": fw, "model": model,
           "architecture": model, "opset": 13, "device": "cpu", "status": status, "error": None, "reason": None,
           "max_abs": 1e-6 if status == "pass" else None, "cached": True,
           "seconds": {"export": 0.5, "convert": 2.0, "run": 0.3, "total": 4.0}}
    rec.update(kw)
    return rec


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return str(path)


def _diff(tmp_path, base, new, *extra, capsys):
    code = main([_write(tmp_path / "base.jsonl", base), _write(tmp_path / "new.jsonl", new), "--json", *extra])
    out = json.loads(capsys.readouterr().out)
    return code, {(c["category"], c["case"]) for c in out["changes"]}, out


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "reports", "diff", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not RESULTS.exists(), reason="no committed results")
def test_committed_results_against_themselves_then_one_parity_failure(tmp_path):
    same = _cli(RESULTS, RESULTS)
    assert same.returncode == 0, same.stderr
    assert "no changes" in same.stdout
    lines = RESULTS.read_text().splitlines()
    victim = None
    for i, line in enumerate(lines):
        rec = json.loads(line)
        if rec.get("event") == "final" and rec["status"] == "pass":
            rec.update(status="fail:parity", stage="parity", max_abs=0.25, error="outputs differ")
            lines[i], victim = json.dumps(rec), rec["case"]
            break
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    proc = _cli(RESULTS, broken)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    regressions = proc.stdout.split("Regressions", 1)[1].split("####", 1)[0]
    assert f"`{victim}` | pass | fail:parity" in regressions
    assert "no changes" not in proc.stdout


def test_regressions_fail_the_run(tmp_path, capsys):
    base = [_rec("torch", "a"), _rec("torch", "b", "xfail:export", reason="exporter bug"), _rec("torch", "c")]
    new = [_rec("torch", "a", "crash:run", error="SIGSEGV"), _rec("torch", "b", "fail:convert", error="no Foo"),
           _rec("torch", "c")]
    code, changes, out = _diff(tmp_path, base, new, capsys=capsys)
    assert code == 1 and out["regressed"]
    assert changes == {("regression", "torch-a-opset13-cpu"), ("regression", "torch-b-opset13-cpu")}


def test_converter_gate_regression_counts_when_recorded(tmp_path, capsys):
    gate = {"max_abs": 2e-6, "max_rel": 1e-5, "ok": True}
    base = [_rec("paddle", "a", oneflow_vs_ort=gate)]
    new = [_rec("paddle", "a", oneflow_vs_ort={**gate, "max_abs": 1e-4, "ok": False})]
    code, changes, _ = _diff(tmp_path, base, new, capsys=capsys)
    assert code == 1 and ("regression", "paddle-a-opset13-cpu") in changes


def test_fix_new_xpass_expected_change_new_and_removed_cells_pass(tmp_path, capsys):
    base = [_rec("torch", "fixed", "fail:convert", error="no Foo"), _rec("torch", "stale", "xfail:ort", reason="r"),
            _rec("torch", "moved", "xfail:export", reason="exporter bug"),
            _rec("torch", "gone", "skip:unavailable", reason="no such model")]
    new = [_rec("torch", "fixed"), _rec("torch", "stale", "xpass", reason="r"),
           _rec("torch", "moved", "xfail:ort", reason="exporter bug"), _rec("paddle", "added")]
    code, changes, _ = _diff(tmp_path, base, new, capsys=capsys)
    assert code == 0
    assert changes == {("fix", "torch-fixed-opset13-cpu"), ("xpass", "torch-stale-opset13-cpu"),
                       ("expected", "torch-moved-opset13-cpu"), ("removed", "torch-gone-opset13-cpu"),
                       ("new", "paddle-added-opset13-cpu")}


def test_a_tested_cell_now_skipped_or_gone_is_a_regression(tmp_path, capsys):
    """A nightly on a GPU OneFlow cannot use skips every CUDA cell; a filtered run drops cells:
    either way nothing tests them any more, and the run must not go green."""
    base = [_rec("torch", "a", device="cuda", case="torch-a-opset13-cuda"),
            _rec("torch", "b", "xfail:ort", reason="exporter bug"), _rec("torch", "c"), _rec("torch", "d")]
    new = [_rec("torch", "a", "skip:cuda-arch-unsupported", device="cuda", case="torch-a-opset13-cuda",
                reason="CUDA device 'H100' (compute capability 9.0) cannot run OneFlow 0.9.0"),
           _rec("torch", "b", "skip:unavailable", reason="gone"), _rec("torch", "d")]
    code, changes, out = _diff(tmp_path, base, new, capsys=capsys)
    assert code == 1 and out["regressed"]
    assert changes == {("regression", "torch-a-opset13-cuda"), ("regression", "torch-b-opset13-cpu"),
                       ("regression", "torch-c-opset13-cpu")}
    detail = {c["case"]: c["detail"] for c in out["changes"]}
    assert detail["torch-a-opset13-cuda"].startswith("no longer tested (was pass): CUDA device 'H100'")
    assert detail["torch-c-opset13-cpu"].startswith("removed: no record (was pass")


def test_error_and_time_growth_are_reported_above_their_floors(tmp_path, capsys):
    base = [_rec("torch", "grew", max_abs=1e-6), _rec("torch", "noise", max_abs=1e-9),
            _rec("torch", "nine", max_abs=1e-6),
            _rec("torch", "slow", seconds={"convert": 3.0, "run": 0.2, "export": 0.5, "total": 4.0}),
            _rec("torch", "cold", seconds={"export": 0.5, "total": 3.0})]
    new = [_rec("torch", "grew", max_abs=2e-5), _rec("torch", "noise", max_abs=5e-8),
           _rec("torch", "nine", max_abs=9e-6),
           _rec("torch", "slow", seconds={"convert": 7.0, "run": 0.9, "export": 0.5, "total": 8.4}),
           _rec("torch", "cold", cached=False, seconds={"export": 40.0, "total": 43.0})]
    code, changes, out = _diff(tmp_path, base, new, capsys=capsys)
    assert code == 0                       # growth is reported; parity still holds
    assert changes == {("error_growth", "torch-grew-opset13-cpu"), ("time_growth", "torch-slow-opset13-cpu")}
    detail = {c["case"]: c["detail"] for c in out["changes"]}
    assert "1.0e-06 → 2.0e-05 (20×" in detail["torch-grew-opset13-cpu"]
    assert "convert 3.0 s → 7.0 s" in detail["torch-slow-opset13-cpu"]
    assert "run " not in detail["torch-slow-opset13-cpu"]        # 0.2 -> 0.9 s: under the 1 s floor


def test_unchanged_shard_sets_markdown(tmp_path):
    cpu = [_rec("torch", "a"), _rec("paddle", "b", "skip:unavailable", reason="no such model")]
    cuda = [_rec("torch", "a", device="cuda", case="torch-a-opset13-cuda")]
    files = [_write(tmp_path / "cpu.jsonl", cpu), _write(tmp_path / "cuda.jsonl", cuda)]
    proc = _cli("--base", files[0], "--base", files[1], "--new", files[1], "--new", files[0])
    assert proc.returncode == 0 and "no changes" in proc.stdout and "3 cells" in proc.stdout
    proc = _cli("--base", files[0], "--base", files[1], "--new", files[0])
    assert proc.returncode == 1 and "Regressions (1)" in proc.stdout and "torch-a-opset13-cuda" in proc.stdout


def test_bad_input_exits_2_naming_file_and_line(tmp_path):
    good = _write(tmp_path / "good.jsonl", [_rec("torch", "a")])
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(_rec("torch", "a")) + "\n{not json\n")
    proc = _cli(good, broken)
    assert proc.returncode == 2 and f"{broken}:2" in proc.stderr, proc.stderr
    keyless = _rec("torch", "b")
    del keyless["device"]
    nokey = _write(tmp_path / "nokey.jsonl", [{"event": "run", "commit": "abc"}, _rec("torch", "a"), keyless])
    proc = _cli(nokey, good)
    assert proc.returncode == 2 and f"{nokey}:3: final record lacks device" in proc.stderr, proc.stderr
    empty = _write(tmp_path / "empty.jsonl", [{"event": "run", "commit": "abc"}])
    assert _cli(good, empty).returncode == 2
    proc = _cli(good, tmp_path / "missing.jsonl")
    assert proc.returncode == 2 and "missing.jsonl" in proc.stderr
    assert _cli(good).returncode == 2                # one side only


def _latency(oneflow_ms, ort_ms, native_ms=None, spread=(0.95, 1.05)):
    """A latency block as process B writes it (harness/latency.py): medians, and the converted
    model's per-round ratios as a range around the ratio of the medians."""
    block = {"oneflow_ms": oneflow_ms, "ort_ms": ort_ms, "vs_ort": oneflow_ms / ort_ms, "iters": 5, "warmup": 1,
             "threads": {"oneflow": 2, "ort": 2},
             "vs_ort_range": [oneflow_ms / ort_ms * spread[0], oneflow_ms / ort_ms * spread[1]]}
    if native_ms:
        block.update(native_ms=native_ms, vs_native=oneflow_ms / native_ms,
                     vs_native_range=[oneflow_ms / native_ms * spread[0], oneflow_ms / native_ms * spread[1]])
    return block


def test_a_planted_2x_slowdown_of_the_converted_model_is_flagged_and_noise_is_not(tmp_path, capsys):
    base = [_rec("torch", "slowed", latency=_latency(20.0, 5.0)),
            _rec("torch", "machine", latency=_latency(20.0, 5.0)),
            _rec("torch", "noisy", latency=_latency(20.0, 5.0, spread=(0.75, 1.4))),
            _rec("torch", "tiny", latency=_latency(0.2, 0.05)),
            _rec("torch", "faster", latency=_latency(40.0, 5.0)),
            _rec("torch", "untimed"),
            _rec("oneflow", "native", latency=_latency(20.0, 5.0, native_ms=20.0))]
    new = [_rec("torch", "slowed", latency=_latency(40.0, 5.0)),              # the planted 2x slowdown
           _rec("torch", "machine", latency=_latency(40.0, 10.0)),            # a 2x slower machine: ratio kept
           _rec("torch", "noisy", latency=_latency(26.0, 5.0, spread=(0.75, 1.4))),   # 1.3x inside the spread
           _rec("torch", "tiny", latency=_latency(0.4, 0.05)),                # under the 1 ms floor
           _rec("torch", "faster", latency=_latency(20.0, 5.0)),
           _rec("torch", "untimed", latency=_latency(40.0, 5.0)),             # nothing to compare with
           _rec("oneflow", "native", latency=_latency(40.0, 5.0, native_ms=20.0))]
    code, changes, out = _diff(tmp_path, base, new, capsys=capsys)
    assert code == 0                       # reported; parity still holds
    assert changes == {("latency_growth", "torch-slowed-opset13-cpu"), ("latency_growth", "oneflow-native-opset13-cpu")}
    detail = {c["case"]: c["detail"] for c in out["changes"]}
    assert detail["torch-slowed-opset13-cpu"] == "converted/ORT 4.00× → 8.00× (2.00×; rounds 3.80–4.20 → 7.60–8.40)"
    assert detail["oneflow-native-opset13-cpu"].endswith("converted/native 1.00× → 2.00× (2.00×; rounds 0.95–1.05 → 1.90–2.10)")
    assert out["thresholds"]["latency_growth"] == 1.25
    md = _cli(tmp_path / "base.jsonl", tmp_path / "new.jsonl")
    assert md.returncode == 0 and "⏱️ Latency-ratio growth ≥ 1.25× (converted vs ONNX Runtime / native) (2)" in md.stdout
    # the same slowdown without the rounds' ranges (one timed round each): the threshold alone decides
    bare = [{**r, "latency": {k: v for k, v in r["latency"].items() if not k.endswith("_range")}}
            for r in (base[0], new[0])]
    code, changes, _ = _diff(tmp_path, [bare[0]], [bare[1]], capsys=capsys)
    assert changes == {("latency_growth", "torch-slowed-opset13-cpu")}
