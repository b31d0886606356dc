"""Public entry points: convert() and inventory()."""
from __future__ import annotations

from .builder import build_module, inventory_of
from .errors import UnsupportedOperatorError
from .graph import load


def inventory(model, *, check: bool = True) -> list:
    """Every unsupported operator use in ``model``, all at once, before anything is built."""
    return inventory_of(load(model, check=check))


def convert(model, *, device: str = "cpu", check: bool = True):
    """ONNX model (ModelProto or path) -> oneflow.nn.Module in eval mode on ``device``.

    Raises ModelLoadError / InvalidModelError for bad files or graphs, and one
    UnsupportedOperatorError listing every operator use the converter cannot express.
    """
    graph = load(model, check=check)
    problems = inventory_of(graph)
    if problems:
        raise UnsupportedOperatorError(problems, graph.source)
    module = build_module(graph)
    return module.to(device).eval()
