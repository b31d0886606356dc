"""ONNX Runtime's fused ``com.microsoft`` operators (version 1) its graph optimizer writes into
saved optimized models: FusedConv (Conv [+ Z] + activation) and FusedMatMul (MatMul of
transposed operands, scaled)."""
from __future__ import annotations

import numpy as np
import oneflow as flow
import oneflow.nn.functional as F

from ..registry import register
from ._util import require
from .nn import conv

MS = "com.microsoft"

# ORT's fused activations and how activation_params feed them.
_ACTIVATIONS = {
    "Relu": lambda p: flow.relu,
    "Tanh": lambda p: flow.tanh,
    "Sigmoid": lambda p: flow.sigmoid,
    "LeakyRelu": lambda p: (lambda y: F.leaky_relu(y, p[0] if p else 0.01)),
    "Clip": lambda p: (lambda y: flow.clamp(y, p[0], p[1])),
    "HardSigmoid": lambda p: (lambda y: flow.clamp(p[0] * y + p[1], 0.0, 1.0)),
}


def _fused_conv_check(ctx):
    name = ctx.attr("activation", "")
    if name and name not in _ACTIVATIONS:
        return f"activation {name!r}"
    params = [float(np.float32(v)) for v in ctx.attr("activation_params") or []]
    need = {"Clip": 2, "HardSigmoid": 2}.get(name, 0)
    if len(params) < need:
        return f"activation {name!r} needs {need} activation_params, got {len(params)}"
    return None


@register("FusedConv", 1, domain=MS, check=_fused_conv_check, notes=(
    "activation(Conv(X, W, B) + Z), activations Relu, Tanh, Sigmoid, LeakyRelu, Clip, HardSigmoid as ORT"))
def fused_conv(ctx):
    require(ctx, _fused_conv_check)
    name = ctx.attr("activation", "")
    params = [float(np.float32(v)) for v in ctx.attr("activation_params") or []]
    act = _ACTIVATIONS[name](params) if name else None
    layer = conv(ctx)    # the Conv handler: a layer owning constant W/B (claimed), or run(x, w, b)
    if isinstance(layer, flow.nn.Module):
        return _FusedConvLayer(layer, act)

    def run(x, w, b=None, z=None):
        y = layer(x, w, b)
        if z is not None:
            y = y + z
        return act(y) if act is not None else y

    return run


class _FusedConvLayer(flow.nn.Module):
    """The Conv handler's layer (constant weights, a Parameter), then Z and the activation."""

    def __init__(self, layer, act):
        super().__init__()
        self.conv = layer
        self.act = act

    def forward(self, x, w=None, b=None, z=None):
        y = self.conv(x)
        if z is not None:
            y = y + z
        return self.act(y) if self.act is not None else y


def _fused_matmul_check(ctx):
    if ctx.attr("transBatchA", 0) or ctx.attr("transBatchB", 0):
        return "transBatchA/transBatchB=1"
    for i in (0, 1):
        rank = ctx.input_rank(i)
        if rank is not None and rank < 2:
            return f"operand {i} of rank {rank} (transposes need two axes)"
    return None


@register("FusedMatMul", 1, domain=MS, check=_fused_matmul_check, notes=(
    "alpha * op(A) @ op(B), op transposing the last two axes (transA/transB); batch transposes refused"))
def fused_matmul(ctx):
    require(ctx, _fused_matmul_check)
    alpha = float(np.float32(ctx.attr("alpha", 1.0)))
    trans_a, trans_b = ctx.attr("transA", 0), ctx.attr("transB", 0)

    def run(a, b):
        a = a.transpose(-1, -2) if trans_a else a
        b = b.transpose(-1, -2) if trans_b else b
        y = flow.matmul(a, b)
        return y * alpha if alpha != 1.0 else y

    return run
