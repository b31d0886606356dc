"""Result records as JSON lines, appended atomically.

A run starts with a ``run`` record (run id, command, commit, the digest of the code and
exporters it runs, time: docs/design.md §3). Each case writes a ``started`` record, then
exactly one ``final`` record, both naming the run id. A line is written
with a single ``os.write`` on an ``O_APPEND`` descriptor, so concurrent writers (xdist
workers, ``--jobs``) never interleave within a line, and a case that kills its runner is
still visible as a ``started`` record without a ``final``.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
import uuid

# 2: the two parity gates (ort_vs_source, oneflow_vs_ort, oneflow_vs_source, converter).
# 3: provenance: every record names its run id; the run header names the commit and the code
#    digest (harness/digest.py); final records carry their exporter patches' notes.
# 4: latency: a final record whose converted module ran carries the ``latency`` block
#    (harness/latency.py: converted, ORT and native medians, ratios, threads, rounds).
RECORD_VERSION = 4
# Several processes writing one run (the shards of a nightly run, pytest's xdist workers)
# share the run id through this variable.
RUN_ID_ENV = "HARNESS_RUN_ID"


def new_run_id() -> str:
    return os.environ.get(RUN_ID_ENV) or f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"


def append(path: str, record: dict) -> None:
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def run_header(command: str, run_id: str) -> dict:
    """The ``run`` record a run starts with: which run, what was run, at which commit with
    which code and exporters (harness/digest.py), when."""
    from .digest import compute

    code = compute()
    return {"event": "run", "record_version": RECORD_VERSION, "run_id": run_id, "command": command,
            "commit": _git_commit(), "code_digest": code["digest"], "versions": code["versions"],
            "host": platform.node(), "python": platform.python_version(), "time": time.time()}


def _git_commit():
    from .paths import REPO_ROOT

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT,
                              timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=REPO_ROOT, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def started(case, mode: str = "eager", run_id=None) -> dict:
    """The record written before a case runs; it carries the mode so that `harness complete`
    pairs it with its own mode's final record (docs/design.md §3)."""
    return {"event": "started", "record_version": RECORD_VERSION, "run_id": run_id, "case": case.case_id,
            **case.identity(), "mode": mode, "time": time.time()}


def read(path: str) -> list:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def finals(path: str) -> list:
    return [r for r in read(path) if r.get("event") == "final"]


def unfinished(path: str) -> list:
    """Case ids with a ``started`` record but no ``final`` one (the runner itself died)."""
    recs = read(path)
    done = {r["case"] for r in recs if r.get("event") == "final"}
    return sorted({r["case"] for r in recs if r.get("event") == "started"} - done)


def close_unfinished(path: str) -> list:
    """Give every case that started but never finished (its runner died: a killed pytest
    worker, a killed matrix) its one final record, status ``infra``. Returns their ids."""
    if not os.path.exists(path):
        return []
    recs = read(path)
    done = {r["case"] for r in recs if r.get("event") == "final"}
    closed = []
    for r in recs:
        if r.get("event") == "started" and r["case"] not in done | set(closed):
            append(path, {**{k: v for k, v in r.items() if k != "time"}, "event": "final", "status": "infra",
                          "stage": None, "error": "the runner died before the case finished",
                          "seconds": {}, "time": time.time()})
            closed.append(r["case"])
    return closed
