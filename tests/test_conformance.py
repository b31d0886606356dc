"""The ONNX backend conformance guard: every claimed case still passes, and the runner's
isolation and comparison really do what they say.

The guard runs the cases in tests/conformance_claimed.txt plus all 9 light models through the
real converter and OneFlow, in 2 worker processes: ~1100 cases took 105 s wall on the shared
2-core machine (load average ~15), most of it the light models (ConstantOfShape weights). Regenerate the list with
``python -m converter.conformance --update-claimed`` after making more cases pass.
"""
from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pytest

from converter import conformance
from converter._worker_pool import run_isolated


def test_claimed_cases_exist_and_are_sorted():
    claimed = conformance.read_claimed()
    assert claimed, "tests/conformance_claimed.txt is empty"
    unknown = sorted(set(claimed) - set(conformance.discover()))
    assert not unknown, f"claimed cases that the installed onnx does not ship: {unknown}"
    assert claimed == sorted(set(claimed)), "keep tests/conformance_claimed.txt sorted and unique"


def test_claimed_cases_still_pass():
    claimed = conformance.read_claimed()
    light = [n for n in conformance.discover() if n.startswith("light/")]
    results = conformance.run(sorted(set(claimed) | set(light)), jobs=2)
    broken = {n: results[n] for n in claimed if results[n]["status"] != "pass"}
    unclaimed = [n for n in light if n not in claimed and results[n]["status"] == "pass"]
    if unclaimed:
        warnings.warn(f"light models pass but are not claimed: {unclaimed}")
    assert not broken, f"{len(broken)} claimed conformance case(s) stopped passing:\n" + "\n".join(
        f"  {n}: {r['status']}: {r.get('error', '').strip()[:300]}" for n, r in sorted(broken.items()))


# --- the runner itself --------------------------------------------------------------------
def _misbehaving_task(item):
    """Worker task for the isolation test: behaves as ``item`` says."""
    if item == "abort":
        os.write(2, b"about to abort\n")
        os.abort()
    if item == "hang":
        time.sleep(600)
    if item == "raise":
        raise ValueError("task bug")
    return {"echo": item}


def test_crash_and_hang_cost_only_their_case():
    items = [("a", "fine-1"), ("b", "abort"), ("c", "hang"), ("d", "raise"), ("e", "fine-2"), ("f", "fine-3")]
    outcomes = {o.key: o for o in run_isolated(_misbehaving_task, items, jobs=2, timeout=3)}
    assert set(outcomes) == {k for k, _ in items}
    assert outcomes["b"].kind == "crash" and "SIGABRT" in outcomes["b"].detail
    assert "about to abort" in outcomes["b"].detail
    assert outcomes["c"].kind == "timeout"
    assert outcomes["d"].kind == "error" and "task bug" in outcomes["d"].detail
    for k, value in (("a", "fine-1"), ("e", "fine-2"), ("f", "fine-3")):
        assert outcomes[k].kind == "ok" and outcomes[k].value == {"echo": value}


@pytest.mark.parametrize("actual, expected, problem", [
    ([np.float32([1.0, 2.0])], [np.float32([1.0005, 2.0])], ""),              # within rtol 1e-3
    ([np.float32([1.0, 2.0])], [np.float32([1.01, 2.0])], "max abs error"),
    ([np.float32([np.nan, 1.0])], [np.float32([np.nan, 1.0])], ""),           # NaNs equal
    ([np.float32([np.inf])], [np.float32([np.inf])], ""),
    ([np.float32([np.inf])], [np.float32([-np.inf])], "NaN/inf"),          # inf must meet inf of its sign
    ([np.float64([1.0])], [np.float32([1.0])], "dtype float64"),
    ([np.float32([[1.0]])], [np.float32([1.0])], "shape (1, 1)"),
    ([np.float32(1.0)], [np.float32([1.0])], "shape ()"),
    ([np.array([True, False])], [np.array([True, True])], "1 of 2 elements differ"),
    ([np.int64([3])], [np.int64([3])], ""),
    ([], [np.int64([3])], "0 outputs, expected 1"),
    ([[np.float32([1.0])]], [[np.float32([1.0]), np.float32([2.0])]], "sequence of 2"),
])
def test_compare_matches_the_backend_runner(actual, expected, problem):
    got, _, _ = conformance.compare(actual, expected, rtol=1e-3, atol=1e-7)
    assert (problem in got) if problem else got == ""
    assert bool(got) == bool(problem)


def test_light_models_get_the_runner_inputs():
    cases = conformance.discover()
    light = {n: c for n, c in cases.items() if n.startswith("light/")}
    assert len(light) == 9
    import onnx
    model = onnx.load(light["light/resnet50"]["model"])
    [(inputs, expected)] = conformance.load_data_sets(light["light/resnet50"], model)
    assert inputs[0].shape == (1, 3, 224, 224) and inputs[0].dtype == np.float32
    assert inputs[0].flat[1] == np.float32(1 / inputs[0].size)
    assert expected[0].shape == (1, 1000)
    assert sum(n.startswith("node/") for n in cases) == 1288


def test_cli_writes_records_and_claims_only_what_passed(tmp_path, monkeypatch):
    # Two real cases: one passes, one is a known-unsupported op (string input).
    claimed = tmp_path / "claimed.txt"
    claimed.write_text("node/test_abs\nnode/test_zzz_not_run\n")
    monkeypatch.setattr(conformance, "CLAIMED_FILE", str(claimed))
    out = tmp_path / "run.json"
    assert conformance.main(["--filter", r"^node/test_(abs|string_concat)$", "--jobs", "1",
                             "--json", str(out), "--update-claimed"]) == 0
    import json
    run = json.loads(out.read_text())
    assert run["cases"]["node/test_abs"]["status"] == "pass"
    assert run["cases"]["node/test_string_concat"]["status"].startswith("fail:")
    assert run["summary"]["counts"]["pass"] == 1 and run["summary"]["total"] == 2
    # Cases not in this run keep their claim; cases run are claimed exactly when they passed.
    assert conformance.read_claimed(str(claimed)) == ["node/test_abs", "node/test_zzz_not_run"]


def test_update_claimed_prints_every_drop_and_refuses_without_allow_drop(tmp_path, capsys):
    path = tmp_path / "claimed.txt"
    conformance.write_claimed(["node/a", "node/b", "node/c", "node/z"], str(path))
    results = {"node/a": {"status": "pass"}, "node/b": {"status": "fail:run", "error": "boom"},
               "node/c": {"status": "crash", "error": "SIGABRT"}, "node/d": {"status": "pass"}}
    before = path.read_text()
    assert conformance.update_claimed(results, allow_drop=False, path=str(path)) == 1
    out = capsys.readouterr()
    assert "fail:run: node/b" in out.out and "crash: node/c" in out.out and "--allow-drop" in out.err
    assert path.read_text() == before                      # nothing written
    assert conformance.update_claimed(results, allow_drop=True, path=str(path)) == 0
    assert conformance.read_claimed(str(path)) == ["node/a", "node/d", "node/z"]   # z was not run: kept


def test_compare_counts_outputs_and_matches_nan_and_inf_exactly():
    ref = [np.array([1.0, np.nan, np.inf], np.float32)]
    assert conformance.compare([ref[0].copy()], ref, 1e-3, 1e-7)[0] == ""
    assert "NaN/inf" in conformance.compare([np.array([1.0, 0.0, np.inf], np.float32)], ref, 1e-3, 1e-7)[0]
    assert "NaN/inf" in conformance.compare([np.array([1.0, np.nan, -np.inf], np.float32)], ref, 1e-3, 1e-7)[0]
    assert "2 outputs, expected 1" in conformance.compare([ref[0], ref[0]], ref, 1e-3, 1e-7)[0]
    assert "dtype" in conformance.compare([ref[0].astype(np.float64)], ref, 1e-3, 1e-7)[0]


def test_spec_departures_are_compared_with_onnxruntime():
    """Each listed case passes against ONNX Runtime, and its stored data still depart (else stale)."""
    names = sorted(conformance.SPEC_DEPARTURES)
    assert set(names) <= set(conformance.discover())
    results = conformance.run(names, jobs=1)
    for name in names:
        assert results[name]["status"] == "pass", results[name]
        assert results[name]["reference"] == "onnxruntime"
