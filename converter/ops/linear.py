"""Gemm and MatMul; constant weights become native Linear layers."""
from __future__ import annotations

import numpy as np
import oneflow as flow

from ..registry import register
from ._util import const_param


class Linear(flow.nn.Linear):
    """nn.Linear that never hands OneFlow an empty N-D input (its broadcast matmul aborts
    the process on one, measured on [0, 2, 4] and [4, 0, 2]): the result is empty too."""

    def forward(self, x):
        if x.numel() == 0:
            y = flow.zeros(tuple(x.shape[:-1]) + (self.out_features,), dtype=x.dtype, device=x.device)
            return y if self.bias is None else y + self.bias
        return flow.nn.functional.linear(x, self.weight, self.bias)   # no super(): nn.Graph calls it on a proxy


def _linear(weight_out_in: np.ndarray, bias) -> flow.nn.Linear:
    out_f, in_f = weight_out_in.shape
    layer = Linear(in_f, out_f, bias=bias is not None)
    layer.weight = const_param(np.ascontiguousarray(weight_out_in))
    if bias is not None:
        layer.bias = const_param(np.ascontiguousarray(bias))
    return layer


def gemm_bias(c, n: int, beta: float):
    """C as a per-column Linear bias of length ``n``, or None when its broadcast over the
    (M, N) product is not provably per-column: only a scalar, (1,), (N,), (1, 1) or (1, N)
    is. A (M, 1) C is per-row, even when M == N, and must stay an addition."""
    if c.ndim > 2 or (c.ndim >= 1 and c.shape[-1] not in (1, n)) or (c.ndim == 2 and c.shape[0] != 1):
        return None
    return np.broadcast_to(c.reshape(-1) * np.float32(beta), (n,)).astype(np.float32)


def gemm_linear_weights(ctx):
    """(weight (N, K), bias or None) when Gemm folds into a Linear layer, else None.

    Needs a constant float32 B and no transA; alpha goes into the weight, beta into the bias."""
    alpha, beta = ctx.attr("alpha", 1.0), ctx.attr("beta", 1.0)
    trans_b = ctx.attr("transB", 0)
    b, c = ctx.const(1), ctx.const(2)
    if ctx.attr("transA", 0) or b is None or b.ndim != 2 or b.dtype != np.float32:
        return None
    w = ((b if trans_b else b.T) * np.float32(alpha)).astype(np.float32)
    if not ctx.has_input(2):
        return w, None
    bias = None if c is None else gemm_bias(c, w.shape[0], beta)
    return None if bias is None else (w, bias)


def _gemm_run(alpha, beta, trans_a, trans_b):
    def run(a, b, c=None):
        if a.ndim != 2 or b.ndim != 2:
            raise ValueError(f"Gemm needs 2-D A and B, got shapes {list(a.shape)} and {list(b.shape)}")
        if trans_a:
            a = a.transpose(0, 1)
        if trans_b:
            b = b.transpose(0, 1)
        _check_inner(a.shape, b.shape)
        y = flow.matmul(a, b)
        if alpha != 1.0:
            y = y * alpha
        if c is not None:
            y = y + (c * beta if beta != 1.0 else c)
        return y
    return run


@register("Gemm", 1, 6, 7, 9, 11, 13,
          notes="a constant C folds into the Linear bias only when its broadcast is per-column "
                "(scalar, (N,), (1, N)); a (M, 1) C stays a per-row addition")
def gemm(ctx):
    folded = gemm_linear_weights(ctx)
    if folded is not None:
        ctx.claim(1, 2)
        return _linear(*folded)
    return _gemm_run(ctx.attr("alpha", 1.0), ctx.attr("beta", 1.0), ctx.attr("transA", 0), ctx.attr("transB", 0))


def _check_inner(a_shape, b_shape):
    if a_shape[-1] != b_shape[-2]:
        raise ValueError(f"inner dimensions differ: {list(a_shape)} x {list(b_shape)}")


def matmul_nd(a, b):
    """numpy matmul semantics (ONNX MatMul), validated before OneFlow sees the shapes: its
    broadcast matmul aborts the process (a C++ CHECK) on a 1-D operand beside an N-D one
    and on batch dims that do not broadcast, and refuses two 1-D operands.
    Self-contained: codegen pastes it into generated modules."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"MatMul operands must have rank >= 1, got shapes {list(a.shape)} and {list(b.shape)}")
    squeeze_a, squeeze_b = a.ndim == 1, b.ndim == 1
    a = a.unsqueeze(0) if squeeze_a else a
    b = b.unsqueeze(-1) if squeeze_b else b
    broadcast = all(da == db or 1 in (da, db) for da, db in zip(reversed(a.shape[:-2]), reversed(b.shape[:-2])))
    if a.shape[-1] != b.shape[-2] or not broadcast:
        raise ValueError(f"MatMul shapes do not match: {list(a.shape)} x {list(b.shape)}")
    if a.numel() == 0 or b.numel() == 0:
        # OneFlow's batched matmul aborts on a zero-size operand (measured): the result is
        # empty, or zeros when only the summed axis is empty.
        lead_a, lead_b = list(a.shape[:-2]), list(b.shape[:-2])
        n = max(len(lead_a), len(lead_b))
        lead_a, lead_b = [1] * (n - len(lead_a)) + lead_a, [1] * (n - len(lead_b)) + lead_b
        batch = [db if da == 1 else da for da, db in zip(lead_a, lead_b)]
        y = flow.zeros(*batch, a.shape[-2], b.shape[-1], dtype=a.dtype, device=a.device)
    else:
        y = flow.matmul(a, b)
    if not (squeeze_a or squeeze_b):
        return y
    shape = list(y.shape[:-2]) + [y.shape[-2]] * (not squeeze_a) + [y.shape[-1]] * (not squeeze_b)
    return y.reshape(shape)


@register("MatMul", 1, 9, 13, notes="numpy matmul semantics, 1-D operands included; shapes are "
                                    "validated before OneFlow (whose matmul aborts on some mismatches)")
def matmul(ctx):
    b = ctx.const(1)
    if b is not None and b.ndim == 2 and b.dtype == np.float32 and (ctx.input_rank(0) or 0) >= 2:
        ctx.claim(1)
        return _linear(b.T, None)
    return matmul_nd


def _einsum_terms(equation, xs):
    """([(labels, operand)], output labels) with '...' spelled as upper-case labels (right-aligned
    across operands) and the implicit output (ellipsis, then labels used once, sorted) made explicit."""
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    ell_rank = max([x.ndim - len(t) + 3 for t, x in zip(terms, xs) if "..." in t] or [0])
    ell = "".join(chr(ord("A") + i) for i in range(ell_rank))
    spelled = []
    for t, x in zip(terms, xs):
        if "..." in t:
            t = t.replace("...", ell[ell_rank - (x.ndim - len(t) + 3):])
        spelled.append((t, x))
    named = lhs.replace("...", "").replace(",", "")
    out = rhs.replace("...", ell) if arrow else ell + "".join(sorted(c for c in set(named) if named.count(c) == 1))
    return spelled, out


def _einsum_exact(equation, *xs):
    """Integer Einsum as broadcast products summed in int64 (OneFlow's einsum has no integer
    dot/matmul kernels on CPU); wraps like ORT's integer arithmetic once cast back."""
    terms, out = _einsum_terms(equation, [x.to(flow.int64) for x in xs])
    order = list(out) + sorted({c for t, _ in terms for c in t} - set(out))
    product = None
    for labels, x in terms:
        while len(set(labels)) < len(labels):           # a repeated label: its diagonal
            c = next(c for c in labels if labels.count(c) > 1)
            i, j = labels.index(c), labels.index(c, labels.index(c) + 1)
            x = flow.diagonal(x, 0, i, j)
            labels = labels[:i] + labels[i + 1:j] + labels[j + 1:] + c
        x = x.permute(*sorted(range(len(labels)), key=lambda k: order.index(labels[k]))) if labels else x
        x = x.reshape([x.shape[sorted(labels, key=order.index).index(c)] if c in labels else 1 for c in order])
        product = x if product is None else product * x
    if len(order) > len(out):
        product = product.sum(dim=list(range(len(out), len(order))))
    return product.to(xs[0].dtype)


@register("Einsum", 12, notes="integer operands are multiplied and summed exactly in int64 and cast back (ONNX "
                              "Runtime 1.19 fails on some integer transposing reductions, e.g. ijk->kj)")
def einsum(ctx):
    equation = ctx.attr("equation").replace(" ", "")

    def run(*xs):
        if xs[0].is_floating_point():
            return flow.einsum(equation, *xs)
        return _einsum_exact(equation, *xs)

    return run


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
