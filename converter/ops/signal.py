"""Signal processing: DFT and STFT as matmuls with cosine/sine tables; window functions.

OneFlow 0.9 has no FFT. A DFT of length L is two (L x L) real matrix products, exact to
float rounding, and transforms in vision/audio front-ends are short.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
import oneflow as flow

from ..dtypes import flow_dtype
from ..folding import check_alloc
from ..registry import register

# cosine-sum windows: w[n] = sum_k (-1)^k a_k cos(2 pi k n / N)
_COEFFS = {
    "HannWindow": (0.5, 0.5),
    "HammingWindow": (25 / 46, 21 / 46),
    "BlackmanWindow": (0.42, 0.5, 0.08),
}


def _register_window(op_type, coeffs):
    @register(op_type, 17)
    def build(ctx):
        dtype = flow_dtype(onnx.helper.tensor_dtype_to_np_dtype(ctx.attr("output_datatype", 1)))
        periodic = bool(ctx.attr("periodic", 1))

        def run(size):
            n_points = int(size.numpy().reshape(-1)[0]) if isinstance(size, flow.Tensor) else int(size)
            denom = n_points if periodic else n_points - 1
            n = flow.arange(n_points, dtype=flow.float64, device=size.device)
            w = flow.zeros_like(n)
            for k, a in enumerate(coeffs):
                w = w + ((-1) ** k) * a * flow.cos(2 * math.pi * k * n / denom)
            return w.to(dtype)

        return run

    build.__name__ = op_type.lower()


for _op, _coeffs in _COEFFS.items():
    _register_window(_op, _coeffs)


def _dft_tables(n_in, length, n_out, inverse, dtype, device):
    """cos/sin of 2*pi*k*m/length for input positions m < n_in and output bins k < n_out."""
    check_alloc([4, n_in, n_out], np.float64, "DFT tables")   # a composite's own intermediates
    m = np.arange(n_in).reshape(-1, 1)
    k = np.arange(n_out).reshape(1, -1)
    angle = 2 * np.pi * ((m * k) % length) / length
    cos = flow.tensor(np.cos(angle), dtype=dtype, device=device)
    sin = flow.tensor(np.sin(angle), dtype=dtype, device=device)
    return cos, sin


def dft(x, axis, length=None, inverse=False, onesided=False):
    """ONNX DFT: ``x`` is [..., 1 | 2] (real | complex), transformed along signal ``axis``."""
    dtype = x.dtype
    x = x.to(flow.float64)   # the sums cancel heavily (e.g. an inverse back to real input)
    re = x[..., 0]
    im = x[..., 1] if x.shape[-1] == 2 else None
    re = flow.movedim(re, axis, -1)
    im = None if im is None else flow.movedim(im, axis, -1)
    n = re.shape[-1]
    length = n if length is None else length
    if length < n:   # truncate; zero padding needs no cells: the tables simply stop at n
        re = re[..., :length]
        im = None if im is None else im[..., :length]
        n = length
    n_out = length // 2 + 1 if onesided else length
    cos, sin = _dft_tables(n, length, n_out, inverse, re.dtype, re.device)
    sign = 1.0 if inverse else -1.0   # e^{sign * i * angle}
    out_re = flow.matmul(re, cos)
    out_im = sign * flow.matmul(re, sin)
    if im is not None:
        out_re = out_re - sign * flow.matmul(im, sin)
        out_im = out_im + flow.matmul(im, cos)
    if inverse:
        out_re, out_im = out_re / length, out_im / length
    out = flow.stack([flow.movedim(out_re, -1, axis), flow.movedim(out_im, -1, axis)], dim=-1)
    return out.to(dtype)


def _scalar(t):
    return None if t is None else int(t.numpy().reshape(-1)[0])


@register("DFT", 17, 20)
def dft_op(ctx):
    inverse, onesided = bool(ctx.attr("inverse", 0)), bool(ctx.attr("onesided", 0))
    axis_from_attr = ctx.version < 20
    attr_axis = ctx.attr("axis", 1)

    def run(x, dft_length=None, axis=None):
        if axis_from_attr:
            ax = attr_axis
        else:
            ax = _scalar(axis) if axis is not None else -2
        signal_rank = x.ndim - 1           # the trailing dim holds (real, imag)
        ax = ax + x.ndim if ax < 0 else ax  # v20 negative axes count the complex dim too
        return dft(x, ax % signal_rank, _scalar(dft_length), inverse, onesided)

    return run


@register("STFT", 17)
def stft(ctx):
    onesided = bool(ctx.attr("onesided", 1))

    def run(signal, frame_step, window=None, frame_length=None):
        step = _scalar(frame_step)
        size = _scalar(frame_length) if frame_length is not None else window.shape[0]
        frames = signal.unfold(1, size, step)            # [batch, frames, 1|2, size]
        frames = flow.movedim(frames, -1, 2)             # [batch, frames, size, 1|2]
        if window is not None:
            frames = frames * window.to(frames.dtype).reshape(1, 1, -1, 1)
        return dft(frames, 2, None, False, onesided)

    return run
