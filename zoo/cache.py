"""Content-addressed export cache: one directory per case, published atomically.

A case directory's name carries a digest of everything that determines its files
(framework and exporter versions, model, opset, seed, input spec, the zoo code that built
it), so a changed builder or input spec simply misses. Exports are written into a private
temporary directory and renamed into place: concurrent workers exporting the same case
never see a half-written directory, and the loser of the race discards its copy.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile

# A published case directory always holds these; meta.json is written last.
CASE_FILES = ("model.onnx", "inputs.npz", "expected.npz", "meta.json")


def digest(material: dict) -> str:
    """Stable hex digest of a JSON-serialisable key."""
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def hash_files(paths) -> str:
    """Digest of the files' relative names and contents (order-independent)."""
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def case_name(framework: str, model: str, opset: int, seed: int, key_digest: str) -> str:
    return f"{framework}-{model}-opset{opset}-seed{seed}-{key_digest[:16]}"


def lookup(cache_dir: str, name: str):
    """The published case directory, or None when it is absent or incomplete."""
    path = os.path.join(cache_dir, name)
    if all(os.path.isfile(os.path.join(path, f)) for f in CASE_FILES):
        return path
    return None


@contextlib.contextmanager
def publishing(cache_dir: str, name: str):
    """Yield a temporary directory to fill; on success rename it to ``cache_dir/name``.

    The final path is stored in ``holder["dir"]`` and ``holder["raced"]`` says whether a
    concurrent writer published it first (then its copy is kept and ours dropped).
    """
    os.makedirs(cache_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=cache_dir)
    holder = {"tmp": tmp, "dir": os.path.join(cache_dir, name), "raced": False}
    try:
        yield holder
        try:
            os.rename(tmp, holder["dir"])
        except OSError:
            # rename(2) refuses a non-empty target: someone else published this case,
            # or a damaged copy is in the way (replace that one).
            if lookup(cache_dir, name) is not None:
                holder["raced"] = True
            else:
                shutil.rmtree(holder["dir"], ignore_errors=True)
                os.rename(tmp, holder["dir"])
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
