"""A mutable view of one ONNX graph's node list for pattern rewrites.

Patterns are found by walking producers back from an anchor node; a match may only swallow
intermediate values nothing else reads (``only_used_by``). A replacement takes the place of
the last node it removes, so the node list stays in topological order."""
from __future__ import annotations

import collections
import itertools

import numpy as np
import onnx
from onnx import numpy_helper

from ..graph import outer_names, subgraphs

INTERNAL_DOMAIN = "ai.onnx2oneflow.internal"   # ops only the rewrites write (converter/ops/rewritten.py)


class GraphView:
    def __init__(self, nodes, initializers: dict, outputs, value_info: dict):
        self.nodes = list(nodes)
        self.initializers = dict(initializers)
        self.value_info = value_info
        self._outputs = set(outputs)
        self._removed: set = set()
        self._placed: dict = {}            # index -> new nodes placed there
        self._renames: dict = {}
        self._names = itertools.count()
        self._producer = {o: i for i, n in enumerate(self.nodes) for o in n.output if o}
        self._users = collections.defaultdict(set)
        self.has_subgraphs = False
        for i, n in enumerate(self.nodes):
            reads = list(n.input)
            for _, body in subgraphs(n):
                reads += outer_names(body)
                self.has_subgraphs = True
            for name in reads:
                if name:
                    self._users[name].add(i)

    # --- reading -------------------------------------------------------------------------
    def producer(self, name: str, *op_types: str):
        """(index, node) producing ``name`` when it is a live default-domain node of one of
        ``op_types``; else None."""
        i = self._producer.get(name)
        if i is None or i in self._removed:
            return None
        node = self.nodes[i]
        if node.domain not in ("", "ai.onnx") or (op_types and node.op_type not in op_types):
            return None
        return i, node

    def users(self, name: str) -> set:
        return self._users.get(name, set())

    def is_graph_output(self, name: str) -> bool:
        return name in self._outputs

    def only_used_by(self, name: str, *indices: int) -> bool:
        """``name`` is read by exactly the nodes ``indices`` and is no graph output."""
        return name not in self._outputs and self.users(name) == set(indices)

    def const(self, name: str):
        """Build-time value of ``name`` (an initializer or a Constant node's value), or None."""
        if name in self.initializers:
            return self.initializers[name]
        found = self.producer(name, "Constant", "Identity")
        if found is None:
            return None
        if found[1].op_type == "Identity":   # torch shares equal initializers through Identity
            return self.const(found[1].input[0])
        for a in found[1].attribute:
            if a.name == "value":
                return numpy_helper.to_array(a.t)
            if a.name in ("value_float", "value_int"):
                return np.array(onnx.helper.get_attribute_value(a))
            if a.name in ("value_floats", "value_ints"):
                return np.array(list(onnx.helper.get_attribute_value(a)))
        return None

    def scalar(self, name: str):
        value = self.const(name)
        if value is None or value.size != 1 or value.dtype.kind != "f":
            return None
        return float(value.reshape(-1)[0])

    def shape(self, name: str):
        info = self.value_info.get(name)
        return None if info is None or info.shape is None or None in info.shape else tuple(info.shape)

    def rank(self, name: str):
        info = self.value_info.get(name)
        return None if info is None or info.shape is None else len(info.shape)

    def is_float32(self, name: str) -> bool:
        info = self.value_info.get(name)
        return info is not None and info.dtype is not None and np.dtype(info.dtype) == np.float32

    def live(self, i: int) -> bool:
        return i not in self._removed

    # --- writing -------------------------------------------------------------------------
    def add_initializer(self, hint: str, value: np.ndarray) -> str:
        # Each pass and sweep has a view of its own: a name must be new to the graph as it is
        # now, not only to this view (a second sweep reusing "conv_w__rw0" gave one Conv's
        # folded weight to another; OneFlow GhostNet then failed at run time).
        name = f"{hint}__rw{next(self._names)}"
        while name in self.initializers or name in self._producer or name in self._users:
            name = f"{hint}__rw{next(self._names)}"
        self.initializers[name] = value
        return name

    def replace(self, indices, *new_nodes) -> None:
        """Remove the nodes ``indices``; put ``new_nodes`` where the last of them was."""
        indices = set(indices)
        self._removed |= indices
        if new_nodes:
            self._placed.setdefault(max(indices), []).extend(new_nodes)

    def rename(self, old: str, new: str) -> None:
        """Every later read of ``old`` reads ``new`` (``old`` must not be a graph output)."""
        self._renames[old] = new

    def result(self) -> list:
        out = []
        for i, node in enumerate(self.nodes):
            for new in self._placed.get(i, []):
                out.append(new)
            if i not in self._removed:
                out.append(node)
        if not self._renames:
            return out
        fixed = []
        for node in out:
            if any(n in self._renames for n in node.input):
                node = _copy(node)
                node.input[:] = [self._resolve(n) for n in node.input]
            fixed.append(node)
        return fixed

    def _resolve(self, name: str) -> str:
        while name in self._renames:
            name = self._renames[name]
        return name


def _copy(node):
    new = onnx.NodeProto()
    new.CopyFrom(node)
    return new


def reduce_axes(view: GraphView, node, rank: int):
    """Sorted non-negative axes a keepdims ReduceMean reduces (attribute or, from opset 18,
    a constant input), or None when unknown or keepdims=0."""
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("keepdims", 1) != 1:
        return None
    axes = attrs.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        value = view.const(node.input[1])
        axes = None if value is None else value.reshape(-1).tolist()
    if axes is None or len(axes) == 0 or rank == 0:
        return None
    return sorted(int(a) % rank for a in axes)


def attr(node, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def other(node, name: str) -> str:
    """The other input of a two-input node, given one of them."""
    a, b = node.input[0], node.input[1]
    return b if a == name else a
