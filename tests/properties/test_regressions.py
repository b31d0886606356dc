"""Fixed small models for every bug the property tests found and that was fixed here
(each test names the family it came from). The converter runs in the isolated worker: a
regression that aborts the process fails the test instead of killing pytest."""
from __future__ import annotations

import numpy as np

from prop_oracle import Example, build_model, mismatch, run_ort
from prop_strategies import node


def _both(example, isolated_converter):
    model = build_model(example)
    assert model is not None
    return run_ort(model, example.inputs), isolated_converter(model, list(example.inputs.values()))


def assert_matches_ort(example, isolated_converter):
    ref, (stage, kind, got) = _both(example, isolated_converter)
    assert ref.kind == "ok", ref.detail
    assert stage == "ok", f"{stage} {kind}: {got}"
    assert mismatch(got, ref.outputs) == ""


def assert_both_refuse(example, isolated_converter, message):
    ref, (stage, kind, got) = _both(example, isolated_converter)
    assert ref.kind == "refused", ref.outputs
    assert (stage, kind) == ("run", "NodeExecutionError"), f"{stage} {kind}: {got}"
    assert message in got


# activation: Shrink on int32 failed at run time (OneFlow where() mixed int32 and float).
def test_shrink_int32(isolated_converter):
    ex = Example(13, [node("Shrink", ["x"], bias=0.5, lambd=1.0)], {"x": np.arange(-4, 5, dtype=np.int32)})
    assert_matches_ort(ex, isolated_converter)


def test_shrink_int64_default_attributes(isolated_converter):
    ex = Example(11, [node("Shrink", ["x"])], {"x": np.arange(-3, 4, dtype=np.int64).reshape(7, 1)})
    assert_matches_ort(ex, isolated_converter)


# conv_pool: a dilated kernel longer than the padded input aborted the process inside
# OneFlow's matmul (SIGABRT); ORT refuses it. Now a NodeExecutionError naming the axis.
def test_conv_window_longer_than_padded_input(isolated_converter):
    ex = Example(18, [node("Conv", ["x", "w"], pads=[2, 0, 1, 0, 0, 0], strides=[3, 1, 2], dilations=[1, 2, 2])],
                 {"x": np.ones((1, 2, 1, 1, 3), np.float32)}, {"w": np.ones((2, 2, 1, 1, 3), np.float32)})
    assert_both_refuse(ex, isolated_converter, "shorter than the dilated kernel")


def test_conv_window_check_on_runtime_weights(isolated_converter):
    ex = Example(13, [node("Conv", ["x", "w"])],
                 {"x": np.ones((1, 1, 2, 2), np.float32), "w": np.ones((1, 1, 3, 1), np.float32)})
    assert_both_refuse(ex, isolated_converter, "shorter than the dilated kernel")
