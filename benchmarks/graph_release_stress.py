"""Process deaths when compiled nn.Graphs are released while others run (OneFlow 0.9).

    .venv/bin/python benchmarks/graph_release_stress.py [--runs 4] [--cycles 150]

Each run is a child process doing ``--cycles`` release-then-run cycles: compile and run a
graph A over a tiny conv model, create B, drop A, run B. ``raw`` uses plain
``oneflow.nn.Graph``s (A freed immediately); ``converter`` uses ``converter.to_graph``, whose
compiled graphs are never released (converter/graph_mode.py keeps them for the process's
life). Prints per variant how many runs died (signal) and how long the runs took. A death is OneFlow's own (SIGSEGV/SIGABRT inside the next graph's output).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

CHILD = r"""
import sys
import numpy as np
import oneflow as flow
variant, cycles = sys.argv[1], int(sys.argv[2])
x = flow.tensor(np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32))
if variant == "raw":
    class G(flow.nn.Graph):
        def __init__(self, m):
            super().__init__()
            self.m = m
        def build(self, x):
            return self.m(x)
    make = G
else:
    import converter
    make = converter.to_graph
for _ in range(cycles):
    if variant == "raw":
        m = flow.nn.Sequential(flow.nn.Conv2d(3, 3, 3, padding=1), flow.nn.ReLU()).eval()
    else:
        import onnx
        from onnx import helper, numpy_helper, TensorProto
        w = numpy_helper.from_array(np.ones((3, 3, 3, 3), np.float32) / 27, "w")
        g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                               helper.make_node("Relu", ["c"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])], [w])
        m = converter.convert(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]))
    a = make(m)
    a(x).numpy()
    b = make(m)
    a = None
    b(x).numpy()
print("ok")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--cycles", type=int, default=150)
    ap.add_argument("--variants", nargs="+", default=["raw", "converter"])
    args = ap.parse_args()
    print(f"| variant | runs | died | seconds per run (median) |\n|---|---|---|---|")
    for variant in args.variants:
        died, times = 0, []
        for _ in range(args.runs):
            start = time.perf_counter()
            rc = subprocess.run([sys.executable, "-c", CHILD, variant, str(args.cycles)],
                                capture_output=True).returncode
            times.append(time.perf_counter() - start)
            died += rc < 0 or rc > 128
        times.sort()
        print(f"| {variant} | {args.runs} | {died} | {times[len(times) // 2]:.0f} |")


if __name__ == "__main__":
    main()
