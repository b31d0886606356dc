"""Peak memory and time of a converted NonMaxSuppression node on many boxes and classes.

    .venv/bin/python benchmarks/nms_memory.py [--sizes 2000x90 20000x90] [--max-out 100 100000]
        [--address-space-gib 10]

For each size (boxes x classes) and each max_output_boxes_per_class, one ONNX model with a
single NonMaxSuppression node (opset 11, iou_threshold 0.5, score_threshold 0.05) is built
with onnx.helper, converted and run once in a fresh child process (so a OneFlow abort ends
that row, not the benchmark, and each row's peak RSS is its own). Boxes are random in a
1000x1000 image, 8 to 120 pixels a side; scores uniform in [0, 1) per class, seed 0. Printed
per row: the child's resident memory before the run and its peak after (ru_maxrss), the run's
wall time, and the number of selected rows; a child that dies is printed with its exit status.
Numbers only, no thresholds.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child(n_boxes: int, n_classes: int, max_out: int) -> None:
    import numpy as np
    import oneflow as flow
    from onnx import TensorProto as T, helper, numpy_helper

    sys.path.insert(0, ROOT)
    import converter

    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 1000, (1, n_boxes, 2))
    side = rng.uniform(8, 120, (1, n_boxes, 2))
    boxes = np.concatenate([corner, corner + side], -1).astype(np.float32)[..., [1, 0, 3, 2]]   # y1 x1 y2 x2
    scores = rng.random((1, n_classes, n_boxes), dtype=np.float32)
    consts = [numpy_helper.from_array(np.array([max_out], np.int64), "m"),
              numpy_helper.from_array(np.array([0.5], np.float32), "iou"),
              numpy_helper.from_array(np.array([0.05], np.float32), "score")]
    graph = helper.make_graph(
        [helper.make_node("NonMaxSuppression", ["boxes", "scores", "m", "iou", "score"], ["y"], name="nms")],
        "nms", [helper.make_tensor_value_info("boxes", T.FLOAT, list(boxes.shape)),
                helper.make_tensor_value_info("scores", T.FLOAT, list(scores.shape))],
        [helper.make_tensor_value_info("y", T.INT64, [None, 3])], consts)
    module = converter.convert(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]))
    b, s = flow.tensor(boxes), flow.tensor(scores)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    rows = module(b, s).numpy().shape[0]
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rss_before_mib": before // 1024, "peak_rss_mib": peak // 1024,
                      "seconds": round(seconds, 2), "rows": rows}), flush=True)


def _row(n_boxes, n_classes, max_out, address_space_gib):
    def limit():
        if address_space_gib:
            cap = int(address_space_gib * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(n_boxes), str(n_classes),
                           str(max_out)], capture_output=True, text=True, preexec_fn=limit, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    tail = (proc.stderr.strip().splitlines() or ["?"])[-1][:100]
    return {"died": f"exit {proc.returncode}: {tail}"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["2000x90", "20000x90"], help="BOXESxCLASSES")
    ap.add_argument("--max-out", nargs="+", type=int, default=[100, 100000],
                    help="max_output_boxes_per_class values (torchvision exports a huge one)")
    ap.add_argument("--address-space-gib", type=float, default=10.0,
                    help="RLIMIT_AS of each child (OneFlow itself maps ~4.7 GiB); 0 = no limit")
    args = ap.parse_args(argv)
    print("| boxes | classes | max_out | RSS before (MiB) | peak RSS (MiB) | time (s) | rows |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        n_boxes, n_classes = (int(v) for v in size.lower().split("x"))
        for max_out in args.max_out:
            r = _row(n_boxes, n_classes, max_out, args.address_space_gib)
            if "died" in r:
                print(f"| {n_boxes} | {n_classes} | {max_out} | | died: {r['died']} | | |", flush=True)
            else:
                print(f"| {n_boxes} | {n_classes} | {max_out} | {r['rss_before_mib']} | {r['peak_rss_mib']} | "
                      f"{r['seconds']} | {r['rows']} |", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*(int(v) for v in sys.argv[2:5]))
    else:
        sys.exit(main())
