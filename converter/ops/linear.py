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


@register("Einsum", 12)
def einsum(ctx):
    equation = ctx.attr("equation").replace(" ", "")
    return lambda *xs: flow.einsum(equation, *xs)


def _det(a):
    """Determinant by Gaussian elimination with partial pivoting (OneFlow 0.9 has no det/LU)."""
    batch_shape, n = list(a.shape[:-2]), a.shape[-1]
    m = a.reshape(-1, n, n)
    rows = flow.arange(n, device=a.device).reshape(1, n).expand(m.shape[0], n)
    det = flow.ones(m.shape[0], dtype=a.dtype, device=a.device)
    for k in range(n):
        p = flow.argmax(m[:, k:, k].abs(), dim=1) + k                       # pivot row per matrix
        pk = p.reshape(-1, 1)
        perm = flow.where(rows == k, pk, flow.where(rows == pk, flow.full_like(pk, k), rows))
        m = flow.gather(m, 1, perm.reshape(-1, n, 1).expand(m.shape[0], n, n))
        det = flow.where(p != k, -det, det)
        pivot = m[:, k, k]
        det = det * pivot
        if k + 1 < n:
            safe = flow.where(pivot == 0, flow.ones_like(pivot), pivot)
            factors = (m[:, k + 1:, k] / safe.reshape(-1, 1)).unsqueeze(-1)
            m = flow.cat([m[:, :k + 1], m[:, k + 1:] - factors * m[:, k:k + 1, :]], dim=1)
    return det.reshape(batch_shape)


@register("Det", 11, 22)
def det(ctx):
    return _det
