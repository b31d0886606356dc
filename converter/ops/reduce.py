"""Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare.

Axes are an attribute up to the version before ``AXES_INPUT_SINCE`` and an optional input
from then on, with ``noop_with_empty_axes``.
"""
from __future__ import annotations

import numpy as np
import oneflow as flow

from ..dtypes import numpy_dtype, to_list
from ..registry import register

INF = float("inf")


def _sum(x, dims, keep):
    return flow.sum(x, dim=dims, keepdim=keep)


def _log_sum_exp(x, dims, keep):
    # Subtract the max first so large inputs do not overflow; an all -inf slice stays -inf.
    m = flow.amax(x, dim=dims, keepdim=True)
    m = flow.where(flow.isfinite(m), m, flow.zeros_like(m))
    out = flow.log(flow.sum(flow.exp(x - m), dim=dims, keepdim=True)) + m
    return out if keep else out.squeeze(dims) if dims else out.reshape([])


# name -> (reduce(x, dims, keepdim), value of an empty reduction)
_REDUCERS = {
    "ReduceSum": (_sum, 0.0),
    "ReduceMean": (lambda x, d, k: flow.mean(x, dim=d, keepdim=k), float("nan")),
    "ReduceMax": (lambda x, d, k: flow.amax(x, dim=d, keepdim=k), -INF),
    "ReduceMin": (lambda x, d, k: flow.amin(x, dim=d, keepdim=k), INF),
    "ReduceProd": (lambda x, d, k: flow.prod(x, dim=d, keepdim=k), 1.0),
    "ReduceL1": (lambda x, d, k: _sum(flow.abs(x), d, k), 0.0),
    "ReduceL2": (lambda x, d, k: flow.sqrt(_sum(x * x, d, k)), 0.0),
    "ReduceSumSquare": (lambda x, d, k: _sum(x * x, d, k), 0.0),
    "ReduceLogSum": (lambda x, d, k: flow.log(_sum(x, d, k)), -INF),
    "ReduceLogSumExp": (_log_sum_exp, -INF),
}
_VERSIONS = {"ReduceSum": (1, 11, 13), "ReduceMax": (1, 11, 12, 13, 18, 20),
             "ReduceMin": (1, 11, 12, 13, 18, 20)}
_DEFAULT_VERSIONS = (1, 11, 13, 18)
AXES_INPUT_SINCE = {"ReduceSum": 13}   # every other reduction: 18
# OneFlow 0.9 lacks CPU kernels for these input dtypes; the wider dtype is exact for
# max/min and at least as precise for the rest (float16 accumulates in float32).
_WIDER = {flow.float16: flow.float32, flow.bool: flow.int8, flow.uint8: flow.int32, flow.int8: flow.int32}
# ReduceMean of int32/int64 runs in float64 (OneFlow's mean is float-only): exact for int32,
# int64 sums beyond 2**53 round.


def _empty_result(x, dims, keep, fill):
    shape = [1 if i in dims else d for i, d in enumerate(x.shape)] if keep else \
        [d for i, d in enumerate(x.shape) if i not in dims]
    if x.dtype in (flow.float16, flow.float32, flow.float64):
        return flow.full(shape, fill, dtype=x.dtype, device=x.device)
    info = {-INF: "min", INF: "max"}
    if fill in info:   # integer max/min of nothing: ONNX uses the dtype's extreme
        limits = np.iinfo(numpy_dtype(x.dtype)) if x.dtype != flow.bool else None
        fill = (limits.min if fill == -INF else limits.max) if limits is not None else (fill == INF)
    return flow.full(shape, fill, dtype=x.dtype, device=x.device)


def _make(reduce, empty_fill, input_since, mean_of_ints=False):
    def build(ctx):
        keep = bool(ctx.attr("keepdims", 1))
        noop = bool(ctx.attr("noop_with_empty_axes", 0))
        axes_from_input = ctx.version >= input_since
        static = ctx.attr("axes") if not axes_from_input else to_list(ctx.const(1))
        if axes_from_input and (static is not None or not ctx.has_input(1)):
            ctx.claim(1)
            runtime_axes = False
        else:
            runtime_axes = axes_from_input

        def run(x, axes=None):
            ax = to_list(axes) if runtime_axes else static
            if not ax:
                if noop and axes_from_input:
                    return x
                ax = list(range(x.ndim))
            dims = sorted({a + x.ndim if a < 0 else a for a in ax})
            if any(x.shape[d] == 0 for d in dims):
                return _empty_result(x, dims, keep, empty_fill)
            if x.ndim == 0:
                return reduce(x.reshape(1), [0], False)
            wide = _WIDER.get(x.dtype)
            if mean_of_ints and (wide or x.dtype) not in (flow.float16, flow.float32, flow.float64):
                wide = flow.float64    # OneFlow's mean is float-only; ONNX truncates back
            out = reduce(x if wide is None else x.to(wide), dims, keep)
            return out if out.dtype == x.dtype else out.to(x.dtype)   # ONNX keeps the input's type

        return run

    return build


_NOTES = {"ReduceMax": "", "ReduceMin": "",
          "ReduceMean": "float16 accumulates in float32; integer means run in float64, truncated back"}
for _op, (_fn, _fill) in _REDUCERS.items():
    register(_op, *_VERSIONS.get(_op, _DEFAULT_VERSIONS),
             notes=_NOTES.get(_op, "float16 accumulates in float32"))(
        _make(_fn, _fill, AXES_INPUT_SINCE.get(_op, 18), mean_of_ints=_op == "ReduceMean"))
