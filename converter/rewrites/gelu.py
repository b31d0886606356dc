"""GELU written out -> one Gelu node (OneFlow's gelu kernel; its tanh approximation).

    erf form:  0.5 * x * (1 + Erf(x / sqrt(2)))        (Div by sqrt 2 or Mul by 1/sqrt 2)
    tanh form: 0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
The product may be grouped as (x * (1 + .)) * 0.5, (x * 0.5) * (1 + .) or x * ((1 + .) * 0.5)."""
from __future__ import annotations

import math

import onnx

from ._view import INTERNAL_DOMAIN, GraphView, other

NAME = "gelu"


def _near(value, want: float) -> bool:
    return value is not None and abs(value - want) <= 1e-5 * abs(want)


def _const_factor(view, node, name, want):
    """The operand of two-input ``node`` other than ``name`` is the constant ``want``."""
    return len(node.input) == 2 and name in node.input and _near(view.scalar(other(node, name)), want)


def _single_user(view, name, op_type):
    users = view.users(name)
    if len(users) != 1 or not view.only_used_by(name, *users):
        return None
    i = next(iter(users))
    node = view.nodes[i]
    return (i, node) if node.op_type == op_type and node.domain == "" else None


def _plus_one_then_half_x(view, t_out, x):
    """After the Erf/Tanh output ``t_out``: Add 1, then the 0.5 * x product in any grouping.
    Returns (indices, output name) or None."""
    add = _single_user(view, t_out, "Add")
    if add is None or not _const_factor(view, add[1], t_out, 1.0):
        return None
    a = add[1].output[0]
    mul = _single_user(view, a, "Mul")
    if mul is None or len(mul[1].input) != 2:
        return None
    j, node = mul
    b = other(node, a)
    if b == x:                                            # (x * (1 + t)) * 0.5
        half = _single_user(view, node.output[0], "Mul")
        if half is not None and _const_factor(view, half[1], node.output[0], 0.5):
            return [add[0], j, half[0]], half[1].output[0]
        return None
    if _near(view.scalar(b), 0.5):                        # x * ((1 + t) * 0.5)
        outer = _single_user(view, node.output[0], "Mul")
        if outer is not None and x in outer[1].input and other(outer[1], node.output[0]) == x:
            return [add[0], j, outer[0]], outer[1].output[0]
        return None
    half = view.producer(b, "Mul")                        # (x * 0.5) * (1 + t)
    if half is not None and _const_factor(view, half[1], x, 0.5) and view.only_used_by(b, j):
        return [add[0], half[0], j], node.output[0]
    return None


def _erf_form(view, i, node):
    arg = view.producer(node.input[0], "Div", "Mul")
    if arg is None or len(arg[1].input) != 2:
        return None
    k, scale = arg
    if scale.op_type == "Div":
        x = scale.input[0] if _near(view.scalar(scale.input[1]), math.sqrt(2)) else None
    else:
        x = next((n for n in scale.input if view.const(n) is None
                  and _near(view.scalar(other(scale, n)), 1 / math.sqrt(2))), None)
    if x is None:
        return None
    if not view.only_used_by(scale.output[0], i):
        return None
    rest = _plus_one_then_half_x(view, node.output[0], x)
    return None if rest is None else (x, [k, i] + rest[0], rest[1], "none")


def _cube_of(view, name, x):
    found = view.producer(name, "Pow", "Mul")
    if found is None:
        return None
    i, node = found
    if node.op_type == "Pow" and node.input[0] == x and view.scalar(node.input[1]) == 3.0:
        return [i]
    if node.op_type == "Mul" and x in node.input:
        sq = view.producer(other(node, x), "Mul")
        if sq is not None and list(sq[1].input) == [x, x] and view.only_used_by(sq[1].output[0], i):
            return [sq[0], i]
    return None


def _tanh_form(view, i, node):
    outer = view.producer(node.input[0], "Mul")
    if outer is None or len(outer[1].input) != 2:
        return None
    inner_name = next((n for n in outer[1].input if _const_factor(view, outer[1], n, math.sqrt(2 / math.pi))), None)
    inner = None if inner_name is None else view.producer(inner_name, "Add")
    if inner is None or not view.only_used_by(inner_name, outer[0]) or not view.only_used_by(outer[1].output[0], i):
        return None
    for x in inner[1].input:
        c3 = view.producer(other(inner[1], x), "Mul")
        if c3 is None or not view.only_used_by(c3[1].output[0], inner[0]):
            continue
        cube_name = next((n for n in c3[1].input if _const_factor(view, c3[1], n, 0.044715)), None)
        cube = None if cube_name is None else _cube_of(view, cube_name, x)
        if cube is None or not view.only_used_by(cube_name, c3[0]):
            continue
        rest = _plus_one_then_half_x(view, node.output[0], x)
        if rest is not None:
            return x, cube + [c3[0], inner[0], outer[0], i] + rest[0], rest[1], "tanh"
    return None


def run(view: GraphView) -> int:
    count = 0
    for i, node in enumerate(view.nodes):
        if not view.live(i) or node.domain not in ("", "ai.onnx") or node.op_type not in ("Erf", "Tanh"):
            continue
        found = (_erf_form if node.op_type == "Erf" else _tanh_form)(view, i, node)
        if found is None or not view.is_float32(found[0]):
            continue
        x, nodes, out, approximate = found
        view.replace(nodes, onnx.helper.make_node("Gelu", [x], [out], name=f"{node.name or out}/fused_gelu",
                                                  domain=INTERNAL_DOMAIN, approximate=approximate))
        count += 1
    return count
