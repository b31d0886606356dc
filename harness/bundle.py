"""Repro bundles: everything a failing case needs to be re-run without its source framework.

    <bundle>/model.onnx inputs.npz expected.npz   (from the export)
             ort.npz oneflow_<device>.npz         (what the OneFlow side produced, if it got there)
             meta.json                            (the record, versions, commands, traceback)
             repro.sh                             (one line: python -m harness repro <bundle>)
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import sys

from .oneflow_side import PLUGINS_ENV, size_files
from .paths import REPO_ROOT

CASE_FILES = ("model.onnx", "inputs.npz", "expected.npz")


def prepare(path: str) -> str:
    """An empty bundle directory (a previous run's files would be misleading)."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def _link_or_copy(src: str, dst: str) -> None:
    # Exports can be hundreds of MB: a hard link costs nothing, and still holds the old
    # content if the cache entry is later rewritten (a rewrite replaces the file).
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write(path: str, case_dir, meta: dict) -> str:
    os.makedirs(path, exist_ok=True)
    if case_dir:
        # a signature case's further sizes (inputs_size<k>.npz, expected_size<k>.npz) too
        extra = [f[name] for f in size_files(meta) for name in ("inputs", "expected")]
        for name in CASE_FILES + tuple(extra):
            src = os.path.join(case_dir, name)
            if os.path.exists(src) and not os.path.exists(os.path.join(path, name)):
                _link_or_copy(src, os.path.join(path, name))
    with open(os.path.join(path, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2, default=str)
    script = os.path.join(path, "repro.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n" + repro_command(path) + ' "$@"\n')
    os.chmod(script, 0o755)
    return path


def repro_command(path: str) -> str:
    # Test-only handler plugins are part of how the failure was produced: keep them visible.
    plugins = os.environ.get(PLUGINS_ENV)
    prefix = f"{PLUGINS_ENV}={shlex.quote(plugins)} " if plugins else ""
    return (f"cd {shlex.quote(REPO_ROOT)} && {prefix}exec {shlex.quote(sys.executable)} -m harness repro "
            f"{shlex.quote(os.path.abspath(path))}")


def discard(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


class BundleError(ValueError):
    """A bundle cannot be read; the message names the file."""


META_KEYS = ("case", "status", "device")


def load_meta(path: str) -> dict:
    meta_path = os.path.join(path, "meta.json")
    if not os.path.isdir(path):
        raise BundleError(f"{path}: no such bundle directory")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except OSError as e:
        raise BundleError(f"{meta_path}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{meta_path}: not JSON ({e})") from None
    if not isinstance(meta, dict):
        raise BundleError(f"{meta_path}: expected a JSON object, got a JSON {type(meta).__name__}")
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise BundleError(f"{meta_path}: lacks {', '.join(missing)}")
    return meta
