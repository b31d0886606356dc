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
    assert "-m harness complete out/results-graph.jsonl --opset 13 --publish reports/results" in graph
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


def test_repro_re_runs_a_graph_mode_bundle_as_a_graph(tmp_path):
    """`harness repro` re-runs a graph-mode bundle in graph mode. The model's Range over values
    read from the input was refused by nn.Graph until graph breaks (docs/design.md §5): it now
    passes in both modes, runs as graph / eager / graph segments, and its bundle is kept."""
    import subprocess
    import sys

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from harness.cases import Case
    from harness.paths import REPO_ROOT
    from harness.runner import run_case

    nodes = [helper.make_node("ReduceMax", ["x"], ["mx"], keepdims=0),
             helper.make_node("Cast", ["mx"], ["limit"], to=TensorProto.INT64),
             helper.make_node("Range", ["zero", "limit", "one"], ["r"], name="count_up"),
             helper.make_node("Cast", ["r"], ["y"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(nodes, "data_dependent", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.array(0, np.int64), "zero"),
                               numpy_helper.from_array(np.array(1, np.int64), "one")])
    model = onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    onnx.save(model, case_dir / "model.onnx")
    x = np.array([[0.5, 4.5, 2.0, 1.0]], np.float32)
    np.savez(case_dir / "inputs.npz", x=x)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.savez(case_dir / "expected.npz", y=sess.run(None, {"x": x})[0])
    (case_dir / "meta.json").write_text(json.dumps({"classifier": False}))
    case = Case(framework="onnx", model="data_dependent", architecture="Range", opset=13, device="cpu",
                prepared_dir=str(case_dir), classifier=False)
    assert run_case(case, RunOptions(out_dir=str(tmp_path / "eager")))["status"] == "pass"
    rec = run_case(case, RunOptions(out_dir=str(tmp_path / "graph"), mode="graph", keep=True))
    assert rec["status"] == "pass" and rec["bundle"].endswith("-graph"), rec
    proc = subprocess.run([sys.executable, "-m", "harness", "repro", rec["bundle"]], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert "re-running in graph mode on cpu" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == 0 and "now: pass" in proc.stdout, proc.stdout + proc.stderr
