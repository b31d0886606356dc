"""Where things live: the repository root (children run from it) and the output layout."""
from __future__ import annotations

import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "out")


def cache_dir(out: str) -> str:
    return os.path.join(out, "cache")


def bundles_dir(out: str) -> str:
    return os.path.join(out, "bundles")
