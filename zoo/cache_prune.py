"""Prune an export cache to the entries the current zoo would still use.

A cache entry's name ends in a digest of its key (zoo/cache.py), so a new exporter version,
zoo code change or catalogue edit leaves the old entry behind, never read again. A cache
that lives across runs (the nightly runners' own disk; docs/design.md §6) keeps only the
entries whose digest is the current key of its (framework, model, opset, seed): any opset
and seed stay, so extra opsets and other seeds are not lost. Entries of a cell no longer in
the catalogue, damaged names and abandoned temporary directories (an export killed mid-
write, older than ``STALE_TMP_SECONDS``) go. The stock-exporter entries of
``--no-exporter-patches`` have their own key and are kept only when pruning with it.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time

from . import cache, catalogue, export, signature_export

# name = cache.case_name(...): <framework>-<model>-opset<N>-seed<S>-<16 hex digits>
ENTRY = re.compile(r"^(?P<framework>[a-z]+)-(?P<model>.+)-opset(?P<opset>\d+)-seed(?P<seed>\d+)-(?P<digest>[0-9a-f]{16})$")
# a running export's temporary directory is younger than any export takes
STALE_TMP_SECONDS = 6 * 3600


@dataclasses.dataclass
class Pruned:
    kept: list
    removed: list            # (name, why)
    freed_bytes: int


def _size(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def _why_stale(name: str, cat, now: float, path: str):
    if name.startswith(".tmp-"):
        return "abandoned temporary export" if now - os.path.getmtime(path) > STALE_TMP_SECONDS else None
    m = ENTRY.match(name)
    if not m:
        return "not a cache entry name"
    try:
        cell = cat.cell(m["framework"], m["model"])
    except (catalogue.CatalogueError, KeyError):
        return "cell no longer in the catalogue"
    # a cell with a typed signature is keyed by the module that exports it
    case_key = signature_export.case_key if cell.signature else export.case_key
    key = case_key(cell, int(m["opset"]), int(m["seed"]))
    if cache.case_name(cell.framework, cell.model, int(m["opset"]), int(m["seed"]), cache.digest(key)) != name:
        return "key changed (exporter versions, zoo code, catalogue entry or patches)"
    return None


def prune(cache_dir: str, cat=None, dry_run: bool = False) -> Pruned:
    cat = cat or catalogue.load()
    now = time.time()
    kept, removed, freed = [], [], 0
    for name in sorted(os.listdir(cache_dir)) if os.path.isdir(cache_dir) else []:
        path = os.path.join(cache_dir, name)
        if not os.path.isdir(path):
            continue
        why = _why_stale(name, cat, now, path)
        if why is None:
            kept.append(name)
            continue
        freed += _size(path)
        removed.append((name, why))
        if not dry_run:
            shutil.rmtree(path, ignore_errors=True)
    return Pruned(kept, removed, freed)
