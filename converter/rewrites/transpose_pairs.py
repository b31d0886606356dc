"""Transpose -> Transpose as one Transpose (nothing, when the permutations cancel), and
Reshape -> Reshape as the second Reshape alone (its shape has no 0 that would copy a dim
of the intermediate)."""
from __future__ import annotations

import onnx

from ._view import GraphView, attr

NAME = "transpose_pairs"


def run(view: GraphView) -> int:
    count = 0
    for i, node in enumerate(view.nodes):
        if not view.live(i) or node.domain not in ("", "ai.onnx") or node.op_type not in ("Transpose", "Reshape"):
            continue
        first = view.producer(node.input[0], node.op_type)
        if first is None or not view.only_used_by(node.input[0], i):
            continue
        j, inner = first
        if node.op_type == "Reshape":
            shape = view.const(node.input[1])
            if shape is None or (0 in shape.reshape(-1).tolist() and not attr(node, "allowzero", 0)):
                continue
            new = onnx.NodeProto()
            new.CopyFrom(node)
            new.input[0] = inner.input[0]
            view.replace([j, i], new)
            count += 1
            continue
        p1, p2 = attr(inner, "perm"), attr(node, "perm")
        if p1 is None or p2 is None or len(p1) != len(p2):
            continue
        perm = [p1[k] for k in p2]
        out = node.output[0]
        if perm != list(range(len(perm))):
            view.replace([j, i], onnx.helper.make_node("Transpose", [inner.input[0]], [out],
                                                       name=node.name, perm=perm))
        elif not view.is_graph_output(out) and not view.has_subgraphs:
            view.replace([j, i])
            view.rename(out, inner.input[0])
        else:
            view.replace([j, i], onnx.helper.make_node("Identity", [inner.input[0]], [out], name=node.name))
        count += 1
    return count
