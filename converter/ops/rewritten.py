"""Operators only the converter's graph rewrites write (converter/rewrites), in the private
domain ``ai.onnx2oneflow.internal``: one OneFlow call (or the shortest sequence OneFlow 0.9
has on CPU) for a pattern an exporter spelled out op by op."""
from __future__ import annotations

import oneflow as flow

from ..registry import register
from ._util import const_param
from .linear import _linear

INTERNAL = "ai.onnx2oneflow.internal"


class _Norm(flow.nn.Module):
    """Layer/RMS normalisation over the trailing axes from ``axis``; scale/bias as Parameters."""

    def __init__(self, axis: int, eps: float, scale, bias, centred: bool):
        super().__init__()
        self.axis, self.eps, self.centred = axis, eps, centred
        self.scale = None if scale is None else const_param(scale)
        self.bias = None if bias is None else const_param(bias)

    def forward(self, x, *_):
        dims = list(range(self.axis, x.ndim))
        if self.centred:
            if x.is_cuda and self.scale is not None and self.bias is not None:
                # OneFlow's fused kernel (on CPU 0.9 has none: its own layer_norm is this composite)
                return flow.nn.functional.layer_norm(x, tuple(x.shape[self.axis:]), self.scale, self.bias, self.eps)
            mean = x.mean(dim=dims, keepdim=True)
            var = x.var(dim=dims, unbiased=False, keepdim=True)
            y = (x - mean) * flow.rsqrt(var + self.eps)
        else:   # OneFlow 0.9's rms_norm has no CPU kernel
            y = x * flow.rsqrt(flow.square(x).mean(dim=dims, keepdim=True) + self.eps)
        if self.scale is not None:
            y = y * self.scale
        if self.bias is not None:
            y = y + self.bias
        return y


def _norm(ctx, centred: bool):
    ctx.claim(1, 2)
    return _Norm(ctx.attr("axis"), ctx.attr("epsilon"), ctx.const(1), ctx.const(2), centred)


@register("LayerNorm", 1, domain=INTERNAL, notes=(
    "written by the layer_norm rewrite: (x - mean) / sqrt(var + epsilon) * scale + bias over the axes "
    "from `axis`; OneFlow's fused layer_norm on CUDA, its CPU composite (mean, var, rsqrt) on CPU"))
def layer_norm(ctx):
    return _norm(ctx, True)


@register("RMSNorm", 1, domain=INTERNAL, notes=(
    "written by the rms_norm rewrite: x / sqrt(mean(x^2) + epsilon) * scale over the axes from `axis`"))
def rms_norm(ctx):
    return _norm(ctx, False)


@register("Gelu", 1, domain=INTERNAL, notes=(
    "written by the gelu rewrite: OneFlow's gelu (approximate='none') or its tanh approximation"))
def gelu(ctx):
    if ctx.attr("approximate", "none") == "tanh":
        return lambda x: flow._C.gelu_with_approximate(x, "tanh")
    return flow.gelu


@register("Linear", 1, domain=INTERNAL, notes=(
    "written by the linear_bias rewrite: x @ W + b with constant W (K, N) and b (N): a Linear layer"))
def linear(ctx):
    ctx.claim(1, 2)
    return _linear(ctx.const(1).T, ctx.const(2))
