"""Elementwise arithmetic and activations."""
from __future__ import annotations

import oneflow as flow

from ..registry import register

_BINARY = {"Add": flow.add, "Sub": flow.sub, "Mul": flow.mul}


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


def _binary(op_type, fn):
    @register(op_type, 1, 6, 7, 13, 14)
    def build(ctx):
        return _legacy_broadcast(ctx, fn) if ctx.version < 7 else fn
    build.__name__ = op_type.lower()
    return build


for _op, _fn in _BINARY.items():
    _binary(_op, _fn)


def _true_div(a, b):
    # ONNX Div on integers truncates toward zero; on floats it is true division.
    if a.dtype in (flow.int32, flow.int64, flow.int8, flow.uint8):
        return flow.div(a, b, rounding_mode="trunc")
    return flow.div(a, b)


_binary("Div", _true_div)


@register("Relu", 1, 6, 13, 14)
def relu(ctx):
    return flow.relu
