"""Gemm and MatMul; constant weights become native Linear layers."""
from __future__ import annotations

import numpy as np
import oneflow as flow

from ..registry import register
from ._util import const_param


def _linear(weight_out_in: np.ndarray, bias) -> flow.nn.Linear:
    out_f, in_f = weight_out_in.shape
    layer = flow.nn.Linear(in_f, out_f, bias=bias is not None)
    layer.weight = const_param(np.ascontiguousarray(weight_out_in))
    if bias is not None:
        layer.bias = const_param(np.ascontiguousarray(bias))
    return layer


@register("Gemm", 1, 6, 7, 9, 11, 13)
def gemm(ctx):
    alpha, beta = ctx.attr("alpha", 1.0), ctx.attr("beta", 1.0)
    trans_a, trans_b = ctx.attr("transA", 0), ctx.attr("transB", 0)
    b, c = ctx.const(1), ctx.const(2)
    if not trans_a and b is not None and b.ndim == 2 and b.dtype == np.float32 and (
            not ctx.has_input(2) or (c is not None and c.size in (1, b.shape[0 if trans_b else 1]))):
        w = (b if trans_b else b.T) * np.float32(alpha)
        n = w.shape[0]
        bias = None if c is None else np.broadcast_to(c.reshape(-1) * np.float32(beta), (n,)).astype(np.float32)
        ctx.claim(1, 2)
        return _linear(w.astype(np.float32), bias)

    def run(a, b, c=None):
        if trans_a:
            a = a.transpose(0, 1)
        if trans_b:
            b = b.transpose(0, 1)
        y = flow.matmul(a, b)
        if alpha != 1.0:
            y = y * alpha
        if c is not None:
            y = y + (c * beta if beta != 1.0 else c)
        return y

    return run


@register("MatMul", 1, 9, 13)
def matmul(ctx):
    b = ctx.const(1)
    if b is not None and b.ndim == 2 and b.dtype == np.float32 and (ctx.input_rank(0) or 0) >= 2:
        ctx.claim(1)
        return _linear(b.T, None)
    return flow.matmul
