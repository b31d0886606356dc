"""Build once, export many: one zoo.export process builds a model once and writes every
requested opset (each its own cache entry); a crash or hang in the middle of it gives only
the opset in flight a failing record. Real torch exports of squeezenet1_1 (~5 MB): three
zoo.export processes into one cache (two of them build), which the crash test reuses (one
xdist group); the hang test (-m slow) waits out a 60 s export timeout."""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

from harness import export_stage, records
from harness.cases import select
from harness.paths import REPO_ROOT
from harness.runner import DEFAULT_TIMEOUTS, RunOptions
from harness.scheduler import run_cases
from harness.versions import framework_env

MODEL = "squeezenet1_1"
pytestmark = [pytest.mark.torch, pytest.mark.xdist_group("zoo-export-many")]   # the tests share `exports`


def _zoo_export(cache_dir, *opsets):
    args = [sys.executable, "-m", "zoo.export", "--framework", "torch", "--model", MODEL, "--cache-dir", cache_dir]
    for opset in opsets:
        args += ["--opset", str(opset)]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO_ROOT, env=framework_env("torch"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(line.split(" ", 1)[1]) for line in proc.stdout.splitlines() if line.startswith("@@harness ")]
    return {e["opset"]: e for e in events if e["event"] == "export"}, [e for e in events if e["event"] == "built"]


def _meta(case_dir):
    with open(os.path.join(case_dir, "meta.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """One cache, three zoo.export runs: (11, 13) into the empty cache, then (11, 13, 17)
    twice. Their (answers, built events) are checked by test_one_build_...; the tests that
    make opset 13 die reuse the cache (opsets 11 and 17)."""
    cache_dir = str(tmp_path_factory.mktemp("export_many_cache"))
    return cache_dir, [_zoo_export(cache_dir, 11, 13), _zoo_export(cache_dir, 11, 13, 17),
                       _zoo_export(cache_dir, 11, 13, 17)]


@pytest.fixture
def cache_dir(exports):
    return exports[0]


def test_one_build_every_opset_then_only_the_missing_ones(exports):
    (answers, built), (again, built_again), (cached, built_last) = exports[1]
    assert len(built) == 1 and sorted(answers) == [11, 13]
    dirs = {o: a["dir"] for o, a in answers.items()}
    assert dirs[11] != dirs[13] and not any(a["cached"] for a in answers.values())
    first, second = _meta(dirs[11]), _meta(dirs[13])
    assert first["build_reused"] is False and first["seconds"]["build"] > 0
    assert second["build_reused"] is True and second["seconds"]["build"] == 0
    for o, d in dirs.items():   # each file really is at its opset
        assert {i.domain: i.version for i in onnx.load(os.path.join(d, "model.onnx")).opset_import}[""] == o
    for name in ("inputs.npz", "expected.npz"):   # same weights, same inputs, one reference
        a, b = np.load(os.path.join(dirs[11], name)), np.load(os.path.join(dirs[13], name))
        assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)

    assert [again[o]["cached"] for o in (11, 13, 17)] == [True, True, False]
    assert len(built_again) == 1 and _meta(again[17]["dir"])["build_reused"] is False   # built only for 17
    assert again[11]["dir"] == dirs[11]

    assert built_last == [] and all(a["cached"] for a in cached.values())   # nothing built at all


def _dying(monkeypatch, opset: int, mode: str):
    """zoo.export, dying at ``opset`` (tests/harness_plugins/dying_export.py)."""
    monkeypatch.setenv("DYING_EXPORT_OPSET", str(opset))
    monkeypatch.setenv("DYING_EXPORT_MODE", mode)
    real = export_stage.export_command

    def command(case, cache_dir, opsets=None):
        cmd = real(case, cache_dir, opsets)
        return [cmd[0], "-m", "tests.harness_plugins.dying_export", *cmd[3:]]

    monkeypatch.setattr(export_stage, "export_command", command)


def _cache_without(cache_dir, opset, dest):
    """A copy of the cache lacking ``opset``: only that opset gets exported."""
    import shutil

    for name in os.listdir(cache_dir):
        if f"-opset{opset}-" not in name and not name.startswith("."):
            shutil.copytree(os.path.join(cache_dir, name), os.path.join(dest, name))
    return str(dest)


def _cases():
    cases = select(["torch"], [MODEL], [11, 13, 17], ["cpu"])
    return [c for c in cases if c.model == MODEL]


@pytest.mark.slow   # waits out a 60 s export timeout
def test_a_hang_in_a_multi_opset_export_times_out_only_that_opset(cache_dir, monkeypatch, tmp_path):
    _dying(monkeypatch, 13, "hang")
    outcomes = export_stage.export_group(_cases(), _cache_without(cache_dir, 13, tmp_path / "cache"), timeout=60)
    by_opset = {int(k.split("-opset")[1].split("-")[0]): v for k, v in outcomes.items()}
    assert by_opset[13].status == "timeout:export", by_opset[13]
    assert by_opset[11].status is None and by_opset[17].status is None
    assert by_opset[11].reuse["export_process_opsets"] == 3   # 11 came from the first process
    assert by_opset[17].reuse["export_process_opsets"] == 1   # 17 from a fresh one


def test_a_crash_in_a_multi_opset_export_gives_each_case_its_own_record(cache_dir, monkeypatch, tmp_path):
    """The full scheduler path (python -m harness matrix uses it): one started and one final
    record per case; the crash is the opset in flight's, the others run to the end."""
    _dying(monkeypatch, 13, "crash")
    results = str(tmp_path / "results.jsonl")
    opts = RunOptions(out_dir=str(tmp_path / "out"), results=results,
                      cache=_cache_without(cache_dir, 13, tmp_path / "cache"), timeouts=dict(DEFAULT_TIMEOUTS))
    cases = _cases()
    finals = {r["case"]: r for r in run_cases(cases, opts, jobs=2)}
    status = {c.opset: finals[c.case_id]["status"] for c in cases}
    # 11 and 17 come from the cache; 13 is exported, and crashes
    assert status[13] == "crash:export" and "SIGSEGV" in finals[cases[1].case_id]["error"]
    assert status[11] == "pass" and status[17] == "pass", finals
    lines = records.read(results)
    for case in cases:
        assert [r["event"] for r in lines if r.get("case") == case.case_id] == ["started", "final"]
    assert records.unfinished(results) == []
