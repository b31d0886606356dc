"""The CI workflows pass actionlint, and call the commands the README documents."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def _actionlint() -> str:
    exe = shutil.which("actionlint") or os.path.join(os.path.dirname(sys.executable), "actionlint")
    assert os.path.exists(exe), "actionlint is part of the pinned test set (pyproject.toml)"
    return exe


def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"pull-request.yml", "nightly.yml"}
    proc = subprocess.run([_actionlint(), *map(str, files)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-22.04\n    steps:\n      - run: echo ${{ github.nope }}\n")
    proc = subprocess.run([_actionlint(), str(bad)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode != 0


def test_workflows_use_the_documented_commands():
    pr = (WORKFLOWS / "pull-request.yml").read_text()
    nightly = (WORKFLOWS / "nightly.yml").read_text()
    assert "make test" in pr and "make smoke" in pr
    assert "--device cuda" in nightly and "--readme README.md" in nightly
    assert "make test" in (ROOT / ".ci" / "run").read_text()


# --- nightly: the diff against the committed results (reports/diff.py) ---------------------------

def steps_of(job: str) -> list:
    """The steps of one job of the nightly workflow."""
    import yaml

    return yaml.safe_load((WORKFLOWS / "nightly.yml").read_text())["jobs"][job]["steps"]


def _nightly_steps() -> list:
    return steps_of("matrix")


def _index(steps, pred) -> int:
    return next(i for i, s in enumerate(steps) if pred(s))


def _run_step(step, cwd, tmp_path) -> tuple:
    """Run a step's script as GitHub does (bash -e); returns (exit code, job summary, step outputs)."""
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    summary.write_text("")
    output.write_text("")
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return proc.returncode, summary.read_text(), outputs, proc.stderr


def test_nightly_publishes_the_diff_before_failing_on_it():
    steps = _nightly_steps()
    checkout = steps[_index(steps, lambda s: s.get("uses", "").startswith("actions/checkout"))]
    assert checkout["with"]["fetch-depth"] == 0          # the committed history of reports/results/
    diff = _index(steps, lambda s: s.get("id") == "diff")
    upload = _index(steps, lambda s: "upload-artifact" in s.get("uses", ""))
    pr = _index(steps, lambda s: "gh pr" in s.get("run", ""))
    fail = _index(steps, lambda s: "steps.diff.outputs.status" in str(s.get("if", "")))
    assert diff < upload < fail and diff < pr < fail
    assert "python -m reports diff" in steps[diff]["run"] and "$GITHUB_STEP_SUMMARY" in steps[diff]["run"]
    assert "always()" in steps[diff]["if"] and "always()" in steps[fail]["if"]
    assert "--body-file" in steps[pr]["run"] and "diff.md" in steps[pr]["run"]
    assert "--history out/history" in steps[_index(steps, lambda s: "--readme README.md" in s.get("run", ""))]["run"]


def _results_with_one_parity_failure(path):
    lines = (ROOT / "reports" / "results" / "cpu-opset13.jsonl").read_text().splitlines()
    for i, line in enumerate(lines):
        rec = json.loads(line)
        if rec.get("event") == "final" and rec["status"] == "pass":
            rec.update(status="fail:parity", max_abs=0.25, error="outputs differ")
            lines[i] = json.dumps(rec)
            path.write_text("\n".join(lines) + "\n")
            return rec["case"]


def test_nightly_diff_step_summary_and_status(tmp_path):
    step = _nightly_steps()[_index(_nightly_steps(), lambda s: s.get("id") == "diff")]
    work = tmp_path / "w"
    (work / "out" / "base").mkdir(parents=True)
    (work / ".venv").symlink_to(ROOT / ".venv")
    committed = ROOT / "reports" / "results" / "cpu-opset13.jsonl"
    shutil.copy(committed, work / "out" / "base" / "cpu-opset13.jsonl")
    shutil.copy(committed, work / "out" / "results-cpu.jsonl")
    code, summary, outputs, err = _run_step(step, work, tmp_path)
    assert (code, outputs.get("status")) == (0, "0") and "no changes" in summary, err
    case = _results_with_one_parity_failure(work / "out" / "results-cpu.jsonl")
    code, summary, outputs, err = _run_step(step, work, tmp_path)
    assert (code, outputs.get("status")) == (0, "1"), err     # the step publishes; a later step fails the job
    assert f"`{case}` | pass | fail:parity" in summary
    assert json.loads((work / "out" / "reports" / "diff.json").read_text())["regressed"] is True
    (work / "out" / "results-cpu.jsonl").write_text("{not json\n")
    code, summary, outputs, err = _run_step(step, work, tmp_path)
    assert outputs.get("status") == "2" and "results-cpu.jsonl:1" in summary


def test_nightly_history_from_committed_results(tmp_path):
    steps = _nightly_steps()
    keep = steps[_index(steps, lambda s: "out/history" in s.get("run", "") and "git log" in s.get("run", ""))]
    reports = steps[_index(steps, lambda s: "--readme README.md" in s.get("run", ""))]
    repo = tmp_path / "repo"
    (repo / "reports" / "results").mkdir(parents=True)
    (repo / ".venv").symlink_to(ROOT / ".venv")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    committed = (ROOT / "reports" / "results" / "cpu-opset13.jsonl").read_text()
    for n, text in enumerate([committed, committed.replace('"status": "pass"', '"status": "fail:run"', 1)]):
        (repo / "reports" / "results" / "cpu-opset13.jsonl").write_text(text)
        (repo / "other.txt").write_text(str(n))
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", f"run {n}"], check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "unrelated"], check=True)
    code, _, _, err = _run_step(keep, repo, tmp_path)
    assert code == 0, err
    runs = sorted(p.name for p in (repo / "out" / "history").iterdir())
    assert len(runs) == 2 and runs[0].startswith("01-") and runs[1].startswith("02-")
    assert (repo / "out" / "history" / runs[0] / "cpu-opset13.jsonl").read_text() == committed
    assert (repo / "out" / "base" / "cpu-opset13.jsonl").read_text().count('"status": "fail:run"') == 1
    _results_with_one_parity_failure(repo / "out" / "results-cpu.jsonl")
    shutil.copy(repo / "out" / "results-cpu.jsonl", repo / "out" / "results-cuda.jsonl")
    (repo / "README.md").write_text("<!-- support-matrix:start -->\n<!-- support-matrix:end -->\n")
    code, _, _, err = _run_step(reports, repo, tmp_path)
    assert code == 0, err
    assert "History (3 runs" in (repo / "out" / "reports" / "support_matrix.html").read_text()


# --- nightly: the shard jobs cover the whole cube and graph mode ---------------------------------

def _shard_jobs() -> list:
    """The shard job's matrix as GitHub expands it: the cross product, then each `include` entry
    that conflicts with every combination as a combination of its own (all ours do)."""
    import itertools

    import yaml

    spec = yaml.safe_load((WORKFLOWS / "nightly.yml").read_text())["jobs"]["shard"]["strategy"]["matrix"]
    axes = {k: v for k, v in spec.items() if k not in ("include", "exclude")}
    jobs = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    return jobs + list(spec.get("include", []))


def _shard_command(job, tmp_path) -> list:
    """The harness arguments the shard step passes for ``job``: its script, run by bash with a
    recording stand-in for .venv/bin/python (the wiring is under test here, not the harness)."""
    steps = steps_of("shard")
    step = steps[_index(steps, lambda s: s.get("id") == "run")]
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_OUT"\n')
    python.chmod(0o755)
    env = {**os.environ, "ARGS_OUT": str(tmp_path / "args"), "CACHE_DIR": "/runner/tool-cache/zoo-export-cache",
           **{k.upper(): str(v) for k, v in job.items()}}
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, check=True)
    argv = (tmp_path / "args").read_text().splitlines()
    assert argv[:3] == ["-m", "harness", "matrix"], argv
    return argv[3:]


def test_nightly_shards_cover_the_cube_and_graph_mode_per_device(tmp_path):
    from harness.matrix import build_parser, selected_cases

    runs = {}
    for job in _shard_jobs():
        args = build_parser().parse_args(_shard_command(job, tmp_path))
        assert args.strict and args.device == [job["device"]] and args.mode == job["mode"]
        assert args.cache_dir == "/runner/tool-cache/zoo-export-cache"
        runs.setdefault((job["device"], args.mode), []).append(args)
    assert set(runs) == {(d, m) for d in ("cpu", "cuda") for m in ("eager", "graph")}
    for (device, run_mode), shard_args in runs.items():
        whole = build_parser().parse_args(["--device", device, "--mode", run_mode, *(
            ["--opset", "13"] if run_mode == "graph" else [])])
        expected = sorted(c.case_id for c in selected_cases(whole))
        got = sorted(c.case_id for a in shard_args for c in selected_cases(a))
        assert got == expected, f"{device} {run_mode}: the shards' union is not the whole run"
        assert {a.shard.split("/")[1] for a in shard_args} == {str(len(shard_args))}
        results = {a.results for a in shard_args}
        assert len(results) == len(shard_args), "each shard writes its own results file"
    prune = steps_of("shard")[_index(steps_of("shard"), lambda s: "prune-cache" in s.get("run", ""))]
    run = steps_of("shard")[_index(steps_of("shard"), lambda s: s.get("id") == "run")]
    assert prune["env"]["CACHE_DIR"] == run["env"]["CACHE_DIR"] and prune.get("if") == "always()"
    eager_opsets = {c.opset for a in runs[("cpu", "eager")] for c in selected_cases(a)}
    assert eager_opsets == {10, 11, 13, 17}
