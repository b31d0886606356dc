"""Latency of one case, measured in process B (docs/design.md §3, "Latency").

The converted module, ONNX Runtime and (in the OneFlow column) OneFlow's own module of the
same architecture and weights run on the case's own inputs, interleaved: each round calls
every variant once, so a burst of machine load hits them alike. After ``warmup`` rounds the
round time sets how many timed rounds fit in ``budget_s`` (at most ``iters``, at least one):
a large model costs a few seconds, not minutes. Medians in milliseconds, and the ratios of
the converted module to each of the others, per round and as medians. OneFlow eager is
asynchronous: every timing ends in ``.numpy()`` on the outputs.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import statistics
import sys
import time

DEFAULT_THREADS = 2        # intra-op threads of OneFlow and ONNX Runtime alike
DEFAULT_ITERS = 5
DEFAULT_WARMUP = 1
DEFAULT_BUDGET_S = 3.0     # timed rounds of one case, after warm-up


@contextlib.contextmanager
def _stdout_to_stderr():
    """OneFlow prints some warnings from C++ onto file descriptor 1, where the parent reads
    the protocol (harness/procs.py): send fd 1 to stderr meanwhile, flushing C's buffers."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        ctypes.CDLL(None).fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


def set_oneflow_threads(n: int) -> int:
    """OneFlow's intra-op CPU threads (it caps them at the logical core count and says so on
    stdout); returns the number set."""
    import oneflow as flow

    with _stdout_to_stderr():
        flow.set_num_threads(n)
    return n


def ort_session(model_path: str, providers: list, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(model_path, opts, providers=providers)


def interleave(variants: dict, warmup: int = DEFAULT_WARMUP, iters: int = DEFAULT_ITERS,
               budget_s: float = DEFAULT_BUDGET_S) -> dict:
    """``variants``: name -> a call that runs once and synchronises. Returns name -> the list
    of its timed seconds, one per round (the same number for every name)."""
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    round_s = 0.0
    for _ in range(max(warmup, 1)):            # one untimed round at least: lazy initialisation
        t0 = time.perf_counter()
        for call in variants.values():
            call()
        round_s = time.perf_counter() - t0
    rounds = max(1, min(iters, int(budget_s // round_s) if round_s > 0 else iters))
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, call in variants.items():
            t = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t)
    return times


def _ratios(num: list, den: list) -> list:
    return [a / b for a, b in zip(num, den) if b > 0]


def summary(times: dict, converted: str = "oneflow") -> dict:
    """Medians (ms) of every variant, and converted / other as the median of the per-round
    ratios with their range (``vs_<other>``, ``vs_<other>_range``)."""
    out = {f"{name}_ms": round(statistics.median(ts) * 1e3, 3) for name, ts in times.items()}
    for other, ts in times.items():
        if other == converted:
            continue
        r = _ratios(times[converted], ts)
        if r:
            out[f"vs_{other}"] = round(statistics.median(r), 4)
            out[f"vs_{other}_range"] = [round(min(r), 4), round(max(r), 4)]
    out["iters"] = len(times[converted])
    return out


def native_module(spec: dict, device: str):
    """OneFlow's own module of a OneFlow-column cell, built the way its export process built
    it (zoo/frameworks/oneflow_exporter.py: the builder, variant, arguments and seed give the
    same weights). The only zoo code process B runs, and only there: OneFlow is the framework
    process B holds anyway, and flowvision imports no other (docs/design.md §2)."""
    from zoo.frameworks.oneflow_exporter import build

    return build(spec["builder"], spec["variant"], int(spec.get("seed", 0)), **(spec.get("kwargs") or {})).to(device)


def outputs_of(out) -> list:
    """A module's output tensors in order; flowvision's None aux-head slots dropped (as the
    export dropped them)."""
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if o is not None]


def as_graph(module):
    """A plain oneflow.nn.Graph around OneFlow's own module (graph mode's native side)."""
    import oneflow as flow

    class Native(flow.nn.Graph):
        def __init__(self):
            super().__init__()
            self.model = module

        def build(self, *xs):
            outs = outputs_of(self.model(*xs))
            return outs[0] if len(outs) == 1 else tuple(outs)

    return Native()
