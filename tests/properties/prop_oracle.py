"""Differential oracle for the property tests: one drawn ONNX model, run by ONNX Runtime
and by the converter, compared under one rule.

The converter runs in a long-lived spawned worker (converter/_worker_pool.py's worker) so
that a OneFlow C++ CHECK failure (SIGABRT) becomes a failed example, not a dead pytest.
ONNX Runtime runs in the test process: it is the reference and refuses bad models with
Python exceptions.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Optional

import numpy as np
import onnx
from onnx import helper

# --- one drawn example -------------------------------------------------------------------
NP_OF_ONNX = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64,
              onnx.TensorProto.FLOAT16: np.float16, onnx.TensorProto.INT8: np.int8,
              onnx.TensorProto.INT16: np.int16, onnx.TensorProto.INT32: np.int32,
              onnx.TensorProto.INT64: np.int64, onnx.TensorProto.UINT8: np.uint8,
              onnx.TensorProto.UINT16: np.uint16, onnx.TensorProto.UINT32: np.uint32,
              onnx.TensorProto.UINT64: np.uint64, onnx.TensorProto.BOOL: np.bool_}
ONNX_OF_NP = {np.dtype(v): k for k, v in NP_OF_ONNX.items()}


@dataclass
class Example:
    """A graph of nodes over named inputs (fed at run time) and constants (initializers)."""

    opset: int
    nodes: list                    # onnx NodeProto
    inputs: dict                   # name -> np.ndarray fed to both runtimes
    constants: dict = field(default_factory=dict)   # name -> np.ndarray stored as initializers
    outputs: Optional[list] = None  # default: every output of the last node

    def describe(self) -> str:
        ops = " -> ".join(f"{n.op_type}{_attrs(n)}" for n in self.nodes)
        ins = ", ".join(f"{k}:{v.dtype}{list(v.shape)}" for k, v in self.inputs.items())
        consts = ", ".join(f"{k}={v.tolist()!r}"[:80] for k, v in self.constants.items())
        return f"opset {self.opset}: {ops} | inputs {ins}" + (f" | constants {consts}" if consts else "")


def _attrs(node) -> str:
    if not node.attribute:
        return ""
    return "{" + ", ".join(f"{a.name}={helper.get_attribute_value(a)!r}" for a in node.attribute) + "}"


def build_model(ex: Example) -> Optional[onnx.ModelProto]:
    """The ModelProto, outputs typed by onnx's strict shape inference; None if ONNX itself
    rejects the graph (the strategy drew an invalid combination: discarded)."""
    outs = ex.outputs or [o for o in ex.nodes[-1].output if o]
    graph = helper.make_graph(
        ex.nodes, "prop",
        [helper.make_tensor_value_info(k, ONNX_OF_NP[v.dtype], v.shape) for k, v in ex.inputs.items()],
        [onnx.ValueInfoProto(name=o) for o in outs],
        initializer=[onnx.numpy_helper.from_array(v, k) for k, v in ex.constants.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ex.opset)],
                              producer_name="properties")
    model.ir_version = 8 if ex.opset <= 18 else 9 if ex.opset <= 20 else 10   # what ORT 1.19 reads
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        onnx.checker.check_model(inferred)
    except Exception:  # noqa: BLE001 - any ONNX-side rejection: not a model to test
        return None
    if any(not o.type.tensor_type.elem_type for o in inferred.graph.output):
        return None
    del inferred.graph.value_info[:]
    return inferred


# --- ONNX Runtime (reference) ---------------------------------------------------------------
@dataclass
class Result:
    kind: str           # "ok", "unimplemented" (ORT has no kernel), "refused" (invalid per ORT)
    outputs: list = None
    detail: str = ""


def run_ort(model: onnx.ModelProto, inputs: dict) -> Result:
    if os.environ.get("PROP_ZERO_DIMS") == "1":
        return _run_ort_forked(model, inputs)
    return _run_ort(model, inputs)


def _run_ort_forked(model, inputs) -> Result:
    """ORT in a forked child: ONNX Runtime 1.19.2 itself dies of SIGFPE on some empty inputs
    (e.g. ScatterND), which would end the survey. Its death leaves no reference: discarded."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=lambda: child.send(_run_ort(model, inputs)))
    proc.start()
    child.close()
    try:
        result = parent.recv()
    except EOFError:
        result = Result("unimplemented", detail="ORT died")
    proc.join()
    return result


def _run_ort(model: onnx.ModelProto, inputs: dict) -> Result:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    # No fusions or constant folding: the reference is ORT's kernels, as close to the spec as it gets.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        return Result("ok", sess.run(None, inputs))
    except Exception as e:  # noqa: BLE001 - classified below
        name = type(e).__name__
        text = f"{name}: {e}"
        # ORT kernels that exist but lack a dtype/variant the spec allows (e.g. "MLFloat16 data
        # type is not supported with ScatterND opset 16 when reduction is 'add'") fail at run
        # time: that is an ORT gap, not a refusal of an invalid model.
        if (name == "NotImplemented" or "NOT_IMPLEMENTED" in str(e) or "Could not find an implementation" in str(e)
                or "data type is not supported with" in str(e)):
            return Result("unimplemented", detail=text)
        return Result("refused", detail=text)


# --- the converter, in a worker process ------------------------------------------------------
def warm_up() -> None:
    import converter  # noqa: F401


def convert_and_run(item) -> tuple:
    """(stage, kind, payload): ("ok", "", outputs) or (stage, error class, message).

    ``item`` is (model bytes, inputs, mode). Mode "graph" converts with ``graph=True`` and
    runs the model as nn.Graph (graph breaks where data decides); its outputs must also equal
    the eager module's within float noise (GRAPH_VS_EAGER), or the example fails as
    "graph-differs". The outcome returned is the graph's: the policy in prop_check applies to
    it unchanged (refuse where ORT refuses, typed; else match ORT).
    Mode "graph-sizes" takes a list of input lists: one converted nn.Graph is called with each
    (a plan per input-shape signature), and the payload is the list of their outputs.
    """
    model_bytes, inputs, mode = item
    if mode == "eager":
        return _convert_and_run(model_bytes, inputs, graph=False)
    calls = inputs if mode == "graph-sizes" else [inputs]
    eager, graph = _convert(model_bytes, graph=False), _convert(model_bytes, graph=True)
    results = []
    for i, call in enumerate(calls):
        e = _run(eager, call) if eager[0] == "ok" else eager
        g = _run(graph, call) if graph[0] == "ok" else graph
        if e[0] == "ok" and g[0] == "ok":
            problem = _graph_vs_eager(g[2], e[2])
            if problem:
                g = ("graph-differs", "graph != eager", problem)
        if g[0] != "ok" or mode != "graph-sizes":
            return g if len(calls) == 1 else (g[0], g[1], f"call {i} (input shapes "
                                                       f"{[np.shape(x) for x in call]}): {g[2]}")
        results.append(g[2])
    return ("ok", "", results)


def _convert_and_run(model_bytes, inputs, graph: bool) -> tuple:
    converted = _convert(model_bytes, graph)
    return _run(converted, inputs) if converted[0] == "ok" else converted


def _convert(model_bytes, graph: bool) -> tuple:
    """("ok", "", module) or (stage, error class, message)."""
    import converter
    from converter.errors import ConverterError, UnsupportedOperatorError

    try:
        return ("ok", "", converter.convert(onnx.load_from_string(model_bytes), graph=graph))
    except UnsupportedOperatorError as e:
        return ("unsupported", type(e).__name__, str(e)[:1500])
    except ConverterError as e:
        return ("convert", type(e).__name__, str(e)[:1500])
    except Exception as e:  # noqa: BLE001 - an untyped error is itself a finding
        return ("convert-untyped", type(e).__name__, str(e)[:1500])


def _run(converted: tuple, inputs) -> tuple:
    import oneflow as flow

    from converter.errors import ConverterError

    module = converted[2]
    try:
        with flow.no_grad():
            out = module(*inputs)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return ("ok", "", [o.numpy() if isinstance(o, flow.Tensor) else np.asarray(o) for o in outs])
    except ConverterError as e:
        return ("run", type(e).__name__, str(e)[:1500])
    except Exception as e:  # noqa: BLE001
        return ("run-untyped", type(e).__name__, str(e)[:1500])


# nn.Graph runs the same kernels as eager mode, but OneFlow's graph passes fuse multiply-adds and
# reorder sums: measured up to 1.5e-5 absolute (7.4e-6 relative) on float32 Resize
# linear/cubic interpolation of values <= 5 (nightly run, 2026-12-08). Integers and bools are
# exact; floats within 1e-5 relative + 1e-5 absolute (ORT's own rule, TOLERANCE, still applies).
GRAPH_VS_EAGER = {np.dtype(np.float16): (2e-3, 2e-3), np.dtype(np.float32): (1e-5, 1e-5),
                  np.dtype(np.float64): (1e-12, 1e-12)}


def _graph_vs_eager(graph_outs: list, eager_outs: list) -> str:
    from converter.numerics import compare_output
    if len(graph_outs) != len(eager_outs):
        return f"nn.Graph gave {len(graph_outs)} outputs, eager {len(eager_outs)}"
    for i, (g, e) in enumerate(zip(graph_outs, eager_outs)):
        rtol, atol = GRAPH_VS_EAGER.get(np.asarray(e).dtype, (0.0, 0.0))
        row = compare_output(f"output {i}", g, e, rtol=rtol, atol=atol, check_dtype=True)
        if not row.passed:
            return row.error or (f"output {i}: nn.Graph vs eager max abs {row.max_abs:.3g}, max rel {row.max_rel:.3g}"
                                 f"\n graph {np.asarray(g)!r}\n eager {np.asarray(e)!r}"[:1500])
    return ""


class IsolatedConverter:
    """One persistent spawned worker running ``convert_and_run``; replaced after a crash."""

    def __init__(self, timeout: float = 60.0, startup_timeout: float = 300.0, mode: str = "eager"):
        from converter import _worker_pool as pool
        self._pool, self.timeout, self.startup_timeout = pool, timeout, startup_timeout
        self.mode = mode    # "eager", "graph" or "graph-sizes" (convert_and_run)
        # A process compiles at most graph_mode.COMPILE_BUDGET nn.Graphs (OneFlow's stream ids run
        # out after ~1365): a graph-mode worker is replaced before it would run out, so every
        # example of a nightly run is compiled, not run eagerly past the budget.
        self.recycle_after = 300 if mode != "eager" else None
        self._served = 0
        self._ctx = mp.get_context("spawn")
        self._logs = tempfile.TemporaryDirectory(prefix="prop-worker-")
        self._worker, self._spawned = None, 0
        os.environ.setdefault("OMP_NUM_THREADS", "1")

    def _start(self):
        self._spawned += 1
        w = self._pool._Worker(self._ctx, convert_and_run, warm_up, self._logs.name, self._spawned)
        while not w.ready:
            ready = wait([w.conn, w.proc.sentinel], self.startup_timeout)
            self._pool._check_startup(w, ready, self.startup_timeout)
        return w

    def __call__(self, model: onnx.ModelProto, inputs: list) -> tuple:
        if self._worker is not None and self.recycle_after and self._served >= self.recycle_after:
            self._worker.stop()
            self._worker = None
        if self._worker is None:
            self._worker, self._served = self._start(), 0
        self._served += 1
        w = self._worker
        w.give("example", (model.SerializeToString(), inputs, self.mode))
        while True:
            ready = wait([w.conn, w.proc.sentinel], max(0.0, w.started + self.timeout - time.monotonic()))
            outcome = self._pool._collect(w, ready, self.timeout)
            if outcome is None:
                continue
            if outcome.kind in ("crash", "timeout"):
                w.kill()
                self._worker = None
                return (outcome.kind, outcome.kind, outcome.detail[-1500:])
            w.key = None
            if outcome.kind == "error":
                return ("worker", "error", outcome.detail[-1500:])
            return outcome.value

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self._logs.cleanup()


# --- the one comparison rule ------------------------------------------------------------------
# float32: ORT and OneFlow use different kernels (vectorised exp/tanh, summation order of
# reductions and convolutions over <= a few hundred terms), a few ulps apart: 1e-4 relative
# covers ~800 ulps of accumulated reordering; 1e-5 absolute covers results that cancel to ~0.
# float16 carries 11 bits: 1e-2 is ~10 of its ulps. float64 is compared at float32 level:
# ONNX float attributes (alpha, lambd, bias, epsilon; HardSwish's 1/6) are float32, and ORT
# runs several double kernels through float32 (Shrink, ReduceL2, HardSwish, LayerNorm's
# stash_type): ~6e-8 relative per value, amplified by a cancellation such as x - bias.
# Every semantic error seen (wrong window, rounding, axis) is >= 1e-3.
TOLERANCE = {np.dtype(np.float16): (1e-2, 1e-3), np.dtype(np.float32): (1e-4, 1e-5),
             np.dtype(np.float64): (1e-6, 1e-7)}


def mismatch(actual: list, expected: list) -> str:
    """'' when equal under the rule, else what differs. The project's one comparison
    (converter.numerics: NaN where NaN, missing/extra outputs fail) with the dtype checked,
    integers and bools exact, floats at TOLERANCE for their dtype."""
    from converter.numerics import compare_output
    if len(actual) != len(expected):
        return f"{len(actual)} outputs, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        e = np.asarray(e)
        rtol, atol = TOLERANCE.get(e.dtype, (0.0, 0.0))
        row = compare_output(f"output {i}", a, e, rtol=rtol, atol=atol, check_dtype=True)
        if not row.passed:
            return row.error or (f"output {i}: max abs error {row.max_abs:.3g}, max rel error {row.max_rel:.3g}"
                                 f"\n got {np.asarray(a)!r}\n expected {e!r}"[:1500])
    return ""
