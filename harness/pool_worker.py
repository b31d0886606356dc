"""A pooled worker, child side: import once, then run one command line per request.

    python -m harness.pool_worker [--warm MODULE:FUNCTION] MODULE

Each request is a JSON line on stdin, ``{"argv": [...]}``; the worker runs
``python -m MODULE ARGV...`` inside itself (runpy, as ``-m`` does), so a module's command
line means the same pooled or not and its protocol lines (harness/procs.py) reach the parent
unchanged. Then it answers ``{"event": "served", "returncode": N, "modules": [...]}`` and
waits for the next request; the end of stdin ends it. Whatever the module imported stays
imported, so the next case does not pay for it again; ``--warm`` pays for it before the
first request. The rules for replacing a worker live with the parent, harness/pool.py.

This module imports only the standard library and harness.procs: a TensorFlow export worker
must hold nothing but TensorFlow (docs/design.md §7).
"""
from __future__ import annotations

import argparse
import faulthandler
import gc
import importlib
import json
import runpy
import signal
import sys
import traceback

from .procs import emit

# Reported after every request, so the parent (and the tests) can see what a worker holds.
WATCHED_MODULES = ("oneflow", "onnxruntime", "torch", "tensorflow", "paddle", "tf2onnx", "paddle2onnx")


def serve(module: str, argv: list) -> int:
    """Run ``python -m module *argv`` in this process; its exit code."""
    sys.argv = [module, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - a request's error is the request's, the parent reads stderr
        traceback.print_exc()
        return 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.pool_worker")
    ap.add_argument("--warm", help="MODULE:FUNCTION called once before the first request")
    ap.add_argument("module", help="the module each request runs as python -m MODULE ARGV...")
    args = ap.parse_args(argv)
    # Stacks into stderr on a crash, and on SIGUSR1, which the parent sends before killing a
    # stage that overran its timeout (harness/procs.py).
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    if args.warm:
        name, _, function = args.warm.partition(":")
        getattr(importlib.import_module(name), function)()
    for line in sys.stdin:
        if not line.strip():
            continue
        code = serve(args.module, json.loads(line)["argv"])
        gc.collect()   # the case's model goes before the parent reads our RSS
        emit({"event": "served", "returncode": code,
              "modules": sorted(m for m in WATCHED_MODULES if m in sys.modules)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
