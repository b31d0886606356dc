"""Decomposed layer normalisation -> one LayerNorm node (OneFlow's layer_norm).

Matches what exporters write below opset 17 (torch, paddle2onnx):

    mean = ReduceMean(x, trailing axes);  d = Sub(x, mean)
    var  = ReduceMean(Pow(d, 2) | Mul(d, d), same axes)
    y    = Div(d, Sqrt(Add(var, eps)))  |  Mul(d, Reciprocal(Sqrt(.)) | Div(1, Sqrt(.)))
    then optionally Mul(y, scale) and Add(., bias), scale/bias constant per feature.
"""
from __future__ import annotations

import numpy as np
import onnx

from ._norm_tail import affine_tail, feature_shape
from ._view import INTERNAL_DOMAIN, GraphView, other, reduce_axes

NAME = "layer_norm"


def _square_of(view, name, d):
    """Index of the node squaring ``d`` into ``name`` (Pow(d, 2) or Mul(d, d)), or None."""
    found = view.producer(name, "Pow", "Mul")
    if found is None:
        return None
    i, node = found
    if node.op_type == "Pow" and node.input[0] == d and view.scalar(node.input[1]) == 2.0:
        return i
    if node.op_type == "Mul" and list(node.input) == [d, d]:
        return i
    return None


def inverse_std(view, node, centred):
    """For the node normalising ``centred`` (Div by Sqrt, or Mul by Reciprocal(Sqrt)): (indices,
    the name under the square root) or None."""
    if node.op_type == "Div" and node.input[0] == centred:
        sqrt = view.producer(node.input[1], "Sqrt")
        return None if sqrt is None else ([sqrt[0]], sqrt[1].input[0], sqrt[1].output[0])
    if node.op_type == "Mul" and centred in node.input:
        rec = view.producer(other(node, centred), "Reciprocal", "Div")   # 1/sqrt: torch's rsqrt is Div(1, .)
        if rec is not None and rec[1].op_type == "Div" and view.scalar(rec[1].input[0]) != 1.0:
            return None
        sqrt = None if rec is None else view.producer(rec[1].input[-1], "Sqrt")
        if sqrt is None or not view.only_used_by(sqrt[1].output[0], rec[0]):
            return None
        return [rec[0], sqrt[0]], sqrt[1].input[0], rec[1].output[0]
    return None


def variance_plus_eps(view, name):
    """(index of Add, the other operand, eps) for ``name`` = Add(v, eps), or None."""
    add = view.producer(name, "Add")
    if add is None:
        return None
    for v in add[1].input:
        eps = view.scalar(other(add[1], v))
        if eps is not None and view.const(v) is None:
            return add[0], v, eps
    return None


def match(view: GraphView, i: int, node):
    if node.op_type not in ("Div", "Mul") or len(node.input) != 2:
        return None
    for centred in dict.fromkeys(node.input):
        sub = view.producer(centred, "Sub")
        if sub is None:
            continue
        x, mean = sub[1].input
        rank = view.rank(x)
        mean_node = view.producer(mean, "ReduceMean")
        if rank is None or mean_node is None or mean_node[1].input[0] != x or not view.is_float32(x):
            continue
        axes = reduce_axes(view, mean_node[1], rank)
        if axes is None or axes != list(range(axes[0], rank)) or axes[0] == 0:
            continue
        inv = inverse_std(view, node, centred)
        if inv is None:
            continue
        inv_nodes, under_sqrt, inv_out = inv
        plus = variance_plus_eps(view, under_sqrt)
        if plus is None:
            continue
        add_i, var, eps = plus
        var_node = view.producer(var, "ReduceMean")
        if var_node is None or reduce_axes(view, var_node[1], rank) != axes:
            continue
        sq = _square_of(view, var_node[1].input[0], centred)
        if sq is None:
            continue
        if not (view.only_used_by(mean, sub[0]) and view.only_used_by(centred, sq, i)
                and view.only_used_by(view.nodes[sq].output[0], var_node[0])
                and view.only_used_by(var, add_i) and view.only_used_by(under_sqrt, inv_nodes[-1])
                and view.only_used_by(inv_out, i)):
            continue
        return dict(x=x, axis=axes[0], eps=eps, out=node.output[0],
                    nodes=[mean_node[0], sub[0], sq, var_node[0], add_i, *inv_nodes, i])
    return None


def run(view: GraphView) -> int:
    count = 0
    for i, node in enumerate(view.nodes):
        if not view.live(i):
            continue
        m = match(view, i, node)
        if m is None:
            continue
        features = feature_shape(view, m["x"], m["axis"])
        taken, out, scale, bias = affine_tail(view, m["out"], features) if features else ([], m["out"], None, None)
        inputs = [m["x"]]
        if scale is not None:
            inputs.append(view.add_initializer("ln_scale", scale))
            if bias is not None:
                inputs.append(view.add_initializer("ln_bias", bias))
        new = onnx.helper.make_node("LayerNorm", inputs, [out], name=f"{view.nodes[i].name or out}/fused_layer_norm",
                                    domain=INTERNAL_DOMAIN, axis=m["axis"], epsilon=float(np.float32(m["eps"])))
        view.replace(m["nodes"] + taken, new)
        count += 1
    return count
