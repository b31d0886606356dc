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


def assert_refused_at_conversion(example, isolated_converter, kind, message):
    ref, (stage, got_kind, got) = _both(example, isolated_converter)
    assert ref.kind == "refused", ref.outputs
    assert (stage, got_kind) == ("convert", kind), f"{stage} {got_kind}: {got}"
    assert message in got


# resize (F1): linear Resize to an output axis of length 0 aborted the process inside
# OneFlow's matmul; ORT returns the empty tensor.
def test_resize_linear_to_an_empty_axis(isolated_converter):
    ex = Example(13, [node("Resize", ["x", "", "scales"], mode="linear")], {"x": np.ones((2, 2, 2, 1), np.float32)},
                 {"scales": np.array([1, 1, 0.6, 0.6], np.float32)})
    assert_matches_ort(ex, isolated_converter)


def test_resize_cubic_to_an_empty_axis(isolated_converter):
    ex = Example(19, [node("Resize", ["x", "", "scales"], mode="cubic")], {"x": np.ones((1, 1, 2, 3), np.float32)},
                 {"scales": np.array([1, 1, 1, 0.3], np.float32)})
    assert_matches_ort(ex, isolated_converter)


# conv_pool (F6): a pool window longer than the padded input. An output length of 0 gives
# the empty tensor as ORT (AveragePool aborted the process); a negative one is refused
# (MaxPool raised an untyped ValueError from numpy).
def test_average_pool_window_longer_than_padded_input_is_empty(isolated_converter):
    ex = Example(20, [node("AveragePool", ["x"], kernel_shape=[3], pads=[0, 1], ceil_mode=1)],
                 {"x": np.ones((1, 2, 1), np.float32)})
    assert_matches_ort(ex, isolated_converter)


def test_max_pool_dilated_window_longer_than_input_is_refused(isolated_converter):
    ex = Example(12, [node("MaxPool", ["x"], kernel_shape=[3, 1], auto_pad="VALID", dilations=[2, 2])],
                 {"x": np.ones((1, 1, 2, 4), np.float64)})
    assert_both_refuse(ex, isolated_converter, "shorter than the dilated kernel")


def test_lp_pool_window_longer_than_input_is_refused(isolated_converter):
    ex = Example(18, [node("LpPool", ["x"], kernel_shape=[4])], {"x": np.ones((1, 1, 2), np.float32)})
    assert_both_refuse(ex, isolated_converter, "shorter than the dilated kernel")


# F3: an input type outside the op's schema at the model's opset; ORT refuses the graph.
def test_pad_12_on_bool_is_refused(isolated_converter):
    ex = Example(12, [node("Pad", ["x", "pads"], mode="constant")], {"x": np.array([False, True, True, False])},
                 {"pads": np.array([1, 1], np.int64)})
    assert_refused_at_conversion(ex, isolated_converter, "InvalidModelError", "tensor(bool)")


def test_max_pool_11_on_uint8_is_refused(isolated_converter):
    ex = Example(11, [node("MaxPool", ["x"], kernel_shape=[2, 2])], {"x": np.arange(16, dtype=np.uint8).reshape(1, 1, 4, 4)})
    assert_refused_at_conversion(ex, isolated_converter, "InvalidModelError", "tensor(uint8)")


def test_max_pool_12_on_uint8_is_converted(isolated_converter):
    ex = Example(12, [node("MaxPool", ["x"], kernel_shape=[2, 2])], {"x": np.arange(16, dtype=np.uint8).reshape(1, 1, 4, 4)})
    assert_matches_ort(ex, isolated_converter)


# selection: NonZero on a 0-d input gave shape (0, nnz); numpy.nonzero (the spec's model),
# ORT and onnx's reference count it as one element: (1, nnz).
def test_nonzero_of_a_scalar(isolated_converter):
    for v in (2.0, 0.0):
        ex = Example(13, [node("NonZero", ["x"])], {"x": np.asarray(v, dtype=np.float16)})
        assert_matches_ort(ex, isolated_converter)


# tensor_misc: integer Einsum returned int64 (OneFlow's sum promotes); the spec keeps T.
def test_einsum_int32_keeps_its_dtype(isolated_converter):
    ex = Example(14, [node("Einsum", ["x"], equation="ij->")], {"x": np.arange(3, dtype=np.int32).reshape(3, 1)})
    assert_matches_ort(ex, isolated_converter)


# recurrent: reverse/bidirectional RNN/GRU/LSTM with sequence_lens shorter than the input
# raised; each sequence is reversed within its own length (ORT).
def test_reverse_recurrence_with_short_sequences(isolated_converter):
    rng = np.random.default_rng(3)
    for op, gates in (("RNN", 1), ("GRU", 3), ("LSTM", 4)):
        for direction in ("reverse", "bidirectional"):
            d = 2 if direction == "bidirectional" else 1
            consts = {"w": rng.standard_normal((d, gates * 2, 2)).astype(np.float32),
                      "r": rng.standard_normal((d, gates * 2, 2)).astype(np.float32),
                      "b": rng.standard_normal((d, gates * 4)).astype(np.float32),
                      "lens": np.asarray([1, 3, 2], dtype=np.int32)}
            outs = ["y", "yh", "yc"][:3 if op == "LSTM" else 2]
            ex = Example(14, [node(op, ["x", "w", "r", "b", "lens"], outs, hidden_size=2, direction=direction)],
                         {"x": rng.standard_normal((3, 3, 2)).astype(np.float32)}, consts)
            assert_matches_ort(ex, isolated_converter)


# tensor_misc: integer Einsum with a dot product failed at run time (OneFlow has no integer
# dot/matmul kernel on CPU); now exact int64 products and sums, cast back.
def test_einsum_int64_dot(isolated_converter):
    ex = Example(19, [node("Einsum", ["a", "b"], equation="i,i->")],
                 {"a": np.asarray([3, -2, 5], np.int64), "b": np.asarray([4, 4, -1], np.int64)})
    assert_matches_ort(ex, isolated_converter)


def test_einsum_int32_batched_matmul_with_ellipsis(isolated_converter):
    rng = np.random.default_rng(0)
    ex = Example(13, [node("Einsum", ["a", "b"], equation="...ij,...jk->...ik")],
                 {"a": rng.integers(-5, 6, (2, 2, 3)).astype(np.int32), "b": rng.integers(-5, 6, (2, 3, 2)).astype(np.int32)})
    assert_matches_ort(ex, isolated_converter)


# selection: OneHot truncated float indices (3.25 -> class 3); ORT and onnx's reference
# match no class for a fractional index (all off_value).
def test_one_hot_fractional_float_index_is_all_off(isolated_converter):
    ex = Example(16, [node("OneHot", ["i", "depth", "values"])],
                 {"i": np.asarray([3.0, 3.25, -1.75, -2.0, 0.75], np.float32), "depth": np.asarray([5], np.float32)},
                 {"values": np.asarray([2.5, -1.0], np.float16)})
    assert_matches_ort(ex, isolated_converter)


# sampling_signal: AffineGrid align_corners=1 on a length-1 axis gave 0 (torch's rule);
# ONNX Runtime gives 1 (onnx's reference -1; the spec text is silent): we follow ORT.
def test_affine_grid_align_corners_on_a_length_one_axis(isolated_converter):
    theta = np.random.default_rng(0).uniform(-1, 1, (1, 3, 4)).astype(np.float32)
    for size in ([1, 1, 1, 1, 3], [1, 2, 3, 1, 2]):
        ex = Example(20, [node("AffineGrid", ["theta", "size"], align_corners=1)], {"theta": theta},
                     {"size": np.asarray(size, np.int64)})
        assert_matches_ort(ex, isolated_converter)


# tensor_misc: Dropout-10 (opsets 10-11) in inference gave a mask of True; ORT gives False
# (the spec text is silent there; versions >= 12 say True, and stay True).
def test_dropout_10_inference_mask(isolated_converter):
    for opset in (11, 12):
        ex = Example(opset, [node("Dropout", ["x"], ["y", "mask"])], {"x": np.ones((2, 3), np.float32)})
        assert_matches_ort(ex, isolated_converter)


# sampling_signal: Col2Im with asymmetric pads was declared unsupported (OneFlow's fold pads
# symmetrically); folding onto the padded image and cutting the pads off handles any pads.
def test_col2im_asymmetric_pads(isolated_converter):
    x = np.random.default_rng(0).standard_normal((1, 4, 18)).astype(np.float32)
    ex = Example(18, [node("Col2Im", ["x", "img", "blk"], dilations=[2, 1], pads=[0, 1, 1, 1], strides=[2, 1])],
                 {"x": x}, {"img": np.asarray([5, 5], np.int64), "blk": np.asarray([1, 2], np.int64)})
    assert_matches_ort(ex, isolated_converter)


# sampling_signal: GridSample reflection + align_corners=1 on an input axis of length 1 gave
# NaN (OneFlow's reflection divides by the axis' zero extent); every tap on that axis reads the
# one cell. ORT is not a safe reference there either: reflecting an out-of-range tap by a zero
# extent divides by zero. make test twice saw 16 NaN where the two differed, under load (which
# side was not recorded; 3,600 direct runs of each side gave none). The reference is ORT on the
# input with that axis doubled (two equal rows, extent 1), where every tap is defined and reads
# the same values.
def test_grid_sample_reflection_on_a_length_one_axis(isolated_converter):
    rng = np.random.default_rng(0)
    for mode in ("bilinear", "bicubic"):
        attrs = dict(mode=mode, padding_mode="reflection", align_corners=1)
        x = rng.standard_normal((2, 1, 1, 5)).astype(np.float32)
        grid = rng.uniform(-1.2, 1.2, (2, 4, 4, 2)).astype(np.float32)
        ex = Example(16, [node("GridSample", ["x", "grid"], **attrs)], {"x": x, "grid": grid})
        doubled = Example(16, [node("GridSample", ["x", "grid"], **attrs)],
                          {"x": np.concatenate([x, x], axis=2), "grid": grid})
        ref = run_ort(build_model(doubled), doubled.inputs)
        assert ref.kind == "ok" and np.isfinite(ref.outputs[0]).all(), ref.detail
        stage, kind, got = isolated_converter(build_model(ex), list(ex.inputs.values()))
        assert stage == "ok", f"{stage} {kind}: {got}"
        assert mismatch(got, ref.outputs) == ""


# misc_ops: MaxRoiPool rounded scaled ROI corners half to even (numpy: 0.5 -> 0); ORT rounds
# half away from zero (C round: 0.5 -> 1).
def test_max_roi_pool_rounds_halves_away_from_zero(isolated_converter):
    x = np.arange(24, dtype=np.float32).reshape(2, 1, 3, 4) * np.float32(0.5) - 3
    ex = Example(13, [node("MaxRoiPool", ["x", "rois"], pooled_shape=[1, 2], spatial_scale=0.5)], {"x": x},
                 {"rois": np.asarray([[1, 3, 1, 5, 1], [0, 1, 1, 3, 3]], np.float32)})
    assert_matches_ort(ex, isolated_converter)


# conv_pool: MaxPool's Indices output with pads OneFlow's layer cannot take (asymmetric,
# SAME_*) was declared unsupported; the -inf-padded input is pooled and positions mapped back.
def test_max_pool_indices_with_asymmetric_and_same_pads(isolated_converter):
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 4)).astype(np.float32)
    for attrs in (dict(kernel_shape=[3, 2], pads=[2, 0, 0, 1], strides=[2, 1], storage_order=1),
                  dict(kernel_shape=[2, 3], auto_pad="SAME_LOWER", strides=[2, 2])):
        ex = Example(13, [node("MaxPool", ["x"], ["y", "i"], **attrs)], {"x": x})
        assert_matches_ort(ex, isolated_converter)
