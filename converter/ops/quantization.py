"""Linear quantisation: (De)QuantizeLinear, DynamicQuantizeLinear, QLinearMatMul/Conv, ConvInteger.

OneFlow 0.9 has int8/uint8/int32 tensors but no integer matmul-with-offset or integer
convolution kernels. Integer products are therefore computed in float64, which holds every
int8 x int8 sum of up to 2**37 terms exactly, and cast back: exact, not approximate.
Narrow types OneFlow lacks (int4, int16, uint16, float8) are reported unsupported.
"""
from __future__ import annotations

import numpy as np
import onnx
import oneflow as flow

from ..registry import register
from .linear import matmul_nd
from .nn import _CONV_FN
from ._util import flow_pad_arg, require, spatial_pads

_RANGE = {flow.uint8: (0, 255), flow.int8: (-128, 127), flow.int32: (-2 ** 31, 2 ** 31 - 1)}
_QUANT_TYPES = {np.dtype(np.uint8): flow.uint8, np.dtype(np.int8): flow.int8}


def _along(param, x, axis, block_size):
    """Broadcast a scale/zero point to ``x``: per tensor, per ``axis`` or per block on it."""
    if param.ndim == 0 or param.numel() == 1:
        return param.reshape([1] * x.ndim) if x.ndim else param.reshape([])
    axis = axis % x.ndim
    if block_size:   # blocked: param has x's shape with ceil(len / block) along axis
        param = param.repeat_interleave(block_size, dim=axis).narrow(axis, 0, x.shape[axis])
        return param
    shape = [1] * x.ndim
    shape[axis] = -1
    return param.reshape(shape)


def _quant_dtype(ctx, zero_point_index):
    """Output integer type: the zero point's, else ``output_dtype``, else uint8."""
    zp_dtype = ctx.input_dtype(zero_point_index) if ctx.has_input(zero_point_index) else None
    if zp_dtype is None and ctx.attr("output_dtype"):
        zp_dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(ctx.attr("output_dtype")))
    zp_dtype = np.dtype(np.uint8) if zp_dtype is None else np.dtype(zp_dtype)
    if zp_dtype not in _QUANT_TYPES:
        raise ctx.unsupported(f"quantised type stored as {zp_dtype}: only int8/uint8 have OneFlow 0.9 "
                              "dtypes (not int16/uint16/int4/float8)")
    return _QUANT_TYPES[zp_dtype]


def _output_type_check(zero_point_index):
    """check= for ops whose quantised output type follows their zero point (raises the reason)."""
    def check(ctx):
        _quant_dtype(ctx, zero_point_index)
        if ctx.attr("saturate", 1) != 1:
            return "saturate=0 (float8 only)"
        return None
    return check


def _dequantize_check(ctx):
    in_dtype = ctx.input_dtype(0)
    if in_dtype is not None and np.dtype(in_dtype) not in (np.int8, np.uint8, np.int32):
        return (f"quantised input stored as {in_dtype}: only int8/uint8/int32 have "
                "OneFlow 0.9 dtypes (not int16/uint16/int4/float8)")
    return None


def _saturate(values, dtype):
    lo, hi = _RANGE[dtype]
    return flow.clamp(values, lo, hi).to(dtype)


def _requantize(acc, x_scale, w_scale, y_scale, y_zero, dtype):
    """round(acc * x_scale * w_scale / y_scale) + y_zero, saturated: the spec leaves the
    arithmetic open; ORT's is float32 throughout (multiplier (x_scale * w_scale) / y_scale in
    float32, the exact integer accumulator rounded to float32, their float32 product rounded
    half to even). In float64 a multiplier such as 0.05 * 0.02 / 0.4 lands on the other side
    of a .5 tie (docs/operators.md)."""
    factor = x_scale.to(flow.float32) * w_scale.to(flow.float32) / y_scale.to(flow.float32)
    scaled = flow.round(acc.to(flow.float32) * factor)
    return _saturate(scaled + y_zero.to(flow.float32), dtype)


@register("QuantizeLinear", 10, 13, 19, 21, check=_output_type_check(2))
def quantize_linear(ctx):
    require(ctx, _output_type_check(2))
    dtype = _quant_dtype(ctx, 2)
    axis, block = ctx.attr("axis", 1), ctx.attr("block_size", 0)

    def run(x, scale, zero_point=None):
        xf = x.to(flow.float32)
        q = flow.round(xf / _along(scale.to(flow.float32), x, axis, block))   # half to even
        if zero_point is not None:
            q = q + _along(zero_point.to(flow.float32), x, axis, block)
        return _saturate(q, dtype)

    return run


@register("DequantizeLinear", 10, 13, 19, 21, check=_dequantize_check)
def dequantize_linear(ctx):
    require(ctx, _dequantize_check)
    axis, block = ctx.attr("axis", 1), ctx.attr("block_size", 0)

    def run(x, scale, zero_point=None):
        xf = x.to(flow.float32)
        if zero_point is not None:
            xf = xf - _along(zero_point.to(flow.float32), x, axis, block)
        y = xf * _along(scale.to(flow.float32), x, axis, block)
        return y.to(scale.dtype)

    return run


@register("DynamicQuantizeLinear", 11)
def dynamic_quantize_linear(ctx):
    def run(x):
        lo = flow.clamp(x.min(), max=0.0)
        hi = flow.clamp(x.max(), min=0.0)
        scale = (hi - lo) / 255.0
        zero_point = _saturate(flow.round(-lo / scale), flow.uint8)
        y = _saturate(flow.round(x / scale) + zero_point.to(flow.float32), flow.uint8)
        return y, scale.to(flow.float32), zero_point

    return run


def _centered(t, zero_point):
    """Integer tensor minus its zero point, in float64 (exact for every int8/uint8/int32)."""
    t = t.to(flow.float64)
    return t if zero_point is None else t - zero_point.to(flow.float64)


@register("MatMulInteger", 10, notes="exact int32 products (spec); ONNX Runtime 1.19's uint8 x int8 kernel saturates "
                                  "pairs of products in int16 and departs from it")
def matmul_integer(ctx):
    """int8/uint8 operands minus their zero points, multiplied exactly; int32 result."""
    def run(a, b, a_zero=None, b_zero=None):
        if a_zero is not None and a_zero.ndim == 1 and a_zero.numel() > 1:
            a_zero = a_zero.reshape(-1, 1)   # one zero point per row of A
        return matmul_nd(_centered(a, a_zero), _centered(b, b_zero)).to(flow.int32)

    return run


@register("QLinearMatMul", 10, 21, check=_output_type_check(7),
          notes="requantization in float32 as ONNX Runtime (spec silent on precision): (a_scale * b_scale) / "
                "y_scale, accumulator and product in float32, round half to even")
def qlinear_matmul(ctx):
    out_dtype = _quant_dtype(ctx, 7)

    def run(a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero):
        if a_zero.ndim == 1 and a_zero.numel() > 1:
            a_zero = a_zero.reshape(-1, 1)
            a_scale = a_scale.reshape(-1, 1)
        acc = matmul_nd(_centered(a, a_zero), _centered(b, b_zero))
        return _requantize(acc, a_scale, b_scale, y_scale, y_zero, out_dtype)

    return run


def _integer_conv(ctx):
    """Conv geometry of ctx as run(x, w) computing the exact integer convolution in float64."""
    stride_attr, dil_attr = ctx.attr("strides"), ctx.attr("dilations")
    auto_pad, pads, group = ctx.attr("auto_pad", "NOTSET"), ctx.attr("pads"), ctx.attr("group", 1)

    def conv(x, w):
        nd = w.ndim - 2
        stride, dilation = stride_attr or [1] * nd, dil_attr or [1] * nd
        kernel = list(w.shape[2:])
        begins, ends = spatial_pads(auto_pad, pads, x.shape, kernel, stride, dilation)
        if any(begins) or any(ends):
            x = flow.nn.functional.pad(x, flow_pad_arg(begins, ends))
        return _CONV_FN[nd](x, w, None, stride=stride, padding=0, dilation=dilation, groups=group)

    return conv


def _per_channel(zero_point, ndim):
    """A per-output-channel weight zero point shaped to broadcast over (M, C/g, k...)."""
    if zero_point is not None and zero_point.ndim == 1 and zero_point.numel() > 1:
        return zero_point.reshape([-1] + [1] * (ndim - 1))
    return zero_point


@register("ConvInteger", 10)
def conv_integer(ctx):
    conv = _integer_conv(ctx)

    def run(x, w, x_zero=None, w_zero=None):
        # zero-point padding: pads hold x's zero point, i.e. 0 after centring
        return conv(_centered(x, x_zero), _centered(w, _per_channel(w_zero, w.ndim))).to(flow.int32)

    return run


@register("QLinearConv", 10, check=_output_type_check(7),
          notes="requantization in float32 as ONNX Runtime (spec silent on precision): (x_scale * w_scale) / "
                "y_scale, accumulator and product in float32, round half to even")
def qlinear_conv(ctx):
    out_dtype = _quant_dtype(ctx, 7)
    conv = _integer_conv(ctx)

    def run(x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero, bias=None):
        acc = conv(_centered(x, x_zero), _centered(w, _per_channel(w_zero, w.ndim)))
        if bias is not None:
            acc = acc + bias.to(flow.float64).reshape([1, -1] + [1] * (acc.ndim - 2))
        if w_scale.numel() > 1:
            w_scale = w_scale.reshape([1, -1] + [1] * (acc.ndim - 2))
        return _requantize(acc, x_scale, w_scale, y_scale, y_zero, out_dtype)

    return run
