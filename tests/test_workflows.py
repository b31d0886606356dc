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
    assert "!cancelled()" in steps[diff]["if"] and "!cancelled()" in steps[fail]["if"]
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


# --- nightly: a run that cannot go green wrongly ---------------------------------------------------

def _workflow() -> dict:
    import yaml

    return yaml.safe_load((WORKFLOWS / "nightly.yml").read_text())


def test_a_cancelled_nightly_publishes_nothing():
    """`always()` also runs after a cancel; the merge job and each step that publishes (reports,
    artifact, README PR, the failing verdicts) use `!cancelled()` instead."""
    job = _workflow()["jobs"]["matrix"]
    assert "!cancelled()" in job["if"]
    for step in job["steps"]:
        assert "always()" not in str(step.get("if", "")), step.get("name")
    publishing = [s for s in job["steps"] if "gh pr" in s.get("run", "") or "--publish" in s.get("run", "")
                  or "upload-artifact" in s.get("uses", "")]
    assert len(publishing) == 3 and all("!cancelled()" in s["if"] for s in publishing)


def test_artifacts_survive_a_re_run_of_failed_jobs():
    """Names carry the run attempt and uploads may overwrite: a re-run job's upload cannot
    meet the first attempt's artifact of the same name (HTTP 409)."""
    jobs = _workflow()["jobs"]
    uploads = [s for job in jobs.values() for s in job["steps"] if "upload-artifact" in s.get("uses", "")]
    assert len(uploads) == 2
    for step in uploads:
        assert "${{ github.run_attempt }}" in step["with"]["name"] and step["with"]["overwrite"] is True


def _merge_step():
    steps = _nightly_steps()
    return steps[_index(steps, lambda s: s.get("name", "").startswith("Merge the shards"))]


def test_the_merge_takes_each_shards_newest_attempt(tmp_path):
    arts = tmp_path / "out" / "shard-artifacts"
    for name, text in {"shard-cpu-eager-1-attempt1": "old-1\n", "shard-cpu-eager-1-attempt2": "new-1\n",
                       "shard-cpu-eager-2-attempt1": "only-2\n", "shard-cpu-eager-1-attempt10": "newest-1\n",
                       "shard-cuda-graph-1-attempt1": "cuda\n"}.items():
        device, run_mode, shard = name.split("-")[1:4]
        (arts / name / "shards").mkdir(parents=True)
        (arts / name / "shards" / f"results-{device}-{run_mode}-shard{shard}.jsonl").write_text(text)
    code, _, _, err = _run_step(_merge_step(), tmp_path, tmp_path)
    assert code == 0, err
    assert (tmp_path / "out" / "results-cpu.jsonl").read_text() == "newest-1\nonly-2\n"
    assert (tmp_path / "out" / "results-cuda.jsonl").read_text() == "cuda\n"


def test_an_incomplete_or_missing_device_run_fails_the_nightly(tmp_path):
    steps = _nightly_steps()
    publish = steps[_index(steps, lambda s: s.get("id") == "publish")]
    work = tmp_path / "w"
    (work / "out").mkdir(parents=True)
    (work / ".venv").symlink_to(ROOT / ".venv")
    (work / "harness").symlink_to(ROOT / "harness")
    (work / "zoo").symlink_to(ROOT / "zoo")
    # one committed slice alone is not a complete CPU run (the other opsets, graph mode), no CUDA at all
    shutil.copy(ROOT / "reports" / "results" / "cpu-opset13.jsonl", work / "out" / "results-cpu.jsonl")
    script = publish["run"].split("\nhistory=()")[0]         # up to the verdict; the reports are tested above
    code, _, outputs, err = _run_step({"run": script}, work, tmp_path)
    assert code == 0 and outputs["incomplete"] == "cpu cuda", err
    assert "out/results-cpu.jsonl is not a complete run; nothing published" in err
    assert not (work / "reports" / "results" / "cpu-opset13.jsonl").exists()
    fail = steps[_index(steps, lambda s: "steps.publish.outputs.incomplete" in str(s.get("if", "")))]
    assert "exit 1" in fail["run"] and "!cancelled()" in fail["if"]


def test_the_readme_pr_token_choice_is_documented_with_a_fallback():
    text = (WORKFLOWS / "nightly.yml").read_text()
    assert "GITHUB_TOKEN triggers no workflow" in text.replace("\n# ", " ") or \
        "triggers no workflow" in text
    steps = _nightly_steps()
    pr = steps[_index(steps, lambda s: "gh pr" in s.get("run", ""))]
    assert pr["env"]["GH_TOKEN"] == "${{ secrets.NIGHTLY_PR_TOKEN || github.token }}"
    checkout = steps[_index(steps, lambda s: s.get("uses", "").startswith("actions/checkout"))]
    assert checkout["with"]["token"] == "${{ secrets.NIGHTLY_PR_TOKEN || github.token }}"   # the push
    assert "::warning::no secrets.NIGHTLY_PR_TOKEN" in pr["run"]


def test_cuda_shards_stop_at_a_preflight_that_names_the_gpus_that_work():
    steps = steps_of("shard")
    pre = _index(steps, lambda s: "harness preflight" in s.get("run", ""))
    assert steps[pre]["if"] == "matrix.device == 'cuda'" and "--github" in steps[pre]["run"]
    assert pre < _index(steps, lambda s: s.get("id") == "run")
    assert "continue-on-error" not in steps[pre]
    # on this machine (no usable GPU) the preflight fails and says which GPUs would work
    proc = subprocess.run([sys.executable, "-m", "harness", "preflight", "--github"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    error = next(line for line in proc.stdout.splitlines() if line.startswith("::error"))
    assert "compute capability 6.0, 6.1, 7.0, 7.5, 8.0, 8.6 only" in error and "Hopper" in error


def test_every_shard_of_a_nightly_names_one_run(tmp_path):
    from harness.matrix import build_parser

    step = steps_of("shard")[_index(steps_of("shard"), lambda s: s.get("id") == "run")]
    assert step["env"]["RUN_ID"] == "nightly-${{ github.run_id }}"     # every shard and attempt: one run
    ids = set()
    for job in _shard_jobs():
        ids.add(build_parser().parse_args(_shard_command({**job, "run_id": "nightly-42"}, tmp_path)).run_id)
    assert ids == {"nightly-42"}
