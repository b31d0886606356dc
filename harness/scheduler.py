"""Run many cases on ``jobs`` threads with their exports grouped.

Build once, export many (docs/design.md §2): the cases of one (framework, model, seed) —
every opset and device — share one zoo.export process (harness/export_stage.py:
export_group); then each case runs its OneFlow side. With ``opts.pool`` both run in pooled
workers (harness/pool.py: per-framework export workers and OneFlow-side workers that import
their libraries once), otherwise each in a fresh process. OneFlow sides of exported groups
are taken before new exports, so records keep flowing and finished exports do not pile up.
Every case still gets exactly one ``started`` and one ``final`` record (written when its
group starts and when its OneFlow side ends).
"""
from __future__ import annotations

import dataclasses
import itertools
import queue
import threading
import traceback

from . import records
from . import status as st
from .cuda_preflight import preflight
from .export_stage import ExportOutcome, export_group, group_key
from .pool import WorkerPool
from .runner import run_case

_STOP, _CASE, _GROUP = -1, 0, 1   # priorities: a ready OneFlow side before a new export


def groups_of(cases) -> list:
    """Cases grouped by export (group_key), groups in the order of their first case."""
    groups: dict = {}
    for case in cases:
        groups.setdefault(group_key(case), []).append(case)
    return list(groups.values())


def needs_export(case) -> bool:
    if case.unavailable or case.prepared_dir:
        return False
    return case.device != "cuda" or preflight().usable


def run_cases(cases, opts, jobs: int = 1):
    """Yield each case's final record as it completes."""
    pool = None
    if opts.pool and opts.workers is None:
        # idle workers kept: a OneFlow side and an export worker per job
        pool = WorkerPool(max_idle=2 * max(1, jobs))
        opts = dataclasses.replace(opts, workers=pool)
    tasks: "queue.PriorityQueue" = queue.PriorityQueue()
    done: "queue.Queue" = queue.Queue()
    order = itertools.count()
    for group in groups_of(cases):
        tasks.put((_GROUP, next(order), group, None))

    def export_then_queue(group):
        if opts.results:
            for case in group:
                records.append(opts.results, records.started(case, opts.mode, opts.run_id))
        exporting = [c for c in group if needs_export(c)]
        try:
            outcomes = export_group(exporting, opts.cache_dir, opts.timeouts["export"],
                                    opts.workers) if exporting else {}
        except Exception as e:  # noqa: BLE001 - a harness bug still gives each case its record
            bug = f"harness error in the grouped export: {type(e).__name__}: {e}"
            outcomes = {c.case_id: ExportOutcome(command=[], status=st.INFRA, stage="export", error=bug,
                                                 traceback=traceback.format_exc()) for c in exporting}
        for case in group:
            tasks.put((_CASE, next(order), case, outcomes.get(case.case_id)))

    def worker():
        while True:
            kind, _, item, exported = tasks.get()
            if kind < 0:
                return
            if kind == _GROUP:
                export_then_queue(item)
            else:
                done.put(run_case(item, opts, exported=exported, announce=False))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, jobs))]
    for t in threads:
        t.start()
    try:
        for _ in range(len(cases)):
            yield done.get()
    finally:
        for _ in threads:
            tasks.put((_STOP, next(order), None, None))   # sorts first: each worker stops after its task
        if pool:
            pool.close()   # a case still running gives its worker back to a closed pool: it exits
