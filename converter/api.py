"""Public entry points: convert(), inventory(), to_graph(), codegen()."""
from __future__ import annotations

from .builder import build_module, inventory_of
from .errors import UnsupportedOperatorError
from .graph import LoadedGraph, load


def inventory(model, *, check: bool = True) -> list:
    """Every unsupported operator use in ``model``, all at once, before anything is built."""
    return inventory_of_loaded(load(model, check=check))


def inventory_of_loaded(graph: LoadedGraph) -> list:
    return inventory_of(graph)


def convert(model, *, device: str = "cpu", check: bool = True, graph: bool = False):
    """ONNX model (ModelProto or path) -> oneflow.nn.Module in eval mode on ``device``.

    With ``graph=True`` the module comes wrapped in a ``oneflow.nn.Graph`` (static execution,
    compiled on the first call). Raises ModelLoadError / InvalidModelError for bad files or
    graphs, and one UnsupportedOperatorError listing every operator use the converter cannot
    express.
    """
    module = convert_loaded(load(model, check=check), device=device)
    if graph:
        from .graph_mode import to_graph
        return to_graph(module)
    return module


def convert_loaded(graph: LoadedGraph, *, device: str = "cpu"):
    problems = inventory_of(graph)
    if problems:
        raise UnsupportedOperatorError(problems, graph.source)
    module = build_module(graph)
    return module.to(device).eval()
