"""What a handler sees of one node while the module is being built."""
from __future__ import annotations

import numpy as np
import onnx

from .errors import InvalidModelError, NodeUnsupported
from .graph import LoadedGraph, ValueInfo


class NodeContext:
    """Attributes, static input values and inferred shapes of one ONNX node.

    ``const(i)`` is the build-time value of input ``i`` when it is an initializer, a
    Constant or a folded subgraph output; handlers use it to specialise (e.g. a Reshape
    target). ``claim(i)`` says the handler captured input ``i`` itself (e.g. a Conv weight
    turned into a Parameter), so the runtime passes ``None`` in its place.
    """

    def __init__(self, node: onnx.NodeProto, label: str, version: int, opset: int,
                 graph: LoadedGraph, constants: dict, fold_limit_bytes: int | None = None):
        self.node = node
        self.name = label
        self.op_type = node.op_type
        self.domain = node.domain
        self.version = version
        self.opset = opset
        self.inputs = list(node.input)
        self.outputs = list(node.output)
        self._graph = graph
        self._constants = constants
        self.claimed: set = set()
        self.outer_inputs: list = []    # outer-scope names the node's subgraphs read at run time
        self._fold_limit = fold_limit_bytes
        self.attrs = {a.name: _attr_value(a) for a in node.attribute}

    # --- attributes -----------------------------------------------------------------
    def attr(self, name: str, default=None):
        return self.attrs.get(name, default)

    # --- inputs ---------------------------------------------------------------------
    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    def has_input(self, i: int) -> bool:
        return i < len(self.inputs) and bool(self.inputs[i])

    def const(self, i: int):
        """Static numpy value of input ``i``, or None if it is only known at run time."""
        if not self.has_input(i):
            return None
        return self._constants.get(self.inputs[i])

    def is_const(self, i: int) -> bool:
        return self.const(i) is not None

    def claim(self, *indices: int) -> None:
        self.claimed.update(indices)

    def claim_list(self, i: int):
        """Input ``i``'s build-time value as a list of ints, claimed, so a call reads nothing back
        to the host (nn.Graph can trace the node); None when it is only known at run time."""
        value = self.const(i)
        if value is None:
            return None
        self.claim(i)
        return [int(v) for v in np.asarray(value).reshape(-1)]

    def input_info(self, i: int) -> ValueInfo | None:
        return self._graph.value_info.get(self.inputs[i]) if self.has_input(i) else None

    def output_info(self, i: int = 0) -> ValueInfo | None:
        return self._graph.value_info.get(self.outputs[i]) if i < len(self.outputs) and self.outputs[i] else None

    def input_rank(self, i: int) -> int | None:
        info = self.input_info(i)
        if info is not None and info.shape is not None:
            return len(info.shape)
        value = self.const(i)
        return None if value is None else value.ndim

    def input_dtype(self, i: int):
        value = self.const(i)
        if value is not None:
            return value.dtype
        info = self.input_info(i)
        return None if info is None else info.dtype

    # --- subgraphs (control flow) ---------------------------------------------------------
    def subgraph(self, attr: str):
        """Convert subgraph attribute ``attr`` with the same builder into a child module
        (module.SubgraphModule). Outer-scope constants are folded into it; the outer-scope
        names it reads at run time are appended to this node's runtime inputs, after its
        own inputs (absent ones passed as None), in the order of ``self.outer_inputs``."""
        from .builder import build_subgraph   # builder imports this module
        from .folding import DEFAULT_FOLD_LIMIT_BYTES

        body = self.attrs.get(attr)
        if body is None:
            raise ValueError(f"missing subgraph attribute {attr!r}")
        module, outer = build_subgraph(self._graph, body, self._constants, f"{self.name}/{attr}",
                                       self._fold_limit or DEFAULT_FOLD_LIMIT_BYTES)
        self.outer_inputs += [n for n in outer if n not in self.outer_inputs]
        return module

    def invalid(self, reason: str) -> InvalidModelError:
        """``raise ctx.invalid("...")``: the node breaks the spec (ONNX Runtime refuses it too)."""
        return InvalidModelError(f"{self._graph.source}: node {self.name!r} ({self.node.op_type}): {reason}")

    def unsupported(self, reason: str) -> NodeUnsupported:
        """``raise ctx.unsupported("...")`` from a handler for something it cannot express."""
        return NodeUnsupported(reason)


def _attr_value(a: onnx.AttributeProto):
    value = onnx.helper.get_attribute_value(a)
    if a.type == onnx.AttributeProto.TENSOR:
        return onnx.numpy_helper.to_array(value)
    if a.type == onnx.AttributeProto.TENSORS:
        return [onnx.numpy_helper.to_array(t) for t in value]
    if a.type == onnx.AttributeProto.STRING:
        return value.decode("utf-8")
    if a.type == onnx.AttributeProto.STRINGS:
        return [v.decode("utf-8") for v in value]
    if a.type in (onnx.AttributeProto.INTS, onnx.AttributeProto.FLOATS):
        return list(value)
    return value


def as_numpy(value) -> np.ndarray:
    return value if isinstance(value, np.ndarray) else np.asarray(value)
