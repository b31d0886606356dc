"""Declared tensor dims, read one way for every user (load, shape folding, the call-time
check, graph mode, the CLI's input drawing).

Per the ONNX IR spec (IR.md, "Static tensor shapes") a dim is one of:

* fixed:   ``dim_value >= 0``: the size;
* named:   a non-empty ``dim_param`` other than ``'?'``: a size unknown until run time, the
           same wherever the name appears (two inputs declaring ``N`` get one size);
* unknown: neither, or a negative ``dim_value`` (exporters write ``-1``), or ``dim_param``
           ``'?'`` (Paddle writes it): any size, each such dim independent of the others.

Read here as an int, a str or None. ONNX Runtime checks only fixed dims and ranks (named
dims do not have to agree there); the converter also holds named dims to one size, as the
spec says (docs/operators.md, "Input dims").
"""
from __future__ import annotations

from typing import Iterable, Optional, Union

import onnx

from .errors import InputError

Dim = Union[int, str, None]
UNKNOWN_PARAMS = frozenset({"", "?"})


def declared_dim(d: onnx.TensorShapeProto.Dimension) -> Dim:
    """One dim as an int (fixed), a str (named) or None (unknown)."""
    which = d.WhichOneof("value")
    if which == "dim_value":
        return d.dim_value if d.dim_value >= 0 else None
    if which == "dim_param" and d.dim_param not in UNKNOWN_PARAMS:
        return d.dim_param
    return None


def declared_dims(type_proto: onnx.TypeProto) -> Optional[tuple]:
    """A tensor type's dims (see ``declared_dim``), or None when it is no tensor or has no shape."""
    if type_proto.WhichOneof("value") != "tensor_type" or not type_proto.tensor_type.HasField("shape"):
        return None
    return tuple(declared_dim(d) for d in type_proto.tensor_type.shape.dim)


def known_shape(dims: Optional[tuple]) -> Optional[tuple]:
    """The dims with only fixed sizes kept (ints), None for every other dim."""
    if dims is None:
        return None
    return tuple(d if isinstance(d, int) else None for d in dims)


def shown(dims: tuple) -> tuple:
    """For messages: fixed sizes, names, and '?' for unknown dims."""
    return tuple("?" if d is None else d for d in dims)


def bind(declared: Iterable[tuple]) -> dict:
    """Check concrete shapes against declared dims; return the size of every name.

    ``declared`` yields (input name, dims or None, shape or None); a None on either side is
    not checked. Raises InputError naming the input: rank or a fixed size differs, or a name
    meets two sizes."""
    bound: dict = {}
    for name, dims, shape in declared:
        if dims is None or shape is None:
            continue
        shape = tuple(int(n) for n in shape)
        if len(shape) != len(dims) or any(isinstance(d, int) and d != n for d, n in zip(dims, shape)):
            raise InputError(f"input {name!r}: expected shape {shown(dims)}, got {shape}")
        for d, n in zip(dims, shape):
            if isinstance(d, str):
                size, first = bound.setdefault(d, (n, name))
                if size != n:
                    raise InputError(f"input {name!r}: dim {d!r} is {n}, but input {first!r} "
                                     f"gave it {size} (one name, one size)")
    return {d: size for d, (size, _) in bound.items()}


def clear_unknown_dims(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model``, or a copy whose unknown dims (negative values, '?') are cleared, for onnx
    shape inference: it takes -1 as a size (Concat of [-1, 3] and [3, 3] infers [2, 3]) and
    two '?' as one symbol, and its results are folded as constants."""
    if not any(_unknown_marked(d) for d in _all_dims(model.graph)):
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for d in _all_dims(copy.graph):
        if _unknown_marked(d):
            d.Clear()
    return copy


def _unknown_marked(d) -> bool:
    which = d.WhichOneof("value")
    return (which == "dim_value" and d.dim_value < 0) or (which == "dim_param" and d.dim_param in UNKNOWN_PARAMS)


def _all_dims(graph: onnx.GraphProto):
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        yield from _type_dims(vi.type)
    for node in graph.node:
        for a in node.attribute:
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                yield from _all_dims(sub)


def _type_dims(t: onnx.TypeProto):
    which = t.WhichOneof("value")
    if which == "tensor_type" and t.tensor_type.HasField("shape"):
        yield from t.tensor_type.shape.dim
    elif which in ("sequence_type", "optional_type"):
        yield from _type_dims(getattr(t, which).elem_type)
