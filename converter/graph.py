"""Load and validate an ONNX model; collect what the builder needs to know about it."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from .errors import InvalidModelError, ModelLoadError
from .registry import canonical_domain


@dataclass
class ValueInfo:
    shape: tuple | None        # ints for static dims, None for unknown dims; None if rank unknown
    dtype: np.dtype | None


@dataclass
class LoadedGraph:
    model: onnx.ModelProto
    source: str                                   # file path, or "<ModelProto>"
    opsets: dict                                  # canonical domain -> version
    initializers: dict = field(default_factory=dict)   # name -> np.ndarray
    inputs: list = field(default_factory=list)    # non-initializer graph inputs, in order
    outputs: list = field(default_factory=list)
    value_info: dict = field(default_factory=dict)     # name -> ValueInfo (from shape inference)

    @property
    def graph(self) -> onnx.GraphProto:
        return self.model.graph


def node_label(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"#{index}:{node.op_type}"


def _value_info(vi: onnx.ValueInfoProto) -> ValueInfo:
    t = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
    if t is None:
        return ValueInfo(None, None)
    dtype = None
    if t.elem_type:
        try:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type))
        except (KeyError, TypeError, ValueError):
            dtype = None
    if not t.HasField("shape"):
        return ValueInfo(None, dtype)
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    return ValueInfo(dims, dtype)


def read_model(model) -> tuple[onnx.ModelProto, str]:
    """Accept a ModelProto, a path, or bytes; raise ModelLoadError naming the file otherwise."""
    if isinstance(model, onnx.ModelProto):
        return model, "<ModelProto>"
    if isinstance(model, (bytes, bytearray)):
        try:
            return onnx.load_model_from_string(bytes(model)), "<bytes>"
        except (DecodeError, ValueError, RuntimeError) as e:
            raise ModelLoadError(f"<bytes>: not a valid ONNX model ({e})") from None
    path = os.fspath(model)
    if not os.path.exists(path):
        raise ModelLoadError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ModelLoadError(f"{path}: is a directory, expected an .onnx file")
    try:
        proto = onnx.load(path, load_external_data=True)
    except onnx.checker.ValidationError as e:   # onnx.load's own check of external data paths
        raise ModelLoadError(f"{path}: external data cannot be loaded ({e})") from None
    except (DecodeError, ValueError, RuntimeError, OSError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    if not proto.graph.node and not proto.graph.output:
        raise ModelLoadError(f"{path}: not an ONNX model (no graph found; truncated or another format?)")
    return proto, path


# Initializers up to this many elements keep their data in the skeleton (shape vectors and
# scalars that shape inference reads); bigger ones become typed graph inputs.
_SKELETON_INLINE_ELEMENTS = 1024


def skeleton(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model without its large initializers' data, declared as typed inputs instead.

    onnx.checker and shape inference serialise the whole proto; for ResNet50 that was 3.3 s
    of a 5.5 s conversion and several copies of the weights in memory. Weights are validated
    where they are decoded (numpy_helper.to_array names a malformed initializer).
    """
    g = proto.graph
    if all(int(np.prod(t.dims)) <= _SKELETON_INLINE_ELEMENTS for t in g.initializer):
        return proto
    head = onnx.ModelProto()
    for fd, value in proto.ListFields():
        if fd.name == "graph":
            continue
        if fd.label == fd.LABEL_REPEATED:
            getattr(head, fd.name).extend(value)
        elif fd.type == fd.TYPE_MESSAGE:
            getattr(head, fd.name).CopyFrom(value)
        else:
            setattr(head, fd.name, value)
    sk = head.graph
    sk.name, sk.doc_string = g.name, g.doc_string
    for part in ("node", "input", "output", "value_info", "sparse_initializer", "quantization_annotation"):
        getattr(sk, part).extend(getattr(g, part))
    declared = {i.name for i in g.input}
    for t in g.initializer:
        if int(np.prod(t.dims)) <= _SKELETON_INLINE_ELEMENTS:
            sk.initializer.append(t)
        elif t.name not in declared:
            sk.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return head


def load(model, *, check: bool = True) -> LoadedGraph:
    proto, source = read_model(model)
    light = skeleton(proto)
    if check:
        try:
            onnx.checker.check_model(light)
        except onnx.checker.ValidationError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else "validation failed"
            raise InvalidModelError(f"{source}: fails onnx.checker: {first}") from None
        except ValueError as e:   # e.g. > 2 GB protos: the checker needs a path
            if source.startswith("<"):
                raise InvalidModelError(f"{source}: cannot be checked ({e})") from None
            onnx.checker.check_model(source)
    opsets = {}
    for imp in proto.opset_import:
        opsets[canonical_domain(imp.domain)] = imp.version
    if "" not in opsets:
        raise InvalidModelError(f"{source}: the model imports no default-domain opset")

    g = proto.graph
    inits = {}
    for t in g.initializer:
        try:
            inits[t.name] = numpy_helper.to_array(t)
        except Exception as e:  # noqa: BLE001 - any decode failure names the tensor
            raise InvalidModelError(f"{source}: initializer {t.name!r} cannot be read: {e}") from None
    for st in g.sparse_initializer:
        raise InvalidModelError(f"{source}: sparse initializer {st.values.name!r} is not supported")

    loaded = LoadedGraph(proto, source, opsets, inits)
    loaded.inputs = [i.name for i in g.input if i.name not in inits]
    loaded.outputs = [o.name for o in g.output]
    for vi in g.input:
        loaded.value_info[vi.name] = _value_info(vi)

    try:
        inferred = onnx.shape_inference.infer_shapes(light, strict_mode=False)
        for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
            loaded.value_info.setdefault(vi.name, _value_info(vi))
    except Exception:  # noqa: BLE001 - shape inference is an optimisation, never required
        pass
    for vi in g.output:
        loaded.value_info.setdefault(vi.name, _value_info(vi))
    _check_dataflow(loaded)
    return loaded


def _check_dataflow(loaded: LoadedGraph) -> None:
    """Every input is produced before use; no name produced twice (so no cycles)."""
    known = set(loaded.initializers) | set(loaded.inputs)
    produced = set()
    for i, node in enumerate(loaded.graph.node):
        for name in node.input:
            if name and name not in known:
                later = any(name in n.output for n in loaded.graph.node[i:])
                why = "is produced by a later node (cycle or unsorted graph)" if later \
                    else "is neither a graph input, an initializer nor a node output"
                raise InvalidModelError(
                    f"{loaded.source}: node {node_label(node, i)!r} ({node.op_type}): input {name!r} {why}")
        for name in node.output:
            if not name:
                continue
            if name in produced or name in loaded.inputs:
                raise InvalidModelError(
                    f"{loaded.source}: node {node_label(node, i)!r} ({node.op_type}): output {name!r} is produced twice")
            produced.add(name)
            known.add(name)
    for name in loaded.outputs:
        if name not in known:
            raise InvalidModelError(f"{loaded.source}: graph output {name!r} is never produced")
