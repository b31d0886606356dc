"""Versions of every framework in the environment, each imported in its own process.

Source frameworks must not share a process with OneFlow (docs/design.md §2: TensorFlow and OneFlow
in one process segfault), so each probe is a separate interpreter.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

# name -> (import statement, expression printing the version)
PROBES = {
    "oneflow": "import converter, oneflow as m; print(m.__version__)",
    "onnx": "import onnx as m; print(m.__version__)",
    "onnxruntime": "import onnxruntime as m; print(m.__version__)",
    "torch": "import torch as m; print(m.__version__)",
    "torchvision": "import torchvision as m; print(m.__version__)",
    "timm": "import timm as m; print(m.__version__)",
    "tensorflow": "import tensorflow as m; print(m.__version__)",
    "tf2onnx": "import tf2onnx as m; print(m.__version__)",
    "paddle": "import paddle as m; print(m.__version__)",
    "paddle2onnx": "import paddle2onnx as m; print(m.__version__)",
    "flowvision": "import converter, zoo.oneflow_compat as c; c.apply(); import flowvision as m; print(m.__version__)",
    "oneflow_onnx": "import importlib.metadata as md; print(md.version('oneflow-onnx'))",
}


# With protobuf 3.20.3's C++ backend `import tensorflow` segfaults; OneFlow's import
# fails with the pure-Python one. So the setting is per process, by framework.
PURE_PYTHON_PROTOBUF = {"tensorflow", "tf2onnx"}


def framework_env(framework: str) -> dict:
    """Environment for a child process that imports ``framework``."""
    env = dict(os.environ)
    if framework in PURE_PYTHON_PROTOBUF:
        env["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    else:
        env.pop("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", None)
    return env


def probe(name: str, timeout: float = 300) -> tuple[str, str | None, str]:
    """Import one framework in a fresh interpreter; return (name, version or None, error)."""
    try:
        proc = subprocess.run([sys.executable, "-c", PROBES[name]], capture_output=True,
                              text=True, timeout=timeout, env=framework_env(name))
    except subprocess.TimeoutExpired:
        return name, None, f"import timed out after {timeout:.0f} s"
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return name, None, tail
    return name, proc.stdout.strip().splitlines()[-1], ""


def collect(names=None) -> dict:
    names = list(names or PROBES)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(probe, names))
    return {n: (v if v is not None else f"ERROR: {e}") for n, v, e in results}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.versions",
                                 description="Import each framework in its own process and print its version.")
    ap.add_argument("--check", action="store_true", help="exit non-zero if any import fails")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    versions = {"python": sys.version.split()[0], **collect()}
    if args.json:
        print(json.dumps(versions, indent=2))
    else:
        for name, v in versions.items():
            print(f"  {name:<13} {v}")
    failed = [n for n, v in versions.items() if str(v).startswith("ERROR")]
    if args.check and failed:
        print(f"import failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
