"""``python -m converter`` (issue 3 item 6): summary, saved weights, --check against ONNX
Runtime, --inventory, exit codes and clean messages for bad input. Most cases call
converter.cli.main in-process; two run the real command in a subprocess (~5 s each)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import onnx
import oneflow as flow
import pytest
from onnx import TensorProto, helper, numpy_helper

from converter import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def conv_model(path, *, batch=1, scale_output=1.0):
    """Conv → Relu → Mul; ``batch=None`` makes the batch dim dynamic."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    s = np.array(scale_output, np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Mul", ["r", "s"], ["y"], name="scale")]
    dim = "N" if batch is None else batch
    graph = helper.make_graph(nodes, "cli", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [dim, 2, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [dim, 4, 6, 6])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
                               numpy_helper.from_array(s, "s")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return str(path)


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "converter", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_convert_save_and_check_subprocess(tmp_path):
    model = conv_model(tmp_path / "m.onnx")
    out = tmp_path / "out"
    proc = run_cli(model, "--out", str(out), "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 nodes" in proc.stdout and "Conv×1" in proc.stdout
    assert "y: shape (1, 4, 6, 6)" in proc.stdout and "check passed" in proc.stdout
    state = flow.load(str(out / "weights"))
    weights = [v.numpy() for v in state.values()]
    w = numpy_helper.to_array(onnx.load(model).graph.initializer[0])
    assert any(v.shape == w.shape and np.array_equal(v, w) for v in weights)


def test_codegen_option(tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx")
    out = tmp_path / "out"
    assert cli.main([model, "--out", str(out), "--codegen"]) == cli.EXIT_OK
    assert (out / "codegen" / "model.py").is_file() and (out / "codegen" / "weights").is_dir()
    assert "codegen:" in capsys.readouterr().out


def test_bad_file_subprocess_has_no_traceback(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage" * 50)
    proc = run_cli(str(junk), "--out", str(tmp_path / "o"))
    assert proc.returncode == cli.EXIT_BAD_MODEL
    assert "junk.onnx" in proc.stderr and "Traceback" not in proc.stderr


def test_check_reports_each_output_and_dynamic_dims(tmp_path, capsys):
    model = conv_model(tmp_path / "dyn.onnx", batch=None)
    assert cli.main([model, "--check"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "input 'x': dynamic dims set to 1 -> shape (1, 2, 6, 6)" in out
    assert "max_abs=" in out and "max_rel=" in out


def test_check_through_graph_mode(tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx")
    assert cli.main([model, "--check", "--graph"]) == cli.EXIT_OK
    assert "nn.Graph" in capsys.readouterr().out


def test_check_failure_exits_non_zero(tmp_path, capsys):
    # A tolerance no output can meet (atol < 0) must fail the check and set the exit code.
    model = conv_model(tmp_path / "m.onnx")
    assert cli.main([model, "--check", "--rtol", "0", "--atol", "-1"]) == cli.EXIT_CHECK_FAILED
    out = capsys.readouterr().out
    assert "y: shape (1, 4, 6, 6)" in out and "FAIL" in out and "check FAILED" in out


def test_inventory_lists_all_and_exits_non_zero(tmp_path, capsys):
    path = tmp_path / "custom.onnx"
    nodes = [helper.make_node("Foo", ["x"], ["a"], name="foo0", domain="com.example"),
             helper.make_node("Bar", ["a"], ["y"], name="bar0", domain="com.example")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                      helper.make_opsetid("com.example", 1)]), str(path))
    assert cli.main([str(path), "--inventory"]) == cli.EXIT_UNSUPPORTED
    out = capsys.readouterr().out
    assert "2 unsupported" in out and "foo0" in out and "bar0" in out
    assert cli.main([str(path), "--out", str(tmp_path / "o")]) == cli.EXIT_UNSUPPORTED
    assert "foo0" in capsys.readouterr().err


def test_inventory_clean_model(tmp_path, capsys):
    assert cli.main([conv_model(tmp_path / "m.onnx"), "--inventory"]) == cli.EXIT_OK
    assert "every operator is supported" in capsys.readouterr().out


@pytest.mark.parametrize("make, code, text", [
    (lambda p: str(p / "absent.onnx"), cli.EXIT_BAD_MODEL, "no such file"),
    (lambda p: str(p), cli.EXIT_BAD_MODEL, "is a directory"),
])
def test_bad_paths(tmp_path, capsys, make, code, text):
    assert cli.main([make(tmp_path), "--out", str(tmp_path / "o")]) == code
    assert text in capsys.readouterr().err


def test_cuda_without_device_is_a_clear_error(tmp_path, capsys):
    if flow.cuda.is_available():
        pytest.skip("a CUDA device is available here; the error path needs a machine without one")
    assert cli.main([conv_model(tmp_path / "m.onnx"), "--out", str(tmp_path / "o"), "--device", "cuda"]) \
        == cli.EXIT_DEVICE
    assert "no usable CUDA device" in capsys.readouterr().err


def test_fold_limit_option(tmp_path, capsys):
    assert cli._byte_size("256M") == cli._byte_size("256MiB") == 256 * 2**20
    assert cli._byte_size("1g") == 2**30 and cli._byte_size("4096") == 4096
    with pytest.raises(SystemExit):
        cli.parse_args(["m.onnx", "--check", "--fold-limit", "lots"])
    assert cli.main([conv_model(tmp_path / "m.onnx"), "--check", "--fold-limit", "1K"]) == cli.EXIT_OK


def test_check_refuses_an_input_too_large_to_draw(tmp_path, capsys):
    # An input declared [2**40] used to end in a numpy MemoryError traceback (exit 1).
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "huge",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2**40])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2**40])])
    path = tmp_path / "huge.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    assert cli.main([str(path), "--check"]) == cli.EXIT_BAD_MODEL
    assert re.search(r"--check: random input 'x' of shape \[1099511627776\] \(float64\) needs 8.0 TiB",
                     capsys.readouterr().err)


def test_nothing_to_do_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as info:
        cli.main([conv_model(tmp_path / "m.onnx")])
    assert info.value.code == cli.EXIT_USAGE


def test_output_errors_statistics():
    ref = np.array([1.0, -2.0, 0.0], np.float32)
    got = np.array([1.001, -2.0, 1e-5], np.float32)
    max_abs, max_rel, min_atol, passed = cli.output_errors(got, ref, rtol=1e-3, atol=1e-5)
    assert max_abs == pytest.approx(1e-3, rel=1e-3)
    assert max_rel == pytest.approx(1e-3 / 1.001, rel=1e-2)   # relative error only where |ref| >= atol
    assert min_atol == pytest.approx(1e-5, rel=1e-2)       # the 0-reference element needs the atol
    assert passed == bool(np.allclose(got, ref, rtol=1e-3, atol=1e-5))
    assert cli.output_errors(got[:2], ref, 1e-3, 1e-5)[-1] is False     # shape mismatch fails
