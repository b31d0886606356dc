"""Per-channel affine ops after a convolution folded into its weight and bias.

* Conv -> BatchNormalization (inference; constant statistics): w' = w * g, b' = (b - mean) * g + beta
  with g = scale / sqrt(var + eps);
* Conv -> Mul by a constant per output channel (or scalar): w' = w * c, b' = b * c;
* Conv -> Add of a constant per output channel (or scalar): b' = b + c.
Computed in float64 and rounded once to float32 (the unfused graph rounds at every step)."""
from __future__ import annotations

import numpy as np
import onnx

from ._view import GraphView, attr, other

NAME = "conv_fold"


def _per_channel(value, channels: int, spatial: int):
    """A constant that broadcasts over (N, C, *spatial) one value per channel -> (C,), else None."""
    if value is None or value.dtype != np.float32:
        return None
    if value.size == 1:
        return np.full(channels, value.reshape(-1)[0], np.float64)
    dims = list(value.shape)
    while len(dims) > spatial + 1 and dims[0] == 1:
        dims.pop(0)
    if len(dims) != spatial + 1 or dims[0] != channels or any(d != 1 for d in dims[1:]):
        return None
    return value.reshape(channels).astype(np.float64)


def _follower(view, name):
    users = view.users(name)
    if len(users) != 1 or not view.only_used_by(name, *users):
        return None
    j = next(iter(users))
    node = view.nodes[j]
    return (j, node) if node.domain in ("", "ai.onnx") else None


def _fold(view, conv, follower):
    """(weight, bias) float64 after ``follower``, or None when it does not fold."""
    w = view.const(conv.input[1])
    b = view.const(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else np.zeros(w.shape[0], np.float32)
    if b is None or b.shape != (w.shape[0],):
        return None
    w64, b64, out, spatial = w.astype(np.float64), b.astype(np.float64), conv.output[0], w.ndim - 2
    scale_w = lambda g: w64 * g.reshape((-1,) + (1,) * (w.ndim - 1))  # noqa: E731
    if follower.op_type == "BatchNormalization":
        if follower.input[0] != out or attr(follower, "training_mode", 0) or any(follower.output[1:]) \
                or attr(follower, "spatial", 1) != 1:
            return None
        params = [view.const(n) for n in follower.input[1:5]]
        if any(p is None or p.dtype != np.float32 or p.shape != (w.shape[0],) for p in params):
            return None
        scale, beta, mean, var = (p.astype(np.float64) for p in params)
        g = scale / np.sqrt(var + np.float64(np.float32(attr(follower, "epsilon", 1e-5))))
        return scale_w(g), (b64 - mean) * g + beta
    if len(follower.input) != 2 or follower.input[0] == follower.input[1]:
        return None
    c = _per_channel(view.const(other(follower, out)), w.shape[0], spatial)
    if c is None:
        return None
    if follower.op_type == "Mul":
        return scale_w(c), b64 * c
    if follower.op_type == "Add":
        return w64, b64 + c
    return None


def run(view: GraphView) -> int:
    count = 0
    for i, conv in enumerate(view.nodes):
        if not view.live(i) or conv.op_type != "Conv" or conv.domain not in ("", "ai.onnx"):
            continue
        w = view.const(conv.input[1])
        if w is None or w.dtype != np.float32 or w.ndim < 3 or not view.is_float32(conv.input[0]):
            continue
        found = _follower(view, conv.output[0])
        folded = None if found is None or found[1].op_type not in ("BatchNormalization", "Mul", "Add") \
            else _fold(view, conv, found[1])
        if folded is None:
            continue
        j, follower = found
        new = onnx.NodeProto()
        new.CopyFrom(conv)
        new.input[:] = [conv.input[0], view.add_initializer("conv_w", folded[0].astype(np.float32)),
                        view.add_initializer("conv_b", folded[1].astype(np.float32))]
        new.output[:] = [follower.output[0]]
        view.replace([i, j], new)   # a chain Conv -> BN -> Mul folds one step per sweep
        count += 1
    return count
