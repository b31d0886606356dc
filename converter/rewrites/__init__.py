"""Graph rewrites: named passes over the loaded ONNX graph, run before the module is built.

Each pass (one module here) finds a pattern exporters write op by op and replaces it with
what OneFlow computes in fewer, faster calls: a fused node in the private domain
``INTERNAL_DOMAIN`` (handled in converter/ops/rewritten.py), or plain ONNX nodes with folded
constants. ``convert(..., optimize=False)`` / ``--no-optimize`` switch them off; the
converted module's ``rewrites`` attribute says how often each pass fired. Every pass keeps
the model's outputs equal up to float rounding (tests/properties/test_rewrites.py).

Passes only touch the top-level graph, only float32 values for arithmetic rewrites, and only
intermediate values nothing else reads. OneFlow 0.9 has no fused attention kernel on CPU
(fused_multi_head_attention_inference, fused_self_attention: no CPU kernel), so attention is
left as written.
"""
from __future__ import annotations

import dataclasses

from ..graph import LoadedGraph
from ._view import INTERNAL_DOMAIN, GraphView
from . import conv_fold, gelu, layer_norm, linear_bias, rms_norm, transpose_pairs

# In order: the norms before anything that could split their patterns; folding last.
PASSES = [layer_norm, rms_norm, gelu, linear_bias, conv_fold, transpose_pairs]
PASS_NAMES = [p.NAME for p in PASSES]
_MAX_SWEEPS = 4   # a pass is re-run while it fires (Conv -> BN -> Mul -> Add folds one per sweep)

__all__ = ["INTERNAL_DOMAIN", "PASS_NAMES", "optimize"]


def optimize(graph: LoadedGraph, skip=()) -> tuple:
    """(rewritten LoadedGraph, {pass name: times it fired}). ``graph`` is not modified."""
    unknown = set(skip) - set(PASS_NAMES)
    if unknown:
        raise ValueError(f"unknown rewrite pass(es) {sorted(unknown)}; known: {PASS_NAMES}")
    if graph.body is not None:
        return graph, {}
    nodes, inits = list(graph.graph.node), dict(graph.initializers)
    fired = {}
    for rewrite in PASSES:
        if rewrite.NAME in skip:
            continue
        for _ in range(_MAX_SWEEPS):
            view = GraphView(nodes, inits, graph.outputs, graph.value_info)
            n = rewrite.run(view)
            if not n:
                break
            nodes, inits = view.result(), view.initializers
            fired[rewrite.NAME] = fired.get(rewrite.NAME, 0) + n
    if not fired:
        return graph, {}
    body = _with_nodes(graph.graph, nodes)
    used = {n for node in nodes for n in node.input} | set(graph.outputs)
    inits = {k: v for k, v in inits.items() if k in used or k in graph.initializers}
    rewritten = dataclasses.replace(graph, body=body, initializers=inits,
                                    opsets={**graph.opsets, INTERNAL_DOMAIN: 1})
    return rewritten, fired


def _with_nodes(original, nodes):
    """A GraphProto like ``original`` (inputs, outputs, value infos) with ``nodes`` and no
    initializer data (the LoadedGraph holds those as arrays)."""
    import onnx

    body = onnx.GraphProto(name=original.name)
    body.input.extend(original.input)
    body.output.extend(original.output)
    body.node.extend(nodes)
    return body
