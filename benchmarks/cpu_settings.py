"""OneFlow 0.9's CPU settings on converted models: which configuration is fastest.

    .venv/bin/python benchmarks/cpu_settings.py [--models resnet50 mobilenet_v2 efficientnet_b0] [--iters 5]

OneFlow reads ONEFLOW_ENABLE_ONEDNN_OPTS when a kernel runs and takes its CPU thread count
from oneflow.set_num_threads at any time, so the configurations are switched between rounds
of one process: every configuration times every model once per round (interleaved, so machine
load hits them alike), eagerly, batch 1, ending each timing with ``.numpy()``. Prints medians
per configuration and model, and each relative to OneFlow's defaults (docs/design.md §9).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.latency_vs_flowvision import timed  # noqa: E402

# name -> (ONEFLOW_ENABLE_ONEDNN_OPTS or None for OneFlow's default, threads or None for its default)
CONFIGS = {"oneflow defaults": (None, None), "oneDNN opts off": ("0", None),
           "oneDNN opts off, 1 thread": ("0", 1), "oneDNN opts off, 2 threads": ("0", 2),
           "defaults, 1 thread": (None, 1)}


def _use(onednn, threads, default_threads):
    import oneflow as flow

    flow._oneflow_internal.eager.Sync()   # nothing queued may run under the next configuration
    if onednn is None:
        os.environ.pop("ONEFLOW_ENABLE_ONEDNN_OPTS", None)
    else:
        os.environ["ONEFLOW_ENABLE_ONEDNN_OPTS"] = onednn
    flow.set_num_threads(threads or default_threads)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["resnet50", "mobilenet_v2", "efficientnet_b0"])
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()
    os.environ.pop("ONEFLOW_ENABLE_ONEDNN_OPTS", None)
    import numpy as np
    import oneflow as flow

    import converter
    from benchmarks._models import torchvision_onnx
    from benchmarks.graph_vs_eager import OPSET

    default_threads = os.cpu_count()
    models = {m: converter.convert(torchvision_onnx(m, opset=OPSET.get(m, 13))) for m in args.models}
    x = flow.tensor(np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32))
    times = {(c, m): [] for c in CONFIGS for m in models}
    with flow.no_grad():
        for r in range(args.warmup + args.iters):
            for c, (onednn, threads) in CONFIGS.items():
                _use(onednn, threads, default_threads)
                for m, module in models.items():
                    t = timed(module, x)
                    if r >= args.warmup:
                        times[(c, m)].append(t)
    print(f"converted models, batch 1, 224x224, CPU ({os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the end), oneflow {flow.__version__}, median of {args.iters} "
          f"interleaved rounds after {args.warmup} warm-up; ms (ratio to OneFlow's defaults)\n")
    print("| configuration | " + " | ".join(models) + " |")
    print("|---|" + "---:|" * len(models))
    for c in CONFIGS:
        cells = []
        for m in models:
            med, base = statistics.median(times[(c, m)]), statistics.median(times[("oneflow defaults", m)])
            cells.append(f"{med * 1e3:.1f} ({med / base:.2f})")
        print(f"| {c} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
