"""Public entry points: convert(), inventory(), to_graph(), codegen()."""
from __future__ import annotations

from .builder import build_module, inventory_of
from .errors import DeviceError, UnsupportedOperatorError
from .folding import DEFAULT_FOLD_LIMIT_BYTES
from .graph import LoadedGraph, load
from .type_constraints import check_type_constraints


def inventory(model, *, check: bool = True) -> list:
    """Every unsupported operator use in ``model``, all at once, before anything is built."""
    return inventory_of_loaded(load(model, check=check))


def inventory_of_loaded(graph: LoadedGraph) -> list:
    check_type_constraints(graph)   # InvalidModelError: ONNX Runtime refuses such graphs too
    return inventory_of(graph)


def convert(model, *, device="cpu", check: bool = True, graph=False,
            fold_limit_bytes: int = DEFAULT_FOLD_LIMIT_BYTES, optimize: bool = True):
    """ONNX model (ModelProto, bytes or path) -> oneflow.nn.Module in eval mode on ``device``.

    With ``graph=True`` the module comes wrapped for static execution (graph_mode.ConvertedGraph):
    each set of input shapes is compiled as ``oneflow.nn.Graph`` on its first call, with shape
    arithmetic resolved for those shapes; nodes that need tensor values run eagerly between
    compiled segments (graph breaks, listed by ``.segments``). ``graph="strict"`` refuses such
    a model with a GraphModeError naming the node instead. ``fold_limit_bytes`` bounds every tensor computed at
    conversion time (constant folding): a node whose output would be larger stays a run-time
    node. Raises ModelLoadError / InvalidModelError for bad files or graphs, DeviceError for
    an unknown or unusable device, and one UnsupportedOperatorError listing every operator
    use the converter cannot express. ``optimize=False`` switches off the graph rewrites
    (converter/rewrites); the module's ``rewrites`` says which fired ({pass: count}).

    Limits: a model path must be a regular file below protobuf's 2 GiB message limit, its
    external data regular files totalling at most 64 GiB (graph.MAX_PROTO_BYTES,
    graph.MAX_EXTERNAL_BYTES). At run time, a node that would materialise a tensor larger
    than the memory the process can still get (MemAvailable, and the RLIMIT_AS headroom)
    fails with a NodeExecutionError (cause TensorTooLarge) before allocating.
    """
    device = resolve_device(device)
    loaded, fired = rewrite(load(model, check=check), optimize)
    module = convert_loaded(loaded, device=device, fold_limit_bytes=fold_limit_bytes)
    if graph not in (False, True, "strict"):
        raise ValueError(f"graph must be False, True or 'strict', got {graph!r}")
    module.rewrites = fired
    if graph:
        from .graph_mode import to_graph
        return to_graph(module, graph_rebuild(loaded, device, fold_limit_bytes), strict=graph == "strict")
    return module


def graph_rebuild(loaded: LoadedGraph, device, fold_limit_bytes: int = DEFAULT_FOLD_LIMIT_BYTES):
    """For ``to_graph``: converts the model again for each input-shape signature, with the
    shape arithmetic fixed for it (converter/shape_flow.py)."""
    from .shape_flow import Specialiser

    return Specialiser(loaded, device, fold_limit_bytes)


def rewrite(graph: LoadedGraph, optimize: bool = True) -> tuple:
    """(graph after the rewrite passes, {pass: count}); unchanged when ``optimize`` is False."""
    if not optimize:
        return graph, {}
    from .rewrites import optimize as run_passes
    return run_passes(graph)


def convert_loaded(graph: LoadedGraph, *, device="cpu", fold_limit_bytes: int = DEFAULT_FOLD_LIMIT_BYTES):
    device = resolve_device(device)
    problems = inventory_of_loaded(graph)
    if problems:
        raise UnsupportedOperatorError(problems, graph.source)
    module = build_module(graph, fold_limit_bytes=fold_limit_bytes)
    return module.to(device).eval()


def resolve_device(device):
    """``device`` as a oneflow.device, or DeviceError. A CUDA device OneFlow cannot use must be
    refused here: the first copy to it would abort the process in a C++ CHECK (docs/design.md)."""
    import oneflow as flow

    try:
        dev = device if isinstance(device, flow.device) else flow.device(str(device))
    except Exception as e:  # noqa: BLE001 - OneFlow raises its own exception types for bad tags
        raise DeviceError(f"device {device!r} is not a OneFlow device (use 'cpu' or 'cuda[:N]'): "
                          f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if dev.type == "cuda":
        if not flow.cuda.is_available():
            raise DeviceError(f"device {device!r}: OneFlow reports no usable CUDA device on this machine "
                              "(oneflow.cuda.is_available() is False); use 'cpu'")
        count = flow.cuda.device_count()
        if (dev.index or 0) >= count:
            raise DeviceError(f"device {device!r}: this machine has {count} CUDA device(s)")
    elif dev.type != "cpu":
        raise DeviceError(f"device {device!r}: only 'cpu' and 'cuda' are supported")
    return dev
