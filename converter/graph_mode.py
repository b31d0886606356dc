"""Static execution: wrap a converted module in a ``oneflow.nn.Graph``.

    graph = converter.to_graph(converter.convert("model.onnx"))
    y = graph(x)             # first call compiles; later calls reuse the compiled plan

The graph is compiled for the input shapes of its first call. Handlers that read a runtime
tensor's *values* on the host (data-dependent shapes) cannot be traced; such a model fails on
the first call with a GraphModeError naming the cause, and still runs eagerly.
"""
from __future__ import annotations

import oneflow as flow

from .errors import ConverterError


class GraphModeError(ConverterError):
    """The converted module could not be compiled into a oneflow.nn.Graph."""


class ConvertedGraph(flow.nn.Graph):
    """A oneflow.nn.Graph running one converted module in inference mode."""

    def __init__(self, module: flow.nn.Module):
        super().__init__()
        self.model = module
        self._compiled = False

    def build(self, *args):
        return self.model(*args)

    def __call__(self, *args):
        if self._compiled:
            return super().__call__(*args)
        try:
            out = super().__call__(*args)
        except ConverterError:
            raise
        except Exception as e:  # noqa: BLE001 - tracing failures surface deep inside OneFlow
            source = getattr(self.model, "source", "model")
            raise GraphModeError(f"{source}: cannot run as oneflow.nn.Graph "
                                 f"({type(e).__name__}: {e}); run it eagerly instead") from e
        self._compiled = True
        return out


def to_graph(module: flow.nn.Module) -> ConvertedGraph:
    """The module (already on its device, eval mode) as a static oneflow.nn.Graph."""
    return ConvertedGraph(module.eval())
