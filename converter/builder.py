"""Turn a validated ONNX graph into a ConvertedModule: look up, build, fold, wire."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import oneflow as flow
import onnx.defs

from . import ops  # noqa: F401 - importing registers every handler
from .context import NodeContext
from .dtypes import NP_TO_FLOW, numpy_dtype, to_tensor
from .folding import DEFAULT_FOLD_LIMIT_BYTES, Folded, folding_budget, nbytes
from .errors import ConverterError, NodeBuildError, NodeUnsupported, Unsupported, UnsupportedOperatorError
from .graph import LoadedGraph, load_subgraph, node_label, outer_names, subgraphs
from .module import ConvertedModule, Step, SubgraphModule
from .registry import canonical_domain, lookup

# Ops whose value must not be computed once at build time.
NEVER_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
              "Multinomial", "Bernoulli", "Dropout"}


def _opset_for(graph: LoadedGraph, domain: str) -> int:
    return graph.opsets.get(canonical_domain(domain), 0)


# Newest opset per domain the installed onnx defines: a newer import may change any operator's
# semantics, so its nodes are refused rather than converted on trust.
_NEWEST_OPSET = {"": onnx.defs.onnx_opset_version(), "ai.onnx.ml": onnx.defs.onnx_ml_opset_version()}


def _future_opset_problems(graph: LoadedGraph) -> list:
    problems = []
    for domain, newest in _NEWEST_OPSET.items():
        opset = graph.opsets.get(domain, 0)
        if opset <= newest:
            continue
        why = (f"the model imports opset {opset} of {domain or 'ai.onnx'}; the newest this converter "
               f"(onnx {onnx.__version__}) knows is {newest}")
        by_op: dict = {}
        for i, node in enumerate(graph.graph.node):
            if canonical_domain(node.domain) == domain:
                by_op.setdefault(node.op_type, []).append(node_label(node, i))
        problems += [Unsupported(op, domain, opset, 0, why, tuple(nodes)) for op, nodes in by_op.items()] \
            or [Unsupported("<opset import>", domain, opset, 0, why)]
    return problems


def inventory_of(graph: LoadedGraph) -> list:
    """Every unsupported (op, version, reason) in the graph and its subgraphs, grouped, nodes listed."""
    future = _future_opset_problems(graph)
    if future:
        return future
    found: dict = {}
    _collect_unsupported(graph, dict(graph.initializers), found, "")
    return _input_dtype_problems(graph) + [Unsupported(op, dom, opset, ver, why, tuple(nodes))
                                           for (op, dom, opset, ver, why), nodes in found.items()]


def _collect_unsupported(graph: LoadedGraph, constants: dict, found: dict, prefix: str) -> None:
    """Add the unsupported nodes of ``graph`` to ``found``; subgraph nodes are labelled
    'outer/attribute/inner' so a node inside a Loop body is reported by its path."""
    for i, node in enumerate(graph.graph.node):
        opset = _opset_for(graph, node.domain)
        label = prefix + node_label(node, i)
        if node.domain and canonical_domain(node.domain) not in graph.opsets:
            key = (node.op_type, node.domain, 0, 0, f"domain {node.domain!r} is not imported by the model")
            found.setdefault(key, []).append(label)
            continue
        handler, version, reason = lookup(node.op_type, opset, node.domain)
        if handler is not None and handler.check is not None:
            ctx = NodeContext(node, label, version, opset, graph, constants)
            try:
                reason = handler.check(ctx) or ""
            except NodeUnsupported as e:
                reason = str(e)
            except Exception as e:  # noqa: BLE001 - a malformed node must not crash inventory
                raise NodeBuildError(graph.source, label, node.op_type, e) from e
            if reason:
                handler = None
        if handler is None:
            found.setdefault((node.op_type, node.domain, opset, version, reason), []).append(label)
        for attr, body in subgraphs(node):
            sub = load_subgraph(graph, body, label)
            _collect_unsupported(sub, {**constants, **sub.initializers}, found, f"{label}/{attr}/")


def _input_dtype_problems(graph: LoadedGraph) -> list:
    """Graph inputs whose element type OneFlow has no tensor for (string, uint16, complex, ...)."""
    by_dtype: dict = {}
    for name in graph.inputs:
        dtype = graph.value_info[name].dtype
        if dtype is not None and np.dtype(dtype) not in NP_TO_FLOW:
            by_dtype.setdefault(np.dtype(dtype), []).append(name)
    return [Unsupported("<graph input>", "", 0, 0, f"element type {dt} has no OneFlow tensor dtype",
                        tuple(names)) for dt, names in by_dtype.items()]


@dataclass
class Plan:
    """What the builder decided: the runtime steps, their layers, every build-time constant."""

    steps: list
    layers: dict
    constants: dict            # value name -> numpy array (initializers and folded values)


def build_module(graph: LoadedGraph, *, fold_limit_bytes: int = DEFAULT_FOLD_LIMIT_BYTES) -> ConvertedModule:
    plan = build_plan(graph, fold_limit_bytes=fold_limit_bytes)
    return ConvertedModule(graph, plan.steps, plan.layers, plan.constants)


def build_plan(graph: LoadedGraph, *, fold_limit_bytes: int = DEFAULT_FOLD_LIMIT_BYTES) -> Plan:
    """Build every node's handler, fold what is static; codegen reads the same plan.

    No tensor above ``fold_limit_bytes`` is computed at conversion time (folding.py)."""
    with folding_budget(fold_limit_bytes):
        return _build_plan(graph, fold_limit_bytes)


def build_subgraph(parent: LoadedGraph, body, outer_constants: dict, label: str, fold_limit_bytes: int):
    """A control-flow subgraph converted by this same builder into a child module.

    Returns (module, outer runtime names): the names the subgraph reads from enclosing scopes
    that are not build-time constants; the control-flow step passes their values in."""
    sub = load_subgraph(parent, body, label)
    plan = _build_plan(sub, fold_limit_bytes, outer_constants)
    module = SubgraphModule(sub, plan.steps, plan.layers, plan.constants)
    return module, [n for n in outer_names(body) if n not in plan.constants]


def _build_plan(graph: LoadedGraph, fold_limit_bytes: int, outer_constants: dict | None = None) -> Plan:
    constants = {**(outer_constants or {}), **graph.initializers}
    steps: list = []
    layers: dict = {}
    problems: list = []
    for i, node in enumerate(graph.graph.node):
        opset = _opset_for(graph, node.domain)
        label = node_label(node, i)
        handler, version, reason = lookup(node.op_type, opset, node.domain)
        if handler is None:   # inventory_of has reported it already
            problems.append(Unsupported(node.op_type, node.domain, opset, version, reason, (label,)))
            continue
        ctx = NodeContext(node, label, version, opset, graph, constants, fold_limit_bytes)
        try:
            built = handler.build(ctx)
        except NodeUnsupported as e:
            problems.append(Unsupported(node.op_type, node.domain, opset, version, str(e), (label,)))
            continue
        except ConverterError:
            raise
        except Exception as e:  # noqa: BLE001 - name the node instead of a traceback from deep inside
            raise NodeBuildError(graph.source, label, node.op_type, e) from e
        outputs = list(node.output)
        if isinstance(built, Folded):
            for name, value in zip(outputs, built.values):
                if name:
                    constants[name] = value
            continue
        inputs = [name if (name and j not in ctx.claimed) else None for j, name in enumerate(node.input)]
        while inputs and inputs[-1] is None and not ctx.outer_inputs:   # trailing absent/claimed
            inputs.pop()                                                 # inputs are not passed
        inputs += ctx.outer_inputs   # outer-scope values a subgraph reads (control flow)
        layer_key = f"n{i}_{node.op_type}" if isinstance(built, flow.nn.Module) else None
        step = Step(label, node.op_type, built, inputs, outputs, layer_key, i)
        if node.op_type not in NEVER_FOLD and _all_constant(inputs, constants) \
                and _outputs_fit(ctx, fold_limit_bytes):
            values = _try_fold(step, constants, fold_limit_bytes)
            if values is not None:
                for name, value in zip(outputs, values):
                    if name:
                        constants[name] = value
                continue
        if layer_key:
            layers[layer_key] = built
        steps.append(step)
    if problems:
        raise UnsupportedOperatorError(problems, graph.source)
    return Plan(steps, layers, constants)


def _all_constant(inputs, constants) -> bool:
    return all(name is None or name in constants for name in inputs)


def _outputs_fit(ctx: NodeContext, limit: int) -> bool:
    """False when shape inference already knows an output is above the fold budget."""
    for i in range(len(ctx.outputs)):
        info = ctx.output_info(i)
        if info is not None and info.shape is not None and info.dtype is not None \
                and all(d is not None for d in info.shape) and nbytes(info.shape, info.dtype) > limit:
            return False
    return True


def _try_fold(step: Step, constants: dict, limit: int):
    """Evaluate a node whose inputs are all constants once, on CPU; None if it fails or if
    a result is above the fold budget (the node then runs at run time)."""
    try:
        args = [None if n is None else to_tensor(constants[n]) for n in step.inputs]
        with flow.no_grad():
            out = step.fn(*args)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        if any(o is None or isinstance(o, (list, tuple)) for o in outs):
            return None   # sequences / absent optionals are not numpy constants
        if sum(nbytes(o.shape, _np_dtype(o)) for o in outs) > limit:
            return None
        return [o.numpy() if isinstance(o, flow.Tensor) else np.asarray(o) for o in outs]
    except Exception:  # noqa: BLE001 - folding is optional; the node then runs at run time
        return None


def _np_dtype(value):
    return numpy_dtype(value.dtype) if isinstance(value, flow.Tensor) else np.asarray(value).dtype
