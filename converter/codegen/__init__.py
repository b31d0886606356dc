"""Generate a readable, standalone OneFlow module (model.py + weights) from an ONNX model.

    converter.codegen("model.onnx", "out/")      # writes out/model.py and out/weights
    from model import load; y = load()(x)         # (in out/) needs no converter

The generated forward has one line per ONNX node that still runs after constant folding, so
it runs the same plan as ``converter.convert``; weight-bearing nodes become native layers.
"""
from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import oneflow as flow

from ..builder import build_plan, inventory_of
from ..context import NodeContext
from ..dtypes import to_tensor
from ..errors import CodegenError, NodeUnsupported, Unsupported, UnsupportedOperatorError
from ..graph import load, node_label
from .emitters import EMITTERS, Emission
from .writer import SourceWriter

__all__ = ["codegen", "EMITTERS"]


def codegen(model, out_dir: str, *, class_name: str = "ConvertedModel", check: bool = True) -> str:
    """Write ``out_dir/model.py`` and ``out_dir/weights`` (flow.save); return the .py path.

    Raises the converter's load/unsupported errors, and one CodegenError listing every node
    that has no emitter (or whose attributes the emitter cannot express), all at once.
    """
    graph = load(model, check=check)
    problems = inventory_of(graph)
    if problems:
        raise UnsupportedOperatorError(problems, graph.source)
    plan = build_plan(graph)
    writer = SourceWriter(class_name, graph.source)
    writer.inputs = [writer.var(n) for n in graph.inputs]
    missing: dict = {}
    for step in plan.steps:
        node = graph.graph.node[step.node_index]
        emit = EMITTERS.get(node.op_type)
        reason = "no codegen emitter for this operator"
        if emit is not None:
            version, opset = _versions(graph, node)
            ctx = NodeContext(node, step.name, version, opset, graph, plan.constants)
            try:
                expr = emit(Emission(ctx, writer, step.inputs))
            except NodeUnsupported as e:
                reason = str(e)
            else:
                targets = [writer.var(o) if o else "_" for o in node.output]
                writer.line(targets, expr, f"{node.op_type} {step.name}")
                continue
        key = (node.op_type, node.domain, reason)
        missing.setdefault(key, []).append(step.name)
    if missing:
        raise CodegenError([Unsupported(op, dom, 0, 0, why, tuple(nodes))
                            for (op, dom, why), nodes in missing.items()], graph.source)
    for name in graph.outputs:
        if name in plan.constants:   # an output folded to a constant is returned as a buffer
            writer.outputs.append(writer.buffer(name, plan.constants[name]))
        else:
            writer.outputs.append(writer.var(name))
    return _write(writer, out_dir)


def _versions(graph, node):
    from ..registry import canonical_domain, schema_version
    opset = graph.opsets.get(canonical_domain(node.domain), 0)
    return schema_version(node.op_type, opset, node.domain), opset


def _write(writer: SourceWriter, out_dir: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.py")
    with open(path, "w") as f:
        f.write(writer.render())
    # Build the generated class itself, fill it, and save *its* state_dict: the weights file
    # then matches the code exactly (native layers add entries such as num_batches_tracked).
    module = _import_file(path).__dict__[writer.class_name]()
    state = module.state_dict()
    unknown = set(writer.state) - set(state)
    if unknown:
        raise CodegenError([], f"{path}: generated module lacks state entries {sorted(unknown)}")
    for key, value in writer.state.items():
        if tuple(state[key].shape) != tuple(np.shape(value)):
            raise CodegenError([], f"{path}: state entry {key!r} has shape {tuple(state[key].shape)}, "
                                   f"the weight has {np.shape(value)}")
        state[key] = to_tensor(value)
    module.load_state_dict(state)
    flow.save(module.state_dict(), os.path.join(out_dir, "weights"))
    return path


def _import_file(path: str):
    name = f"_converter_codegen_{abs(hash(os.path.abspath(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(name, None)
    return mod
