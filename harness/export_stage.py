"""Process A of a case: build + export in the source framework's own process (zoo.export).

The zoo caches exports by content; its last stdout line is JSON: {"ok": true, "dir": ...,
"cached": bool} or {"ok": false, "stage": "build"|"export", "error": ..., "traceback": ...}.

Build once, export many (``export_group``): the cases of one (framework, model, seed) at
several opsets share one zoo.export process, which reports each opset as a protocol event
when it is done. A crash or timeout is blamed on the opset in flight only (its build
included); the opsets it never reached get a fresh process (and their own honest record).
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Optional

from . import status as st
from .paths import REPO_ROOT
from .procs import run_staged
from .versions import framework_env


@dataclass
class ExportOutcome:
    command: list
    case_dir: Optional[str] = None
    cached: bool = False
    status: Optional[str] = None        # None when the export succeeded
    stage: Optional[str] = None
    error: Optional[str] = None
    traceback: Optional[str] = None
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)
    build_seconds: Optional[float] = None   # the build this case paid (0: shared or cached)
    reuse: dict = field(default_factory=dict)  # export process sharing (export_group)
    worker: Optional[dict] = None           # the pooled export worker (harness/pool.py), if any


# Frameworks whose exports always get a fresh process, even with a pool: OneFlow names each
# nn.Graph with a process-wide count (the exported graph's input is "__ExportGraph_<n>_...",
# n = graphs built before in that process, and inputs.npz is keyed by it), which cannot be
# reset safely while earlier graphs live. Elsewhere a reused worker writes the model a fresh
# process writes: byte for byte for torch and Paddle, up to tf2onnx's node-name numbering for
# TensorFlow (tests/test_harness_pool_export.py).
FRESH_PROCESS_EXPORTS = ("oneflow",)


def export_command(case, cache_dir: str, opsets=None) -> list:
    """The export process's command line; the case's export module (zoo.export, or
    zoo.signature_export for a cell with typed inputs) takes the same arguments."""
    module = getattr(case, "export_module", "zoo.export")
    cmd = [sys.executable, "-m", module, "--framework", case.framework, "--model", case.model]
    for opset in opsets or [case.opset]:
        cmd += ["--opset", str(opset)]
    return cmd + ["--seed", str(case.seed), "--cache-dir", cache_dir]


def _last_json(text: str) -> Optional[dict]:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def export(case, cache_dir: str, timeout: float, workers=None) -> ExportOutcome:
    return export_group([case], cache_dir, timeout, workers)[case.case_id]


def group_key(case) -> tuple:
    """Cases with one key share an export process (the device does not change the export)."""
    return (case.framework, case.model, case.seed)


def export_group(cases, cache_dir: str, timeout: float, workers=None) -> dict:
    """Export every opset of ``cases`` (one group_key) with as few processes as isolation
    allows; case id -> ExportOutcome. ``timeout`` is per opset (zoo.export restarts the clock).
    ``workers``: a harness.pool.WorkerPool whose per-framework workers run zoo.export's
    command line instead of a fresh process each time (the same answers, the same blame)."""
    by_opset: dict = {}
    for case in cases:
        by_opset.setdefault(case.opset, []).append(case)
    pooled = workers and not any(c.framework in FRESH_PROCESS_EXPORTS for c in cases)
    staged = workers.run if pooled else run_staged
    pending, outcomes = list(by_opset), {}
    while pending:
        first = by_opset[pending[0]][0]
        cmd = export_command(first, cache_dir, pending)
        child = staged(cmd, framework_env(first.framework), {"export": timeout}, "export", cwd=REPO_ROOT)
        answers = {e["opset"]: e for e in child.events if e.get("event") == "export" and "opset" in e}
        reached = [o for o in pending if o in answers]
        in_process = len(pending)
        for opset in reached:
            out = _from_answer(cmd, child, answers[opset])
            out.seconds = round(child.seconds / len(pending), 3)   # this case's share of the process
            for case in by_opset[opset]:
                outcomes[case.case_id] = _shared(out, in_process, case is by_opset[opset][0])
        rest = [o for o in pending if o not in answers]
        if not rest:
            break
        # The process ended before answering `rest[0]`: that opset takes the blame (even if it
        # died in the build), the others get a fresh process: each record is its own attempt.
        out = _from_child(cmd, child, timeout)
        for case in by_opset[rest[0]]:
            outcomes[case.case_id] = _shared(out, in_process, True)
        pending = rest[1:]
    return outcomes


def _shared(out: ExportOutcome, in_process: int, first: bool) -> ExportOutcome:
    """A copy for one case; a second case of the same opset (another device) paid nothing."""
    copy = ExportOutcome(**{**out.__dict__, "meta": dict(out.meta)})
    copy.reuse = {"export_process_opsets": in_process, "build_reused": bool(out.meta.get("build_reused"))}
    if not first:
        copy.seconds, copy.build_seconds = 0.0, 0.0
    return copy


def _from_answer(cmd, child, answer: dict) -> ExportOutcome:
    out = ExportOutcome(command=cmd, seconds=child.seconds, worker=child.worker)
    if answer.get("ok"):
        out.case_dir, out.cached = answer["dir"], bool(answer.get("cached"))
        with open(os.path.join(out.case_dir, "meta.json")) as f:
            out.meta = json.load(f)
        out.build_seconds = 0.0 if out.cached else out.meta.get("seconds", {}).get("build")
        return out
    stage = answer.get("stage") if answer.get("stage") in st.EXPORT_STAGES else "export"
    out.status, out.stage = st.fail(stage), stage
    out.error, out.traceback = answer.get("error"), answer.get("traceback")
    return out


def _from_child(cmd, child, timeout: float) -> ExportOutcome:
    """The outcome of a zoo.export process that did not answer for an opset."""
    out = ExportOutcome(command=cmd, seconds=child.seconds, worker=child.worker)
    if child.timed_out:
        out.status, out.stage = st.timeout("export"), "export"
        out.error = f"build/export did not finish within {timeout:.0f} s"
        return out
    if child.signal_name:
        # SIGKILL that is not our timeout: the OOM killer, the machine's fault (docs/design.md §3).
        out.status = st.INFRA if child.signal_name == "SIGKILL" else st.crash("export")
        out.stage = "export"
        out.error = f"export process killed by {child.signal_name}" + (
            " (out of memory?)" if child.signal_name == "SIGKILL" else "")
        out.traceback = child.stderr_tail
        return out
    answer = _last_json(child.stdout_tail)
    if answer and answer.get("ok") is False and "results" not in answer:
        # an answer without a protocol event (e.g. the catalogue has no such cell)
        return _from_answer(cmd, child, answer)
    tail = child.stderr_tail.strip().splitlines()
    out.status, out.stage = st.fail("export"), "export"
    out.error = f"zoo.export exited {child.returncode}: {tail[-1] if tail else 'no output'}"
    out.traceback = child.stderr_tail
    return out
