"""Load and validate an ONNX model; collect what the builder needs to know about it."""
from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, field

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper, numpy_helper

from .dims import clear_unknown_dims, declared_dims, known_shape
from .errors import InvalidModelError, ModelLoadError
from .registry import canonical_domain


@dataclass
class ValueInfo:
    shape: tuple | None        # ints for fixed dims, None for named/unknown dims (converter.dims); None if rank unknown
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
    body: onnx.GraphProto | None = None           # set for a control-flow subgraph (load_subgraph)

    @property
    def graph(self) -> onnx.GraphProto:
        return self.model.graph if self.body is None else self.body


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
    return ValueInfo(known_shape(declared_dims(vi.type)), dtype)


# protobuf cannot parse a message of 2 GiB or more; bigger models keep their weights in
# external data files, which count against MAX_EXTERNAL_BYTES (documented on ``converter.convert``).
MAX_PROTO_BYTES = 2**31 - 1
MAX_EXTERNAL_BYTES = 64 * 2**30


def _regular_file(path: str, what: str) -> int:
    """Size of ``path``; ModelLoadError unless it is a regular file (a FIFO, a device such as
    /dev/zero or a socket would block or read without end)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: no such file") from None
    except OSError as e:
        raise ModelLoadError(f"{path}: cannot be read ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ModelLoadError(f"{path}: is a directory, expected {what}")
    if not stat.S_ISREG(st.st_mode):
        raise ModelLoadError(f"{path}: not a regular file (FIFO, device or socket), expected {what}")
    return st.st_size


def read_model(model) -> tuple[onnx.ModelProto, str]:
    """Accept a ModelProto, a path, or bytes; raise ModelLoadError naming the file otherwise."""
    if isinstance(model, onnx.ModelProto):
        return model, "<ModelProto>"
    if isinstance(model, (bytes, bytearray)):
        if len(model) > MAX_PROTO_BYTES:
            raise ModelLoadError(f"<bytes>: {len(model)} bytes, above protobuf's 2 GiB message limit")
        try:
            return onnx.load_model_from_string(bytes(model)), "<bytes>"
        except (DecodeError, ValueError, RuntimeError) as e:
            raise ModelLoadError(f"<bytes>: not a valid ONNX model ({e})") from None
    if not isinstance(model, (str, os.PathLike)):
        raise ModelLoadError(f"expected an onnx.ModelProto, bytes or a path, got {type(model).__name__}")
    path = os.fspath(model)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    size = _regular_file(path, "an .onnx file")
    if size > MAX_PROTO_BYTES:
        raise ModelLoadError(f"{path}: {size} bytes, above protobuf's 2 GiB message limit "
                             "(larger models keep their weights in external data files)")
    try:
        proto = onnx.load(path, load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    if not proto.graph.node and not proto.graph.output:
        raise ModelLoadError(f"{path}: not an ONNX model (no graph found; truncated or another format?)")
    _load_external_data(proto, path)
    return proto, path


def _load_external_data(proto: onnx.ModelProto, path: str) -> None:
    """Read external tensor data after checking every file is regular and the total is bounded."""
    tensors = [t for t in external_data_helper._get_all_tensors(proto)
               if external_data_helper.uses_external_data(t)]
    if not tensors:
        return
    base = os.path.dirname(path)
    total = 0
    for t in tensors:
        info = external_data_helper.ExternalDataInfo(t)
        size = _regular_file(os.path.join(base, info.location), f"external data of tensor {t.name!r}")
        length = info.length if info.length else max(size - (info.offset or 0), 0)
        total += length
    if total > MAX_EXTERNAL_BYTES:
        raise ModelLoadError(f"{path}: external data totals {total} bytes, above the "
                             f"{MAX_EXTERNAL_BYTES} byte limit")
    try:
        external_data_helper.load_external_data_for_model(proto, base)
    except onnx.checker.ValidationError as e:   # onnx's own check of external data paths
        raise ModelLoadError(f"{path}: external data cannot be loaded ({e})") from None
    except (ValueError, RuntimeError, OSError) as e:
        raise ModelLoadError(f"{path}: external data cannot be loaded ({type(e).__name__}: {e})") from None


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
    if all(math.prod(t.dims) <= _SKELETON_INLINE_ELEMENTS for t in g.initializer):
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
        if math.prod(t.dims) <= _SKELETON_INLINE_ELEMENTS:
            sk.initializer.append(t)
        elif t.name not in declared:
            sk.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return head


def _all_nodes(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for a in node.attribute:
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                yield from _all_nodes(sub)


def _hidden(light: onnx.ModelProto, hide, domain: str) -> onnx.ModelProto:
    """A copy of ``light`` whose nodes matching ``hide`` are moved to ``domain`` (imported), so
    onnx's checker and shape inference pass over them; ``light`` itself when none match."""
    if not any(hide(n) for n in _all_nodes(light.graph)):
        return light
    safe = onnx.ModelProto()
    safe.CopyFrom(light)
    for node in _all_nodes(safe.graph):
        if hide(node):
            node.domain = domain
    if all(imp.domain != domain for imp in safe.opset_import):
        safe.opset_import.append(onnx.helper.make_opsetid(domain, 1))
    return safe


# Operators ONNX Runtime registers in the default domain without ONNX defining them (its graph
# optimizer writes them into saved models); onnx's checker would call such a node invalid.
ORT_DEFAULT_DOMAIN_OPS = frozenset({"SimplifiedLayerNormalization"})


def _ort_default_domain_op(node) -> bool:
    return node.op_type in ORT_DEFAULT_DOMAIN_OPS and canonical_domain(node.domain) == ""


def _checkable(light: onnx.ModelProto) -> onnx.ModelProto:
    """``light`` with ONNX Runtime's own default-domain operators hidden from onnx's checker."""
    return _hidden(light, _ort_default_domain_op, "onnx2oneflow.ort_default_domain")


def _inference_safe(light: onnx.ModelProto) -> onnx.ModelProto:
    """onnx 1.17's Einsum shape inference segfaults (kills the process) on ellipses of
    different ranks ('...ij,...jk' over [3, 2] and [2, 2, 2]). Einsum nodes with an ellipsis
    are hidden from it in a copy (an unknown domain: their outputs stay untyped); the handler
    broadcasts ellipses as numpy.einsum does (ONNX Runtime refuses different ranks)."""
    return _hidden(_checkable(light), lambda n: n.op_type == "Einsum" and "..." in _equation(n),
                   "onnx2oneflow.uninferred")


def _equation(node) -> str:
    return next((onnx.helper.get_attribute_value(a).decode() for a in node.attribute if a.name == "equation"), "")


def load(model, *, check: bool = True) -> LoadedGraph:
    proto, source = read_model(model)
    check_tensors(proto, source)
    light = skeleton(proto)
    if check:
        try:
            onnx.checker.check_model(_checkable(light))
        except onnx.checker.ValidationError as e:
            raise InvalidModelError(f"{source}: fails onnx.checker: {_whole(e)}") from None
        except ValueError as e:   # e.g. > 2 GB protos: the checker needs a path
            if source.startswith("<"):
                raise InvalidModelError(f"{source}: cannot be checked ({e})") from None
            try:
                onnx.checker.check_model(source)
            except onnx.checker.ValidationError as e:
                raise InvalidModelError(f"{source}: fails onnx.checker: {_whole(e)}") from None
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
        inferred = onnx.shape_inference.infer_shapes(_inference_safe(clear_unknown_dims(light)), strict_mode=False)
        for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
            loaded.value_info.setdefault(vi.name, _value_info(vi))
    except Exception:  # noqa: BLE001 - shape inference is an optimisation, never required
        pass
    for vi in g.output:
        loaded.value_info.setdefault(vi.name, _value_info(vi))
    _check_dataflow(loaded)
    return loaded


def _whole(error: Exception) -> str:
    """The checker's whole message on one line: its later lines name the node (cycle,
    undefined input), so they are kept."""
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip()) or "validation failed"


# Data fields onnx stores each element type in, and how many entries one element takes.
_PACKED_4BIT = {onnx.TensorProto.INT4, onnx.TensorProto.UINT4}
_COMPLEX = {onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128}


def check_tensors(proto: onnx.ModelProto, source: str) -> None:
    """Every initializer and tensor attribute has non-negative dims and exactly as much data as
    its dims say (numpy_helper would fail deep inside, or read a wrong-sized array)."""
    for t in proto.graph.initializer:
        _check_tensor(t, f"initializer {t.name!r}", source)
    for where, t in _attribute_tensors(proto.graph):
        _check_tensor(t, where, source)


def _attribute_tensors(graph: onnx.GraphProto, prefix: str = ""):
    for i, node in enumerate(graph.node):
        label = f"{prefix}{node_label(node, i)}"
        for a in node.attribute:
            where = f"node {label!r} attribute {a.name!r}"
            if a.type == onnx.AttributeProto.TENSOR:
                yield where, a.t
            elif a.type == onnx.AttributeProto.TENSORS:
                yield from ((where, t) for t in a.tensors)
            elif a.type == onnx.AttributeProto.GRAPH:
                yield from ((f"{where} initializer {t.name!r}", t) for t in a.g.initializer)
                yield from _attribute_tensors(a.g, f"{label}/")
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    yield from ((f"{where} initializer {t.name!r}", t) for t in g.initializer)
                    yield from _attribute_tensors(g, f"{label}/")


def _check_tensor(t: onnx.TensorProto, where: str, source: str) -> None:
    dims = list(t.dims)
    if any(d < 0 for d in dims):
        raise InvalidModelError(f"{source}: {where} has negative dims {dims}")
    if t.data_location == onnx.TensorProto.EXTERNAL and not t.HasField("raw_data"):
        return   # not loaded (check=False paths never read it)
    if t.data_type in (onnx.TensorProto.UNDEFINED, onnx.TensorProto.STRING):
        return
    count = math.prod(dims)
    try:
        np_dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type))
        field_name = onnx.helper.tensor_dtype_to_field(t.data_type)
    except (KeyError, TypeError, ValueError):
        raise InvalidModelError(f"{source}: {where} has unknown element type {t.data_type}") from None
    if t.HasField("raw_data"):
        want = (count + 1) // 2 if t.data_type in _PACKED_4BIT else count * np_dtype.itemsize
        have, unit = len(t.raw_data), "bytes of raw data"
    else:
        want = (count + 1) // 2 if t.data_type in _PACKED_4BIT else count * (2 if t.data_type in _COMPLEX else 1)
        have, unit = len(getattr(t, field_name)), f"entries in {field_name}"
    if have != want:
        raise InvalidModelError(f"{source}: {where} has dims {dims} ({count} elements of "
                                f"{onnx.TensorProto.DataType.Name(t.data_type)}): expected {want} {unit}, found {have}")


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


# --- control-flow subgraphs (If/Loop/Scan/SequenceMap bodies) ------------------------------------
def load_subgraph(parent: LoadedGraph, body: onnx.GraphProto, label: str) -> LoadedGraph:
    """A subgraph attribute as a LoadedGraph of its own: the parent's opsets, its own
    initializers, its formal inputs, and the parent's value infos for outer-scope names.

    Formal inputs keep only their rank: a loop-carried value may change shape between
    iterations, so a declared static shape must not fold a Shape node inside the body."""
    inits = {}
    for t in body.initializer:
        try:
            inits[t.name] = numpy_helper.to_array(t)
        except Exception as e:  # noqa: BLE001 - any decode failure names the tensor
            raise InvalidModelError(f"{parent.source}: subgraph of {label!r}: initializer {t.name!r} "
                                    f"cannot be read: {e}") from None
    sub = LoadedGraph(parent.model, f"{parent.source}:{label}", parent.opsets, inits, body=body)
    sub.inputs = [i.name for i in body.input if i.name not in inits]
    sub.outputs = [o.name for o in body.output]
    sub.value_info = dict(parent.value_info)
    for vi in list(body.value_info) + list(body.output):
        sub.value_info[vi.name] = _value_info(vi)
    for vi in body.input:
        info = _value_info(vi)
        rank_only = None if info.shape is None else (None,) * len(info.shape)
        sub.value_info[vi.name] = ValueInfo(rank_only, info.dtype)
    return sub


def subgraphs(node: onnx.NodeProto):
    """(attribute name, GraphProto) of every subgraph attribute of ``node``."""
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            yield a.name, a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            yield from ((a.name, g) for g in a.graphs)


def outer_names(body: onnx.GraphProto) -> list:
    """Names ``body`` (or a subgraph nested in it) reads from enclosing scopes, in first-use order."""
    local = {i.name for i in body.input} | {t.name for t in body.initializer}
    found: dict = {}
    for node in body.node:
        uses = list(node.input)
        for _, inner in subgraphs(node):
            uses += outer_names(inner)
        for name in uses:
            if name and name not in local:
                found.setdefault(name, None)
        local.update(n for n in node.output if n)
    for o in body.output:
        if o.name not in local:
            found.setdefault(o.name, None)
    return list(found)


def specialise(graph: LoadedGraph, infos: dict) -> LoadedGraph:
    """``graph`` with the value infos ``infos`` (name -> ValueInfo) measured on one run, so the
    builder folds the Shape arithmetic a symbolic dimension left to run time. nn.Graph compiles
    for one set of input shapes anyway (graph_mode)."""
    fixed = LoadedGraph(graph.model, graph.source, graph.opsets, graph.initializers,
                        list(graph.inputs), list(graph.outputs))
    fixed.value_info = {**graph.value_info, **infos}
    return fixed
