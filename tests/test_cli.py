"""``python -m converter`` / ``onnx2oneflow`` (issue 3 item 6, issue 21 item 2): summary,
saved weights, --check against ONNX Runtime (in a child process) with given or default
inputs, --inventory, exit codes and clean messages for bad input. Most cases call
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
    assert "input 'x' ('N', 2, 6, 6): open dims set to defaults -> shape (1, 2, 6, 6)" in out
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


# --- input control, the ORT child, progress (issue 21 item 2) ---------------------------------
def save_model(path, nodes, inputs, outputs, inits=(), opset=13):
    graph = helper.make_graph(nodes, "cli", [helper.make_tensor_value_info(*i) for i in inputs],
                              [helper.make_tensor_value_info(*o) for o in outputs],
                              [numpy_helper.from_array(v, k) for k, v in inits])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return str(path)


def paddle_style_conv(path):
    """Conv over x declared [-1, 3, '?', '?'] as Paddle writes it."""
    w = np.random.default_rng(1).standard_normal((2, 3, 3, 3)).astype(np.float32)
    return save_model(path, [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2])],
                      [("x", TensorProto.FLOAT, [-1, 3, "?", "?"])], [("y", TensorProto.FLOAT, [-1, 2, "?", "?"])],
                      [("w", w)])


def test_paddle_style_dims_take_defaults_or_given_shapes(tmp_path, capsys):
    model = paddle_style_conv(tmp_path / "p.onnx")
    assert cli.main([model, "--check"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "input 'x' ('?', 3, '?', '?'): open dims set to defaults -> shape (1, 3, 224, 224)" in out
    assert "y: shape (1, 2, 112, 112)" in out
    assert cli.main([model, "--check", "--input-shape", "x=2x3x48x320"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "inputs: x float32[2, 3, 48, 320]" in out and "y: shape (2, 2, 24, 160)" in out
    assert "open dims" not in out


def test_progress_lines_and_graph_mode_checks_both(tmp_path, capsys):
    assert cli.main([paddle_style_conv(tmp_path / "p.onnx"), "--check", "--graph",
                     "--input-shape", "x=1x3x16x16"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    for step in ("[load]", "[convert]", "[ONNX Runtime]", "[OneFlow eager]", "[OneFlow nn.Graph]"):
        assert re.search(re.escape(step) + r" \d+\.\d\d s", out), step
    assert "(OneFlow eager," in out and "(OneFlow nn.Graph," in out


def embedding_model(path):
    """ids, token_type_ids, attention_mask [batch, seq] -> word + type embeddings, masked."""
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Gather", ["words", "ids"], ["we"]),
             helper.make_node("Gather", ["types", "token_type_ids"], ["te"]),
             helper.make_node("Add", ["we", "te"], ["e"]),
             helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["m", "last"], ["m3"]),
             helper.make_node("Mul", ["e", "m3"], ["y"])]
    i64 = TensorProto.INT64
    return save_model(path, nodes, [("ids", i64, ["batch", "seq"]), ("token_type_ids", i64, ["batch", "seq"]),
                                    ("attention_mask", i64, ["batch", "seq"])],
                      [("y", TensorProto.FLOAT, ["batch", "seq", 4])],
                      [("words", rng.standard_normal((30, 4)).astype(np.float32)),
                       ("types", rng.standard_normal((2, 4)).astype(np.float32)), ("last", np.int64([2]))])


def test_named_dims_defaults_and_free_dim(tmp_path, capsys):
    model = embedding_model(tmp_path / "e.onnx")
    # Defaults: batch 1, seq 16; token types and masks in [0, 1] (a 2-row type table).
    assert cli.main([model, "--check"]) == cli.EXIT_OK
    assert "y: shape (1, 16, 4)" in capsys.readouterr().out
    assert cli.main([model, "--check", "--free-dim", "seq=7", "--free-dim", "batch=3"]) == cli.EXIT_OK
    assert "y: shape (3, 7, 4)" in capsys.readouterr().out
    # One name, one size: a shape that disagrees with --free-dim is a usage error.
    assert cli.main([model, "--check", "--free-dim", "seq=7", "--input-shape", "ids=1x5"]) == cli.EXIT_USAGE
    assert "--free-dim seq=7: the inputs given make 'seq' 5" in capsys.readouterr().err


def test_unknown_names_are_usage_errors(tmp_path, capsys):
    model = embedding_model(tmp_path / "e.onnx")
    assert cli.main([model, "--check", "--input-shape", "idz=1x2"]) == cli.EXIT_USAGE
    assert "the model has no input 'idz' (inputs: ids, token_type_ids, attention_mask)" in capsys.readouterr().err
    assert cli.main([model, "--check", "--free-dim", "sequence=4"]) == cli.EXIT_USAGE
    assert "declares no dim 'sequence' (named dims: batch, seq)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.parse_args([model, "--check", "--input-shape", "ids=1xfour"])
    assert info.value.code == cli.EXIT_USAGE


def scaled_model(path):
    """y = x * Cast(rate): a float input and an int64 scalar (a sample rate)."""
    nodes = [helper.make_node("Cast", ["rate"], ["r"], to=TensorProto.FLOAT), helper.make_node("Mul", ["x", "r"], ["y"])]
    return save_model(path, nodes, [("x", TensorProto.FLOAT, ["?"]), ("rate", TensorProto.INT64, [])],
                      [("y", TensorProto.FLOAT, ["?"])])


def test_inputs_from_npy_files_and_values(tmp_path, capsys):
    model = scaled_model(tmp_path / "s.onnx")
    x = np.arange(5, dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    assert cli.main([model, "--check", "--input", f"x={tmp_path / 'x.npy'}", "--input", "rate=16000"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "inputs: x float32[5], rate int64[]" in out
    assert "y: shape (5,)" in out and "reference max |value| 6.4e+04" in out
    np.save(tmp_path / "x64.npy", x.astype(np.float64))   # the model declares float32
    assert cli.main([model, "--check", "--input", f"x={tmp_path / 'x64.npy'}"]) == cli.EXIT_USAGE
    assert "the file holds float64, the model declares float32" in capsys.readouterr().err
    assert cli.main([model, "--check", "--input", "rate=fast"]) == cli.EXIT_USAGE
    assert "--input rate=fast: not a int64 value" in capsys.readouterr().err


def int_div_model(path):
    i32 = TensorProto.INT32
    return save_model(path, [helper.make_node("Div", ["a", "b"], ["y"])], [("a", i32, [4]), ("b", i32, [4])],
                      [("y", i32, [4])])


def test_default_integers_are_safe_divisors(tmp_path, capsys):
    # Integers default to [1, 2]: an integer Div by an input runs (0 would kill ONNX Runtime).
    assert cli.main([int_div_model(tmp_path / "d.onnx"), "--check"]) == cli.EXIT_OK


def test_onnx_runtime_crash_is_reported_not_fatal(tmp_path, capsys):
    # ONNX Runtime 1.19.2's CPU Div on int32 dies of SIGFPE on a zero divisor: really, in its child.
    code = cli.main([int_div_model(tmp_path / "d.onnx"), "--check", "--input", "b=0"])
    assert code == cli.EXIT_REFERENCE_CRASHED
    err = capsys.readouterr().err
    assert "ONNX Runtime crashed (signal 8, SIGFPE)" in err


def test_onnx_runtime_refusal_is_reported(tmp_path, capsys):
    model = embedding_model(tmp_path / "e.onnx")
    assert cli.main([model, "--check", "--input", "ids=30"]) == cli.EXIT_CHECK_FAILED   # 30 rows: 0-29
    assert "ONNX Runtime cannot run the model" in capsys.readouterr().err


def test_help_states_the_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for fact in ("integers uniform in [1, 2]", "[0, 1] for inputs named like a mask", "224 x 224",
                 "any other open dim is 16", "ONNX Runtime crashed (signal N)", "8 ONNX Runtime crashed"):
        assert fact in text, fact


def test_console_script_is_the_cli(monkeypatch):
    # pyproject's [project.scripts]: onnx2oneflow -> converter.cli:run, which `python -m converter` runs too.
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    assert re.search(r'^\[project\.scripts\]\nonnx2oneflow = "converter\.cli:run"', text, re.M)
    assert "from .cli import run" in open(os.path.join(ROOT, "converter", "__main__.py")).read()
    monkeypatch.setattr(sys, "argv", ["onnx2oneflow", "--help"])
    with pytest.raises(SystemExit) as info:
        cli.run()
    assert info.value.code == 0
