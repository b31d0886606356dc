"""``python -m harness digest``: one digest of the code and exporters a matrix run depends on.

A committed results slice names the digest of the code that produced it (docs/design.md §3),
and tests/test_readme_matrix.py fails when HEAD's digest differs: the README's table is then
not what this code produces, and `make matrix` must refresh it.

What goes in: the contents of the tracked ``*.py`` and ``*.yaml`` files of ``converter/``,
``zoo/`` (code and catalogue) and ``harness/``, each named by its path relative to the
repository root, in path order, and the installed versions of every framework and exporter
(read from package metadata: nothing is imported). What stays out: tests, docs, README,
reports, timestamps, ``__pycache__``. So two clones at one commit with the same pins agree,
and a change to a test or the README changes nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys

from .paths import REPO_ROOT

PACKAGES = ("converter", "zoo", "harness")
SUFFIXES = (".py", ".yaml")
# Distributions whose versions change what a run produces: the converter's runtime, the
# reference, every source framework and exporter (docs/design.md §7 pins them).
DISTRIBUTIONS = ("oneflow", "onnx", "onnxruntime", "numpy", "protobuf", "torch", "torchvision", "timm",
                 "tensorflow", "keras", "tf2onnx", "paddlepaddle", "paddle2onnx", "flowvision", "oneflow-onnx",
                 "transformers")


def code_files(root: str = REPO_ROOT) -> list:
    """Relative paths of the files the digest reads, sorted. Git's list of tracked files
    where there is a git checkout (untracked scratch files do not count); a walk otherwise
    (an unpacked source tree)."""
    try:
        proc = subprocess.run(["git", "ls-files", "-z", "--", *PACKAGES], cwd=root, capture_output=True,
                              timeout=60)
        listed = proc.stdout.decode().split("\0") if proc.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        listed = None
    if listed is None:
        listed = [os.path.relpath(os.path.join(d, f), root) for pkg in PACKAGES
                  for d, dirs, files in os.walk(os.path.join(root, pkg)) for f in files]
    return sorted(p.replace(os.sep, "/") for p in listed
                  if p.endswith(SUFFIXES) and "__pycache__" not in p.split("/")
                  and os.path.isfile(os.path.join(root, p)))


def versions() -> dict:
    out = {}
    for dist in DISTRIBUTIONS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def compute(root: str = REPO_ROOT) -> dict:
    """{"digest": hex, "files": count, "versions": {...}}: the working tree's contents of the
    tracked files (what a run executes, uncommitted edits included)."""
    h = hashlib.sha256()
    files = code_files(root)
    for rel in files:
        with open(os.path.join(root, rel), "rb") as f:
            h.update(rel.encode() + b"\0" + hashlib.sha256(f.read()).digest())
    found = versions()
    h.update(json.dumps(found, sort_keys=True).encode())
    return {"digest": h.hexdigest()[:20], "files": len(files), "versions": found}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness digest", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="the digest, the file count and the versions as JSON")
    args = ap.parse_args(argv)
    result = compute()
    print(json.dumps(result, indent=2) if args.json else result["digest"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
