"""Which values of a graph are fixed by the shapes of its inputs alone.

Graph mode compiles one plan per set of input shapes (graph_mode). For those shapes, every
value whose *shape* follows from the input shapes can be given to the builder as static
(graph.specialise), so Shape -> Gather/Slice/Concat/Cast/arithmetic -> Reshape/Expand/Resize/
Range/If ... folds at build time. A value whose shape depends on tensor *values* (NonZero,
a Reshape to a computed target, a Loop's iteration count) must not be fixed to the shape one
run measured: the next call with the same input shapes may differ. This module tells them
apart from the graph alone.

* shape-static: the value's shape is a function of the graph input shapes;
* value-static: its values too (constants, Shape/Size of a shape-static value, and
  deterministic ops over value-static inputs).
"""
from __future__ import annotations

import onnx

from .builder import NEVER_FOLD, build_module
from .graph import LoadedGraph, outer_names, specialise, subgraphs

# Op -> input positions whose *values* decide the output shape (the other inputs act through
# their shapes only). Ops not listed here shape their outputs from input shapes alone.
VALUE_SHAPED = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Resize": (1, 2, 3), "Upsample": (1,),
    "Range": (0, 1, 2), "ConstantOfShape": (0,), "Slice": (1, 2, 3, 4), "Pad": (1, 3),
    "Split": (1,), "TopK": (1,), "OneHot": (1,), "Squeeze": (1,), "Unsqueeze": (1,),
    "ReduceSum": (1,), "ReduceMean": (1,), "ReduceMax": (1,), "ReduceMin": (1,), "ReduceProd": (1,),
    "ReduceL1": (1,), "ReduceL2": (1,), "ReduceLogSum": (1,), "ReduceLogSumExp": (1,),
    "ReduceSumSquare": (1,), "CenterCropPad": (1, 2), "Col2Im": (1, 2, 3), "DFT": (1, 2),
    "STFT": (1, 3), "AffineGrid": (1,), "MaxUnpool": (2,), "BlackmanWindow": (0,),
    "HannWindow": (0,), "HammingWindow": (0,), "MelWeightMatrix": (0, 1, 2, 3, 4),
    "SequenceAt": (1,), "SplitToSequence": (1,),
}
# Ops whose output shapes depend on values whatever their inputs (unless all are constants).
DATA_SHAPED = {"NonZero", "Compress", "Unique", "NonMaxSuppression", "Loop", "StringSplit",
               "SequenceConstruct", "SequenceInsert", "SequenceErase", "SequenceEmpty",
               "ConcatFromSequence", "SequenceLength", "SequenceMap", "Optional",
               "OptionalGetElement", "OptionalHasElement"}
# Ops whose values depend only on their inputs' shapes.
SHAPE_READERS = {"Shape", "Size", "EyeLike"}


def static_values(graph: LoadedGraph) -> tuple[set, set]:
    """(shape-static names, value-static names) of ``graph``'s top level."""
    shapes = set(graph.inputs) | set(graph.initializers)
    values = set(graph.initializers)
    _walk(graph.graph, shapes, values)
    return shapes, values


def _walk(body: onnx.GraphProto, shapes: set, values: set) -> None:
    for t in body.initializer:
        shapes.add(t.name)
        values.add(t.name)
    for node in body.node:
        ins = [n for n in node.input if n]
        op = node.op_type
        known_values = all(n in values for n in ins)
        if op == "If" and ins and ins[0] in values:
            fixed_shape = all(_body_static(g, shapes, values) for _, g in subgraphs(node))
            fixed_value = all(n in values for _, g in subgraphs(node) for n in outer_names(g))
        elif op in ("Loop", "Scan", "SequenceMap") or op == "If":
            fixed_shape = fixed_value = False
        else:
            fixed_value = (known_values and op not in NEVER_FOLD) or \
                (op in SHAPE_READERS and all(n in shapes for n in ins))
            fixed_shape = fixed_value or (
                op not in DATA_SHAPED and all(n in shapes for n in ins)
                and all(node.input[i] in values for i in VALUE_SHAPED.get(op, ())
                        if i < len(node.input) and node.input[i]))
        for out in node.output:
            if out:
                if fixed_shape:
                    shapes.add(out)
                if fixed_value:
                    values.add(out)


def _body_static(body: onnx.GraphProto, shapes: set, values: set) -> bool:
    """True when every output of the branch ``body`` has a shape fixed by what it reads."""
    inner_shapes, inner_values = set(shapes), set(values)
    _walk(body, inner_shapes, inner_values)
    return all(o.name in inner_shapes for o in body.output)


class Specialiser:
    """Converts a loaded model again for one call's input shapes (graph_mode's ``rebuild``):
    the shapes measured on that call are given to the builder for the values they fix."""

    def __init__(self, graph: LoadedGraph, device, fold_limit_bytes: int):
        self.graph, self.device, self.fold_limit_bytes = graph, device, fold_limit_bytes
        self.static_shapes, self.static_values = static_values(graph)

    def __call__(self, infos: dict):
        fixed = {name: info for name, info in infos.items() if name in self.static_shapes}
        module = build_module(specialise(self.graph, fixed), fold_limit_bytes=self.fold_limit_bytes)
        return module.to(self.device).eval()

    def may_resolve(self, step) -> bool:
        """True when converting for fixed input shapes may make ``step`` traceable (an If
        whose condition the input shapes decide)."""
        return step.op_type == "If" and bool(step.inputs) and step.inputs[0] in self.static_values
