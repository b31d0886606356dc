"""How many oneflow.nn.Graphs one process can compile, and that graph mode stops short of it.

OneFlow 0.9 gives each compiled nn.Graph stream ids from a process-wide pool and never gives
them back; when the pool is used up the process aborts (CHECK stream_index <= kMaxStreamIndex).
Each measurement runs in a child process (the abort ends it) and prints how many compiles it
reached, its peak RSS and how it ended:

  plain      tiny nn.Graphs (one Relu), each kept             -> dies at the limit
  released   the same, each dropped after its call            -> dies at the same count
  converter  converter.convert(..., graph=True) of tiny models -> compiles up to
             graph_mode.COMPILE_BUDGET, then runs eagerly; ends normally

    .venv/bin/python benchmarks/graph_compile_limit.py [--count 1500]
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(kind: str, count: int) -> None:
    import resource
    import warnings

    import numpy as np
    import oneflow as flow

    def report(i):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"compiled {i} rss {rss}", flush=True)

    if kind in ("plain", "released"):
        class Tiny(flow.nn.Graph):
            def build(self, x):
                return flow.relu(x)
        kept = []
        for i in range(1, count + 1):
            g = Tiny()
            g(flow.ones(2, 3)).numpy()
            if kind == "plain":
                kept.append(g)
            report(i)
        return
    import converter
    from converter import graph_mode
    from onnx import TensorProto, helper
    warnings.simplefilter("ignore")
    for i in range(1, count + 1):
        shape = [1 + i % 3, 4]
        g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        converter.convert(model, graph=True)(np.ones(shape, np.float32)).numpy()
        if i % 50 == 0:
            report(i)
            print(f"graphs {len(graph_mode._KEPT_ALIVE)}", flush=True)


def measure(kind: str, count: int) -> str:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, "--count", str(count)], cwd=ROOT,
                          capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    last = [line for line in proc.stdout.splitlines() if line.startswith("compiled")]
    graphs = [line for line in proc.stdout.splitlines() if line.startswith("graphs")]
    check = re.search(r"Check failed: [^\n]*", proc.stderr)
    ended = "ran to the end" if proc.returncode == 0 else f"exit {proc.returncode}: {check.group(0) if check else ''}"
    return (f"{kind:10s} {last[-1] if last else 'compiled 0'} MiB; "
            + (f"{graphs[-1]} compiled; " if graphs else "") + ended)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=1500)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--kinds", default="plain,released,converter")
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.count)
    for kind in args.kinds.split(","):
        print(measure(kind, args.count), flush=True)


if __name__ == "__main__":
    main()
