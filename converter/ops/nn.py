"""Convolution family: Conv, ConvTranspose, DeformConv, Col2Im; constant weights become native layers."""
from __future__ import annotations

import oneflow as flow
import oneflow.nn.functional as F

from ..dtypes import to_list
from ..registry import register
from ._util import check_windows, const_param, flow_pad_arg, require, spatial_pads

_CONV = {1: flow.nn.Conv1d, 2: flow.nn.Conv2d, 3: flow.nn.Conv3d}
_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class _PaddedConv(flow.nn.Module):
    """A native ConvNd behind a geometry check; pads that ConvNd cannot express (asymmetric,
    SAME_*) applied first, symmetric ones left to the layer (``prepad`` False)."""

    def __init__(self, conv, auto_pad, pads, kernel, stride, dilation, channels, prepad=True):
        super().__init__()
        self.conv = conv
        self.geometry = (auto_pad, pads, kernel, stride, dilation, channels, prepad)

    def forward(self, x, *_):
        auto_pad, pads, kernel, stride, dilation, channels, prepad = self.geometry
        begins, ends = spatial_pads(auto_pad, pads, x.shape, kernel, stride, dilation)
        _check_input(x, channels, begins, ends, kernel, dilation)
        if prepad and (any(begins) or any(ends)):
            x = F.pad(x, flow_pad_arg(begins, ends))
        return self.conv(x)


def _check_input(x, channels, begins, ends, kernel, dilation) -> None:
    """OneFlow aborts the process on a channel mismatch or an empty output: refuse first."""
    if x.ndim != len(kernel) + 2 or x.shape[1] != channels:
        raise ValueError(f"input shape {tuple(x.shape)}: expected rank {len(kernel) + 2} with "
                         f"{channels} channels (weight shape and group)")
    if 0 in x.shape[2:]:   # OneFlow's convolution aborts on it; ONNX Runtime refuses it
        raise ValueError(f"input shape {tuple(x.shape)} has an empty spatial axis")
    check_windows(x.shape, begins, ends, kernel, dilation)


class _ConvThenBias(flow.nn.Module):
    """A native ConvNd without bias, then its bias as a broadcast add (the same arithmetic).

    OneFlow 0.9's CPU convolution adds a bias through a slow path: a torch-exported
    ResNet50 (BatchNorm folded into conv biases) ran 2.8x slower than flowvision's native
    model; with the add split off, within 4% (benchmarks/latency_vs_flowvision.py).
    """

    def __init__(self, conv, bias, nd: int):
        super().__init__()
        self.conv = conv
        self.bias = const_param(bias)                  # kept 1-D, as ONNX stores it
        self.bias_shape = [1, -1] + [1] * nd

    def forward(self, x, *_):
        return self.conv(x) + self.bias.reshape(self.bias_shape)


@register("Conv", 1, 11, 22)
def conv(ctx):
    w = ctx.const(1)
    b = ctx.const(2) if ctx.has_input(2) else None
    rank = ctx.input_rank(1) or (w.ndim if w is not None else None)
    if rank is None or rank - 2 not in _CONV:
        raise ctx.unsupported(f"Conv with weight rank {rank} (OneFlow has Conv1d/2d/3d)")
    nd = rank - 2
    group = ctx.attr("group", 1)
    stride = ctx.attr("strides") or [1] * nd
    dilation = ctx.attr("dilations") or [1] * nd
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    pads = ctx.attr("pads") or [0] * (2 * nd)
    symmetric = auto_pad in ("NOTSET", "VALID") and list(pads[:nd]) == list(pads[nd:])
    padding = list(pads[:nd]) if auto_pad == "NOTSET" and symmetric else [0] * nd

    if w is not None and (b is not None or not ctx.has_input(2)):
        out_ch, in_per_group = w.shape[0], w.shape[1]
        kernel = list(ctx.attr("kernel_shape") or w.shape[2:])
        layer = _CONV[nd](in_per_group * group, out_ch, kernel, stride=stride, padding=padding,
                          dilation=dilation, groups=group, bias=False)
        layer.weight = const_param(w)
        if b is not None:
            layer = _ConvThenBias(layer, b, nd)
        ctx.claim(1, 2)
        return _PaddedConv(layer, auto_pad, pads, kernel, stride, dilation, in_per_group * group,
                           prepad=not symmetric)

    conv_fn = _CONV_FN[nd]

    def run(x, weight, bias=None):
        kernel = list(weight.shape[2:])
        begins, ends = spatial_pads(auto_pad, pads, x.shape, kernel, stride, dilation)
        _check_input(x, weight.shape[1] * group, begins, ends, kernel, dilation)
        if symmetric:
            return conv_fn(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=group)
        x = F.pad(x, flow_pad_arg(begins, ends))
        return conv_fn(x, weight, bias, stride=stride, padding=0, dilation=dilation, groups=group)

    return run



_CONV_T = {1: flow.nn.ConvTranspose1d, 2: flow.nn.ConvTranspose2d, 3: flow.nn.ConvTranspose3d}
_CONV_T_FN = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _transpose_pads(spec, in_size, kernel, stride, dilation, out_pad):
    """(begins, ends) that ONNX crops from the full transposed-conv output, per spatial axis.

    ``spec`` is (auto_pad, pads, output_shape). With ``output_shape`` or SAME_* the pads
    follow from the wanted output size (negative: the output grows with zeros); SAME_UPPER
    puts the larger half at the end, everything else at the start.
    """
    nd = len(kernel)
    auto_pad, pads, output_shape = spec
    if output_shape is None and auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        if auto_pad == "VALID":
            return [0] * nd, [0] * nd
        pads = pads or [0] * (2 * nd)
        return list(pads[:nd]), list(pads[nd:])
    want = list(output_shape)[-nd:] if output_shape is not None else [n * s for n, s in zip(in_size, stride)]
    begins, ends = [], []
    for n, k, s, d, op, o in zip(in_size, kernel, stride, dilation, out_pad, want):
        total = s * (n - 1) + op + (k - 1) * d + 1 - o
        half = total // 2
        if auto_pad == "SAME_UPPER":
            begins.append(half)
            ends.append(total - half)
        else:
            begins.append(total - half)
            ends.append(half)
    return begins, ends


def _check_transpose_lengths(in_size, kernel, stride, dilation, out_pad, begins, ends):
    """Refuse an output axis of length < 1, as ONNX Runtime does (its `dim_size > 0` check;
    the spec's formula would give an empty or negative axis): ValueError naming the axis."""
    for axis, (n, k, s, d, op, b, e) in enumerate(zip(in_size, kernel, stride, dilation, out_pad, begins, ends)):
        length = s * (n - 1) + op + (k - 1) * d + 1 - b - e
        if length < 1:
            raise ValueError(f"spatial axis {axis}: output length {length} < 1 (input {n}, kernel {k}, "
                             f"stride {s}, dilation {d}, output_padding {op}, pads ({b}, {e}))")


def _crop_or_extend(y, begins, ends, out_pad):
    """Take y[begin : len - end + out_pad] on each spatial axis, zero-filling outside."""
    for axis, (b, e, op) in enumerate(zip(begins, ends, out_pad), start=2):
        n = y.shape[axis]
        stop = n - e + op
        front, back = max(0, -b), max(0, stop - n)
        if front or back:   # cells past the computed values are zeros
            y = F.pad(y, [0, 0] * (y.ndim - 1 - axis) + [front, back])
        y = y.narrow(axis, b + front, stop - b)
    return y


class _CroppedConvTranspose(flow.nn.Module):
    """A native ConvTransposeNd without padding; ONNX's pads/output_shape applied after.

    The bias is added after cropping so that output_padding cells also receive it.
    """

    def __init__(self, layer, bias, spec, kernel, stride, dilation, out_pad):
        super().__init__()
        self.conv = layer
        self.bias = bias
        self.geometry = (spec, kernel, stride, dilation, out_pad)

    def forward(self, x, *_):
        spec, kernel, stride, dilation, out_pad = self.geometry
        begins, ends = _transpose_pads(spec, list(x.shape[2:]), kernel, stride, dilation, out_pad)
        _check_transpose_lengths(list(x.shape[2:]), kernel, stride, dilation, out_pad, begins, ends)
        y = _crop_or_extend(self.conv(x), begins, ends, out_pad)
        if self.bias is not None:
            y = y + self.bias.reshape([1, -1] + [1] * (y.ndim - 2))
        return y


@register("ConvTranspose", 1, 11, 22)
def conv_transpose(ctx):
    w, b = ctx.const(1), ctx.const(2)
    rank = ctx.input_rank(1) or (w.ndim if w is not None else None)
    if rank is None or rank - 2 not in _CONV_T:
        raise ctx.unsupported(f"ConvTranspose with weight rank {rank} (OneFlow has 1/2/3-D)")
    nd = rank - 2
    group = ctx.attr("group", 1)
    stride = list(ctx.attr("strides") or [1] * nd)
    dilation = list(ctx.attr("dilations") or [1] * nd)
    out_pad = list(ctx.attr("output_padding") or [0] * nd)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    pads = list(ctx.attr("pads") or [0] * (2 * nd))
    # OneFlow's layer expresses symmetric pads and output_padding < stride itself.
    native = ctx.attr("output_shape") is None and auto_pad in ("NOTSET", "VALID") \
        and pads[:nd] == pads[nd:] and all(op < max(s, d) for op, s, d in zip(out_pad, stride, dilation))
    padding = pads[:nd] if auto_pad == "NOTSET" else [0] * nd
    spec = (auto_pad, pads, ctx.attr("output_shape"))

    if w is not None and (b is not None or not ctx.has_input(2)):
        in_ch, out_per_group = w.shape[0], w.shape[1]
        kernel = list(w.shape[2:])
        ctx.claim(1, 2)
        if native:
            layer = _CONV_T[nd](in_ch, out_per_group * group, kernel, stride=stride, padding=padding,
                                output_padding=out_pad, groups=group, bias=b is not None, dilation=dilation)
            layer.weight = const_param(w)
            if b is not None:
                layer.bias = const_param(b)
            return layer
        layer = _CONV_T[nd](in_ch, out_per_group * group, kernel, stride=stride, padding=0,
                            groups=group, bias=False, dilation=dilation)
        layer.weight = const_param(w)
        return _CroppedConvTranspose(layer, None if b is None else const_param(b), spec,
                                     kernel, stride, dilation, out_pad)

    conv_fn = _CONV_T_FN[nd]

    def run(x, weight, bias=None):
        kernel = list(weight.shape[2:])
        begins, ends = _transpose_pads(spec, list(x.shape[2:]), kernel, stride, dilation, out_pad)
        _check_transpose_lengths(list(x.shape[2:]), kernel, stride, dilation, out_pad, begins, ends)
        y = conv_fn(x, weight, None, stride=stride, padding=0, groups=group, dilation=dilation)
        y = _crop_or_extend(y, begins, ends, out_pad)
        return y if bias is None else y + bias.reshape([1, -1] + [1] * nd)

    return run


def _symmetric_2d_check(what):
    def check(ctx):
        rank, pads = ctx.input_rank(0), list(ctx.attr("pads") or [0, 0, 0, 0])
        if (rank is not None and rank != 4 and what == "DeformConv") or len(pads) != 4:
            return f"{what} outside 2-D (OneFlow's kernel is 2-D)"
        if pads[:2] != pads[2:]:
            return f"asymmetric pads {pads} (OneFlow's padding is symmetric)"
        return None
    return check


@register("DeformConv", 19, 22, check=_symmetric_2d_check("DeformConv"))
def deform_conv(ctx):
    # OneFlow (like torchvision) infers group and offset_group from the tensor shapes.
    require(ctx, _symmetric_2d_check("DeformConv"))
    stride = list(ctx.attr("strides") or [1, 1])
    dilation = list(ctx.attr("dilations") or [1, 1])
    pads = list(ctx.attr("pads") or [0, 0, 0, 0])

    def run(x, weight, offset, bias=None, mask=None):
        return F.deform_conv2d(x, offset, weight, bias, stride=tuple(stride), padding=tuple(pads[:2]),
                               dilation=tuple(dilation), mask=mask)

    return run


def _col2im_check(ctx):
    pads = ctx.attr("pads")
    return None if pads is None or len(pads) == 4 else "Col2Im outside 2-D (OneFlow's fold is 2-D)"


@register("Col2Im", 18, check=_col2im_check, notes="2-D only (OneFlow's fold); any pads, symmetric or not")
def col2im(ctx):
    require(ctx, _col2im_check)
    pads = list(ctx.attr("pads") or [0, 0, 0, 0])
    dilation, stride = list(ctx.attr("dilations") or [1, 1]), list(ctx.attr("strides") or [1, 1])
    static_size, static_block = ctx.claim_list(1), ctx.claim_list(2)

    def run(x, image_shape=None, block_shape=None):
        size = static_size if static_size is not None else to_list(image_shape)
        block = static_block if static_block is not None else to_list(block_shape)
        if len(size) != 2:
            raise ValueError(f"{len(size)}-D Col2Im: OneFlow's fold is 2-D only")
        # Fold onto the padded image, then cut the pads off: any pads, symmetric or not.
        padded = [n + pads[i] + pads[i + 2] for i, n in enumerate(size)]
        y = F.fold(x, padded, kernel_size=block, dilation=dilation, padding=0, stride=stride)
        return y[:, :, pads[0]:pads[0] + size[0], pads[1]:pads[1] + size[1]]

    return run
