"""MatMul by a constant weight followed by Add of a constant per-column bias -> one Linear
node (a OneFlow Linear layer with its bias: one kernel call instead of two, and no
broadcast add with the bias as first operand, which OneFlow 0.9's oneDNN path on CPU
runs ~100x slower than the other order: docs/design.md §9)."""
from __future__ import annotations

import numpy as np
import onnx

from ._norm_tail import per_feature
from ._view import INTERNAL_DOMAIN, GraphView, other

NAME = "linear_bias"


def run(view: GraphView) -> int:
    count = 0
    for i, node in enumerate(view.nodes):
        if not view.live(i) or node.op_type != "MatMul" or node.domain not in ("", "ai.onnx"):
            continue
        x, w_name = node.input
        w = view.const(w_name)
        if w is None or w.ndim != 2 or w.dtype != np.float32 or (view.rank(x) or 0) < 2 \
                or not view.is_float32(x) or view.const(x) is not None:
            continue
        users = view.users(node.output[0])
        if len(users) != 1 or not view.only_used_by(node.output[0], *users):
            continue
        j = next(iter(users))
        add = view.nodes[j]
        if add.op_type != "Add" or add.domain not in ("", "ai.onnx") or len(add.input) != 2 \
                or add.input[0] == add.input[1]:
            continue
        bias = per_feature(view.const(other(add, node.output[0])), (w.shape[1],))
        if bias is None or (view.rank(add.output[0]) != view.rank(x)):
            continue   # a bias of higher rank would broadcast the output up
        b_name = view.add_initializer("linear_bias", bias)
        view.replace([i, j], onnx.helper.make_node("Linear", [x, w_name, b_name], [add.output[0]],
                                                   name=f"{node.name or add.output[0]}/fused_linear",
                                                   domain=INTERNAL_DOMAIN))
        count += 1
    return count
