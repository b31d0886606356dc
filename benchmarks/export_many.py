"""Cold export cost: one process per (model, opset) vs one process per model for every opset.

    python benchmarks/export_many.py [--before DIR] [--opset N ...] FRAMEWORK:MODEL ...

Runs `python -m zoo.export` with a fresh cache directory each time, serially (one heavy job at
a time), from this tree and, with --before, from an older checkout (e.g. a `git worktree` of the
commit before build once, export many) with the same interpreter. Prints wall seconds per model
and the totals; no assertions (timings on a shared machine are noisy).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(tree, framework):
    env = dict(os.environ, PYTHONPATH=tree)
    if framework == "tensorflow":   # docs/design.md §7: TensorFlow needs protobuf's Python backend
        env["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
    else:
        env.pop("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", None)
    return env


def timed_export(tree, framework, model, opsets, cache) -> float:
    cmd = [sys.executable, "-m", "zoo.export", "--framework", framework, "--model", model, "--cache-dir", cache]
    for o in opsets:
        cmd += ["--opset", str(o)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=tree, env=_env(tree, framework), capture_output=True, text=True)
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        last = proc.stdout.strip().splitlines()[-1:] or ["(no output)"]
        print(f"    ! {framework}:{model} {opsets} exit {proc.returncode}: {last[0][:200]}", flush=True)
    return seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", help="older checkout: one process per opset there")
    ap.add_argument("--opset", type=int, action="append", default=[])
    ap.add_argument("cells", nargs="+", help="FRAMEWORK:MODEL")
    args = ap.parse_args()
    opsets = args.opset or [11, 13, 17]
    totals = {}
    for spec in args.cells:
        framework, model = spec.split(":")
        rows = {}
        with tempfile.TemporaryDirectory() as tmp:
            if args.before:
                rows["before, 1 opset"] = timed_export(args.before, framework, model, opsets[1:2], f"{tmp}/b1")
                rows[f"before, {len(opsets)} opsets"] = sum(
                    timed_export(args.before, framework, model, [o], f"{tmp}/b3") for o in opsets)
            rows["after, 1 opset"] = timed_export(HERE, framework, model, opsets[1:2], f"{tmp}/a1")
            rows[f"after, {len(opsets)} opsets"] = timed_export(HERE, framework, model, opsets, f"{tmp}/a3")
        print(f"{spec:28s} " + "  ".join(f"{k}: {v:6.1f}s" for k, v in rows.items()), flush=True)
        for k, v in rows.items():
            totals[k] = totals.get(k, 0.0) + v
    print(f"{'total':28s} " + "  ".join(f"{k}: {v:6.1f}s" for k, v in totals.items()))
    one = "before, 1 opset" if args.before else "after, 1 opset"
    for k, v in totals.items():
        print(f"  {k:20s} {v:7.1f}s  = {v / totals[one]:.2f} x {one}")


if __name__ == "__main__":
    main()
