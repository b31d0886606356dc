"""``python -m harness repro BUNDLE``: re-run a failing case's stage from its bundle.

For ort/convert/run/parity failures this needs no source framework: the bundle holds the
ONNX model, inputs and the source framework's outputs. For a parity failure it also prints
the first divergence (ONNX Runtime with every intermediate exposed vs the converted module's
intermediates). Build/export failures re-run the recorded zoo.export command, which does
need the source framework. Exits 0 once the case passes, 1 while it still fails.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from . import bundle as bundles
from . import status as st
from .cases import DEFAULT_ATOL, DEFAULT_RTOL, DEVICES, Tolerance
from .cuda_preflight import preflight
from .paths import REPO_ROOT
from .procs import run_staged
from .runner import classify, oneflow_env, oneflow_side_command
from .selectors import parse_timeouts
from .versions import framework_env


def rerun_export(meta: dict) -> int:
    print(f"re-running the export (needs {meta['framework']}): {meta['command']}", flush=True)
    proc = subprocess.run(meta["command"], shell=True, cwd=REPO_ROOT, env=framework_env(meta["framework"]))
    return 0 if proc.returncode == 0 else 1


def report_divergence(div) -> None:
    if not div:
        print("first divergence: none found among the intermediates both sides expose "
              "(the difference appears only in the outputs, or folded constants hide it)")
        return
    print(f"first divergence: node {div['node']!r} ({div['op_type']}, #{div['node_index']}) output "
          f"{div['output']!r}: max_abs {div['max_abs']:.3g}, max_rel {div['max_rel']:.3g}"
          f"{'' if div['shape_ok'] else ' (shape differs)'}; inputs {div['inputs']}; "
          f"{div['values_compared']} value(s) compared up to here")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness repro", description=__doc__.split("\n")[0])
    ap.add_argument("bundle")
    ap.add_argument("--device", choices=DEVICES,
                    help="run on another device than the recorded one (then not a reproduction: said so)")
    ap.add_argument("--timeout", action="append", default=[], metavar="STAGE=SECONDS")
    args = ap.parse_args(argv)
    try:
        meta = bundles.load_meta(args.bundle)
    except bundles.BundleError as e:
        print(f"harness repro: error: {e}", file=sys.stderr)
        return 2
    print(f"{meta['case']}: recorded {meta['status']} at {meta.get('stage')}: {meta.get('error')}")
    if meta.get("stage") in st.EXPORT_STAGES:
        return rerun_export(meta)
    device = args.device or meta["device"]
    run_mode = meta.get("mode") or "eager"     # a graph-mode failure is re-run as nn.Graph
    print(f"re-running in {run_mode} mode on {device}"
          + (f" (recorded on {meta['device']}: not the recorded case)" if device != meta["device"] else ""))
    if device == "cuda":
        pf = preflight()
        if not pf.usable:
            print(f"cannot re-run on cuda: {pf.reason}")
            return 1
    tol = meta.get("tolerance") or {}
    ctol = meta.get("converter_tolerance") or {}
    work = os.path.join(os.path.abspath(args.bundle), "repro")
    os.makedirs(work, exist_ok=True)
    cmd = oneflow_side_command(os.path.abspath(args.bundle), device, work, tol.get("rtol", DEFAULT_RTOL),
                               tol.get("atol", DEFAULT_ATOL), bool(meta.get("classifier")), divergence=True,
                               converter_tolerance=Tolerance(ctol.get("rtol", DEFAULT_RTOL), ctol.get("atol", DEFAULT_ATOL)),
                               batches=tuple(int(b) for b in meta.get("batches") or ()),   # the batch sizes it ran at
                               mode=run_mode, batch_tolerances=tuple(
                                   (int(b), Tolerance(t["rtol"], t["atol"]))
                                   for b, t in (meta.get("batch_tolerances") or {}).items()))
    child = run_staged(cmd, oneflow_env(device), parse_timeouts(args.timeout), "startup", cwd=REPO_ROOT)
    status, stage, error, traceback = classify(child)
    print(f"now: {status}" + (f" at {stage}: {error}" if status != st.PASS else ""))
    done = child.done or {}
    if traceback and status != st.PASS and stage != "parity":
        print(traceback.rstrip()[-4000:])
    if stage == "parity" and status != st.PASS:
        report_divergence(done.get("divergence"))
    return 0 if status == st.PASS else 1


if __name__ == "__main__":
    sys.exit(main())
