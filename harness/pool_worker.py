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
import os
import runpy
import signal
import sys
import threading
import time
import traceback

from .procs import emit

# Reported after every request, so the parent (and the tests) can see what a worker holds.
WATCHED_MODULES = ("oneflow", "onnxruntime", "torch", "tensorflow", "paddle", "tf2onnx", "paddle2onnx")


def fresh_numbering() -> None:
    """Libraries that number what they build process-wide (Paddle's unique names, Keras'
    layer names, tf2onnx's node-name counter) start from zero again, as in a fresh process:
    a model exported by a reused worker then names its values exactly as a one-shot export
    does (tests/test_harness_pool_export.py compares the bytes). Only libraries this process
    already imported are touched."""
    paddle = sys.modules.get("paddle")
    if paddle is not None:
        paddle.utils.unique_name.switch()
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()
    tf2onnx_utils = sys.modules.get("tf2onnx.utils")
    if tf2onnx_utils is not None:
        tf2onnx_utils.INTERNAL_NAME = 1   # its initial value (make_name's counter)


def serve(module: str, argv: list) -> int:
    """Run ``python -m module *argv`` in this process; its exit code."""
    sys.argv = [module, *argv]
    try:
        fresh_numbering()
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - a request's error is the request's, the parent reads stderr
        traceback.print_exc()
        return 1


def _exit_with_parent(parent: int) -> None:
    # The parent died (killed run): the end of stdin stops an idle worker, this one a busy or
    # hung one, which no parent is left to kill (it runs in its own session).
    while os.getppid() == parent:
        time.sleep(5)
    os._exit(3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.pool_worker")
    ap.add_argument("--warm", help="MODULE:FUNCTION called once before the first request")
    ap.add_argument("module", help="the module each request runs as python -m MODULE ARGV...")
    args = ap.parse_args(argv)
    # Stacks into stderr on a crash, and on SIGUSR1, which the parent sends before killing a
    # stage that overran its timeout (harness/procs.py).
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
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
