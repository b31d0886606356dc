"""Conversion time and peak memory for a torchvision ResNet50 ONNX file.

    .venv/bin/python benchmarks/convert_resnet50.py [--runs 3] [--no-fold]

Each run is a fresh process (so ru_maxrss is that conversion's own peak): it imports the
converter, then converts under tracemalloc. Prints one line per run and the medians.
tracemalloc sees Python-side allocations (numpy weights included); ru_maxrss is the whole
process peak, so the RSS growth over the post-import baseline is reported too.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def measure_once(path: str) -> dict:
    t = time.perf_counter()
    import converter  # noqa: F401 - the import's cost is reported separately
    import_s = time.perf_counter() - t
    import tracemalloc

    rss_after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    t = time.perf_counter()
    module = converter.convert(path)
    convert_s = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_params = sum(p.numel() for p in module.parameters())
    return {"import_s": import_s, "convert_s": convert_s, "tracemalloc_peak_mb": peak / 2**20,
            "rss_after_import_mb": rss_after_import, "rss_peak_mb": rss_peak,
            "rss_growth_mb": rss_peak - rss_after_import, "parameters": n_params,
            "file_mb": os.path.getsize(path) / 2**20}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-fold", action="store_true", help="the export that keeps BatchNormalization")
    ap.add_argument("--measure", help=argparse.SUPPRESS)     # child mode: one measurement
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure_once(args.measure)))
        return 0

    from benchmarks._models import torchvision_onnx

    path = torchvision_onnx("resnet50", fold=not args.no_fold)
    results = []
    for i in range(args.runs):
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--measure", path],
                              capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if not lines:   # say how the run ended instead of a traceback; the other runs still count
            print(f"run {i + 1}: no measurement, exit status {proc.returncode}: {proc.stderr.strip()[-300:]}")
            continue
        if proc.returncode:
            print(f"run {i + 1}: measured, then the process ended with status {proc.returncode}")
        r = json.loads(lines[-1])
        results.append(r)
        print(f"run {i + 1}: convert {r['convert_s']:.2f} s (import {r['import_s']:.2f} s), "
              f"tracemalloc peak {r['tracemalloc_peak_mb']:.0f} MB, ru_maxrss {r['rss_peak_mb']:.0f} MB "
              f"(+{r['rss_growth_mb']:.0f} MB over the {r['rss_after_import_mb']:.0f} MB after import)")
    if not results:
        print("no run produced a measurement")
        return 1
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    print(f"resnet50 ({os.path.basename(path)}, {med['file_mb']:.0f} MB, {med['parameters']:,.0f} parameters), "
          f"median of {len(results)} fresh processes: convert {med['convert_s']:.2f} s, "
          f"tracemalloc peak {med['tracemalloc_peak_mb']:.0f} MB, ru_maxrss {med['rss_peak_mb']:.0f} MB, "
          f"RSS growth {med['rss_growth_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
