"""Pad in every mode (constant, reflect, edge, wrap), pads as attribute or input, with axes; CenterCropPad.

OneFlow's F.pad handles reflect/replicate only on the trailing axes of 3-D/4-D tensors and
has no wrap mode, so each padded axis is handled on its own: negative pads crop with
``narrow``, constant pads concatenate filled blocks, the other modes gather source indices.
"""
from __future__ import annotations

import numpy as np
import oneflow as flow

from ..dtypes import to_list
from ..registry import register
from ._util import require
from .indexing import exact_via_wider

# OneFlow 0.9 has no CPU uint8 gather kernel: edge/reflect/wrap gather uint8 through int32.
_index_select = exact_via_wider(flow.index_select, (flow.uint8,))


def _source_indices(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Index into an axis of length n for every cell of the padded axis."""
    pos = np.arange(-before, n + after)
    if mode == "edge":
        return np.clip(pos, 0, n - 1)
    if mode == "wrap":
        return np.mod(pos, n)
    period = 2 * (n - 1)   # reflect: mirror without repeating the edge cell
    if period == 0:
        return np.zeros_like(pos)
    pos = np.mod(pos, period)
    return np.where(pos >= n, period - pos, pos)


def check_pad_lengths(shape, pads, axes) -> None:
    """ValueError when a negative pad leaves an axis shorter than 0 (ONNX Runtime refuses it;
    OneFlow's narrow would make a tensor with a negative dimension)."""
    k = len(axes)
    for i, axis in enumerate(axes):
        n = shape[axis]
        if n is not None and n + int(pads[i]) + int(pads[k + i]) < 0:
            raise ValueError(f"pads ({int(pads[i])}, {int(pads[k + i])}) on axis {axis} of length {n} "
                             f"give a negative length {n + int(pads[i]) + int(pads[k + i])}")


def _pad_axis(x, axis, before, after, mode, value):
    if before < 0 or after < 0:   # negative pads remove cells
        start = max(0, -before)
        x = x.narrow(axis, start, x.shape[axis] - start - max(0, -after))
        before, after = max(0, before), max(0, after)
    if not before and not after:
        return x
    if mode == "constant":
        def block(width):
            shape = list(x.shape)
            shape[axis] = width
            return [_filled(shape, value, x)] if width else []
        return flow.cat(block(before) + [x] + block(after), dim=axis)
    if x.shape[axis] == 0:
        raise ValueError(f"cannot {mode}-pad an empty axis {axis}")
    index = _source_indices(x.shape[axis], before, after, mode)
    return _index_select(x, axis, flow.tensor(index, dtype=flow.int64, device=x.device))


def _filled(shape, value, like):
    """A block of ``shape`` holding ``value``: a Python number, or a one-element tensor kept
    on the device (expanded, never read back to the host: nn.Graph traces it, CUDA does not sync)."""
    if isinstance(value, flow.Tensor):
        return value.reshape([1] * len(shape)).to(like.dtype).expand(*shape)
    return flow.full(shape, value, dtype=like.dtype, device=like.device)


def pad(x, pads, mode="constant", value=0.0, axes=None):
    """ONNX Pad: ``pads`` lists all begins then all ends for ``axes`` (default: every axis)."""
    axes = [a % x.ndim for a in axes] if axes is not None else list(range(x.ndim))
    check_pad_lengths(list(x.shape), pads, axes)
    k = len(axes)
    for i, axis in enumerate(axes):
        x = _pad_axis(x, axis, int(pads[i]), int(pads[k + i]), mode, value)
    return x


def _scalar(t, default=0.0):
    """constant_value as a Python number (build time) or a one-element tensor (run time);
    absent or empty means the default."""
    if t is None:
        return default
    if isinstance(t, flow.Tensor):
        return t if t.numel() else default
    arr = np.asarray(t)
    return arr.reshape(-1)[0].item() if arr.size else default


def _pad_check(ctx):
    mode = ctx.attr("mode", "constant")
    return None if mode in ("constant", "reflect", "edge", "wrap") else f"mode={mode!r}"


@register("Pad", 1, 2, 11, 13, 18, 19, 21, check=_pad_check, notes=(
    "negative pads leaving a negative length are refused, as ORT (at conversion when the pads are "
    "constant); uint8 edge/reflect/wrap gather through int32"))
def pad_op(ctx):
    require(ctx, _pad_check)
    mode = ctx.attr("mode", "constant")
    if ctx.version < 11:
        pads = list(ctx.attr("pads" if ctx.version >= 2 else "paddings"))
        value = ctx.attr("value", 0.0)
        return lambda x: pad(x, pads, mode, value)
    static_pads, static_axes = to_list(ctx.const(1)), to_list(ctx.const(3))
    static_value = ctx.const(2)
    if static_value is not None:      # claimed like pads: nothing is read per call (docs/design.md §5)
        ctx.claim(2)
        static_value = _scalar(static_value)
    if static_pads is not None:
        ctx.claim(1)
    if static_axes is not None:
        ctx.claim(3)
    info = ctx.input_info(0)
    if static_pads is not None and info is not None and info.shape is not None:
        axes = static_axes if static_axes is not None else range(len(info.shape))
        check_pad_lengths(info.shape, static_pads, [a % len(info.shape) for a in axes])

    def run(x, pads=None, value=None, axes=None):
        return pad(x, static_pads if static_pads is not None else to_list(pads), mode,
                   static_value if static_value is not None else _scalar(value),
                   static_axes if static_axes is not None else to_list(axes))

    return run


def center_crop_pad(x, target, axes):
    """Crop or zero-pad each of ``axes`` to ``target`` around the centre (ONNX CenterCropPad)."""
    for axis, want in zip(axes, target):
        have = x.shape[axis]
        if want < have:      # crop: the extra cell, if odd, is dropped at the end
            x = x.narrow(axis, (have - want) // 2, want)
        elif want > have:    # pad: the extra cell, if odd, goes at the end
            before = (want - have) // 2
            x = _pad_axis(x, axis, before, want - have - before, "constant", 0)
    return x


@register("CenterCropPad", 18)
def center_crop_pad_op(ctx):
    axes_attr = ctx.attr("axes")

    def run(x, shape):
        target = to_list(shape)
        axes = [a % x.ndim for a in axes_attr] if axes_attr is not None else list(range(x.ndim))
        return center_crop_pad(x, target, axes)

    return run
