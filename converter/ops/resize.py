"""Resize and Upsample, every mode, as separable per-axis resampling in OneFlow.

OneFlow's interpolate covers only a few of ONNX's coordinate/rounding combinations, so each
resized axis is resampled on its own: nearest modes gather source indices (exact for every
dtype); linear and cubic (antialias, exclude_outside, cubic_coeff_a) multiply by a
(out x in) weight matrix. Axes are processed innermost first, which is exactly how ONNX's
reference nests its one-dimensional interpolations, including tf_crop_and_resize's
extrapolation value. Index and weight tables are computed in numpy from static sizes and
cached; the data only ever flows through OneFlow ops.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import oneflow as flow

from ..registry import register
from ._util import INT_DTYPES, require


@dataclass(frozen=True)
class ResizeMode:
    mode: str = "nearest"                       # nearest | linear | cubic
    coordinate: str = "half_pixel"
    nearest_mode: str = "round_prefer_floor"
    cubic_a: float = -0.75
    exclude_outside: bool = False
    antialias: bool = False
    extrapolation: float = 0.0
    aspect_policy: str = "stretch"


def _source_coordinate(x, in_n, out_m, scale, cmode, roi):
    """Where output cell ``x`` samples the input (ONNX coordinate_transformation_mode).

    ``out_m`` is the integer output length, as in the spec text, ONNX Runtime and PyTorch
    (ONNX's Python reference uses the fractional ``scale * in_n`` for align_corners,
    pytorch_half_pixel and tf_crop_and_resize: we do not follow it there). The arithmetic
    is float32's, as ONNX Runtime's: a nearest cell that lands on .5 in float32 but not in
    float64 (10 x 2.3f, half_pixel) then rounds the same way."""
    f = np.float32   # numpy < 2 promotes float32 scalars with Python numbers to float64: wrap all
    x, n, m, scale = f(x), f(in_n), f(out_m), f(scale)
    one, half = f(1), f(0.5)
    if cmode == "align_corners":
        pos = f(0) if out_m == 1 else x * (n - one) / (m - one)
    elif cmode == "asymmetric":
        pos = x / scale
    elif cmode == "tf_crop_and_resize":
        start, end = f(roi[0]) * (n - one), f(roi[1]) * (n - one)   # in input cells, as ORT
        pos = half * (start + end) if out_m == 1 else start + x * (end - start) / (m - one)
    elif cmode == "pytorch_half_pixel":
        pos = (x + half) / scale - half if out_m > 1 else f(0)
    elif cmode == "half_pixel":
        pos = (x + half) / scale - half
    elif cmode == "half_pixel_symmetric":
        offset = n * half * (one - m / (scale * n))    # output_width_int / output_width
        pos = offset + (x + half) / scale - half
    else:
        raise ValueError(f"coordinate_transformation_mode {cmode!r}")
    return float(pos)


def scaled_length(in_n: int, scale) -> int:
    """floor(input * scale) in float32, as ONNX Runtime and onnx shape inference compute it
    (float64 would give 22 for 10 x 2.3f, they give 23). The roi does not shrink it: the
    spec text's ``floor(input * (roi_end - roi_start) * scale)`` is followed by neither
    ORT nor ONNX's reference nor shape inference, so a model's declared shape agrees with this."""
    return int(np.floor(np.float32(in_n) * np.float32(scale)))


def _nearest_index(pos, nearest_mode):
    if float(pos).is_integer():
        return int(pos)
    lo = math.floor(pos)
    frac = pos - lo
    up = {"round_prefer_floor": frac > 0.5, "round_prefer_ceil": frac >= 0.5,
          "floor": False, "ceil": True}[nearest_mode]
    return lo + int(up)


def _cubic(t, a):
    t = abs(t)
    if t <= 1:
        return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
    if t < 2:
        return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
    return 0.0


def _taps(ratio, scale, spec: ResizeMode):
    """(offsets from the base cell, coefficients) of one output sample."""
    if spec.mode == "linear":
        if not spec.antialias:
            return [0, 1], [1 - ratio, ratio]
        s = min(scale, 1.0)
        start = math.floor(-1 / s) + 1
        offsets = list(range(start, 2 - start))
        coeffs = [max(0.0, 1 - abs((o - ratio) * s)) for o in offsets]
    else:
        if not spec.antialias:
            offsets = [-1, 0, 1, 2]
            coeffs = [_cubic(o - ratio, spec.cubic_a) for o in offsets]
            return offsets, coeffs
        s = min(scale, 1.0)
        start = math.floor(-2 / s) + 1
        offsets = list(range(start, 2 - start))
        coeffs = [_cubic(s * (o - ratio), spec.cubic_a) for o in offsets]
    total = sum(coeffs)
    return offsets, [c / total for c in coeffs]


@functools.lru_cache(maxsize=256)
def axis_table(in_n: int, out_m: int, scale: float, spec: ResizeMode, roi: tuple):
    """For one axis: nearest -> (indices, outside mask); linear/cubic -> (weights, mask)."""
    outside = np.zeros(out_m, dtype=bool)
    if spec.mode == "nearest":
        index = np.zeros(out_m, dtype=np.int64)
        for x in range(out_m):
            pos = _source_coordinate(x, in_n, out_m, scale, spec.coordinate, roi)
            if spec.coordinate == "tf_crop_and_resize" and not 0 <= pos <= in_n - 1:
                outside[x] = True
            index[x] = min(max(_nearest_index(pos, spec.nearest_mode), 0), in_n - 1)
        return index, outside
    weights = np.zeros((out_m, in_n), dtype=np.float64)
    for x in range(out_m):
        pos = _source_coordinate(x, in_n, out_m, scale, spec.coordinate, roi)
        if spec.coordinate == "tf_crop_and_resize" and not 0 <= pos <= in_n - 1:
            outside[x] = True
            continue
        base = math.ceil(pos) - 1            # ratio in (0, 1]: the left neighbour is preferred
        offsets, coeffs = _taps(pos - base, scale, spec)
        cells = [base + o for o in offsets]
        # ONNX's reference reads from an edge-padded copy and picks the nearest cells there,
        # so a window running past that padding slides back inside it.
        pad = math.ceil(len(cells) / 2)
        shift = max(0, -pad - cells[0]) - max(0, cells[-1] - (in_n - 1 + pad))
        cells = [c + shift for c in cells]
        if spec.exclude_outside:
            coeffs = [c if 0 <= i < in_n else 0.0 for c, i in zip(coeffs, cells)]
            total = sum(coeffs)
            coeffs = [c / total for c in coeffs]
        for c, i in zip(coeffs, cells):
            weights[x, min(max(i, 0), in_n - 1)] += c
    return weights, outside


def _resample_axis(x, axis, table, outside, spec):
    out_m = len(outside)
    if out_m == 0 or x.numel() == 0:
        # Nothing to compute, and OneFlow's matmul aborts the process on an empty operand
        # (F1): the empty result directly, as ONNX Runtime. Resampling an empty axis to a
        # non-empty one has no source cell.
        if x.shape[axis] == 0 and out_m:
            raise ValueError(f"axis {axis} of length 0 cannot be resized to {out_m}")
        shape = list(x.shape)
        shape[axis] = out_m
        return flow.zeros(shape, dtype=x.dtype, device=x.device)
    if spec.mode == "nearest":
        # OneFlow 0.9 has no uint8 gather kernel: gather its exact int32 copy.
        source = x.to(flow.int32) if x.dtype == flow.uint8 else x
        y = flow.index_select(source, axis, flow.tensor(table, device=x.device)).to(x.dtype)
    else:
        moved = flow.movedim(x, axis, -1)
        w = flow.tensor(table.T, dtype=x.dtype, device=x.device)
        y = flow.movedim(flow.matmul(moved, w), -1, axis)
    if outside.any():
        shape = [1] * y.ndim
        shape[axis] = out_m
        mask = flow.tensor(outside.reshape(shape), device=x.device)
        y = flow.where(mask, flow.full_like(y, spec.extrapolation), y)
    return y


def resize_geometry(in_shape, spec: ResizeMode, scales=None, sizes=None, roi=None, axes=None):
    """(resized axes, per-axis scale factor, output shape, per-axis (roi start, roi end))."""
    rank = len(in_shape)
    axes = [a % rank for a in axes] if axes else list(range(rank))
    in_shape = list(in_shape)
    full_roi = [(0.0, 1.0)] * rank
    if roi:
        k = len(axes)
        for i, a in enumerate(axes):
            full_roi[a] = (float(roi[i]), float(roi[k + i]))
    factor = [1.0] * rank
    out_shape = list(in_shape)
    if sizes is not None:
        for a, s in zip(axes, sizes):
            factor[a] = float(np.float32(s) / np.float32(in_shape[a]))   # float32, as ORT
            out_shape[a] = int(s)
        if spec.aspect_policy != "stretch":
            pick = min if spec.aspect_policy == "not_larger" else max
            common = np.float32(pick(factor[a] for a in axes))
            for a in axes:   # round half up of the float32 product (ORT: 5/6 * 9 -> 7.5 -> 8)
                factor[a] = float(common)
                out_shape[a] = math.floor(float(common * np.float32(in_shape[a])) + 0.5)
    else:
        for a, s in zip(axes, scales):
            factor[a] = float(s)
            out_shape[a] = scaled_length(in_shape[a], s)
    return axes, factor, out_shape, full_roi


def resize_plan(in_shape, spec: ResizeMode, scales=None, sizes=None, roi=None, axes=None) -> list:
    """[(axis, table, outside mask)] to apply in order, innermost axis first (as the reference
    nests); identity axes are left out. Static: codegen bakes the same tables into buffers."""
    in_shape = list(in_shape)
    axes, factor, out_shape, full_roi = resize_geometry(in_shape, spec, scales, sizes, roi, axes)
    plan = []
    for a in sorted(axes, reverse=True):
        if factor[a] == 1.0 and out_shape[a] == in_shape[a] and full_roi[a] == (0.0, 1.0) \
                and spec.coordinate != "tf_crop_and_resize":
            continue   # an identity axis in every mode
        table, outside = axis_table(in_shape[a], out_shape[a], factor[a], spec, tuple(full_roi[a]))
        plan.append((a, table, outside))
    return plan


def resize_compute_dtype(dtype):
    """linear/cubic weigh integers and float16 in float32 (integers: as ONNX Runtime, whose
    float32 sums then truncate; the spec does not say how integers round)."""
    return flow.float32 if dtype in INT_DTYPES or dtype == flow.float16 else dtype


@functools.lru_cache(maxsize=256)
def _ort_bilinear_axis(in_n: int, out_m: int, scale: float, spec: ResizeMode):
    """ONNX Runtime's bilinear table for one axis: (first cell, second cell, weight of the
    second, weight of the first), float32 as it computes them (|pos - cell| each)."""
    f = np.float32
    cells1, cells2, w1, w2 = [], [], [], []
    for x in range(out_m):
        pos = f(_source_coordinate(x, in_n, out_m, scale, spec.coordinate, (0.0, 1.0)))
        pos = max(f(0), min(pos, f(in_n - 1)))
        c1 = min(int(pos), in_n - 1)
        c2 = min(c1 + 1, in_n - 1)
        d1, d2 = (f(0.5), f(0.5)) if c1 == c2 else (abs(pos - f(c1)), abs(pos - f(c2)))
        cells1.append(c1), cells2.append(c2), w1.append(d1), w2.append(d2)
    return np.array(cells1), np.array(cells2), np.array(w1, f), np.array(w2, f)


def _integer_bilinear(x, out_shape, factor, spec):
    """Integer linear Resize of the last two axes of a 4-D tensor as ONNX Runtime's bilinear
    kernel computes it: four float32 coefficient products, summed in its order, truncated
    toward zero (static_cast). The spec says nothing about integer rounding; the exact value
    truncated differs from ORT where float32 lands just below an integer."""
    (h, w), (oh, ow) = x.shape[2:], out_shape[2:]
    y1, y2, dy1, dy2 = _ort_bilinear_axis(h, oh, factor[2], spec)
    x1, x2, dx1, dx2 = _ort_bilinear_axis(w, ow, factor[3], spec)
    # Each float32 step is computed in float64 and rounded to float32 explicitly: the same
    # values as float32 arithmetic (a product of two float32s is exact in float64), but no
    # nn.Graph pass can fuse the multiply-adds or reorder the sum, which moved a value that
    # lands just below an integer across it (found by the graph-mode property family).
    xf = x.to(flow.float32).to(flow.float64)

    def f32(t):
        return t.to(flow.float32).to(flow.float64)

    def corner(rows, cols):
        picked = flow.index_select(xf, 2, flow.tensor(rows, device=x.device))
        return flow.index_select(picked, 3, flow.tensor(cols, device=x.device))

    def term(a, b, rows, cols):
        weight = flow.tensor((b[:, None] * a[None, :]).astype(np.float32).astype(np.float64), device=x.device)
        return f32(weight * corner(rows, cols))

    out = f32(term(dx2, dy2, y1, x1) + term(dx1, dy2, y1, x2))
    out = f32(out + term(dx2, dy1, y2, x1))
    out = f32(out + term(dx1, dy1, y2, x2))
    return flow.trunc(out).to(x.dtype)


def _ort_bilinear_case(x, spec, axes, factor, out_shape) -> bool:
    """ONNX Runtime takes its 2-D bilinear kernel: integer 4-D input, linear, N and C kept."""
    return (x.dtype in INT_DTYPES and spec.mode == "linear" and not spec.antialias and x.ndim == 4
            and spec.coordinate != "tf_crop_and_resize" and factor[:2] == [1.0, 1.0]
            and list(out_shape[:2]) == list(x.shape[:2]) and min(out_shape) > 0)


def resize(x, spec: ResizeMode, scales=None, sizes=None, roi=None, axes=None):
    """Resize ``x`` (a OneFlow tensor) as ONNX Resize does; scales/sizes/roi are lists."""
    dtype = x.dtype
    geometry = resize_geometry(list(x.shape), spec, scales, sizes, roi, axes)
    if _ort_bilinear_case(x, spec, *geometry[:3]):
        return _integer_bilinear(x, geometry[2], geometry[1], spec)
    if spec.mode != "nearest":
        x = x.to(resize_compute_dtype(dtype))
    for axis, table, outside in resize_plan(list(x.shape), spec, scales, sizes, roi, axes):
        x = _resample_axis(x, axis, table, outside, spec)
    return x.to(dtype)


def resize_spec(ctx) -> ResizeMode:
    """The node's ResizeMode (Resize-10 and Upsample: asymmetric, nearest rounds down)."""
    mode = {"bilinear": "linear"}.get(ctx.attr("mode", "nearest"), ctx.attr("mode", "nearest"))
    if ctx.op_type == "Upsample" or ctx.version == 10:
        return ResizeMode(mode=mode, coordinate="asymmetric", nearest_mode="floor")
    return ResizeMode(
        mode=mode,
        coordinate=ctx.attr("coordinate_transformation_mode", "half_pixel"),
        nearest_mode=ctx.attr("nearest_mode", "round_prefer_floor"),
        cubic_a=ctx.attr("cubic_coeff_a", -0.75),
        exclude_outside=bool(ctx.attr("exclude_outside", 0)),
        antialias=bool(ctx.attr("antialias", 0)) and mode != "nearest",
        extrapolation=ctx.attr("extrapolation_value", 0.0),
        aspect_policy=ctx.attr("keep_aspect_ratio_policy", "stretch"),
    )


def _values(t):
    if t is None:
        return None
    arr = t.numpy() if isinstance(t, flow.Tensor) else np.asarray(t)
    return arr.reshape(-1).tolist()


def _resize_check(ctx):
    mode = ctx.attr("mode", "nearest")
    if mode not in ("nearest", "linear", "cubic"):
        return f"mode={mode!r}"
    if ctx.attr("coordinate_transformation_mode") == "tf_half_pixel_for_nn":
        return "coordinate_transformation_mode='tf_half_pixel_for_nn'"
    return None


_RESIZE_NOTES = (
    "coordinates use the integer output length (spec text, ORT, PyTorch; ONNX's Python reference "
    "uses the fractional one, so test_resize_downsample_scales_{linear,cubic}_align_corners, made by it, "
    "differ); output length floor(float32 in x float32 scale) and float32 coordinates as ORT "
    "(the roi does not shrink the length: ORT and shape inference, not the spec text); "
    "tf_crop_and_resize crops an axis whose scale is 1 (spec, reference; ORT skips it); "
    "integer linear/cubic computes in float32 and truncates toward zero, as ORT (the spec does not say "
    "how integers round); 4-D integer linear on H/W repeats ORT's bilinear float32 arithmetic exactly; "
    "an output axis of length 0 gives the empty tensor; "
    "tf_half_pixel_for_nn unsupported")


@register("Resize", 10, 11, 13, 18, 19, check=_resize_check, notes=_RESIZE_NOTES)
def resize_op(ctx):
    require(ctx, _resize_check)
    spec = resize_spec(ctx)
    static = _claim_values(ctx, 1, 2, 3)
    if ctx.version == 10:
        return lambda x, scales=None: resize(x, spec, scales=static.get(1) or _values(scales))
    axes = ctx.attr("axes")

    def run(x, roi=None, scales=None, sizes=None):
        roi_v, scales_v, sizes_v = (static[i] if i in static else _values(t)
                                    for i, t in ((1, roi), (2, scales), (3, sizes)))
        if sizes_v:
            return resize(x, spec, sizes=sizes_v, roi=roi_v, axes=axes)
        return resize(x, spec, scales=scales_v, roi=roi_v, axes=axes)

    return run


def _claim_values(ctx, *indices) -> dict:
    """Input index -> value list of the constant inputs among ``indices``, claimed: read once at
    build time, so a call reads nothing back to the host (nn.Graph can trace it)."""
    found = {i: _values(ctx.const(i)) for i in indices if ctx.is_const(i)}
    ctx.claim(*found)
    return found


def _upsample_mode(ctx):
    mode = ctx.attr("mode", "nearest")
    return {"bilinear": "linear"}.get(mode, mode)


def _upsample_check(ctx):
    return None if _upsample_mode(ctx) in ("nearest", "linear") else f"mode={ctx.attr('mode')!r}"


@register("Upsample", 1, 7, 9, 10, check=_upsample_check,
          notes="output length floor(float32 in x float32 scale), as ORT")
def upsample(ctx):
    require(ctx, _upsample_check)
    spec = resize_spec(ctx)
    if ctx.version == 1:
        scales = [1.0, 1.0, ctx.attr("height_scale"), ctx.attr("width_scale")]
        return lambda x: resize(x, spec, scales=scales)
    if ctx.version == 7:
        scales = list(ctx.attr("scales"))
        return lambda x: resize(x, spec, scales=scales)
    static = _claim_values(ctx, 1)
    return lambda x, scales=None: resize(x, spec, scales=static.get(1) or _values(scales))
