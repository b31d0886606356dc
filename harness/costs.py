"""Where a matrix run's time went: per framework, cold vs cached exports, the seconds of
build, export (the case's share of its export process, build included), the OneFlow side's
startup (its imports; ~0 for a case in a reused worker), convert and run, and
how often an export process served more than one opset (build once, export many), and how many
cases each pooled worker ran (harness/pool.py: OneFlow-side and export workers; "-" without
the pool)."""
from __future__ import annotations

import collections
import glob
import os

from rich.table import Table

from . import records
from .paths import REPO_ROOT

COMMITTED_RESULTS = os.path.join(REPO_ROOT, "reports", "results", "*.jsonl")
STAGES = ("build", "export", "startup", "convert", "run", "latency", "total")   # startup: the OneFlow side's imports
POOLED = ("oneflow", "export")   # the record's worker keys (harness/runner.py)


def load_finals(paths=None) -> list:
    """Final records of result files (default: the committed results), unreadable files skipped."""
    out = []
    for path in paths or sorted(glob.glob(COMMITTED_RESULTS)):
        try:
            out += [r for r in records.read(path) if r.get("event") == "final"]
        except (OSError, ValueError):
            continue
    return out


def summarise(finals) -> dict:
    """(framework, "cold"|"cached") -> {"cases": n, "shared": n, stage: seconds summed,
    "<worker kind> workers": distinct pooled workers of that kind, "<kind> pooled": their cases}."""
    rows: dict = collections.defaultdict(lambda: collections.Counter())
    pids: dict = collections.defaultdict(set)
    for rec in finals:
        if rec.get("cached") is None:
            continue            # no export (skipped, prepared)
        key = (rec.get("framework"), "cached" if rec["cached"] else "cold")
        row = rows[key]
        row["cases"] += 1
        if (rec.get("export_reuse") or {}).get("build_reused"):
            row["shared"] += 1
        for stage in STAGES:
            row[stage] += float((rec.get("seconds") or {}).get(stage) or 0.0)
        for kind in POOLED:
            worker = (rec.get("worker") or {}).get(kind)
            if worker:
                row[f"{kind} pooled"] += 1
                pids[key, kind].add(worker["pid"])
    for (key, kind), seen in pids.items():
        rows[key][f"{kind} workers"] = len(seen)
    return dict(rows)


def cases_per_worker(row, kind: str) -> str:
    workers = row[f"{kind} workers"]
    return f"{row[f'{kind} pooled'] / workers:.1f}" if workers else "-"


def cost_table(finals) -> Table:
    table = Table(title="cost (seconds summed over cases)")
    for col in ("framework", "export", "cases", "built once, reused", *STAGES,
                "cases/OneFlow worker", "cases/export worker"):
        table.add_column(col, justify="left" if col in ("framework", "export") else "right")
    for (framework, kind), row in sorted(summarise(finals).items()):
        table.add_row(framework, kind, str(row["cases"]), str(row["shared"]),
                      *(f"{row[s]:.0f}" for s in STAGES), *(cases_per_worker(row, k) for k in POOLED))
    return table
