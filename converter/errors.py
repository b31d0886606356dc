"""Typed errors. Each names the file, node, op or input it is about."""
from __future__ import annotations

from dataclasses import dataclass


class ConverterError(Exception):
    """Base class of every error the converter raises on purpose."""


class ModelLoadError(ConverterError):
    """The file is missing, truncated or not an ONNX model."""


class InvalidModelError(ConverterError):
    """The ONNX graph is malformed: fails onnx.checker, dangling inputs, cycles, ..."""


@dataclass(frozen=True)
class Unsupported:
    """One unsupported use of an operator, as reported by ``converter.inventory``."""

    op_type: str
    domain: str
    opset: int          # the operator-set version the model imports for this domain
    version: int        # the operator's schema since_version at that opset (0 if unknown)
    reason: str
    nodes: tuple = ()   # node names (or '#index' for unnamed nodes)

    def __str__(self) -> str:
        op = f"{self.domain}::{self.op_type}" if self.domain else self.op_type
        where = ", ".join(self.nodes[:5]) + (f" (+{len(self.nodes) - 5} more)" if len(self.nodes) > 5 else "")
        return f"{op} (opset {self.opset}, version {self.version}): {self.reason} [nodes: {where}]"


class UnsupportedOperatorError(ConverterError):
    """The model uses operators (or attribute values) the converter cannot express."""

    def __init__(self, unsupported, source: str = "model"):
        self.unsupported = list(unsupported)
        lines = "\n  ".join(str(u) for u in self.unsupported)
        super().__init__(f"{source}: {len(self.unsupported)} unsupported operator use(s):\n  {lines}")


class CodegenError(ConverterError):
    """codegen() cannot write source for some nodes (no emitter, or attributes it cannot express)."""

    def __init__(self, unsupported, source: str = "model"):
        self.unsupported = list(unsupported)
        lines = "".join(f"\n  {u.op_type}: {u.reason} [nodes: {', '.join(u.nodes[:5])}"
                        f"{f' (+{len(u.nodes) - 5} more)' if len(u.nodes) > 5 else ''}]"
                        for u in self.unsupported)
        head = f"{len(self.unsupported)} operator(s) codegen cannot write:" if self.unsupported else ""
        super().__init__(f"{source}: {head}{lines}" if head else source)


class DeviceError(ConverterError):
    """The requested device is not a OneFlow device, or is not usable on this machine."""


class TensorTooLarge(MemoryError):
    """A tensor a node would materialise is above its size budget (raised before allocating).

    Not a ConverterError on its own: the builder (NodeBuildError) or the running module
    (NodeExecutionError) wraps it with the node's name.
    """


class NodeUnsupported(ConverterError):
    """Raised by a handler at build time for an attribute/input combination it cannot express."""


class InputError(ConverterError):
    """The converted module was called with the wrong number, shape or dtype of inputs."""


class NodeBuildError(ConverterError):
    """A handler failed while building a node (attributes or inputs it did not expect)."""

    def __init__(self, source: str, node_name: str, op_type: str, cause: BaseException):
        self.node_name, self.op_type, self.cause = node_name, op_type, cause
        super().__init__(f"{source}: node {node_name!r} ({op_type}) cannot be built: "
                         f"{type(cause).__name__}: {cause}")


class NodeExecutionError(ConverterError):
    """A node failed while the converted module ran; names the node and op."""

    def __init__(self, node_name: str, op_type: str, cause: BaseException):
        self.node_name, self.op_type, self.cause = node_name, op_type, cause
        super().__init__(f"node {node_name!r} ({op_type}) failed: {type(cause).__name__}: {cause}")
