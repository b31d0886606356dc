"""Elementwise arithmetic: binary and variadic ops with broadcasting, unary math."""
from __future__ import annotations

import functools

import oneflow as flow

from ..registry import register
from ._util import INT_DTYPES, fp16_via_fp32

_BINARY_VERSIONS = (1, 6, 7, 13, 14)


def _legacy_broadcast(ctx, fn):
    """Opset < 7 binary ops broadcast B only with ``broadcast=1``, aligned at ``axis``."""
    if not ctx.attr("broadcast", 0):
        return fn
    axis = ctx.attr("axis")

    def run(a, b):
        if axis is not None and b.ndim < a.ndim:
            ax = axis if axis >= 0 else axis + a.ndim
            b = b.reshape(list(b.shape) + [1] * (a.ndim - ax - b.ndim))
        return fn(a, b)

    return run


def true_div(a, b):
    """ONNX Div: integers truncate toward zero, as OneFlow's integer floor_divide does
    (measured: -4 // 3 == -1); floats divide. Self-contained: codegen pastes it."""
    if a.dtype in (flow.int8, flow.uint8, flow.int32, flow.int64):
        return flow.floor_divide(*int_divisor_safe(a, b))
    return flow.div(a, b)


def int_divisor_safe(a, b):
    """Broadcast integer operands of a division so OneFlow's kernel cannot trap (SIGFPE kills
    the process): a zero divisor raises ZeroDivisionError (ONNX leaves it undefined; ONNX
    Runtime itself dies of SIGFPE), and x / -1 becomes -x / 1 (the same two's-complement
    result, without the INT_MIN / -1 overflow trap; x mod -1 = -x mod 1 = 0). Under nn.Graph
    tracing values cannot be read: a zero divisor is replaced by 1 there (an unspecified
    result, never a trap). Self-contained: codegen pastes it."""
    a, b = flow.broadcast_tensors(a, b)   # OneFlow's integer division does not broadcast
    if a.numel() == 0:
        return a, flow.ones_like(b)
    zero = b == 0
    if not b.is_lazy and bool(zero.any()):
        raise ZeroDivisionError(f"integer division by zero (divisor {list(b.shape)} has zeros)")
    if a.dtype == flow.uint8:
        return a, b + zero.to(b.dtype)   # no uint8 where kernel; no -1 to flip
    flip = b == -1
    # 0 - a, not -a: OneFlow 0.9 negates integers into float32 (measured)
    return flow.where(flip, flow.zeros_like(a) - a, a), flow.where(flip | zero, flow.ones_like(b), b)


_BINARY = {"Add": flow.add, "Sub": flow.sub, "Mul": flow.mul, "Div": true_div}


_INT_DIV_NOTE = ("integer division by zero raises (the spec leaves it undefined; ONNX Runtime dies of SIGFPE); "
                 "INT_MIN / -1 wraps to INT_MIN")


def _register_binary(op_type, fn):
    fn = fp16_via_fp32(fn)

    @register(op_type, *_BINARY_VERSIONS, notes=_INT_DIV_NOTE if op_type == "Div" else "")
    def build(ctx):
        return _legacy_broadcast(ctx, fn) if ctx.version < 7 else fn

    build.__name__ = op_type.lower()


for _op, _fn in _BINARY.items():
    _register_binary(_op, _fn)


def pow_typed(base, exponent):
    """ONNX Pow: the output has the base's dtype, whatever the exponent's.

    Integer bases with integer exponents are exact (repeated squaring); with float exponents
    they go through float64, which holds every int32 exactly, and truncate as a C cast would.
    float16 computes in float32. Self-contained: codegen pastes it into generated modules."""
    ints = (flow.int8, flow.uint8, flow.int32, flow.int64)
    if base.dtype in ints:
        if exponent.dtype in ints:
            return int_pow(base, exponent.to(base.dtype))
        return flow.pow(base.to(flow.float64), exponent.to(flow.float64)).to(base.dtype)
    compute = flow.float32 if base.dtype == flow.float16 else base.dtype
    return flow.pow(base.to(compute), exponent.to(compute)).to(base.dtype)


def int_pow(base, exponent):
    """Exact integer power by repeated squaring (OneFlow's pow returns float for ints)."""
    base, exponent = flow.broadcast_tensors(base, exponent)
    result = flow.ones_like(base)
    bits = int(exponent.max().item()).bit_length() if exponent.numel() else 0
    for _ in range(bits):
        odd = flow.fmod(exponent, flow.ones_like(exponent) * 2) != 0
        result = flow.where(odd, result * base, result)
        base = base * base
        exponent = flow.floor_divide(exponent, flow.ones_like(exponent) * 2)
    return result


@register("Pow", 1, 7, 12, 13, 15, notes="output dtype = the base's (spec); integer powers are exact")
def pow_(ctx):
    return _legacy_broadcast(ctx, pow_typed) if ctx.version < 7 else pow_typed


@fp16_via_fp32
def _floor_mod(a, b):
    """Python/numpy ``%``: the result takes the divisor's sign."""
    a, b = int_divisor_safe(a, b) if a.dtype in INT_DTYPES else flow.broadcast_tensors(a, b)
    r = flow.fmod(a, b)
    if a.dtype == flow.uint8:   # no negatives: fmod is already the floor mod (no uint8 where)
        return r
    wrong_sign = (r != 0) & ((r < 0) != (b < 0))
    return flow.where(wrong_sign, r + b, r)


@register("Mod", 10, 13, notes=_INT_DIV_NOTE.replace("division", "modulo").replace(" / -1 wraps to INT_MIN",
                                                                                   " mod -1 is 0"))
def mod(ctx):
    return fp16_via_fp32(_fmod) if ctx.attr("fmod", 0) else _floor_mod


def _fmod(a, b):
    if a.dtype in INT_DTYPES:
        return flow.fmod(*int_divisor_safe(a, b))
    return flow.fmod(*flow.broadcast_tensors(a, b))  # OneFlow's fmod does not broadcast


def _variadic(fn, mean=False):
    def run(*xs):
        out = functools.reduce(fn, xs)
        return out / len(xs) if mean else out
    return fp16_via_fp32(run)


_VARIADIC = {
    "Max": ((1, 6, 8, 12, 13), _variadic(flow.maximum)),
    "Min": ((1, 6, 8, 12, 13), _variadic(flow.minimum)),
    "Sum": ((1, 6, 8, 13), _variadic(flow.add)),
    "Mean": ((1, 6, 8, 13), _variadic(flow.add, mean=True)),
}


def _register_simple(op_type, versions, fn, notes=""):
    @register(op_type, *versions, notes=notes)
    def build(ctx):
        return fn
    build.__name__ = op_type.lower()


for _op, (_versions, _fn) in _VARIADIC.items():
    _register_simple(_op, _versions, _fn)


def _neg(x):
    # OneFlow 0.9's neg returns float32 for integer inputs (int64 beyond 2**24 would round):
    # subtracting from zero stays in the input dtype, exactly, as ONNX requires.
    if x.dtype in INT_DTYPES:
        return flow.zeros_like(x) - x
    return flow.neg(x)


def _sign(x):
    # Same float32 result as neg for integers in OneFlow 0.9; ONNX keeps the input dtype.
    if x.dtype in INT_DTYPES:
        return (x > 0).to(x.dtype) - (x < 0).to(x.dtype)
    return flow.sign(x)


def _round_half_even(x):
    # flow.round already rounds halves to even, like ONNX Round.
    return flow.round(x)


_UNARY = {
    "Neg": ((1, 6, 13), _neg),
    "Abs": ((1, 6, 13), flow.abs),
    "Sqrt": ((1, 6, 13), flow.sqrt),
    "Exp": ((1, 6, 13), flow.exp),
    "Log": ((1, 6, 13), flow.log),
    "Reciprocal": ((1, 6, 13), flow.reciprocal),
    "Floor": ((1, 6, 13), flow.floor),
    "Ceil": ((1, 6, 13), flow.ceil),
    "Round": ((11, 22), _round_half_even),
    "Sign": ((9, 13), _sign),
    "Erf": ((9, 13), flow.erf),
    "Sin": ((7, 22), flow.sin),
    "Cos": ((7, 22), flow.cos),
    "Tan": ((7, 22), flow.tan),
    "Asin": ((7, 22), flow.asin),
    "Acos": ((7, 22), flow.acos),
    "Atan": ((7, 22), flow.atan),
    "Sinh": ((9, 22), flow.sinh),
    "Cosh": ((9, 22), flow.cosh),
    "Asinh": ((9, 22), flow.asinh),
    "Acosh": ((9, 22), flow.acosh),
    "Atanh": ((9, 22), flow.atanh),
}

_UNARY_NOTES = {
    "Neg": "integer inputs keep their dtype, exactly (OneFlow's own neg returns float32 for them)",
    "Sign": "integer inputs keep their dtype, exactly (OneFlow's own sign returns float32 for them)",
}

for _op, (_versions, _fn) in _UNARY.items():
    _register_simple(_op, _versions, fp16_via_fp32(_fn), _UNARY_NOTES.get(_op, ""))
