"""Comparisons and logic: Equal, Greater(OrEqual), Less(OrEqual), And, Or, Xor, Not, IsNaN,
IsInf, BitShift."""
from __future__ import annotations

import numpy as np
import oneflow as flow

from ..registry import register
from .math import _legacy_broadcast   # opset < 7 ``broadcast``/``axis`` attributes


def _binary(op_type, versions, fn):
    @register(op_type, *versions)
    def build(ctx):
        return _legacy_broadcast(ctx, fn) if ctx.version < 7 else fn
    build.__name__ = op_type.lower()
    return build


_COMPARISONS = {
    "Equal": ((1, 7, 11, 13, 19), flow.eq),
    "Greater": ((1, 7, 9, 13), flow.gt),
    "Less": ((1, 7, 9, 13), flow.lt),
    "GreaterOrEqual": ((12, 16), flow.ge),
    "LessOrEqual": ((12, 16), flow.le),
    "And": ((1, 7), flow.logical_and),
    "Or": ((1, 7), flow.logical_or),
    "Xor": ((1, 7), flow.logical_xor),
}
for _op, (_versions, _fn) in _COMPARISONS.items():
    _binary(_op, _versions, _fn)


@register("Not", 1)
def not_(ctx):
    return flow.logical_not


def _up16(x):
    """float16 -> float32 is exact, and OneFlow's CPU isnan/isinf lack float16."""
    return x.to(flow.float32) if x.dtype == flow.float16 else x


@register("IsNaN", 9, 13, 20)
def is_nan(ctx):
    return lambda x: flow.isnan(_up16(x))


@register("IsInf", 10, 20)
def is_inf(ctx):
    positive = bool(ctx.attr("detect_positive", 1))
    negative = bool(ctx.attr("detect_negative", 1))

    def run(x):
        x = _up16(x)
        inf = flow.isinf(x)
        if positive and negative:
            return inf
        if positive:
            return inf & (x > 0)
        if negative:
            return inf & (x < 0)
        return flow.zeros_like(inf)

    return run


def _bitshift_check(ctx):
    dtype = ctx.input_dtype(0)
    if dtype is not None and str(dtype) != "uint8":
        return f"BitShift on {dtype} (OneFlow 0.9 has no unsigned dtype wider than uint8)"
    return None


@register("BitShift", 11, check=_bitshift_check, notes="uint8 only (OneFlow 0.9 has no wider unsigned dtype)")
def bit_shift(ctx):
    left = ctx.attr("direction") == "LEFT"

    def run(x, y):
        # uint8 in int64 is exact; a left shift wraps modulo 2**8 like the uint8 reference.
        # OneFlow's floor_divide/fmod do not broadcast: expand both to the common shape.
        shape = np.broadcast_shapes(tuple(x.shape), tuple(y.shape))
        a, n = (t.to(flow.int64).expand(*shape) if shape else t.to(flow.int64) for t in (x, y))
        # A shift by 8 or more leaves 0 either way; 2**8 gives that without overflowing 2**n.
        scale = flow.pow(flow.full_like(n, 2), flow.clamp(n, 0, 8))
        out = flow.fmod(a * scale, 256) if left else flow.floor_divide(a, scale)
        return out.to(x.dtype)

    return run


# --- bitwise (OneFlow 0.9 has no integer bitwise kernels: its & | ^ are logical) -----------------
_BITS = {flow.int8: (8, True), flow.uint8: (8, False), flow.int32: (32, True), flow.int64: (64, True)}


def _bits(x, width):
    """``width`` two's-complement bits of an int64 tensor, least significant first.

    OneFlow's integer // and % truncate toward zero, so bits are taken from a non-negative
    value: for x < 0, ~x = -x - 1 >= 0 has every bit flipped.
    """
    neg = x < 0
    m = flow.where(neg, -1 - x, x)   # (unary minus on int64 yields float in OneFlow 0.9)
    out = []
    for k in range(width):
        bit = (m // (2 ** k)) % 2 if k < 63 else flow.zeros_like(m)   # m < 2**63
        out.append(flow.where(neg, 1 - bit, bit))
    return out


def _from_bits(bits, width, signed):
    total = flow.zeros_like(bits[0])
    for k, b in enumerate(bits[:-1]):
        total = total + b * (2 ** k)
    half = 2 ** (width - 2)   # 2**(width-1) in two steps: 2**63 is no int64 scalar
    top = bits[-1] * half
    return total - top - top if signed else total + top + top


def _bitwise(combine):
    def run(*xs):
        width, signed = _BITS[xs[0].dtype]
        bits = [_bits(x.to(flow.int64), width) for x in xs]
        combined = [combine(*column) for column in zip(*bits)]
        return _from_bits(combined, width, signed).to(xs[0].dtype)
    return run


def _bitwise_check(ctx):
    dtype = ctx.input_dtype(0)
    if dtype is not None and str(dtype) not in ("int8", "uint8", "int32", "int64"):
        return f"{ctx.op_type} on {dtype} (OneFlow 0.9 has no such integer dtype)"
    return None


_BITWISE = {"BitwiseAnd": lambda a, b: a * b, "BitwiseOr": lambda a, b: a + b - a * b,
            "BitwiseXor": lambda a, b: (a + b) % 2, "BitwiseNot": lambda a: 1 - a}
for _op, _combine in _BITWISE.items():
    register(_op, 18, check=_bitwise_check,
             notes="int8/uint8/int32/int64; computed bit by bit in int64 (exact)")(lambda ctx, _c=_combine: _bitwise(_c))
