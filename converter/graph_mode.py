"""Static execution: wrap a converted module in a ``oneflow.nn.Graph``.

    graph = converter.to_graph(converter.convert("model.onnx"))
    y = graph(x)             # first call compiles; later calls reuse the compiled plan

The graph is compiled for the input shapes of its first call. A node that needs a tensor's
*values* on the host while running (data-dependent shapes, counts, branches) cannot be traced
by OneFlow 0.9's nn.Graph. Such nodes are refused with a GraphModeError naming the node
before anything is traced:

* at ``to_graph``, for what the build already knows (If on a run-time condition, a Loop whose
  iteration count depends on values: ``ConvertedModule.graph_blockers``);
* on the first call, by one eager run of the module that watches host reads
  (``Tensor.numpy``/``item``) and names the step that made them. Made by shape arithmetic on
  a symbolic dimension, they vanish when the model is converted again for the first call's
  input shapes (``convert(..., graph=True)`` does that); the graph then serves those shapes.

Handlers read their constant inputs at build time (ctx.claim), so a model with static shapes
reads nothing back per call. The module still runs eagerly whatever graph mode says.
"""
from __future__ import annotations

import contextlib

import oneflow as flow

from .device_checks import collecting, in_host_check, raise_first_failure
from .dtypes import numpy_dtype
from .errors import ConverterError, InputError
from .graph import ValueInfo
from .module import STEP_TRACE


class GraphModeError(ConverterError):
    """The converted module could not be compiled into a oneflow.nn.Graph."""


def _refusal(source, node, op, why) -> GraphModeError:
    return GraphModeError(f"{source}: node {node!r} ({op}) cannot run under oneflow.nn.Graph: {why}; "
                          "OneFlow 0.9 traces no data-dependent control flow or host reads; run it eagerly")


@contextlib.contextmanager
def _watching_host_reads(found: list):
    """Within the block, a host read of a non-empty tensor while a step runs appends
    (outermost step, innermost step) to ``found``."""
    numpy, item = flow.Tensor.numpy, flow.Tensor.item
    trace: list = []

    def note(t):
        # An empty tensor's read carries no data (dtype probes); a check's read has a
        # device-side form under tracing (device_checks).
        if trace and t.numel() > 0 and not in_host_check():
            found.append((trace[0], trace[-1]))

    def watched_numpy(self, *a, **k):
        note(self)
        return numpy(self, *a, **k)

    def watched_item(self):
        note(self)
        return item(self)

    token = STEP_TRACE.set(trace)
    flow.Tensor.numpy, flow.Tensor.item = watched_numpy, watched_item
    try:
        yield
    finally:
        flow.Tensor.numpy, flow.Tensor.item = numpy, item
        STEP_TRACE.reset(token)


def host_reads(module, *args) -> list:
    """(outermost step, innermost step) of every host read one eager run of ``module`` makes."""
    found: list = []
    with _watching_host_reads(found), flow.no_grad():
        module(*args)
    return found


def _shapes(args) -> list:
    return [tuple(a.shape) if isinstance(a, flow.Tensor) else None for a in args]


def measured_infos(module, *args) -> dict:
    """Value name -> ValueInfo (shape, dtype) of every tensor one eager run produces."""
    with flow.no_grad():
        env = module.run(*args)
    return {name: ValueInfo(tuple(v.shape), numpy_dtype(v.dtype))
            for name, v in env.items() if isinstance(v, flow.Tensor)}


class ConvertedGraph(flow.nn.Graph):
    """A oneflow.nn.Graph running one converted module in inference mode."""

    def __init__(self, module: flow.nn.Module, rebuild=None):
        for node, op, why in getattr(module, "graph_blockers", []):
            raise _refusal(getattr(module, "source", "model"), node, op, why)
        super().__init__()
        self.model = module
        self._eager = (module,)   # nn.Graph wraps Module attributes; the probe needs the module itself
        self._rebuild = rebuild
        self._compiled = None     # the input shapes it was compiled for
        self._checks = []         # device_checks.DeviceCheck of the traced run, in order
        self._single = False      # the module returns one tensor, not a tuple

    @property
    def input_names(self) -> list:
        return self._eager[0].input_names

    @property
    def output_names(self) -> list:
        return self._eager[0].output_names

    def build(self, *args):
        with collecting() as checks:
            out = self.model(*args)
        self._checks, self._single = checks, not isinstance(out, tuple)
        if not checks:
            return out
        # Every run-time value check's report, as one extra output read after the call.
        outs = (out,) if self._single else tuple(out)
        return outs + (flow.stack([c.report for c in checks]),)

    def _checked(self, out):
        """The module's outputs, after raising the first failed device check (if any)."""
        if not self._checks:
            return out
        raise_first_failure(self._checks, out[-1].numpy())
        return out[0] if self._single else tuple(out[:-1])

    def __call__(self, *args):
        if self._compiled is not None:
            shapes = _shapes(args)
            if shapes != self._compiled:   # OneFlow 0.9 would fail with a RuntimeError
                raise InputError(f"{getattr(self.model, 'source', 'model')}: this graph was compiled for "
                                 f"input shapes {self._compiled}, got {shapes}; nn.Graph runs one set of "
                                 "shapes (convert again for others, or run the module eagerly)")
            return self._checked(super().__call__(*args))
        source = getattr(self.model, "source", "model")
        reads = host_reads(self._eager[0], *args)
        if reads and self._rebuild is not None:
            # Symbolic dims left Shape arithmetic to run time: convert again for these shapes.
            module = self._rebuild(measured_infos(self._eager[0], *args))
            reads = host_reads(module, *args)
            if not reads:
                self.model, self._eager = module, (module,)
        for outer, inner in reads[:1]:
            inside = "" if inner is outer else f" (inside it, node {inner.name!r} ({inner.op_type}))"
            raise _refusal(source, outer.name, outer.op_type, f"it reads tensor values on the host{inside}")
        try:
            out = super().__call__(*args)
        except ConverterError:
            raise
        except Exception as e:  # noqa: BLE001 - tracing failures surface deep inside OneFlow
            raise GraphModeError(f"{source}: cannot run as oneflow.nn.Graph "
                                 f"({type(e).__name__}: {e}); run it eagerly instead") from e
        self._compiled = _shapes(args)
        return self._checked(out)


def to_graph(module: flow.nn.Module, rebuild=None) -> ConvertedGraph:
    """The module (already on its device, eval mode) as a static oneflow.nn.Graph.

    Raises GraphModeError naming the node when the build already knows a node cannot be traced.
    ``rebuild(infos)``, when given (``converter.convert(..., graph=True)`` gives it), converts
    the model again with the value shapes measured on the first call if the module would read shape values
    on the host (a symbolic batch dimension left Shape -> Gather -> Reshape to run time)."""
    return ConvertedGraph(module.eval(), rebuild)
