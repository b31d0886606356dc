"""Shape and layout: Constant, Identity, Flatten, Reshape, ..."""
from __future__ import annotations

import numpy as np
import oneflow as flow

from ..folding import Folded
from ..dtypes import to_list
from ..registry import register


@register("Constant", 1, 9, 11, 12, 13, 19, 21)
def constant(ctx):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in ctx.attrs:
            v = ctx.attrs[key]
            dtype = {"value_float": np.float32, "value_floats": np.float32,
                     "value_int": np.int64, "value_ints": np.int64}.get(key)
            return Folded(np.asarray(v, dtype=dtype) if dtype else v)
    raise ctx.unsupported(f"Constant with attribute {sorted(ctx.attrs)}")


@register("Identity", 1, 13, 14, 16, 19, 21)
def identity(ctx):
    return lambda x: x


@register("Flatten", 1, 9, 11, 13, 21)
def flatten(ctx):
    axis = ctx.attr("axis", 1)

    def run(x):
        ax = axis if axis >= 0 else axis + x.ndim
        lead = int(np.prod(x.shape[:ax])) if ax else 1
        return x.reshape(lead, -1)

    return run


@register("Reshape", 5, 13, 14, 19, 21)
def reshape(ctx):
    allowzero = ctx.attr("allowzero", 0)
    static = to_list(ctx.const(1))

    def run(x, shape=None):
        target = static if static is not None else to_list(shape)
        if not allowzero:
            target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
        return x.reshape(target)

    if static is not None:
        ctx.claim(1)
    return run
