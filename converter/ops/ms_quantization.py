"""ONNX Runtime's quantized ``com.microsoft`` operators (version 1), as its quantization tool
writes them: QLinearAdd/Mul/Sigmoid/LeakyRelu/Concat/AveragePool/GlobalAveragePool/Softmax,
QGemm, DynamicQuantizeMatMul, MatMulIntegerToFloat, DynamicQuantizeLSTM.

No ONNX spec defines them; ONNX Runtime's CPU kernels are the reference, and their float32
arithmetic is followed step by step (operation order, fused multiply-adds, where the zero
point enters the rounding), so integer outputs equal ORT's. Integer products are exact
(float64, as converter/ops/quantization.py). A fused multiply-add a*b+c of float32 values is
computed in float64 and rounded once to float32: a*b is exact there and the sum rounds once.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import oneflow as flow

from ..registry import register
from ._util import require
from .pooling import PoolGeometry
from .quantization import _RANGE, _centered, _saturate

MS = "com.microsoft"
_F32, _F64 = flow.float32, flow.float64
_EIGHT_BIT = (np.dtype(np.uint8), np.dtype(np.int8))


def _f32(t):
    return t.to(_F32)


def _fma(a, b, c):
    """float32 a*b + c rounded once, as a hardware fused multiply-add."""
    return (a.to(_F64) * b.to(_F64) + c.to(_F64)).to(_F32)


def _zero(zero_point, like):
    """A zero point as float32 (0 when the optional input is absent)."""
    if zero_point is None:
        return flow.zeros([], dtype=_F32, device=like.device)
    return _f32(zero_point).reshape([])


def _dequantize(x, scale, zero_point):
    """scale * (x - zero_point) in float32, as ORT's kernels dequantize."""
    return _f32(scale).reshape([]) * (_f32(x) - _zero(zero_point, x))


def _quantize(v, scale, zero_point, dtype):
    """ORT's MlasQuantizeLinear: round_half_even(v / scale) + zero_point, saturated."""
    return _saturate(flow.round(v / _f32(scale).reshape([])) + _zero(zero_point, v), dtype)


def _eight_bit_check(*indices):
    """check= for ops whose tensors at ``indices`` must be uint8/int8 (OneFlow holds both)."""
    def check(ctx):
        for i in indices:
            dtype = ctx.input_dtype(i) if ctx.has_input(i) else None
            if dtype is not None and np.dtype(dtype) not in _EIGHT_BIT:
                return f"input {i} stored as {np.dtype(dtype)} (the operator takes uint8/int8)"
        return None
    return check


def _out_dtype(x):
    return x.dtype if x.dtype in (flow.uint8, flow.int8) else flow.uint8


# --- elementwise binary -------------------------------------------------------------------------
def _span_scalar(shape, out_shape) -> bool:
    """True when ORT's broadcaster hands this input to the kernel as one value per output span:
    it has one element, or size 1 on the output's innermost axis longer than 1."""
    if math.prod(shape) == 1:
        return True
    full = [1] * (len(out_shape) - len(shape)) + list(shape)
    inner = [i for i, n in enumerate(out_shape) if n > 1]
    return bool(inner) and full[inner[-1]] == 1


@register("QLinearAdd", 1, domain=MS, check=_eight_bit_check(0, 3), notes=(
    "ORT's AVX2 kernel arithmetic: ratios a_scale/c_scale, b_scale/c_scale and the fixed part "
    "c_zero - (ratio_a*a_zero + ratio_b*b_zero) in float32, then two fused multiply-adds, round half "
    "to even; an input broadcast as one value per span is folded into the fixed part first, as ORT"))
def qlinear_add(ctx):
    require(ctx, _eight_bit_check(0, 3))

    def run(a, a_scale, a_zero, b, b_scale, b_zero, c_scale, c_zero=None):
        ratio_a = _f32(a_scale).reshape([]) / _f32(c_scale).reshape([])
        ratio_b = _f32(b_scale).reshape([]) / _f32(c_scale).reshape([])
        fixed = _zero(c_zero, a) - (ratio_a * _zero(a_zero, a) + ratio_b * _zero(b_zero, b))
        out_shape = list(np.broadcast_shapes(tuple(a.shape), tuple(b.shape)))
        fa, fb = _f32(a), _f32(b)
        if _span_scalar(a.shape, out_shape):
            y = _fma(fb, ratio_b, fixed + fa * ratio_a)
        elif _span_scalar(b.shape, out_shape):
            y = _fma(fa, ratio_a, fixed + fb * ratio_b)
        else:
            y = _fma(fa, ratio_a, _fma(fb, ratio_b, fixed))
        return _saturate(flow.round(y), _out_dtype(a))

    return run


@register("QLinearMul", 1, domain=MS, check=_eight_bit_check(0, 3), notes=(
    "ORT's kernel arithmetic: (a - a_zero) * (b - b_zero) exactly, times a_scale * b_scale / c_scale in "
    "float32, round half to even, plus c_zero"))
def qlinear_mul(ctx):
    require(ctx, _eight_bit_check(0, 3))

    def run(a, a_scale, a_zero, b, b_scale, b_zero, c_scale, c_zero=None):
        ratio = _f32(a_scale).reshape([]) * _f32(b_scale).reshape([]) / _f32(c_scale).reshape([])
        product = (_f32(a) - _zero(a_zero, a)) * (_f32(b) - _zero(b_zero, b))   # exact: < 2**16
        return _saturate(flow.round(product * ratio) + _zero(c_zero, a), _out_dtype(a))

    return run


# --- lookup-table activations -------------------------------------------------------------------
def _table_op(fn):
    """QLinearSigmoid/LeakyRelu: ORT tabulates quantize(fn(dequantize(x))) for the 256 inputs;
    the same function is evaluated per element here."""
    def run(x, x_scale, x_zero, y_scale, y_zero=None):
        return _quantize(fn(_dequantize(x, x_scale, x_zero)), y_scale, y_zero, _out_dtype(x))
    return run


@register("QLinearSigmoid", 1, domain=MS, check=_eight_bit_check(0), notes=(
    "dequantize, sigmoid, quantize in float32 as ORT's lookup table; ORT's sigmoid is MLAS's "
    "polynomial approximation, so an output on a rounding tie may differ by one step"))
def qlinear_sigmoid(ctx):
    require(ctx, _eight_bit_check(0))
    return _table_op(flow.sigmoid)


@register("QLinearLeakyRelu", 1, domain=MS, check=_eight_bit_check(0))
def qlinear_leaky_relu(ctx):
    require(ctx, _eight_bit_check(0))
    alpha = float(np.float32(ctx.attr("alpha", 0.01)))
    return _table_op(lambda v: flow.where(v >= 0, v, v * alpha))


@register("QLinearConcat", 1, domain=MS, notes=(
    "an input whose scale and zero point equal the output's is copied, others requantized "
    "(round_half_even(x_scale*(x - x_zero) / y_scale) + y_zero), as ORT"))
def qlinear_concat(ctx):
    axis = ctx.attr("axis")

    def run(y_scale, y_zero, *triples):
        # Requantizing an input that already has the output's scale and zero point gives it back
        # unchanged (s * k / s is within an ulp of k), which is ORT's copy in that case.
        parts = [_quantize(_dequantize(x, x_scale, x_zero), y_scale, y_zero, y_zero.dtype)
                 for x, x_scale, x_zero in zip(triples[0::3], triples[1::3], triples[2::3])]
        return flow.cat(parts, dim=axis)

    return run


# --- pooling ------------------------------------------------------------------------------------
@register("QLinearAveragePool", 1, domain=MS, check=_eight_bit_check(0), notes=(
    "as ORT: inputs dequantized to float32 and summed window by window in row-major order, divided by "
    "the count of input cells (count_include_pad: the kernel size), round_half_even(y / y_scale + "
    "y_zero); pooling geometry of AveragePool-11"))
def qlinear_average_pool(ctx):
    require(ctx, _eight_bit_check(0))
    as_v11 = copy.copy(ctx)
    as_v11.version = 11
    geo = PoolGeometry(as_v11, dilations=False, ceil=True)
    include_pad = bool(ctx.attr("count_include_pad", 0))
    channels_last = bool(ctx.attr("channels_last", 0))

    def pool(x, x_scale, x_zero, y_scale, y_zero=None):
        dq = _dequantize(x, x_scale, x_zero)
        in_size = list(x.shape[2:])
        begins, ends, extra = geo.explicit_pads(in_size)
        _, _, outs = geo._lengths(in_size)
        total = flow.nn.functional.pad(dq, _pad_arg(begins, [e + x_ for e, x_ in zip(ends, extra)]))
        acc = None
        for offset in np.ndindex(*geo.kernel):   # ORT's summation order
            index = [slice(None), slice(None)] + [slice(o, o + (n - 1) * s + 1, s)
                                                  for o, n, s in zip(offset, outs, geo.stride)]
            term = total[tuple(index)]
            acc = term if acc is None else acc + term
        if include_pad:
            count = float(math.prod(geo.kernel))
        else:
            count = _valid_counts(in_size, begins, outs, geo, x.device)
        y = acc / count
        scaled = y / _f32(y_scale).reshape([]) + _zero(y_zero, y)
        return _saturate(flow.round(scaled), _out_dtype(x))

    def run(x, *rest):
        if channels_last:
            perm = [0, x.ndim - 1] + list(range(1, x.ndim - 1))
            back = [0] + list(range(2, x.ndim)) + [1]
            return geo.guard(lambda t: pool(t, *rest))(x.permute(*perm)).permute(*back)
        return geo.guard(lambda t: pool(t, *rest))(x)

    return run


def _pad_arg(begins, ends):
    out = []
    for b, e in zip(reversed(begins), reversed(ends)):
        out += [int(b), int(e)]
    return out


def _valid_counts(in_size, begins, outs, geo, device):
    """Per window, the number of input cells it covers (ORT clamps each window to the input)."""
    per_axis = []
    for n, b, out, k, s in zip(in_size, begins, outs, geo.kernel, geo.stride):
        start = np.arange(out) * s - b
        per_axis.append((np.minimum(start + k, n) - np.maximum(start, 0)).astype(np.float32))
    counts = per_axis[0]
    for c in per_axis[1:]:
        counts = np.multiply.outer(counts, c)
    return flow.tensor(np.asarray(counts, np.float32), device=device)


@register("QLinearGlobalAveragePool", 1, domain=MS, check=_eight_bit_check(0), notes=(
    "as ORT: exact integer sum minus x_zero * size, times x_scale / (y_scale * size) in float32, round "
    "half to even, plus y_zero"))
def qlinear_global_average_pool(ctx):
    require(ctx, _eight_bit_check(0))
    channels_last = bool(ctx.attr("channels_last", 0))

    def run(x, x_scale, x_zero, y_scale, y_zero):
        dims = list(range(1, x.ndim - 1)) if channels_last else list(range(2, x.ndim))
        size = math.prod(x.shape[d] for d in dims)
        acc = flow.sum(_centered(x, x_zero.reshape([])), dim=dims, keepdim=True)
        factor = _f32(x_scale).reshape([]) / (_f32(y_scale).reshape([]) * float(size))
        return _saturate(flow.round(_f32(acc) * factor) + _zero(y_zero, x), _out_dtype(x))

    return run


# --- softmax ------------------------------------------------------------------------------------
_FLT_MAX = float(np.finfo(np.float32).max)


@register("QLinearSoftmax", 1, domain=MS, check=_eight_bit_check(0), notes=(
    "ORT's algorithm: exp((x - row max + shift) * x_scale) in double rounded to float32 "
    "(shift = max(0, ln(FLT_MAX / D) - 5) / x_scale), summed in float32 in row order, "
    "round_half_even(e * floor(1 / y_scale) / sum) + y_zero; int8 results wrap and a float32 overflow "
    "of that product gives y_zero, as ORT on x86"))
def qlinear_softmax(ctx):
    require(ctx, _eight_bit_check(0))
    opset = ctx.attr("opset")
    axis = ctx.attr("axis", 1 if opset < 13 else -1)

    def rows(x):
        """x as (N, D) with the reduced axis (axes below opset 13) last, and the way back."""
        ax = axis % x.ndim
        if opset < 13:
            shape = list(x.shape)
            return x.reshape(math.prod(shape[:ax]), -1), lambda y: y.reshape(shape)
        moved = x.transpose(ax, x.ndim - 1)
        shape = list(moved.shape)
        return moved.reshape(-1, shape[-1]), lambda y: y.reshape(shape).transpose(ax, x.ndim - 1)

    def run(x, x_scale, x_zero, y_scale, y_zero):
        flat, back = rows(x)
        d = flat.shape[1]
        scale64 = x_scale.to(_F64).reshape([])
        shift = max(0.0, math.log(float(np.float32(_FLT_MAX) / np.float32(d))) - 5.0) / scale64
        xi = flat.to(_F64)
        e = _f32(flow.exp((xi - flow.amax(xi, dim=1, keepdim=True) + shift) * scale64))
        total = e[:, 0:1]
        for j in range(1, d):           # float32, in row order (ORT's loop)
            total = total + e[:, j:j + 1]
        inv_scale = flow.floor(1.0 / _f32(y_scale).reshape([]))
        ratio = flow.round(e * inv_scale / total)
        zero = _f32(y_zero).reshape([])
        # e * floor(1/y_scale) can overflow float32 (short rows: the shift puts e near 1e36).
        # ORT converts that infinity on x86 to 0 (uint32) or INT_MIN (int32) before adding the
        # zero point: uint8 gives y_zero; int8 gives y_zero, or -1 where INT_MIN + y_zero wraps.
        overflow = flow.isinf(ratio)
        q = flow.where(overflow, flow.zeros_like(ratio), ratio) + zero
        if x.dtype == flow.int8:        # ORT: > 255 -> int8(255) = -1, other values wrap
            q = flow.where(q > 255, flow.full_like(q, -1.0), flow.fmod(q + 128.0, 256.0) - 128.0)
            q = flow.where(flow.logical_and(overflow, zero < 0), flow.full_like(q, -1.0), q)
            return back(q.to(flow.int8))
        return back(flow.clamp(q, max=255.0).to(flow.uint8))

    return run


# --- matrix products ----------------------------------------------------------------------------
def _column(param, ndim):
    """A per-column (size N) scale or zero point shaped to broadcast over (..., M, N)."""
    return param.reshape([1] * (ndim - 1) + [-1]) if param.numel() > 1 else param.reshape([])


@register("QGemm", 1, domain=MS, notes=(
    "as ORT: exact integer product plus the int32 C, times (alpha * a_scale * b_scale) / y_scale in "
    "float32, round half to even, plus y_zero; without y_scale the float32 product times the scale"))
def qgemm(ctx):
    alpha = float(np.float32(ctx.attr("alpha", 1.0)))
    trans_a, trans_b = ctx.attr("transA", 0), ctx.attr("transB", 0)

    def run(a, a_scale, a_zero, b, b_scale, b_zero, c=None, y_scale=None, y_zero=None):
        a_c = _centered(a, a_zero.reshape([]))
        b_zero = b_zero.reshape([-1, 1] if trans_b else [1, -1]) if b_zero.numel() > 1 else b_zero.reshape([])
        b_c = _centered(b, b_zero)
        acc = flow.matmul(a_c.T if trans_a else a_c, b_c.T if trans_b else b_c)
        if c is not None:
            acc = acc + c.to(_F64)
        scale = (alpha * _f32(a_scale).reshape([])) * _column(_f32(b_scale), 2)
        if y_scale is None:
            return _f32(acc) * scale
        scale = scale / _f32(y_scale).reshape([])
        dtype = y_zero.dtype if y_zero is not None else flow.uint8
        return _saturate(flow.round(_f32(acc) * scale) + _zero(y_zero, a), dtype)

    return run


def _matmul_centered(a, a_zero, b, b_zero):
    """Exact (A - a_zero) @ (B - b_zero) in float64; b_zero may hold one value per column."""
    if b_zero is not None and b_zero.numel() > 1:
        b_zero = b_zero.reshape([-1] if b.ndim == 1 else [1] * (b.ndim - 1) + [-1])
    elif b_zero is not None:
        b_zero = b_zero.reshape([])
    return flow.matmul(_centered(a, None if a_zero is None else a_zero.reshape([])), _centered(b, b_zero))


@register("MatMulIntegerToFloat", 1, domain=MS, notes=(
    "exact integer product rounded to float32, times a_scale * b_scale (float32), plus bias, as ORT"))
def matmul_integer_to_float(ctx):
    def run(a, b, a_scale, b_scale, a_zero=None, b_zero=None, bias=None):
        acc = _matmul_centered(a, a_zero, b, b_zero)
        y = _f32(acc) * (_f32(a_scale).reshape([]) * _column(_f32(b_scale), acc.ndim))
        return y if bias is None else y + _f32(bias)

    return run


def dynamic_quantize_uint8(x):
    """ORT's dynamic uint8 quantization of a float tensor (DynamicQuantizeLinear's arithmetic):
    range widened to include 0, scale = range / 255, zero point round(-min / scale)."""
    lo = flow.clamp(x.min(), max=0.0)
    hi = flow.clamp(x.max(), min=0.0)
    scale = (hi - lo) / 255.0
    scale = flow.where(scale == 0, flow.ones_like(scale), scale)
    zero = flow.clamp(flow.round(-lo / scale), 0.0, 255.0)
    q = _saturate(flow.round(x / scale) + zero, flow.uint8)
    return q, scale, zero


@register("DynamicQuantizeMatMul", 1, domain=MS, notes=(
    "A quantized to uint8 per tensor as DynamicQuantizeLinear, exact integer product, times "
    "a_scale * b_scale in float32, plus bias, as ORT"))
def dynamic_quantize_matmul(ctx):
    def run(a, b, b_scale, b_zero=None, bias=None):
        qa, a_scale, a_zero = dynamic_quantize_uint8(_f32(a))
        acc = _matmul_centered(qa, a_zero, b, b_zero)
        y = _f32(acc) * (a_scale * _column(_f32(b_scale), acc.ndim))
        return y if bias is None else y + _f32(bias)

    return run


# --- DynamicQuantizeLSTM ------------------------------------------------------------------------
def _as_lstm(ctx):
    """The node's context as the standard LSTM's (same attributes and first eight inputs)."""
    lstm = copy.copy(ctx)
    lstm.op_type = "LSTM"
    return lstm


def _lstm_check(ctx):
    from .recurrent import _recurrent_check

    return _recurrent_check(_as_lstm(ctx))


def _quantized_product(a, weight):
    """ORT's quantized GEMM inside its LSTM: ``a`` quantized to uint8 per tensor (every row of
    the call at once), exact integer product with the stored weight, scaled back in float32."""
    w, scale, zero = weight
    qa, a_scale, a_zero = dynamic_quantize_uint8(_f32(a))
    acc = _matmul_centered(qa, a_zero, w, zero)
    return _f32(acc) * (a_scale * _column(_f32(scale), acc.ndim))


@register("DynamicQuantizeLSTM", 1, domain=MS, check=_lstm_check, notes=(
    "LSTM whose W [dirs, input, 4h] and R [dirs, hidden, 4h] are stored quantized: as ORT, X (all "
    "steps at once) and each step's hidden state are quantized to uint8 per tensor, multiplied "
    "exactly with the stored weights and scaled back in float32; the gate arithmetic is the LSTM's "
    "(float32 sums in another order: ~1e-7 apart)"))
def dynamic_quantize_lstm(ctx):
    from .recurrent import _build

    run_lstm = _build(_as_lstm(ctx), project=_quantized_product, recur=_quantized_product)

    def per_direction(w, scale, zero):
        def pick(t, d):
            return t.reshape([]) if t.numel() == 1 else t[d]
        return [(w[d], pick(scale, d), pick(zero, d)) for d in range(w.shape[0])]

    def run(x, w, r, b=None, seq_lens=None, h0=None, c0=None, p=None,
            w_scale=None, w_zero=None, r_scale=None, r_zero=None):
        return run_lstm(x, per_direction(w, w_scale, w_zero), per_direction(r, r_scale, r_zero),
                        b, seq_lens, h0, c0, p)

    return run
