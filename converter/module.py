"""The converted model: a oneflow.nn.Module that executes the ONNX nodes in order."""
from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import oneflow as flow

from .dims import bind, declared_dims
from .dtypes import flow_dtype, to_tensor
from .errors import ConverterError, InputError, NodeExecutionError
from .folding import check_alloc, nbytes

# Steps whose inferred output is at least this big check the memory left before they run.
_LARGE_OUTPUT_BYTES = 64 * 2**20


@dataclass
class Step:
    name: str                   # node name (or '#index:Op')
    op_type: str
    fn: Callable                # built callable; for layers, the module (called via self.layers)
    inputs: list                # value names; None = absent or captured at build time
    outputs: list               # value names; '' = optional output not wanted
    layer_key: Optional[str] = None
    node_index: int = -1        # position of the ONNX node in graph.node


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: Optional[tuple]      # None dims are dynamic
    dtype: Optional[np.dtype]
    kind: str = "tensor"        # or "sequence" (a list of tensors) / "optional" (may be None)
    dims: Optional[tuple] = None  # as declared (converter.dims): int, name (str) or None per dim


def _declared_dims(graph, name: str):
    """An input's declared dims (converter.dims): ints, names (dim_param) or None (unknown)."""
    for vi in graph.graph.input:
        if vi.name == name:
            return declared_dims(vi.type)
    return None


def check_dims(specs, values) -> None:
    """InputError unless every tensor fits its declared dims (converter.dims.bind)."""
    bind((spec.name, spec.dims, tuple(value.shape) if isinstance(value, flow.Tensor) else None)
         for spec, value in zip(specs, values))


def _input_kind(graph, name: str) -> str:
    for vi in graph.graph.input:
        if vi.name == name:
            which = vi.type.WhichOneof("value")
            return {"sequence_type": "sequence", "optional_type": "optional"}.get(which, "tensor")
    return "tensor"


class ConvertedModule(flow.nn.Module):
    """Call with one positional oneflow.Tensor per graph input (initializers excluded).

    Returns a tensor for single-output graphs, otherwise a tuple in graph output order.
    Weight-bearing nodes are submodules under ``layers`` holding Parameters; every other
    constant the run needs is a buffer, so ``.to(device)`` moves everything.
    """

    def __init__(self, graph, steps, layers, constants):
        super().__init__()
        self.source = graph.source
        self.input_specs = [InputSpec(n, graph.value_info[n].shape, graph.value_info[n].dtype,
                                      _input_kind(graph, n), _declared_dims(graph, n)) for n in graph.inputs]
        self.output_names = list(graph.outputs)
        self.steps = steps
        self.layers = flow.nn.ModuleDict(layers)
        self._large_outputs = _large_outputs(graph, steps)
        needed = {n for s in steps for n in s.inputs if n is not None} | set(self.output_names)
        self._buffer_of = {}
        for name in sorted(needed & set(constants)):
            attr = f"const_{len(self._buffer_of)}"
            self.register_buffer(attr, to_tensor(constants[name]))
            self._buffer_of[name] = attr

    @property
    def input_names(self) -> list:
        return [s.name for s in self.input_specs]

    # --- running ------------------------------------------------------------------------
    def forward(self, *args):
        env = self.run(*args)
        outs = tuple(env[n] for n in self.output_names)
        return outs[0] if len(outs) == 1 else outs

    @property
    def graph_blockers(self) -> list:
        """(node, op, reason) of the steps OneFlow 0.9's nn.Graph cannot express, known at build
        time (data-dependent control flow); graph_mode refuses them before tracing."""
        return [(s.name, s.op_type, s.fn.graph_blocker) for s in self.steps
                if getattr(s.fn, "graph_blocker", None)]

    def run(self, *args, keep: bool = False) -> dict:
        """Execute the graph; return value name -> tensor (every intermediate if ``keep``)."""
        return self._execute(self._bind(args))

    def _execute(self, env: dict) -> dict:
        for name, attr in self._buffer_of.items():
            env[name] = getattr(self, attr)
        return run_steps(self.steps, env, self.layers, self._large_outputs)

    def _bind(self, args) -> dict:
        if len(args) != len(self.input_specs):
            raise InputError(f"{self.source}: expected {len(self.input_specs)} input(s) "
                             f"{self.input_names}, got {len(args)}")
        env = {}
        for spec, value in zip(self.input_specs, args):
            if isinstance(value, np.ndarray):
                value = to_tensor(value, self._device())
            if spec.kind != "tensor" and (value is None and spec.kind == "optional" or isinstance(value, list)):
                if any(not isinstance(v, flow.Tensor) for v in value or []):
                    raise InputError(f"input {spec.name!r}: expected a list of oneflow.Tensor")
                env[spec.name] = value   # ONNX sequence / optional: element shapes are not declared
                continue
            if not isinstance(value, flow.Tensor):
                raise InputError(f"input {spec.name!r}: expected a oneflow.Tensor, got {type(value).__name__}")
            if spec.dtype is not None and value.dtype != flow_dtype(spec.dtype):
                raise InputError(f"input {spec.name!r}: expected dtype {spec.dtype}, got {value.dtype}")
            env[spec.name] = value
        check_dims(self.input_specs, [env[s.name] for s in self.input_specs])
        return env

    def _device(self):
        for t in list(self.parameters()) + list(self.buffers()):
            return t.device
        return flow.device("cpu")


class SubgraphModule(ConvertedModule):
    """A control-flow body (If branch, Loop/Scan/SequenceMap body) converted by the same builder.

    ``call`` runs it with the enclosing scope's values (outer-scope names resolved at run time)
    and its formal inputs, and returns its outputs as a list. Formal inputs are not checked:
    loop-carried values may change shape from one iteration to the next."""

    def __init__(self, graph, steps, layers, constants):
        super().__init__(graph, steps, layers, constants)
        self._output_info = [graph.value_info.get(n) for n in self.output_names]

    def constant(self, name: str):
        """The build-time value of ``name`` in this body (numpy), or None."""
        attr = self._buffer_of.get(name)
        return None if attr is None else getattr(self, attr).numpy()

    def output_info(self, i: int):
        return self._output_info[i]

    def call(self, outer: dict, args) -> list:
        env = dict(outer)
        env.update(zip(self.input_names, args))
        env = self._execute(env)
        return [env[n] for n in self.output_names]


def run_steps(steps, env: dict, layers, large_outputs: dict) -> dict:
    """Run ``steps`` in order over ``env`` (value name -> tensor), adding their outputs to it.
    A failing step raises NodeExecutionError naming it."""
    trace = STEP_TRACE.get()
    for step in steps:
        fn = layers[step.layer_key] if step.layer_key else step.fn
        if trace is not None:
            trace.append(step)
        try:
            if step.node_index in large_outputs:
                check_alloc(*large_outputs[step.node_index])
            result = fn(*[None if n is None else env[n] for n in step.inputs])
        except ConverterError:
            raise
        except Exception as e:  # noqa: BLE001 - name the node that failed
            raise NodeExecutionError(step.name, step.op_type, e) from e
        finally:
            if trace is not None:
                trace.pop()
        if not isinstance(result, (tuple, list)):
            result = (result,)
        for name, value in zip(step.outputs, result):
            if name:
                env[name] = value
    return env


# While set (a list), every running step - nested control-flow bodies included - is pushed on
# it: graph_mode uses it to name the node that reads a tensor's values on the host.
STEP_TRACE: contextvars.ContextVar = contextvars.ContextVar("step_trace", default=None)


def _large_outputs(graph, steps) -> dict:
    """node index -> (shape, dtype, what) of its biggest output that shape inference knows to
    be at least _LARGE_OUTPUT_BYTES: OneFlow's allocator aborts the process when it fails, so
    such a step is checked against the memory left before it runs (folding.check_alloc)."""
    found = {}
    for step in steps:
        best = None
        for name in step.outputs:
            info = graph.value_info.get(name) if name else None
            if info is None or info.shape is None or info.dtype is None or None in info.shape:
                continue
            size = nbytes(info.shape, info.dtype)
            if size >= _LARGE_OUTPUT_BYTES and (best is None or size > best[0]):
                best = (size, (list(info.shape), info.dtype, f"output {name!r}"))
        if best is not None:
            found[step.node_index] = best[1]
    return found
