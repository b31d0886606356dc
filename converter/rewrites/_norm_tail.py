"""The affine tail shared by the LayerNorm and RMSNorm patterns: ``y * scale + bias`` with
constant per-feature scale and bias."""
from __future__ import annotations

import numpy as np

from ._view import GraphView, other


def feature_shape(view: GraphView, x: str, axis: int):
    """The static trailing dims ``axis:`` of ``x`` (leading dims may be symbolic), or None."""
    info = view.value_info.get(x)
    if info is None or info.shape is None or None in info.shape[axis:]:
        return None
    return tuple(info.shape[axis:])


def per_feature(value, feature_shape):
    """``value`` as an array of ``feature_shape`` when it broadcasts only over those trailing
    dimensions (leading dims all 1), else None."""
    if value is None or value.dtype != np.float32:
        return None
    dims = list(value.shape)
    while len(dims) > len(feature_shape):
        if dims[0] != 1:
            return None
        dims.pop(0)
    try:
        return np.ascontiguousarray(np.broadcast_to(value.reshape(dims), feature_shape))
    except ValueError:
        return None


def affine_tail(view: GraphView, name: str, feature_shape):
    """Follow ``name`` through an optional Mul by a constant scale and then an optional Add of a
    constant bias. Returns (indices swallowed, output name, scale or None, bias or None)."""
    taken, scale, bias = [], None, None
    users = view.users(name)
    if len(users) == 1 and view.only_used_by(name, *users):
        i = next(iter(users))
        node = view.nodes[i]
        if node.op_type == "Mul" and node.domain == "" and len(node.input) == 2:
            scale = per_feature(view.const(other(node, name)), feature_shape)
            if scale is not None:
                taken.append(i)
                name = node.output[0]
    users = view.users(name)
    if scale is not None and len(users) == 1 and view.only_used_by(name, *users):
        i = next(iter(users))
        node = view.nodes[i]
        if node.op_type == "Add" and node.domain == "" and len(node.input) == 2:
            bias = per_feature(view.const(other(node, name)), feature_shape)
            if bias is not None:
                taken.append(i)
                name = node.output[0]
    return taken, name, scale, bias
