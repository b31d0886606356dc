"""Pooling: Max/Average/Lp, their global forms, MaxUnpool, MaxRoiPool.

OneFlow's pooling layers take symmetric pads no larger than half the kernel and no
dilation for averages. Everything else is made exact by padding explicitly first: ``-inf``
for max, and for sums a depthwise convolution with a ones kernel (which dilates freely)
divided by a convolved validity mask that implements count_include_pad.
"""
from __future__ import annotations

import math

import numpy as np
import oneflow as flow
import oneflow.nn.functional as F

from ..registry import register
from ._util import INT_DTYPES, check_windows, flow_pad_arg, require, spatial_pads

_MAXPOOL = {1: flow.nn.MaxPool1d, 2: flow.nn.MaxPool2d, 3: flow.nn.MaxPool3d}
_AVGPOOL = {1: flow.nn.AvgPool1d, 2: flow.nn.AvgPool2d, 3: flow.nn.AvgPool3d}
_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


_CEIL_NOTES = ("ceil_mode keeps a last window past the input up to opset 21 (output-shape formula, ORT, "
               "shape inference; ONNX's reference drops it for MaxPool){}; such a window gives {}; a window "
               "longer than the padded input gives the empty output where the formula's length is 0 and is "
               "refused where it is negative, as ORT")


class PoolGeometry:
    """kernel/strides/dilations/pads/ceil_mode of one pooling node, and the window layout."""

    def __init__(self, ctx, dilations=True, ceil=True):
        self.kernel = list(ctx.attr("kernel_shape"))
        self.nd = nd = len(self.kernel)
        self.stride = list(ctx.attr("strides") or [1] * nd)
        self.dilation = list((ctx.attr("dilations") if dilations else None) or [1] * nd)
        self.auto_pad = ctx.attr("auto_pad", "NOTSET")
        self.pads = list(ctx.attr("pads") or [0] * (2 * nd))
        self.ceil = bool(ctx.attr("ceil_mode", 0)) if ceil else False
        # Up to opset 21 the output-shape formula keeps a last ceil_mode window that starts in
        # the end padding or past the input (ONNX Runtime does too); MaxPool-22 and
        # AveragePool-22 drop it (their spec text; LpPool-22 says nothing, so keeps it).
        self.drop_padding_windows = ctx.version >= 22 and ctx.op_type in ("MaxPool", "AveragePool")

    @property
    def native_pads(self) -> bool:
        """OneFlow's own layer takes these pads (symmetric, at most half the kernel)."""
        n = self.nd
        return self.auto_pad in ("NOTSET", "VALID") and self.pads[:n] == self.pads[n:] \
            and all(2 * p <= k for p, k in zip(self.pads[:n], self.kernel))

    @property
    def native(self) -> bool:
        """OneFlow's own layer computes exactly this window layout (its ceil_mode drops a
        window starting in the end padding, as only version 22 does)."""
        return self.native_pads and (not self.ceil or self.drop_padding_windows)

    @property
    def padding(self) -> list:
        return self.pads[:self.nd] if self.auto_pad == "NOTSET" else [0] * self.nd

    def _lengths(self, in_size):
        """(begins, ends, output length per spatial axis) by ONNX's output-shape formula; a
        length below 1 means the window does not fit the padded input."""
        begins, ends = spatial_pads(self.auto_pad, self.pads, [0, 0] + list(in_size),
                                    self.kernel, self.stride, self.dilation)
        outs = []
        for n, k, s, d, b, e in zip(in_size, self.kernel, self.stride, self.dilation, begins, ends):
            span = (k - 1) * d + 1
            padded = n + b + e
            if self.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                # ceil(n / s) whatever ceil_mode says (spec, ORT): the pads are derived from it,
                # and clamped at 0 they would let the ceil formula add a window past the input
                out = math.ceil(n / s)
            elif self.ceil:
                out = math.ceil((padded - span) / s) + 1
                if self.drop_padding_windows and (out - 1) * s >= n + b:
                    out -= 1
            else:
                # ORT casts (padded - span) / s + 1 to an integer (toward zero): a window longer
                # than the padded input by at most a stride gives an empty axis (spec: negative)
                out = math.trunc((padded - span) / s + 1) if padded < span else (padded - span) // s + 1
            outs.append(out)
        return begins, ends, outs

    def explicit_pads(self, in_size):
        """(begins, ends, extra): pads, plus end cells that only ceil_mode windows reach."""
        begins, ends, outs = self._lengths(in_size)
        extra = [max(0, (out - 1) * s + (k - 1) * d + 1 - (n + b + e))
                 for n, k, s, d, b, e, out in zip(in_size, self.kernel, self.stride, self.dilation,
                                                  begins, ends, outs)]
        return begins, ends, extra

    def guard(self, run):
        """Wrap ``run(x)`` for a window longer than the padded input, which OneFlow's kernels
        abort the process on: an output length of 0 gives the empty output (as ONNX Runtime),
        a negative one a ValueError naming the axis (ONNX Runtime refuses it)."""
        def guarded(x):
            begins, ends, outs = self._lengths(list(x.shape[2:]))
            if min(outs, default=1) > 0:
                return run(x)
            if min(outs) < 0:
                check_windows(list(x.shape), begins, ends, self.kernel, self.dilation)
            return flow.zeros(list(x.shape[:2]) + [max(0, o) for o in outs], dtype=x.dtype, device=x.device)
        return guarded


def empty_window_mask(geo, in_size, begins, ends, extra, device):
    """Boolean (1, 1, *out) mask of windows that cover no input cell (ceil_mode windows past
    the input, kept up to opset 21), or None when there are none."""
    masks = []
    for n, k, s, d, b, e, x in zip(in_size, geo.kernel, geo.stride, geo.dilation, begins, ends, extra):
        out = (n + b + e + x - ((k - 1) * d + 1)) // s + 1
        masks.append(np.array([not any(b <= i * s + j * d < n + b for j in range(k)) for i in range(out)]))
    if not any(m.any() for m in masks):
        return None
    full = np.zeros([len(m) for m in masks], dtype=bool)
    for axis, m in enumerate(masks):
        full |= m.reshape([-1 if a == axis else 1 for a in range(len(masks))])
    return flow.tensor(full[None, None], device=device)


def _lowest(dtype):
    """The value ONNX Runtime gives a max over no input cell: the dtype's lowest finite value."""
    if dtype in INT_DTYPES:
        return float(np.iinfo(flow.tensor([], dtype=dtype).numpy().dtype).min)
    return float(np.finfo({flow.float16: np.float16, flow.float64: np.float64}.get(dtype, np.float32)).min)


def _exact_float(x):
    """Integer tensors pool in float64, which holds int8/uint8/int32 exactly (no int kernels),
    float16 in float32 (no CPU float16 max_pool kernel; the max is exact either way)."""
    if x.dtype == flow.float16:
        return x.to(flow.float32)
    return x.to(flow.float64) if x.dtype in INT_DTYPES else x


def _window_sum(x, geo, begins, ends, extra, pad_value=0.0):
    """Sum over every pooling window of ``x`` padded explicitly (depthwise ones-kernel conv)."""
    x = F.pad(x, flow_pad_arg(begins, [e + x_ for e, x_ in zip(ends, extra)]), value=pad_value)
    channels = x.shape[1]
    ones = flow.ones([channels, 1] + geo.kernel, dtype=x.dtype, device=x.device)
    return _CONV_FN[geo.nd](x, ones, None, stride=geo.stride, dilation=geo.dilation, groups=channels)


def _register_indices(ctx) -> bool:
    return len(ctx.outputs) > 1 and bool(ctx.outputs[1])


def _empty_window_index(idx, in_shape, storage_order):
    """ONNX Runtime's Indices entry for a window over no input cell (spec: undefined): its
    argmax coordinates stay at their initial -1 on every axis, flattened like any index
    (row-major, or column-major for storage_order=1), plus the plane's offset."""
    spatial = list(in_shape[2:])
    if storage_order and len(spatial) == 2:
        offset = -1 - spatial[0]
    else:
        offset = -sum(math.prod(spatial[axis + 1:]) for axis in range(len(spatial)))
    return _onnx_indices(flow.zeros_like(idx), in_shape, 0) + offset


def _onnx_indices(idx, in_shape, storage_order):
    """OneFlow's per-(n, c) flat spatial argmax index -> ONNX's index into the whole tensor."""
    n, c = in_shape[0], in_shape[1]
    spatial = list(in_shape[2:])
    plane = math.prod(spatial)
    base = (flow.arange(n * c, device=idx.device, dtype=flow.int64) * plane).reshape(
        [n, c] + [1] * len(spatial))
    if storage_order and len(spatial) == 2:   # column-major within each plane
        h, w = idx // spatial[1], idx % spatial[1]
        idx = w * spatial[0] + h
    return idx + base


def _unpadded_index(idx, padded, begins, size):
    """Flat spatial index into the padded plane -> flat index into the unpadded one."""
    flat = flow.zeros_like(idx)
    for axis in range(len(size)):
        stride = math.prod(padded[axis + 1:])
        coord = (idx // stride) % padded[axis] - begins[axis]
        flat = flat * size[axis] + coord
    return flat


def _max_pool_check(ctx):
    geo = PoolGeometry(ctx, dilations=ctx.version >= 10, ceil=ctx.version >= 10)
    if geo.nd not in _MAXPOOL:
        return f"{geo.nd}-D MaxPool (OneFlow has 1/2/3-D)"
    if _register_indices(ctx) and ctx.attr("storage_order", 0) and geo.nd != 2:
        return "storage_order=1 Indices outside 2-D"
    return None


@register("MaxPool", 1, 8, 10, 11, 12, 22, check=_max_pool_check, notes=_CEIL_NOTES.format(
    ", version 22 drops it (spec)", "the dtype's lowest value, as ORT's Indices/column paths (its 2-D "
    "rows hold stale values); its Indices entry (undefined in the spec) is ORT's: coordinates -1 on every "
    "axis, flattened in the plane; float16 computes in float32 (exact)"))
def max_pool(ctx):
    require(ctx, _max_pool_check)
    geo = PoolGeometry(ctx, dilations=ctx.version >= 10, ceil=ctx.version >= 10)
    want_indices = _register_indices(ctx)
    storage_order = ctx.attr("storage_order", 0)
    if want_indices:
        native = geo.native_pads
        # OneFlow's layer with ONNX's pads, and one without pads for the explicitly padded input
        pool = _MAXPOOL[geo.nd](geo.kernel, stride=geo.stride, padding=geo.padding, dilation=geo.dilation,
                                ceil_mode=geo.ceil, return_indices=True) if native else None
        explicit_pool = _MAXPOOL[geo.nd](geo.kernel, stride=geo.stride, dilation=geo.dilation,
                                         return_indices=True)

        def run_with_indices(x):
            dtype, in_size = x.dtype, list(x.shape[2:])
            empty = None
            if geo.ceil and not geo.drop_padding_windows or not native:
                begins, ends, extra = geo.explicit_pads(in_size)
                empty = empty_window_mask(geo, in_size, begins, ends, extra, x.device)
            if native and empty is None:
                y, idx = pool(_exact_float(x))
            else:
                # Pads OneFlow's layer cannot take (asymmetric, SAME_*, wider than half the kernel)
                # or ceil_mode windows past the input: pool the explicitly -inf-padded input, then
                # map padded positions back.
                ends = [e + x_ for e, x_ in zip(ends, extra)]
                y, idx = explicit_pool(F.pad(_exact_float(x), flow_pad_arg(begins, ends), value=float("-inf")))
                idx = _unpadded_index(idx, [n + b + e for n, b, e in zip(in_size, begins, ends)], begins, in_size)
            idx = _onnx_indices(idx, list(x.shape), storage_order)
            if empty is not None:
                y = flow.where(empty, flow.full_like(y, _lowest(dtype)), y)
                idx = flow.where(empty, _empty_window_index(idx, list(x.shape), storage_order), idx)
            return y.to(dtype), idx

        def guarded_with_indices(x):
            y = geo.guard(lambda t: None)(x)
            if y is None:
                return run_with_indices(x)
            return y, flow.zeros(y.shape, dtype=flow.int64, device=x.device)

        return guarded_with_indices

    if geo.native:
        pool = _MAXPOOL[geo.nd](geo.kernel, stride=geo.stride, padding=geo.padding,
                                dilation=geo.dilation, ceil_mode=geo.ceil)

        def run_native(x):
            return pool(_exact_float(x)).to(x.dtype)

        return geo.guard(run_native)

    pool = _MAXPOOL[geo.nd](geo.kernel, stride=geo.stride, dilation=geo.dilation)

    def run(x):
        dtype, in_size = x.dtype, list(x.shape[2:])
        begins, ends, extra = geo.explicit_pads(in_size)
        padded = F.pad(_exact_float(x), flow_pad_arg(begins, [e + x_ for e, x_ in zip(ends, extra)]),
                       value=float("-inf"))
        y = pool(padded)
        empty = empty_window_mask(geo, in_size, begins, ends, extra, x.device)
        if empty is not None:
            y = flow.where(empty, flow.full_like(y, _lowest(dtype)), y)
        return y.to(dtype)

    return geo.guard(run)


@register("AveragePool", 1, 7, 10, 11, 19, 22, notes=_CEIL_NOTES.format(
    ", version 22 drops it (spec; the reference keeps it)", "0 as ORT 19 (the reference gives NaN)"))
def average_pool(ctx):
    geo = PoolGeometry(ctx, dilations=ctx.version >= 19, ceil=ctx.version >= 10)
    if geo.nd not in _AVGPOOL:
        raise ctx.unsupported(f"{geo.nd}-D AveragePool (OneFlow has 1/2/3-D)")
    include_pad = bool(ctx.attr("count_include_pad", 0))
    if geo.native and not geo.ceil and set(geo.dilation) == {1}:
        return geo.guard(_AVGPOOL[geo.nd](geo.kernel, stride=geo.stride, padding=geo.padding,
                                          count_include_pad=include_pad))

    def run(x):
        begins, ends, extra = geo.explicit_pads(list(x.shape[2:]))
        total = _window_sum(x, geo, begins, ends, extra)
        # Cells that count: the input, plus with count_include_pad every cell of the window
        # (ONNX's reference divides by the whole kernel even past the pads, under ceil_mode).
        if include_pad:
            return total / math.prod(geo.kernel)
        valid = flow.ones([1, 1] + list(x.shape[2:]), dtype=x.dtype, device=x.device)
        count = _window_sum(valid, geo, begins, ends, extra)
        # A ceil_mode window past the input averages nothing: 0, as ONNX Runtime (the
        # reference gives NaN).
        return total / flow.clamp(count, min=1)

    return geo.guard(run)


def _lp_p(ctx):
    p = ctx.attr("p", 2)
    if ctx.version < 2 and float(p) != int(p):
        raise ctx.unsupported(f"fractional p={p}")
    return int(p)


@register("LpPool", 1, 2, 11, 18, 22, notes=_CEIL_NOTES.format(
    ", version 22 too (its text drops nothing)", "0"))
def lp_pool(ctx):
    geo = PoolGeometry(ctx, dilations=ctx.version >= 18, ceil=ctx.version >= 18)
    if geo.nd not in _CONV_FN:
        raise ctx.unsupported(f"{geo.nd}-D LpPool")
    p = _lp_p(ctx)

    def run(x):
        begins, ends, extra = geo.explicit_pads(list(x.shape[2:]))
        return flow.pow(_window_sum(flow.pow(flow.abs(x), p), geo, begins, ends, extra), 1.0 / p)

    return geo.guard(run)


def _spatial_dims(x):
    return list(range(2, x.ndim))


@register("GlobalAveragePool", 1, 22)
def global_average_pool(ctx):
    return lambda x: flow.mean(x, dim=_spatial_dims(x), keepdim=True)


@register("GlobalMaxPool", 1, 22)
def global_max_pool(ctx):
    return lambda x: flow.amax(x, dim=_spatial_dims(x), keepdim=True)


@register("GlobalLpPool", 1, 2, 22)
def global_lp_pool(ctx):
    p = _lp_p(ctx)
    return lambda x: flow.pow(flow.sum(flow.pow(flow.abs(x), p), dim=_spatial_dims(x), keepdim=True), 1.0 / p)


@register("MaxUnpool", 9, 11, 22)
def max_unpool(ctx):
    kernel = list(ctx.attr("kernel_shape"))
    nd = len(kernel)
    stride = list(ctx.attr("strides") or [1] * nd)
    pads = list(ctx.attr("pads") or [0] * (2 * nd))

    def run(x, indices, output_shape=None):
        spatial = [(n - 1) * s + k - b - e for n, s, k, b, e in
                   zip(x.shape[2:], stride, kernel, pads[:nd], pads[nd:])]
        shape = list(x.shape[:2]) + spatial
        # ONNX indices address the flattened default-shaped output; a larger output_shape
        # only appends zeros at the end of each spatial axis.
        flat = flow.zeros(math.prod(shape), dtype=x.dtype, device=x.device)
        y = flow.scatter(flat, 0, indices.reshape(-1), x.reshape(-1)).reshape(shape)
        if output_shape is not None:
            want = [int(v) for v in output_shape.numpy().reshape(-1)][2:]
            grow = [w - n for w, n in zip(want, spatial)]
            if any(g < 0 for g in grow):
                raise ValueError(f"output_shape {want} is smaller than the unpooled size {spatial}")
            y = F.pad(y, flow_pad_arg([0] * nd, grow))
        return y

    return run


@register("MaxRoiPool", 1, 22, notes="ROI corners rounded half away from zero (C round, as ONNX Runtime)")
def max_roi_pool(ctx):
    out_h, out_w = ctx.attr("pooled_shape")
    scale = ctx.attr("spatial_scale", 1.0)

    def run(x, rois):
        outs = []
        height, width = x.shape[2], x.shape[3]
        for b, x1, y1, x2, y2 in rois.numpy().astype(np.float64).tolist():
            # Caffe's rule: rounded corners, at least one cell; bins
            # [floor(i * size / n), ceil((i + 1) * size / n)) -- exactly adaptive pooling's --
            # laid over the unclipped ROI, cells outside the image ignored, empty bins 0.
            # C's round(): halves away from zero (numpy's round goes to even: 0.5 -> 0, ORT 1),
            # of the float32 product, as ORT.
            x1, y1, x2, y2 = (int(np.sign(p) * np.floor(np.abs(p) + 0.5))
                              for p in (np.float32(v) * np.float32(scale) for v in (x1, y1, x2, y2)))
            roi_h, roi_w = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
            top, left = max(0, -y1), max(0, -x1)
            bottom, right = max(0, y1 + roi_h - height), max(0, x1 + roi_w - width)
            plane = F.pad(x[int(b):int(b) + 1], [left, right, top, bottom], value=float("-inf"))
            crop = plane[:, :, y1 + top:y1 + top + roi_h, x1 + left:x1 + left + roi_w]
            pooled = F.adaptive_max_pool2d(crop, (out_h, out_w))
            outs.append(flow.where(flow.isinf(pooled) & (pooled < 0), flow.zeros_like(pooled), pooled))
        if not outs:
            return flow.zeros(0, x.shape[1], out_h, out_w, dtype=x.dtype, device=x.device)
        return flow.cat(outs)

    return run
