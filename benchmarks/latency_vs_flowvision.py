"""Converted ResNet50 vs flowvision's native OneFlow ResNet50: CPU latency at batch 1.

    .venv/bin/python benchmarks/latency_vs_flowvision.py [--iters 20] [--warmup 3] [--threads N]

One process, one input, the two models timed alternately (interleaved, so machine load hits
both alike); every timing ends with ``.numpy()`` because eager OneFlow is asynchronous.
Two converted variants: torch's default export (BatchNorm folded into the convolutions) and
one that keeps BatchNormalization nodes (the same layer structure as flowvision's model).
Prints medians and the ratio converted / native (target: within 5%).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def native_resnet50():
    from zoo.oneflow_compat import apply

    apply()     # flowvision 0.2.2 needs oneflow.jit._script_if_tracing (absent in 0.9.0)
    import flowvision

    return flowvision.models.resnet50(pretrained=False).eval()


def timed(model, x) -> float:
    t = time.perf_counter()
    model(x).numpy()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--graph", action="store_true", help="also time the converted model as nn.Graph")
    args = ap.parse_args()

    from benchmarks._models import torchvision_onnx

    paths = {"converted (BN folded)": torchvision_onnx("resnet50", fold=True),
             "converted (BN kept)": torchvision_onnx("resnet50", fold=False)}
    import numpy as np
    import oneflow as flow

    import converter

    models = {"flowvision native": native_resnet50()}
    for label, path in paths.items():
        models[label] = converter.convert(path)
    if args.graph:
        models["converted (BN kept) nn.Graph"] = converter.to_graph(converter.convert(paths["converted (BN kept)"]))
    x = flow.tensor(np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32))
    times = {k: [] for k in models}
    with flow.no_grad():
        for _ in range(args.warmup):
            for m in models.values():
                m(x).numpy()
        for _ in range(args.iters):
            for k, m in models.items():
                times[k].append(timed(m, x))
    native = statistics.median(times["flowvision native"])
    print(f"batch 1, 224x224, CPU, median of {args.iters} interleaved iterations "
          f"(after {args.warmup} warm-up rounds), oneflow {flow.__version__}:")
    for k, ts in times.items():
        med = statistics.median(ts)
        print(f"  {k:32s} median {med * 1e3:7.1f} ms  (min {min(ts) * 1e3:6.1f}, max {max(ts) * 1e3:6.1f})"
              f"  ratio vs native {med / native:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
