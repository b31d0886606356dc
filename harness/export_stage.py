"""Process A of a case: build + export in the source framework's own process (zoo.export).

The zoo caches exports by content; its last stdout line is JSON: {"ok": true, "dir": ...,
"cached": bool} or {"ok": false, "stage": "build"|"export", "error": ..., "traceback": ...}.
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


def export_command(case, cache_dir: str) -> list:
    return [sys.executable, "-m", "zoo.export", "--framework", case.framework, "--model", case.model,
            "--opset", str(case.opset), "--seed", str(case.seed), "--cache-dir", cache_dir]


def _last_json(text: str) -> Optional[dict]:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def export(case, cache_dir: str, timeout: float) -> ExportOutcome:
    cmd = export_command(case, cache_dir)
    child = run_staged(cmd, framework_env(case.framework), {"export": timeout}, "export", cwd=REPO_ROOT)
    out = ExportOutcome(command=cmd, seconds=child.seconds)
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
    if child.returncode == 0 and answer and answer.get("ok"):
        out.case_dir, out.cached = answer["dir"], bool(answer.get("cached"))
    elif answer and answer.get("ok") is False:
        stage = answer.get("stage") if answer.get("stage") in ("build", "export") else "export"
        out.status, out.stage = st.fail(stage), stage
        out.error, out.traceback = answer.get("error"), answer.get("traceback")
        return out
    else:
        tail = child.stderr_tail.strip().splitlines()
        out.status, out.stage = st.fail("export"), "export"
        out.error = f"zoo.export exited {child.returncode}: {tail[-1] if tail else 'no output'}"
        out.traceback = child.stderr_tail
        return out
    with open(os.path.join(out.case_dir, "meta.json")) as f:
        out.meta = json.load(f)
    return out
