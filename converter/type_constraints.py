"""Refuse node inputs whose element type the operator's schema does not allow at the model's opset.

onnx.checker does not check type constraints and shape inference is run leniently, so a
model such as Pad-12 on bool or MaxPool-11 on uint8 loads; ONNX Runtime refuses it as an
invalid graph ("Type 'tensor(bool)' of input parameter (x) of operator (Pad) is invalid"),
and so does the converter, with an InvalidModelError naming each node (docs/design.md:
typed errors). Only what is known is checked: standard-domain nodes, also inside If/Loop/Scan
subgraphs (with the outer scope's types visible there), whose input types shape inference,
the graph inputs or the initializers give; an unknown
type, a sequence/optional value or an op without a schema at that opset is never refused.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnx.defs

from .errors import InvalidModelError
from .graph import LoadedGraph, load_subgraph, node_label, subgraphs
from .registry import canonical_domain


def _candidates() -> dict:
    """numpy dtype -> every ONNX tensor type string that loads as it. The converter keeps
    element types as numpy dtypes, and several ONNX types share one (bfloat16 and the float8s
    load as float32, int4 as int8): an input is refused only when none of them is allowed."""
    out: dict = {}
    for name, elem in onnx.TensorProto.DataType.items():
        try:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem))
        except (KeyError, TypeError, ValueError):
            continue
        out.setdefault(dtype, set()).add(f"tensor({name.lower()})")
    return out


_CANDIDATES = _candidates()


def _name(dtype) -> str:
    return f"tensor({onnx.TensorProto.DataType.Name(onnx.helper.np_dtype_to_tensor_dtype(dtype)).lower()})"


def _allowed(schema, index: int):
    """(parameter name, allowed tensor type strings) of input ``index``, or None when the
    schema does not constrain it to tensors (no such parameter, or only seq/optional types)."""
    params = list(schema.inputs)
    if index >= len(params):
        last = params[-1] if params else None
        if last is None or last.option != onnx.defs.OpSchema.FormalParameterOption.Variadic:
            return None
        param = last
    else:
        param = params[index]
    constraints = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    allowed = constraints.get(param.type_str, {param.type_str})
    tensors = {t for t in allowed if t.startswith("tensor(")}
    return (param.name, tensors) if tensors else None


def _known_dtypes(graph: LoadedGraph) -> dict:
    dtypes = {name: info.dtype for name, info in graph.value_info.items() if info.dtype is not None}
    dtypes.update({name: value.dtype for name, value in graph.initializers.items()})
    return dtypes


def check_type_constraints(graph: LoadedGraph) -> None:
    """InvalidModelError listing every node input whose type the op's schema refuses."""
    problems = _problems(graph, {}, "")
    if problems:
        raise InvalidModelError(f"{graph.source}: input types the operator schemas do not allow:\n  "
                                + "\n  ".join(problems))


def _problems(graph: LoadedGraph, outer: dict, prefix: str) -> list:
    dtypes = {**outer, **_known_dtypes(graph)}
    problems = []
    for i, node in enumerate(graph.graph.node):
        label = prefix + node_label(node, i)
        for attr, body in subgraphs(node):     # outer-scope names keep their types inside
            problems += _problems(load_subgraph(graph, body, label), dtypes, f"{label}/{attr}/")
        domain = canonical_domain(node.domain)
        if domain != "":
            continue
        opset = graph.opsets.get(domain, 0)
        try:
            schema = onnx.defs.get_schema(node.op_type, opset, "")
        except onnx.defs.SchemaError:
            continue   # unknown op or opset: the registry lookup reports it
        for index, name in enumerate(node.input):
            if not name or name not in dtypes:
                continue
            allowed = _allowed(schema, index)
            have = _CANDIDATES.get(np.dtype(dtypes[name])) if dtypes[name].fields is None else None
            if allowed is None or not have or have & allowed[1]:
                continue
            problems.append(f"node {label!r} ({node.op_type}, opset {opset}, version "
                            f"{schema.since_version}): input {index} {name!r} ({allowed[0]}) has type "
                            f"{_name(dtypes[name])}, not one of {', '.join(sorted(allowed[1]))}")
    return problems
