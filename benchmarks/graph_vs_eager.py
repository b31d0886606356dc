"""Eager vs nn.Graph CPU latency of converted models, next to flowvision's native ones.

    .venv/bin/python benchmarks/graph_vs_eager.py [--models resnet50 mobilenet_v2 vit_b_16] [--iters 10] [--warmup 2]
        [--compare-unoptimized] [--oneflow-defaults]

For each model: the torchvision export (random weights, opset 13; vit_b_16 14, the first its
attention exports at; benchmarks/_models.py)
converted and run eagerly and as ``converter.convert(path, graph=True)``, and flowvision's
native model eagerly and wrapped in a plain ``oneflow.nn.Graph``. Batch 1, 224x224, one
input; the four variants are timed alternately (interleaved, so machine load hits them
alike); every timing ends with ``.numpy()`` because OneFlow is asynchronous; medians of
``--iters`` rounds after ``--warmup`` rounds (the first graph call, which compiles, is a
warm-up round and is reported separately). Prints a Markdown table with the ratios
converted / native (eager, nn.Graph, and the first call: graph compile).

``--compare-unoptimized`` adds the model converted with ``optimize=False`` (no graph rewrites)
to the same interleaved rounds. OneFlow runs with the CPU settings measured fastest
(converter.runtime_settings.FASTEST, docs/design.md §9) unless ``--oneflow-defaults``;
the settings in force are printed with the table.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.latency_vs_flowvision import timed  # noqa: E402

# torchvision name -> flowvision name of the same architecture
NATIVE = {"resnet50": "resnet50", "mobilenet_v2": "mobilenet_v2", "efficientnet_b0": "efficientnet_b0",
          "densenet121": "densenet121", "vit_b_16": "vit_base_patch16_224"}
# torch's exporter writes scaled_dot_product_attention from opset 14 on
OPSET = {"vit_b_16": 14}


def native(name: str):
    from zoo.oneflow_compat import apply

    apply()     # flowvision 0.2.2 needs oneflow.jit._script_if_tracing (absent in 0.9.0)
    import flowvision

    return getattr(flowvision.models, NATIVE[name])(pretrained=False).eval()


def as_graph(module):
    import oneflow as flow

    class Static(flow.nn.Graph):
        def __init__(self):
            super().__init__()
            self.model = module

        def build(self, x):
            return self.model(x)

    return Static()


def measure(name: str, iters: int, warmup: int, unoptimized: bool = False) -> dict:
    """variant -> (median seconds, first-call seconds)."""
    import numpy as np
    import oneflow as flow

    import converter
    from benchmarks._models import torchvision_onnx

    path = torchvision_onnx(name, opset=OPSET.get(name, 13))
    flow_native = native(name)
    variants = {"converted eager": converter.convert(path), "converted nn.Graph": converter.convert(path, graph=True),
                "flowvision eager": flow_native, "flowvision nn.Graph": as_graph(flow_native)}
    if unoptimized:
        variants["unoptimized eager"] = converter.convert(path, optimize=False)
        variants["unoptimized nn.Graph"] = converter.convert(path, graph=True, optimize=False)
    print(f"<!-- {name}: rewrites {variants['converted eager'].rewrites} -->", flush=True)
    x = flow.tensor(np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32))
    first = {}
    times = {k: [] for k in variants}
    with flow.no_grad():
        # The process's first nn.Graph pays OneFlow's one-time graph runtime set-up: a tiny one
        # takes it, so the compile column compares the models' own compiles.
        as_graph(flow.nn.Identity())(flow.zeros(1)).numpy()
        for k, m in variants.items():
            first[k] = timed(m, x)
        for _ in range(warmup):
            for m in variants.values():
                m(x).numpy()
        for _ in range(iters):
            for k, m in variants.items():
                times[k].append(timed(m, x))
    return {k: (statistics.median(ts), first[k]) for k, ts in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(NATIVE), choices=list(NATIVE))
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--compare-unoptimized", action="store_true",
                    help="also time the model converted with optimize=False (no graph rewrites)")
    ap.add_argument("--oneflow-defaults", action="store_true",
                    help="run with OneFlow's own defaults instead of the fastest CPU settings")
    args = ap.parse_args()
    from converter import runtime_settings

    settings = runtime_settings.current() if args.oneflow_defaults else runtime_settings.apply()
    import oneflow as flow

    load = os.getloadavg()
    print(f"batch 1, 224x224, CPU ({os.cpu_count()} cores, load average {load[0]:.1f} at the start), "
          f"oneflow {flow.__version__}, settings {settings}, median of {args.iters} interleaved rounds after "
          f"{args.warmup} warm-up rounds; ms (first call, which compiles a graph, in parentheses)\n")
    variants = ["converted eager", "converted nn.Graph", "flowvision eager", "flowvision nn.Graph"]
    if args.compare_unoptimized:
        variants += ["unoptimized eager", "unoptimized nn.Graph"]
    ratios = ["converted / native eager", "converted / native nn.Graph", "compile converted / native"]
    if args.compare_unoptimized:
        ratios += ["unoptimized / native eager", "unoptimized / native nn.Graph", "compile unoptimized / native"]
    print("| model | " + " | ".join(variants + ratios) + " |")
    print("|---|" + "---:|" * (len(variants) + len(ratios)), flush=True)
    for name in args.models:   # one row at a time: a model's graphs are freed before the next
        r = measure(name, args.iters, args.warmup, args.compare_unoptimized)
        cells = [f"{r[v][0] * 1e3:.1f} ({r[v][1] * 1e3:.0f})" for v in variants]
        for label in ("converted", "unoptimized")[:1 + args.compare_unoptimized]:
            cells += [f"{r[f'{label} eager'][0] / r['flowvision eager'][0]:.2f}",
                      f"{r[f'{label} nn.Graph'][0] / r['flowvision nn.Graph'][0]:.2f}",
                      f"{r[f'{label} nn.Graph'][1] / r['flowvision nn.Graph'][1]:.2f}"]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
