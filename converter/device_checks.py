"""Value checks that survive ``oneflow.nn.Graph`` tracing.

Run eagerly, a handler checks a run-time tensor's values on the host before a OneFlow kernel
that would abort the process on them (index ranges: docs/design.md §7, C++ CHECKs) is called.
While nn.Graph traces, tensors have no values, so the same check is computed on the device:
the handler ``record``s a small report tensor and hands its kernel an input that cannot abort
it; the graph returns every report as one extra output, and graph_mode raises the error the
eager run would have raised (a NodeExecutionError naming the node) after the call, before
any output is given back. Nothing is clamped silently: a failed check never returns outputs.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Callable

import oneflow as flow

from .errors import NodeExecutionError
from .module import STEP_TRACE

# While set (a list), traced handlers append their DeviceChecks to it.
_CHECKS: contextvars.ContextVar = contextvars.ContextVar("device_checks", default=None)
# True while a handler reads values for a check that has a device-side form under tracing.
_IN_HOST_CHECK: contextvars.ContextVar = contextvars.ContextVar("in_host_check", default=False)


@dataclass
class DeviceCheck:
    node: str                             # the step that made the check (innermost)
    op_type: str
    report: flow.Tensor                   # int64 [failed (0/1), flat position, value]
    error: Callable[[int, int], Exception]   # (flat position, value) -> the eager run's error


def tracing(t) -> bool:
    """True while ``t`` is a lazy tensor of an nn.Graph being traced (no values yet)."""
    return isinstance(t, flow.Tensor) and t.is_lazy


@contextlib.contextmanager
def collecting():
    """Within the block (an nn.Graph's build), traced checks are appended to the yielded list."""
    found: list = []
    token = _CHECKS.set(found)
    trace_token = STEP_TRACE.set([]) if STEP_TRACE.get() is None else None
    try:
        yield found
    finally:
        if trace_token is not None:
            STEP_TRACE.reset(trace_token)
        _CHECKS.reset(token)


def record(values, bad, error: Callable[[int, int], Exception]) -> None:
    """Register a traced check of the integer tensor ``values``: ``bad`` (a bool tensor of its
    shape) marks the offending elements; ``error(flat position, value)`` of the first one is
    what the eager run raises. The report carries (failed, position, value)."""
    found = _CHECKS.get()
    if found is None:   # traced outside ConvertedGraph (a user's own nn.Graph): nothing to report to
        raise RuntimeError("a run-time value check was traced outside converter.to_graph; "
                           "wrap the converted module with converter.to_graph")
    flat = bad.reshape(-1).to(flow.int32)
    first = flat.argmax()
    value = flow.gather(values.reshape(-1).to(flow.int64), 0, first.reshape(1).to(flow.int64))
    report = flow.cat([flat.max().to(flow.int64).reshape(1), first.to(flow.int64).reshape(1), value])
    trace = STEP_TRACE.get() or []
    step = trace[-1] if trace else None
    found.append(DeviceCheck(getattr(step, "name", "?"), getattr(step, "op_type", "?"), report, error))


def raise_first_failure(checks: list, reports) -> None:
    """After a graph call: the first failed check (in execution order) as NodeExecutionError.
    ``reports`` is the (len(checks), 3) array the graph returned."""
    for check, (failed, position, value) in zip(checks, reports.tolist()):
        if failed:
            raise NodeExecutionError(check.node, check.op_type, check.error(int(position), int(value)))


@contextlib.contextmanager
def host_check():
    """Marks a host read as a check with a device-side form under tracing (graph_mode's
    host-read probe does not count it as a reason to refuse the model)."""
    token = _IN_HOST_CHECK.set(True)
    try:
        yield
    finally:
        _IN_HOST_CHECK.reset(token)


def in_host_check() -> bool:
    return _IN_HOST_CHECK.get()
