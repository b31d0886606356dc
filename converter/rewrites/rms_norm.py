"""Decomposed RMS normalisation -> one RMSNorm node.

    y = Div(x, Sqrt(Add(ReduceMean(Pow(x, 2) | Mul(x, x), trailing axes), eps)))
        (or Mul(x, Reciprocal(Sqrt(...)))), then optionally Mul by a constant per-feature scale.
Runs after layer_norm, which takes the centred form first."""
from __future__ import annotations

import numpy as np
import onnx

from ._norm_tail import feature_shape, per_feature
from ._view import INTERNAL_DOMAIN, GraphView, other, reduce_axes
from .layer_norm import _square_of, inverse_std, variance_plus_eps

NAME = "rms_norm"


def match(view: GraphView, i: int, node):
    if node.op_type not in ("Div", "Mul") or len(node.input) != 2:
        return None
    for x in dict.fromkeys(node.input):
        rank = view.rank(x)
        if rank is None or not view.is_float32(x):
            continue
        inv = inverse_std(view, node, x)
        if inv is None:
            continue
        inv_nodes, under_sqrt, inv_out = inv
        plus = variance_plus_eps(view, under_sqrt)
        if plus is None:
            continue
        add_i, ms, eps = plus
        ms_node = view.producer(ms, "ReduceMean")
        if ms_node is None:
            continue
        axes = reduce_axes(view, ms_node[1], rank)
        if axes is None or axes != list(range(axes[0], rank)) or axes[0] == 0:
            continue
        sq = _square_of(view, ms_node[1].input[0], x)
        if sq is None:
            continue
        if not (view.only_used_by(view.nodes[sq].output[0], ms_node[0]) and view.only_used_by(ms, add_i)
                and view.only_used_by(under_sqrt, inv_nodes[-1]) and view.only_used_by(inv_out, i)):
            continue
        return dict(x=x, axis=axes[0], eps=eps, out=node.output[0],
                    nodes=[sq, ms_node[0], add_i, *inv_nodes, i])
    return None


def run(view: GraphView) -> int:
    count = 0
    for i, node in enumerate(view.nodes):
        if not view.live(i):
            continue
        m = match(view, i, node)
        if m is None:
            continue
        out, taken, inputs = m["out"], [], [m["x"]]
        features = feature_shape(view, m["x"], m["axis"])
        users = view.users(out)
        if features and len(users) == 1 and view.only_used_by(out, *users):
            j = next(iter(users))
            mul = view.nodes[j]
            if mul.op_type == "Mul" and mul.domain == "":
                scale = per_feature(view.const(other(mul, out)), features)
                if scale is not None:
                    inputs.append(view.add_initializer("rms_scale", scale))
                    taken, out = [j], mul.output[0]
        new = onnx.helper.make_node("RMSNorm", inputs, [out], name=f"{node.name or out}/fused_rms_norm",
                                    domain=INTERNAL_DOMAIN, axis=m["axis"], epsilon=float(np.float32(m["eps"])))
        view.replace(m["nodes"] + taken, new)
        count += 1
    return count
