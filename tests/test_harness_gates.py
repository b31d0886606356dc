"""The two parity gates (docs/design.md §4), on tiny real ONNX cases through real ONNX Runtime
and OneFlow: source vs ORT blames the exporter, OneFlow vs ORT blames the converter with its
own tolerance, and the converter runs even when ORT disagrees with the source. ~30 s."""
import dataclasses
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness.cases import Tolerance
from harness.oneflow_side import PLUGINS_ENV
from harness.runner import RunOptions, run_case
from harness_cases import prepared_case, write_case

PLUGIN = "tests.harness_plugins.misbehaving_relu"


def conv_relu_out(relu_name: str) -> onnx.ModelProto:
    """x -> Conv 3x3 -> Relu(<relu_name>) as the output: about half the outputs are exactly 0."""
    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["logits"], name=relu_name)], "conv_relu_out",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4, 8, 8])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _case(tmp_path, relu_name, **changes):
    case = prepared_case(tmp_path, "relu")
    directory = write_case(str(tmp_path / "cases" / f"out_{relu_name}"), conv_relu_out(relu_name), relu_name)
    return dataclasses.replace(case, model=relu_name, prepared_dir=directory, classifier=False, **changes)


def _opts(tmp_path):
    return RunOptions(out_dir=str(tmp_path / "out"), results=str(tmp_path / "results.jsonl"))


def test_planted_converter_bug_passes_a_loose_source_row_but_fails_the_ort_gate(tmp_path, monkeypatch):
    # A source-side row, as the catalogue has for exporter noise: it must not loosen the converter's gate.
    source_row = Tolerance(1e-3, 2e-4, "source-side row (exporter float noise)")
    case = _case(tmp_path, "relu_offset", tolerance=source_row)
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    clean = run_case(case, _opts(tmp_path))
    assert clean["status"] == "pass" and clean["oneflow_vs_ort"]["ok"] and clean["converter"] == "matches ORT"

    monkeypatch.setenv(PLUGINS_ENV, PLUGIN)       # Relu 'relu_offset' -> relu(x) + 1e-4
    rec = run_case(case, _opts(tmp_path))
    assert rec["oneflow_vs_source"]["ok"], rec    # the source comparison alone stays green ...
    assert not rec["oneflow_vs_ort"]["ok"]         # ... the converter gate (default atol 1e-5) does not
    assert rec["oneflow_vs_ort"]["atol"] == 1e-5 and abs(rec["oneflow_vs_ort"]["max_abs"] - 1e-4) < 1e-5
    assert rec["status"] == "fail:parity" and "OneFlow disagrees with ONNX Runtime" in rec["error"], rec
    assert rec["converter"] == "differs from ORT"


def test_converter_runs_when_ort_disagrees_with_the_source(tmp_path, monkeypatch):
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    case = _case(tmp_path, "relu", xfail={"stage": "ort", "reason": "exporter bug (planted)"})
    # The "source framework" disagrees with its own export: an exporter bug, as far as ORT can tell.
    expected = os.path.join(case.prepared_dir, "expected.npz")
    np.savez(expected, logits=np.load(expected)["logits"] + 0.5)
    rec = run_case(case, _opts(tmp_path))
    assert rec["status"] == "xfail:ort" and not rec["ort_vs_source"]["ok"], rec
    assert rec["converter"] == "matches ORT" and rec["oneflow_vs_ort"]["ok"]
    assert rec["oneflow_vs_source"]["ok"] is False

    monkeypatch.setenv(PLUGINS_ENV, PLUGIN)
    bad = _case(tmp_path, "relu_offset", xfail={"stage": "ort", "reason": "exporter bug (planted)"})
    np.savez(os.path.join(bad.prepared_dir, "expected.npz"), logits=np.load(expected)["logits"])
    rec = run_case(bad, _opts(tmp_path))
    assert rec["status"] == "xfail:ort" and rec["converter"] == "differs from ORT", rec


def test_ort_that_cannot_run_the_model_leaves_the_converter_untested(tmp_path, monkeypatch):
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    case = _case(tmp_path, "relu")
    model = conv_relu_out("relu")
    # Kernel channels that do not match the input (as oneflow-onnx's axis-less ReduceSum makes):
    # ORT loads the model but fails to run it, so there is no reference for the converter.
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.ones((4, 2, 3, 3), np.float32), "w"))
    onnx.save(model, os.path.join(case.prepared_dir, "model.onnx"))
    rec = run_case(case, _opts(tmp_path))
    assert rec["status"] == "fail:ort" and rec["converter"] == "untested", rec
    assert "oneflow_vs_ort" not in rec


def test_dynamic_batch_runs_one_converted_module_at_each_batch(tmp_path, monkeypatch):
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    model = conv_relu_out("relu")
    for value_info in (model.graph.input[0], model.graph.output[0]):
        value_info.type.tensor_type.shape.dim[0].dim_param = "batch"     # as dynamic_axes exports it
    case = _case(tmp_path, "relu", batches=(1, 3))
    onnx.save(model, os.path.join(case.prepared_dir, "model.onnx"))
    rec = run_case(case, _opts(tmp_path))
    assert rec["status"] == "pass", rec
    assert sorted(rec["batches"]) == ["1", "3"] and all(g["ok"] for g in rec["batches"].values())

    monkeypatch.setenv(PLUGINS_ENV, PLUGIN)       # the planted converter bug shows at every batch size
    bad = _case(tmp_path, "relu_offset", batches=(1, 3))
    model.graph.node[1].name = "relu_offset"
    onnx.save(model, os.path.join(bad.prepared_dir, "model.onnx"))
    rec = run_case(bad, _opts(tmp_path))
    assert rec["status"] == "fail:parity" and "batches" not in rec   # the batch-1 gate fails first


def test_both_gates_compare_dtypes_exactly(tmp_path, monkeypatch):
    """docs/design.md §4: an output of the right values in another dtype fails its gate."""
    monkeypatch.setenv(PLUGINS_ENV, PLUGIN)       # Relu 'relu_float64' -> relu(x) in float64
    rec = run_case(_case(tmp_path, "relu_float64"), _opts(tmp_path))
    assert rec["status"] == "fail:parity" and rec["converter"] == "differs from ORT", rec
    assert "dtype float64, expected float32" in rec["error"]
    assert rec["oneflow_vs_ort"]["max_abs"] == float("inf")

    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    case = _case(tmp_path, "relu")
    expected = os.path.join(case.prepared_dir, "expected.npz")
    np.savez(expected, logits=np.load(expected)["logits"].astype(np.float64))   # the source said float64
    rec = run_case(case, _opts(tmp_path))
    assert rec["status"] == "fail:ort" and "dtype float32, expected float64" in rec["error"], rec
    assert rec["converter"] == "matches ORT"


def test_a_batch_scoped_converter_row_applies_at_its_batch_only(tmp_path, monkeypatch):
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    model = conv_relu_out("relu")
    for value_info in (model.graph.input[0], model.graph.output[0]):
        value_info.type.tensor_type.shape.dim[0].dim_param = "batch"
    case = _case(tmp_path, "relu", batches=(1, 3), batch_tolerances=((3, Tolerance(1e-3, 2e-5, "measured")),))
    onnx.save(model, os.path.join(case.prepared_dir, "model.onnx"))
    rec = run_case(case, _opts(tmp_path))
    assert rec["status"] == "pass", rec
    assert (rec["batches"]["3"]["atol"], rec["batches"]["1"]["atol"], rec["oneflow_vs_ort"]["atol"]) == (2e-5, 1e-5, 1e-5)
    assert rec["batch_tolerances"] == {"3": {"rtol": 1e-3, "atol": 2e-5, "reason": "measured"}}
