"""Activations, Clip, Shrink and the softmax family."""
from __future__ import annotations

import math

import numpy as np
import oneflow as flow
import oneflow.nn.functional as F

from ..registry import register
from ._util import fp16_via_fp32, require


def _simple(op_type, *versions, check=None):
    """Register ``make(ctx) -> fn``; the returned function is float16-safe."""
    def deco(make):
        @register(op_type, *versions, check=check)
        def build(ctx):
            return fp16_via_fp32(make(ctx))
        build.__name__ = make.__name__
        return make
    return deco


@_simple("Relu", 1, 6, 13, 14)
def relu(ctx):
    return flow.relu


@_simple("Sigmoid", 1, 6, 13)
def sigmoid(ctx):
    return flow.sigmoid


@_simple("Tanh", 1, 6, 13)
def tanh(ctx):
    return flow.tanh


@_simple("LeakyRelu", 1, 6, 16)
def leaky_relu(ctx):
    alpha = ctx.attr("alpha", 0.01)
    return lambda x: F.leaky_relu(x, alpha)


@_simple("PRelu", 1, 6, 7, 9, 16)
def prelu(ctx):
    # Slope broadcasts to X (unidirectionally), so it is not OneFlow's per-channel PReLU.
    return lambda x, slope: flow.where(x < 0, x * slope, x)


@_simple("Elu", 1, 6, 22)
def elu(ctx):
    alpha = ctx.attr("alpha", 1.0)
    return lambda x: flow.where(x > 0, x, alpha * (flow.exp(x) - 1))


@_simple("Selu", 1, 6, 22)
def selu(ctx):
    alpha = ctx.attr("alpha", 1.67326319217681884765625)
    gamma = ctx.attr("gamma", 1.05070102214813232421875)
    return lambda x: gamma * flow.where(x > 0, x, alpha * (flow.exp(x) - 1))


@_simple("Celu", 12)
def celu(ctx):
    alpha = ctx.attr("alpha", 1.0)
    return lambda x: flow.relu(x) + flow.clamp(alpha * (flow.exp(x / alpha) - 1), max=0.0)


@_simple("ThresholdedRelu", 10, 22)
def thresholded_relu(ctx):
    alpha = ctx.attr("alpha", 1.0)
    return lambda x: flow.where(x > alpha, x, flow.zeros_like(x))


@_simple("HardSigmoid", 1, 6, 22)
def hard_sigmoid(ctx):
    alpha, beta = ctx.attr("alpha", 0.2), ctx.attr("beta", 0.5)
    return lambda x: flow.clamp(alpha * x + beta, 0.0, 1.0)


@_simple("HardSwish", 14, 22)
def hard_swish(ctx):
    return lambda x: x * flow.clamp(x / 6 + 0.5, 0.0, 1.0)


@_simple("Softplus", 1, 22)
def softplus(ctx):
    # log(exp(x) + 1) without overflow for large x
    return lambda x: flow.relu(x) + flow.log1p(flow.exp(-flow.abs(x)))


@_simple("Softsign", 1, 22)
def softsign(ctx):
    return lambda x: x / (1 + flow.abs(x))


@_simple("Mish", 18, 22)
def mish(ctx):
    return lambda x: x * flow.tanh(flow.relu(x) + flow.log1p(flow.exp(-flow.abs(x))))


def _gelu_check(ctx):
    approximate = ctx.attr("approximate", "none")
    return None if approximate in ("none", "tanh") else f"approximate={approximate!r}"


@_simple("Gelu", 20, check=_gelu_check)
def gelu(ctx):
    require(ctx, _gelu_check)
    if ctx.attr("approximate", "none") == "tanh":
        k = math.sqrt(2 / math.pi)
        return lambda x: 0.5 * x * (1 + flow.tanh(k * (x + 0.044715 * x * x * x)))
    return lambda x: 0.5 * x * (1 + flow.erf(x / math.sqrt(2)))


@_simple("Shrink", 9)
def shrink(ctx):
    lambd, bias = ctx.attr("lambd", 0.5), ctx.attr("bias", 0.0)

    def run(x):
        # Integer inputs: the float attributes meet the integer x in float arithmetic, and the
        # result is cast back to x's type (ONNX Runtime does the same).
        xf = x if x.dtype in (flow.float32, flow.float64) else x.to(flow.float64)
        y = flow.where(xf < -lambd, xf + bias, flow.where(xf > lambd, xf - bias, flow.zeros_like(xf)))
        return y.to(x.dtype)

    return run


def _clip_bound(value):
    return None if value is None else value.reshape(-1)[0].item()


@register("Clip", 1, 6, 11, 12, 13)
def clip(ctx):
    if ctx.version < 11:
        lo = ctx.attr("min", float(-np.finfo(np.float32).max))
        hi = ctx.attr("max", float(np.finfo(np.float32).max))
        return fp16_via_fp32(lambda x: flow.clamp(x, lo, hi))
    static = [not ctx.has_input(i) or ctx.is_const(i) for i in (1, 2)]
    if all(static):
        lo, hi = _clip_bound(ctx.const(1)), _clip_bound(ctx.const(2))
        ctx.claim(1, 2)
        if lo is None and hi is None:
            return lambda x: x
        return fp16_via_fp32(lambda x: flow.clamp(x, lo, hi))

    def run(x, lo=None, hi=None):
        if lo is not None:
            x = flow.maximum(x, lo.to(x.dtype))
        if hi is not None:
            x = flow.minimum(x, hi.to(x.dtype))
        return x

    return fp16_via_fp32(run)


def _coerced_2d(fn):
    """Opset < 13 semantics: flatten to 2-D at ``axis``, apply ``fn`` on dim 1, restore."""
    def make(axis):
        def run(x):
            ax = axis if axis >= 0 else axis + x.ndim
            rows = int(np.prod(x.shape[:ax])) if ax else 1
            # explicit lengths: OneFlow's reshape divides by zero inferring -1 beside a 0
            return fn(x.reshape(rows, int(np.prod(x.shape[ax:]))), 1).reshape(x.shape)
        return run
    return make


def _hardmax(x, dim):
    hot = F.one_hot(flow.argmax(x, dim=dim), num_classes=x.shape[dim]).to(x.dtype)
    return flow.movedim(hot, -1, dim) if dim not in (-1, x.ndim - 1) else hot


_SOFTMAX_FAMILY = {
    "Softmax": lambda x, dim: flow.softmax(x, dim=dim),
    "LogSoftmax": lambda x, dim: flow.log_softmax(x, dim=dim),
    "Hardmax": _hardmax,
}


def _register_softmax(op_type, fn):
    @register(op_type, 1, 11, 13)
    def build(ctx):
        if ctx.version < 13:
            return fp16_via_fp32(_coerced_2d(fn)(ctx.attr("axis", 1)))
        axis = ctx.attr("axis", -1)
        return fp16_via_fp32(lambda x: fn(x, axis))
    build.__name__ = op_type.lower()


for _op, _fn in _SOFTMAX_FAMILY.items():
    _register_softmax(_op, _fn)
