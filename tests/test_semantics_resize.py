"""Resize semantics (issue 9), against ONNX Runtime unless a test says why not.

Coordinates use the integer output length (spec text, ORT, PyTorch; ONNX's Python reference
uses the fractional ``scale * input`` and so do the expected outputs of two onnx backend cases,
test_resize_downsample_scales_{linear,cubic}_align_corners, which we therefore no longer match);
output lengths are floor(float32(input) * float32(scale)); coordinate arithmetic is float32."""
from __future__ import annotations

import numpy as np
import pytest
from onnx.reference import ReferenceEvaluator

from semantics_check import assert_outputs, check_against_ort, node_model, run_converted, run_ort

COORDS = ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
          "tf_crop_and_resize"]
NEAREST = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
rng = np.random.default_rng(11)


def f32(*v):
    return np.array(v, np.float32)


def image(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def roi_for(coord, rank=4):
    if coord != "tf_crop_and_resize":
        return None
    return f32(*([0] * (rank - 2) + [0.1, 0.25] + [1] * (rank - 2) + [0.8, 0.9]))


SCALES = {"down_0.5": (7, f32(1, 1, 0.5, 0.5)), "up_2.3": (10, f32(1, 1, 2.3, 2.3)),
          "down_0.15_to_1": (7, f32(1, 1, 0.15, 0.15)), "mixed": (7, f32(1, 1, 1.7, 0.6))}


@pytest.mark.parametrize("scales", SCALES, ids=str)
@pytest.mark.parametrize("coord", COORDS)
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_scales_every_coordinate_mode(mode, coord, scales):
    n, s = SCALES[scales]
    check_against_ort("Resize", {"x": image(1, 2, n, n)}, consts={"roi": roi_for(coord), "scales": s},
                      opset=19, mode=mode, coordinate_transformation_mode=coord, rtol=1e-4, atol=1e-5)


def test_output_length_is_the_float32_product():
    # 10 * 2.3f is 22.99999952 in float64 but 23.0 in float32: ORT and shape inference say 23.
    out = check_against_ort("Resize", {"x": image(1, 1, 10, 10)}, consts={"roi": None, "scales": f32(1, 1, 2.3, 2.3)},
                            opset=13, mode="nearest")
    assert out[0].shape == (1, 1, 23, 23)


@pytest.mark.parametrize("nearest_mode", NEAREST)
@pytest.mark.parametrize("coord", COORDS)
def test_nearest_modes_with_sizes(coord, nearest_mode):
    check_against_ort("Resize", {"x": image(1, 1, 7, 9)},
                      consts={"roi": roi_for(coord), "scales": None, "sizes": np.array([1, 1, 16, 4], np.int64)},
                      opset=19, mode="nearest", coordinate_transformation_mode=coord, nearest_mode=nearest_mode)


@pytest.mark.parametrize("coord", ["pytorch_half_pixel", "align_corners", "tf_crop_and_resize", "half_pixel"])
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_output_length_one(mode, coord):
    # pytorch_half_pixel samples coordinate 0 (spec, ORT); align_corners 0; tf_crop_and_resize the roi centre.
    check_against_ort("Resize", {"x": image(1, 1, 6, 5)},
                      consts={"roi": roi_for(coord), "scales": None, "sizes": np.array([1, 1, 1, 3], np.int64)},
                      opset=19, mode=mode, coordinate_transformation_mode=coord, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("exclude_outside", [0, 1])
@pytest.mark.parametrize("a", [-0.75, -0.5])
@pytest.mark.parametrize("coord", ["half_pixel", "align_corners", "asymmetric"])
def test_cubic_coefficients_and_exclude_outside(coord, a, exclude_outside):
    check_against_ort("Resize", {"x": image(1, 1, 6, 7)}, consts={"roi": None, "scales": f32(1, 1, 1.6, 0.7)},
                      opset=19, mode="cubic", coordinate_transformation_mode=coord, cubic_coeff_a=a,
                      exclude_outside=exclude_outside, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("scales", [f32(0.6, 0.45), f32(1.5, 0.3)], ids=["down", "mixed"])
@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_antialias(mode, scales):
    check_against_ort("Resize", {"x": image(1, 2, 9, 11)}, consts={"roi": None, "scales": scales},
                      opset=18, mode=mode, antialias=1, axes=[2, 3], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
@pytest.mark.parametrize("axes", [[2, 3], [3, 2], [-1, -2]], ids=str)
def test_axes_and_keep_aspect_ratio_policy(axes, policy):
    # 5/6 * 9 is 7.5 in float32 (ORT rounds it up to 8), 7.4999999 in float64.
    x = image(1, 3, 6, 9)
    consts = {"roi": None, "scales": None, "sizes": np.array([5, 13], np.int64)}
    attrs = dict(opset=18, mode="linear", keep_aspect_ratio_policy=policy)
    model = node_model("Resize", {"x": x}, consts=consts, axes=axes, **attrs)
    # ORT 1.19 crashes (SIGSEGV) on negative axes: its reference is the same node with them normalised.
    reference = node_model("Resize", {"x": x}, consts=consts, axes=[a % 4 for a in axes], **attrs)
    assert_outputs(run_converted(model, {"x": x}), run_ort(reference, {"x": x}), rtol=1e-4, atol=1e-5)


def test_tf_crop_and_resize_roi_on_an_unresized_axis_follows_the_spec():
    # ORT skips an axis whose scale is 1 even when its roi crops it; the spec and ONNX's
    # reference crop and resample it. We follow the spec: compare with the reference.
    x = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
    model = node_model("Resize", {"x": x}, consts={"roi": f32(0, 0, 0.5, 0, 1, 1, 1, 1), "scales": f32(1, 1, 1, 2)},
                       opset=19, mode="linear", coordinate_transformation_mode="tf_crop_and_resize")
    expected = ReferenceEvaluator(model).run(None, {"x": x})
    assert_outputs(run_converted(model, {"x": x}), expected)
    assert expected[0][0, 0, 0, 0] == 4.0   # row 0 samples input row 1 (roi start 0.5 of 2)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float16], ids=lambda d: np.dtype(d).name)
def test_nearest_keeps_the_dtype(dtype):
    x = rng.integers(0, 100, (1, 1, 5, 5)).astype(dtype)
    check_against_ort("Resize", {"x": x}, consts={"roi": None, "scales": f32(1, 1, 2.3, 0.7)},
                      opset=13, mode="nearest", rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsample_legacy(mode):
    check_against_ort("Upsample", {"x": image(1, 1, 3, 4)}, consts={"scales": f32(1, 1, 2.3, 1.5)},
                      opset=9, mode=mode)


# Integer linear Resize truncates ORT's float32 result (the spec does not say how integers
# round); on 4-D H/W the float32 arithmetic is ORT's bilinear kernel's, so no value lands an
# ulp apart and truncates one lower (x uint8 below: the exact value 3 is 2.99999... in float64).
def test_integer_linear_matches_ort_exactly_case_f9():
    x = np.array([[[[2, 2, 2], [5, 1, 2], [0, 2, 5]]], [[[3, 2, 5], [3, 5, 0], [2, 5, 4]]]], np.uint8)
    out = check_against_ort("Resize", {"x": x}, consts={"roi": None, "scales": f32(1, 1, 0.6, 0.6)},
                            opset=14, mode="linear", rtol=0, atol=0)
    assert out[0].ravel().tolist() == [2, 3]


def test_integer_linear_under_nn_graph_keeps_ort_float32_steps():
    # The exact value 4 (5 + (2 - 5) / 3) is just above 4 in ORT's float32 steps and truncates to
    # 4; nn.Graph fused the steps, landed just below and gave 3 (graph-mode property family).
    import converter

    x = np.array([[[[2, 3, 4, 5], [0, 0, 4, 5], [1, 1, 5, 2]]]], np.uint8)
    model = node_model("Resize", {"x": x}, consts={"roi": f32(), "scales": f32(1, 1, 3, 1)}, opset=11,
                       mode="linear", coordinate_transformation_mode="half_pixel")
    expected = run_ort(model, {"x": x})
    assert expected[0][0, 0, 5, 3] == 4
    assert_outputs([converter.convert(model, graph=True)(x).numpy()], expected, rtol=0, atol=0)
    assert_outputs(run_converted(model, {"x": x}), expected, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("coord", ["half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel"])
@pytest.mark.parametrize("scales", [(1, 1, 0.6, 2.3), (1, 1, 1.7, 0.7), (1, 1, 1, 2.7)], ids=str)
def test_integer_linear_4d(dtype, coord, scales):
    lo, hi = (0, 255) if dtype == np.uint8 else (-128, 127) if dtype == np.int8 else (-1000, 1000)
    x = rng.integers(lo, hi, (2, 3, 5, 6)).astype(dtype)
    check_against_ort("Resize", {"x": x}, consts={"roi": None, "scales": f32(*scales)}, opset=13, mode="linear",
                      coordinate_transformation_mode=coord, rtol=0, atol=0)


def test_integer_linear_3d_truncates_a_float32_result():
    # Its own generator: drawn from the module's shared one, the data depended on which tests
    # ran before it on the same xdist worker, and one draw of 2026-12-08 (fresh-clone run) came
    # out 1 below ORT at one cell — an open finding of the 3-D integer path (not the 4-D
    # bilinear one), recorded in the closing note of that day.
    x = np.random.default_rng(7).integers(0, 255, (1, 2, 7)).astype(np.uint8)
    check_against_ort("Resize", {"x": x}, consts={"roi": None, "scales": f32(1, 1, 1.7)}, opset=13, mode="linear",
                      rtol=0, atol=0)


@pytest.mark.xfail(strict=True, reason="open finding (2026-12-08): the 3-D integer linear path lands 1 below ORT at "
                                       "one cell for this input (1 of 60 random draws); ORT's float32 steps for "
                                       "non-4-D integer input are not yet repeated exactly")
def test_integer_linear_3d_matches_ort_on_a_draw_that_lands_on_an_integer():
    x = np.random.default_rng(13).integers(0, 255, (1, 2, 7)).astype(np.uint8)
    check_against_ort("Resize", {"x": x}, consts={"roi": None, "scales": f32(1, 1, 1.7)}, opset=13, mode="linear",
                      rtol=0, atol=0)
