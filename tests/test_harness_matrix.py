"""``python -m harness matrix`` end to end on tiny hand-made cases (the catalogue selection is
replaced by prepared cases; runner, records, summary and exit code are real): xfails and
xpasses don't fail the run (but do with --strict), xpasses are flagged, an unexpected failure
does; cases run in pooled workers unless --no-pool. ~30 s."""
import dataclasses

from harness import matrix, records
from harness.oneflow_side import PLUGINS_ENV
from harness_cases import prepared_case

PLUGIN = "tests.harness_plugins.misbehaving_relu"


def _run_matrix(monkeypatch, tmp_path, selected, capsys):
    monkeypatch.setattr(matrix, "select", lambda *selectors, **kw: selected)
    results = tmp_path / "results.jsonl"
    code = matrix.main(["--results", str(results), "--out", str(tmp_path / "out"), "--jobs", "2"])
    header = records.read(str(results))[0]
    assert header["event"] == "run" and header["command"].startswith("python -m harness matrix --results")
    return code, records.finals(str(results)), capsys.readouterr().out


def test_matrix_exit_code_follows_unexpected_failures_only(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(PLUGINS_ENV, PLUGIN)
    known = {"stage": "parity", "reason": "known wrong Relu"}
    stale = dataclasses.replace(prepared_case(tmp_path, "relu"), xfail=known)
    expected = dataclasses.replace(prepared_case(tmp_path, "relu_wrong"), xfail=known)

    code, finals, out = _run_matrix(monkeypatch, tmp_path, [stale, expected], capsys)
    assert code == 0, out
    assert sorted(r["status"] for r in finals) == ["xfail:parity", "xpass"]
    assert "stale xfail" in out and stale.case_id in out
    assert all(r["worker"]["oneflow"]["pid"] for r in finals), finals   # the pool is the default

    code, finals, out = _run_matrix(monkeypatch, tmp_path, [prepared_case(tmp_path, "relu_wrong")], capsys)
    assert code == 1 and [r["status"] for r in finals] == ["fail:parity"]
    assert "fail:parity" in out and "bundles" in out


def test_strict_run_fails_on_an_xpass_naming_the_stale_row(tmp_path, monkeypatch, capsys):
    known = {"stage": "parity", "reason": "known wrong Relu", "opsets": [13]}
    stale = dataclasses.replace(prepared_case(tmp_path, "relu"), xfail=known)
    monkeypatch.setattr(matrix, "select", lambda *selectors, **kw: [stale])
    results = str(tmp_path / "r.jsonl")
    code = matrix.main(["--results", results, "--out", str(tmp_path / "out"), "--strict", "--no-pool"])
    out = capsys.readouterr().out
    assert code == 1 and "strict:" in out and "models.conv_relu.frameworks.onnx.xfail" in out, out
    assert "worker" not in records.finals(results)[0]   # --no-pool: a one-shot OneFlow-side process
