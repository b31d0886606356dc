"""paddle2onnx 2.1.0 conversion fix: LeakyRelu's alpha (see PATCHES in __init__.py).

paddle2onnx is a C++ extension: its LeakyRelu mapper cannot be replaced in-process. The
fix is a post-export step instead: each ONNX LeakyRelu gets the ``negative_slope`` of its
``leaky_relu`` op in the saved PIR program (``<prefix>.json``), where it is stored as the
float64 that paddle2onnx misreads as float32. paddle2onnx emits the ops in program order
(its outputs are named ``p2o.pd_op.leaky_relu.<k>.0``), so the k-th LeakyRelu node is the
k-th leaky_relu op; a count mismatch is an error, not a guess.
"""
from __future__ import annotations

import json

from . import fired

# fix-ups the paddle exporter runs after paddle2onnx: fn(program_json, onnx_path)
POST_EXPORT: list = []


class LeakyReluFixupError(RuntimeError):
    """The ONNX graph and the Paddle program disagree on their leaky_relu ops."""


def _program_slopes(program_json: str) -> list:
    """negative_slope of every leaky_relu op, in program order."""
    with open(program_json) as f:
        doc = json.load(f)
    slopes = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("#") == "1.leaky_relu":
                attrs = {a.get("N"): a.get("AT", {}).get("D") for a in node.get("A", [])}
                slopes.append(float(attrs["negative_slope"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return slopes


def fix_leaky_relu_alpha(program_json: str, onnx_path: str) -> int:
    """Rewrite each LeakyRelu's alpha from the program; return how many changed."""
    import numpy as np
    import onnx
    from onnx import helper

    slopes = _program_slopes(program_json)
    model = onnx.load(onnx_path)
    nodes = [n for n in model.graph.node if n.op_type == "LeakyRelu"]
    if len(nodes) != len(slopes):
        raise LeakyReluFixupError(f"{onnx_path}: {len(nodes)} LeakyRelu nodes but {len(slopes)} leaky_relu "
                                  f"ops in {program_json}")
    changed = 0
    for node, slope in zip(nodes, slopes):
        alpha = next((a for a in node.attribute if a.name == "alpha"), None)
        if alpha is not None and np.float32(alpha.f) == np.float32(slope):
            continue
        kept = [a for a in node.attribute if a.name != "alpha"]
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute("alpha", float(np.float32(slope)))])
        changed += 1
    if changed:
        onnx.save(model, onnx_path)
        fired("paddle2onnx-leaky-relu-alpha")
    return changed


def leaky_relu_alpha() -> None:
    if fix_leaky_relu_alpha not in POST_EXPORT:
        POST_EXPORT.append(fix_leaky_relu_alpha)
