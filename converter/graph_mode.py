"""Static execution: run a converted module as compiled ``oneflow.nn.Graph``s.

    graph = converter.convert("model.onnx", graph=True)   # or converter.to_graph(module)
    y = graph(x)             # the first call for a set of input shapes compiles; later ones reuse it
    graph.segments           # how the last call's plan was split (one compiled segment when nothing breaks)

One plan per set of input shapes (at most MAX_PLANS kept): for those shapes,

* Shape arithmetic is static. One eager run of the module (the *probe*) measures every
  value's shape and watches host reads (``Tensor.numpy``/``item``). If any step read values
  or cannot be traced, and the model was given by ``convert(..., graph=True)``, it is
  converted again with the measured shapes of the values the input shapes fix
  (shape_flow.Specialiser): Shape -> Gather/Concat/arithmetic -> Reshape/Resize/Range/If ...
  fold at build time, and an If on a shape-only condition takes its branch there.
* What still needs tensor values (an If/Loop on data, NonZero/Unique/Compress/
  NonMaxSuppression, a TopK with a computed k, a host read) is a *graph break*, decided
  before anything is traced: those steps run eagerly, and the runs of steps between them are
  compiled as nn.Graphs of their own (cached per shape of their inputs), as torch.compile
  does. ``strict=True`` (``convert(..., graph="strict")``) refuses such a model with a
  GraphModeError naming the node instead.
* Run-time value checks (index ranges) run on the device inside a graph (device_checks):
  a failure raises the eager run's NodeExecutionError after the call.

OneFlow 0.9's nn.Graph cannot trace data-dependent control flow or host reads; the eager
module runs whatever graph mode says.
"""
from __future__ import annotations

import contextlib
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import oneflow as flow

from .device_checks import collecting, in_host_check, raise_first_failure
from .dtypes import numpy_dtype, to_tensor
from .errors import ConverterError
from .graph import ValueInfo
from .module import STEP_TRACE, run_steps

MAX_PLANS = 8            # input-shape signatures a ConvertedGraph keeps compiled plans for
MAX_SEGMENT_SHAPES = 8   # shape signatures one segment between graph breaks keeps compiled

# Ops whose output shape depends on tensor values: OneFlow's eager kernels size their output
# by reading the data (no Tensor.numpy the probe would see); nn.Graph cannot trace them.
DATA_SHAPED_OPS = {"NonZero", "Compress", "Unique", "NonMaxSuppression"}


class GraphModeError(ConverterError):
    """The converted module could not be compiled into a oneflow.nn.Graph."""


class GraphBreakWarning(UserWarning):
    """Graph mode split the model: some nodes run eagerly between compiled segments."""


@dataclass(frozen=True)
class Segment:
    """One part of a plan: ``kind`` "graph" (compiled nn.Graph) or "eager" (a graph break)."""

    kind: str
    nodes: tuple      # node names, in run order
    why: str = ""     # an eager segment: why its first node cannot be traced

    def __str__(self) -> str:
        head = f"{self.kind} ({len(self.nodes)} node{'s' * (len(self.nodes) != 1)})"
        return f"{head}: {self.why}" if self.why else head


def _refusal(source, node, op, why) -> GraphModeError:
    return GraphModeError(f"{source}: node {node!r} ({op}) cannot run under oneflow.nn.Graph: {why}; "
                          "OneFlow 0.9 traces no data-dependent control flow or host reads; run it eagerly, "
                          "or without strict graph mode (graph breaks)")


# --- the probe ----------------------------------------------------------------------------------
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


def probe(module, *args) -> tuple:
    """One eager run of ``module``: (host reads as (outermost step, innermost step) pairs,
    value name -> ValueInfo measured for every tensor it produced)."""
    found: list = []
    with _watching_host_reads(found), flow.no_grad():
        env = module.run(*args)
    infos = {name: ValueInfo(tuple(v.shape), numpy_dtype(v.dtype))
             for name, v in env.items() if isinstance(v, flow.Tensor)}
    return found, infos


def host_reads(module, *args) -> list:
    """(outermost step, innermost step) of every host read one eager run of ``module`` makes."""
    return probe(module, *args)[0]


EMPTY_BREAK = ("a zero-size tensor passes through it (OneFlow 0.9's nn.Graph aborts on a zero-size "
               "tensor entering or leaving a graph)")


def empty_steps(module, infos: dict) -> dict:
    """Step name -> EMPTY_BREAK for every step that reads or makes a zero-size value at run time
    (a model input or a step's output; constants excluded): they run eagerly, so that no empty
    tensor crosses a compiled graph's boundary."""
    made = set(module.input_names) | {n for s in module.steps for n in s.outputs if n}
    empty = {n for n, info in infos.items() if n in made and 0 in info.shape}
    return {s.name: EMPTY_BREAK for s in module.steps if empty & ({n for n in s.inputs if n} | set(s.outputs))}


def breaks(module, reads, infos: dict = None) -> dict:
    """Step name -> why it cannot be traced: build-time blockers, data-shaped ops, host reads,
    and (given the probe's value infos) zero-size values."""
    found = dict(empty_steps(module, infos)) if infos else {}
    for step in module.steps:
        if getattr(step.fn, "graph_blocker", None):
            found[step.name] = step.fn.graph_blocker
        elif step.op_type in DATA_SHAPED_OPS:
            found[step.name] = "its output shape depends on tensor values"
    for outer, inner in reads:
        inside = "" if inner is outer else f" (inside it, node {inner.name!r} ({inner.op_type}))"
        found.setdefault(outer.name, f"it reads tensor values on the host{inside}")
    return found


def _shapes(args) -> tuple:
    return tuple(tuple(a.shape) if isinstance(a, flow.Tensor) else None for a in args)


# --- compiled parts -------------------------------------------------------------------------------
class _Steps(flow.nn.Module):
    """A run of a converted module's steps as a module of its own (sharing the module's layers
    and constants): takes the values it reads, returns the values later steps need."""

    def __init__(self, module, steps, inputs, outputs):
        super().__init__()
        self.steps, self.input_names, self.output_names = steps, list(inputs), list(outputs)
        self.layers = flow.nn.ModuleDict({s.layer_key: module.layers[s.layer_key] for s in steps if s.layer_key})
        self._large_outputs = {s.node_index: module._large_outputs[s.node_index]
                               for s in steps if s.node_index in module._large_outputs}
        read = {n for s in steps for n in s.inputs if n}
        self._buffer_of = {}
        for name, attr in module._buffer_of.items():
            if name in read:
                self.register_buffer(attr, getattr(module, attr))
                self._buffer_of[name] = attr

    def forward(self, *args):
        env = dict(zip(self.input_names, args))
        for name, attr in self._buffer_of.items():
            env[name] = getattr(self, attr)
        env = run_steps(self.steps, env, self.layers, self._large_outputs)
        return tuple(env[n] for n in self.output_names)


# Every compiled graph lives as long as the process. OneFlow 0.9 can kill the process when a
# compiled nn.Graph is released while others run (its __del__ resets process-wide state; a
# release-then-run loop died in 2 of 4 runs, 0 of 4 with the graphs kept: benchmarks/
# graph_release_stress.py, docs/design.md §5). The cost is memory: a dropped ConvertedGraph or an
# evicted shape plan keeps its compiled plan (its weights are the module's, shared).
_KEPT_ALIVE: list = []

# OneFlow 0.9 gives each compiled nn.Graph stream ids from a process-wide pool it never gives
# back: the 4096th id aborts the process (CHECK stream_index <= kMaxStreamIndex) at the 1365th
# compile on CPU (3 ids each), whatever the graph's size and whether it was released
# (benchmarks/graph_compile_limit.py). Past this budget, graph mode compiles nothing more in
# the process: new plans and segments run eagerly, with a GraphBreakWarning (strict: refused).
COMPILE_BUDGET = 1200
BUDGET_BREAK = (f"this process has compiled {COMPILE_BUDGET} nn.Graphs, graph mode's budget (OneFlow 0.9 "
                "aborts the process when its stream ids run out, after ~1365 compiles on CPU)")


def can_compile() -> bool:
    return len(_KEPT_ALIVE) < COMPILE_BUDGET


class _Compiled(flow.nn.Graph):
    """One nn.Graph over a module (or a run of its steps), for the shapes of its first call.
    Device checks traced inside it come back as one extra output, raised on after the call."""

    def __init__(self, module, source: str):
        super().__init__()
        _KEPT_ALIVE.append(self)
        self.model = module
        self._source = source
        self._checks: list = []
        self._single = False

    def build(self, *args):
        with collecting() as checks:
            out = self.model(*args)
        self._checks, self._single = checks, not isinstance(out, tuple)
        if not checks:
            return out
        outs = (out,) if self._single else tuple(out)
        return outs + (flow.stack([c.report for c in checks]),)

    def __call__(self, *args):
        try:
            out = super().__call__(*args)
        except ConverterError:
            raise
        except Exception as e:  # noqa: BLE001 - tracing failures surface deep inside OneFlow
            raise GraphModeError(f"{self._source}: cannot run as oneflow.nn.Graph "
                                 f"({type(e).__name__}: {e}); run it eagerly instead") from e
        if not self._checks:
            return out
        raise_first_failure(self._checks, out[-1].numpy())
        return out[0] if self._single else tuple(out[:-1])


class _Cache(OrderedDict):
    """Least recently used first; at most ``limit`` entries."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def get_or_make(self, key, make):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        while len(self) > self.limit:
            self.popitem(last=False)
        return value


class _GraphPart:
    """A segment between graph breaks: compiled per shape signature of its inputs."""

    def __init__(self, steps_module: _Steps, source: str):
        self.module, self.source = steps_module, source
        self.graphs = _Cache(MAX_SEGMENT_SHAPES)

    def run(self, env: dict) -> None:
        args = [env[n] for n in self.module.input_names]
        key = _shapes(args)
        if any(isinstance(a, flow.Tensor) and a.numel() == 0 for a in args) \
                or (key not in self.graphs and not can_compile()):
            out = self.module(*args)   # zero-size inputs, or the compile budget used up: eagerly
        else:
            out = self.graphs.get_or_make(key, lambda: _Compiled(self.module, self.source))(*args)
        env.update(zip(self.module.output_names, out))


class _EagerPart:
    def __init__(self, module, steps):
        self.module, self.steps = module, steps

    def run(self, env: dict) -> None:
        run_steps(self.steps, env, self.module.layers, self.module._large_outputs)


class _Plan:
    """How one set of input shapes runs: one compiled graph, or segments and graph breaks."""

    def __init__(self, module, broken: dict, source: str):
        self.module = module
        self.whole = None
        if not broken:
            self.whole = _Compiled(module, source)
            self.segments = [Segment("graph", tuple(s.name for s in module.steps))]
            return
        runs: list = []      # [eager?, steps]
        for step in module.steps:
            eager = step.name in broken
            if runs and runs[-1][0] == eager:
                runs[-1][1].append(step)
            else:
                runs.append([eager, [step]])
        needed_after = _needed_after(module, [steps for _, steps in runs])
        self.parts, self.segments = [], []
        for (eager, steps), later in zip(runs, needed_after):
            made = {n for s in steps for n in s.outputs if n}
            outputs = sorted(made & later)
            if eager or not outputs:
                self.parts.append(_EagerPart(module, steps))
                why = broken.get(steps[0].name, "its results are not used")
                self.segments.append(Segment("eager", tuple(s.name for s in steps), f"node {steps[0].name!r} "
                                             f"({steps[0].op_type}): {why}"))
                continue
            read = [n for n in dict.fromkeys(n for s in steps for n in s.inputs if n)
                    if n not in made and n not in module._buffer_of]
            self.parts.append(_GraphPart(_Steps(module, steps, read, outputs), source))
            self.segments.append(Segment("graph", tuple(s.name for s in steps)))

    def __call__(self, *args):
        if self.whole is not None:
            return self.whole(*args)
        env = self.module._bind(args)
        for name, attr in self.module._buffer_of.items():
            env[name] = getattr(self.module, attr)
        with flow.no_grad():
            for part in self.parts:
                part.run(env)
        outs = tuple(env[n] for n in self.module.output_names)
        return outs[0] if len(outs) == 1 else outs


def _needed_after(module, runs) -> list:
    """For each run of steps: the value names read by later runs or returned by the module."""
    later = set(module.output_names)
    needed = []
    for steps in reversed(runs):
        needed.append(set(later))
        later |= {n for s in steps for n in s.inputs if n}
    return needed[::-1]


# --- the public wrapper ----------------------------------------------------------------------------
class ConvertedGraph:
    """A converted module run as compiled oneflow.nn.Graphs, one plan per input-shape signature."""

    def __init__(self, module: flow.nn.Module, rebuild=None, strict: bool = False):
        self.module, self._rebuild, self.strict = module, rebuild, strict
        self.source = getattr(module, "source", "model")
        if strict:   # what the build already knows to be untraceable, shapes cannot fix
            for step in module.steps:
                why = getattr(step.fn, "graph_blocker", None)
                if why and not (rebuild is not None and rebuild.may_resolve(step)):
                    raise _refusal(self.source, step.name, step.op_type, why)
        self._plans = _Cache(MAX_PLANS)
        self._last = None

    @property
    def input_names(self) -> list:
        return self.module.input_names

    @property
    def output_names(self) -> list:
        return self.module.output_names

    @property
    def segments(self) -> list:
        """The Segments of the last call's plan (empty before the first call)."""
        return list(self._last.segments) if self._last is not None else []

    def describe(self) -> str:
        """The last call's segments, one per line."""
        return "\n".join(f"{i}: {s}" for i, s in enumerate(self.segments))

    def __call__(self, *args):
        # numpy inputs become tensors here, as the eager module's own binding does: nn.Graph
        # takes tensors only, and a plan is chosen by the input shapes.
        if any(isinstance(a, np.ndarray) for a in args):
            device = self.module._device()
            args = tuple(to_tensor(a, device) if isinstance(a, np.ndarray) else a for a in args)
        self._last = self._plans.get_or_make(_shapes(args), lambda: self._plan(args))
        return self._last(*args)

    def _plan(self, args) -> _Plan:
        module = self.module
        reads, infos = probe(module, *args)
        broken = breaks(module, reads, infos)
        if broken and self._rebuild is not None:
            # Converted again for these input shapes: Shape arithmetic folds, shape-only Ifs resolve.
            module = self._rebuild(infos)
            reads, infos = probe(module, *args)
            broken = breaks(module, reads, infos)
        if not can_compile():
            if self.strict:
                raise GraphModeError(f"{self.source}: cannot compile another oneflow.nn.Graph: {BUDGET_BREAK}; "
                                     "run it eagerly, or in a new process")
            broken = {s.name: BUDGET_BREAK for s in module.steps}
        if broken and self.strict:
            step = next(s for s in module.steps if s.name in broken)
            raise _refusal(self.source, step.name, step.op_type, broken[step.name])
        plan = _Plan(module, broken, self.source)
        if broken:
            eager = [s for s in plan.segments if s.kind == "eager"]
            warnings.warn(f"{self.source}: graph mode runs {len(plan.segments)} segments for input shapes "
                          f"{list(_shapes(args))}: {len(plan.segments) - len(eager)} compiled, {len(eager)} eager "
                          f"(first break: {eager[0].why})", GraphBreakWarning, stacklevel=3)
        return plan


def to_graph(module: flow.nn.Module, rebuild=None, strict: bool = False) -> ConvertedGraph:
    """The module (already on its device, eval mode) as compiled oneflow.nn.Graphs.

    ``rebuild`` (``converter.convert(..., graph=True)`` gives a shape_flow.Specialiser)
    converts the model again for each call's input shapes when the module would otherwise
    read shape values on the host or branch on them. ``strict``: refuse (GraphModeError
    naming the node) instead of splitting the model at graph breaks; what the build already
    knows is refused here, before any call."""
    return ConvertedGraph(module.eval(), rebuild, strict)
