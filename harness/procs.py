"""Run one child process under per-stage timeouts, following the stage it reports.

The child prints protocol lines ``@@harness {json}`` on stdout: ``{"event": "stage",
"stage": S}`` when it enters a stage, and a final ``{"event": "done", ...}``. The parent
restarts the clock at each stage event, so a hang is blamed on the stage that hung, and a
death by signal on the stage that was running.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

PROTOCOL_PREFIX = "@@harness "
STDERR_TAIL_CHARS = 6000


# One fork at a time. In a process that has imported OneFlow (pytest's in-process tests, an
# API user driving the harness), every fork runs OneFlow's and libiomp5's pthread_atfork
# handlers, and two threads forking at once deadlock inside them: seen as two scheduler
# threads stuck in fork() (OneFlow's CurrentRankVmSync / __kmp_acquire_ticket_lock).
_SPAWN_LOCK = threading.Lock()


def spawn(cmd: list, **kwargs) -> subprocess.Popen:
    """subprocess.Popen, serialised with every other child the harness starts."""
    with _SPAWN_LOCK:
        return subprocess.Popen(cmd, **kwargs)


def emit(event: dict) -> None:
    """Child side: one protocol line, flushed at once (the parent may kill us any time)."""
    print(PROTOCOL_PREFIX + json.dumps(event, default=str), flush=True)


@dataclass
class ChildOutcome:
    stage: Optional[str]               # the stage running when the child ended
    returncode: Optional[int]
    done: Optional[dict] = None        # the child's final event, when it got that far
    timed_out: bool = False
    timeout_seconds: float = 0.0
    stderr_tail: str = ""
    stdout_tail: str = ""              # non-protocol stdout (e.g. the last JSON line of zoo.export)
    seconds: float = 0.0
    stage_seconds: dict = field(default_factory=dict)
    events: list = field(default_factory=list)   # the child's other protocol events, in order
    worker: Optional[dict] = None      # a pooled worker's {"pid", "reuse", ...} (harness/pool.py)

    @property
    def signal_name(self) -> Optional[str]:
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None


def run_staged(cmd: list, env: dict, timeouts: dict, first_stage: str, cwd: Optional[str] = None) -> ChildOutcome:
    """Run ``cmd``; ``timeouts`` maps stage -> seconds (the child starts in ``first_stage``)."""
    with tempfile.TemporaryFile(mode="w+") as err:
        start = time.monotonic()
        proc = spawn(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                text=True, env=env, cwd=cwd, start_new_session=True, bufsize=1)
        lines = read_lines(proc.stdout)
        outcome = follow(proc, lines, timeouts, first_stage)
        outcome.returncode = proc.wait()
        outcome.seconds = round(time.monotonic() - start, 3)
        err.seek(0)
        outcome.stderr_tail = err.read()[-STDERR_TAIL_CHARS:]
        return outcome


def read_lines(stream) -> "queue.Queue":
    """A queue fed with ``stream``'s lines by a daemon thread; ``None`` marks the end."""
    lines: "queue.Queue" = queue.Queue()
    threading.Thread(target=_pump, args=(stream, lines), daemon=True).start()
    return lines


def follow(proc: subprocess.Popen, lines: "queue.Queue", timeouts: dict, first_stage: str,
           until: Optional[str] = None) -> ChildOutcome:
    """Read a child's protocol lines until its output ends (or, with ``until``, until that
    event arrives: a pooled worker, harness/pool.py, stays alive between cases). A stage that
    overruns its timeout gets the child's stacks (SIGUSR1) and then the child is killed."""
    outcome = ChildOutcome(stage=first_stage, returncode=None)
    other: list = []
    start = stage_start = time.monotonic()
    while True:
        left = stage_start + timeouts[outcome.stage] - time.monotonic()
        try:
            line = lines.get(timeout=max(left, 0.0))
        except queue.Empty:
            _dump_stacks(proc)
            _kill_group(proc)
            outcome.timed_out, outcome.timeout_seconds = True, timeouts[outcome.stage]
            break
        if line is None:
            break
        # A library may leave a partial line on stdout: the protocol line still counts.
        at = line.find(PROTOCOL_PREFIX)
        if at < 0:
            other.append(line)
            del other[:-50]
            continue
        if at:
            other.append(line[:at])
        event = json.loads(line[at + len(PROTOCOL_PREFIX):])
        if event.get("event") == "stage":
            now = time.monotonic()
            _add_seconds(outcome, now - stage_start)   # a stage entered again adds up (a worker's startup)
            outcome.stage, stage_start = event["stage"], now
        elif event.get("event") == "done":
            outcome.done = event
        else:
            outcome.events.append(event)
        if until and event.get("event") == until:
            break
    _add_seconds(outcome, time.monotonic() - stage_start)
    outcome.seconds = round(time.monotonic() - start, 3)
    outcome.stdout_tail = "".join(other)[-STDERR_TAIL_CHARS:]
    return outcome


def _add_seconds(outcome: ChildOutcome, seconds: float) -> None:
    outcome.stage_seconds[outcome.stage] = round(outcome.stage_seconds.get(outcome.stage, 0.0) + seconds, 3)


def _pump(stream, lines: "queue.Queue") -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _dump_stacks(proc: subprocess.Popen, grace: float = 2.0) -> None:
    # Children that registered faulthandler on SIGUSR1 (harness.oneflow_side) print every
    # thread's Python stack to stderr: the bundle then shows where the stage hung.
    try:
        os.kill(proc.pid, signal.SIGUSR1)
        proc.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass


def _kill_group(proc: subprocess.Popen) -> None:
    # The child runs in its own session: kill it and anything it started (ORT threads, shells).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
