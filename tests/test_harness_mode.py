"""The harness mode dimension (issue 13 item 1): ``python -m harness matrix --mode graph`` runs
the converted module as oneflow.nn.Graph and the records carry the mode. Process B's
check_case runs in-process here on a hand-made case (a symbolic-batch model, with ORT's own
output standing in for the source framework's); seconds."""
from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from harness.matrix import build_parser
from harness.oneflow_side import check_case
from harness.runner import RunOptions, oneflow_side_command
from test_dynamic_shapes import dynamic_model, feeds


@pytest.fixture
def case_dir(tmp_path):
    model = dynamic_model()
    (tmp_path / "model.onnx").write_bytes(model.SerializeToString())
    f = feeds(2, 8, 8)
    np.savez(tmp_path / "inputs.npz", **f)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.savez(tmp_path / "expected.npz", y=sess.run(None, f)[0])
    (tmp_path / "meta.json").write_text(json.dumps({}))
    return tmp_path


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_check_case_runs_in_the_mode_it_is_given(case_dir, tmp_path, mode):
    result = check_case(str(case_dir), work_dir=str(tmp_path / "work"), batches=(3,), mode=mode)
    assert result["status"] == "pass", result["error"]
    assert result["mode"] == mode
    assert result["oneflow_vs_ort"]["ok"] and result["batches"]["3"]["ok"]


def test_matrix_option_reaches_process_b_and_the_record():
    assert build_parser().parse_args(["--mode", "graph"]).mode == "graph"
    assert build_parser().parse_args([]).mode == "eager"
    assert RunOptions().mode == "eager"
    cmd = oneflow_side_command("case", "cpu", "work", 1e-3, 1e-5, False, mode="graph")
    assert cmd[cmd.index("--mode") + 1] == "graph"
    assert "--mode" not in oneflow_side_command("case", "cpu", "work", 1e-3, 1e-5, False)


def _make_dry_run(target: str) -> str:
    import shutil
    import subprocess

    from harness.paths import REPO_ROOT

    if shutil.which("make") is None:
        pytest.skip("`make` is not installed: the Makefile recipe cannot be dry-run here (make test itself needs it)")
    proc = subprocess.run(["make", "-n", target], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_matrix_graph_runs_graph_mode_at_opset_13_and_publishes_its_slice():
    graph = _make_dry_run("matrix-graph")
    assert "-m harness matrix --strict --results out/results-graph.jsonl" in graph
    assert "--mode graph --opset 13" in graph
    assert "-m harness complete out/results-graph.jsonl --publish reports/results" in graph
    # the eager matrix names no opset: the harness's 11/13/17 and the catalogue's extra opsets
    eager = _make_dry_run("matrix")
    assert "--opset" not in eager and "--mode" not in eager


def test_started_record_and_bundle_are_kept_apart_by_mode(tmp_path):
    from harness import cases, records
    case = cases.Case("torch", "resnet50", "ResNet", 13, "cpu")
    assert records.started(case, "graph")["mode"] == "graph"
    assert records.started(case)["mode"] == "eager"
    eager = RunOptions(out_dir=str(tmp_path)).bundle_path(case)
    graph = RunOptions(out_dir=str(tmp_path), mode="graph").bundle_path(case)
    assert eager != graph and graph.endswith(case.case_id + "-graph")
