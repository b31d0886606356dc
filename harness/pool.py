"""Pooled, still isolated workers (docs/design.md §2, "Pooled workers"): the parent side.

A worker (harness/pool_worker.py) is a child process that imports its libraries once and
then runs one case at a time: the OneFlow side (oneflow, onnx, ONNX Runtime, the converter;
never a source framework) or one framework's exports (``zoo.export``: that framework only).
``WorkerPool.run`` takes the same command line and returns the same ``ChildOutcome`` as
``procs.run_staged``, so the runner classifies a pooled case exactly like a one-shot one.

The rules:

* Workers are keyed by interpreter, module, working directory and the whole environment, so a
  case never lands in a worker set up for another framework, device or test plugin.
* A case is followed stage by stage with the per-stage timeouts of a one-shot child. A worker
  that dies during a case (signal, exit) or overruns a stage (stacks, then SIGKILL of its
  process group) gives that case its crash/timeout/infra record and is gone; the next case
  starts a fresh worker.
* A worker is also retired after a case that did not end cleanly (non-zero exit: a failing
  case, a library that called sys.exit), so a failure never leaves state behind for the next
  case, and after a case that left it above the resident-memory limit (``rss_limit_mib``,
  read from /proc between cases). An OOM kill during a case is SIGKILL, recorded as infra.
* A reused export worker writes what a fresh process would: harness/pool_worker.py resets
  the process-wide name counters of Paddle, Keras and tf2onnx before each request; OneFlow's
  own exports are never pooled (export_stage.FRESH_PROCESS_EXPORTS).
* ``ChildOutcome.worker`` says which worker ran the case: ``{"pid", "reuse"}`` (cases it
  ran before this one), its RSS after the case and why it was retired, if it was.

Why a pipe protocol over ``subprocess`` rather than ``multiprocessing`` or
``concurrent.futures``: a ProcessPoolExecutor whose worker dies marks the whole pool broken
(every pending future fails, not only the case that crashed) and it cannot time out or kill
one task; a spawn-context ``multiprocessing.Process`` re-imports the parent's ``__main__``
(here: the harness, rich, maybe pytest) in a child that must hold nothing but its framework,
and it takes the parent's environment, while ours needs one per framework (the protobuf
backend, docs/design.md §7). The stage protocol, the SIGUSR1 stacks and the process-group
kill already exist for one-shot children (harness/procs.py); a worker speaks the same protocol.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from typing import Optional

from . import procs
from .procs import STDERR_TAIL_CHARS, ChildOutcome, follow, read_lines

DEFAULT_RSS_LIMIT_MIB = 4096
# Imported by a worker before its first request (harness/pool_worker.py --warm).
WARM = {"harness.oneflow_side": "harness.oneflow_side:warm"}


def rss_mib(pid: int) -> Optional[float]:
    """Resident memory of ``pid`` in MiB (None where /proc cannot tell)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def worker_record(info: Optional[dict]) -> Optional[dict]:
    """What a case record says about its worker: pid, reuse, and why it was retired."""
    return info and {k: info[k] for k in ("pid", "reuse", "retired") if k in info}


class Worker:
    """One pooled child process and the stderr file it writes to."""

    def __init__(self, key: tuple, python: str, module: str, env: dict, cwd: Optional[str]):
        self.key = key
        self.served = 0
        self._err = tempfile.TemporaryFile(mode="w+")
        cmd = [python, "-m", "harness.pool_worker"]
        if module in WARM:
            cmd += ["--warm", WARM[module]]
        self.proc = procs.spawn(cmd + [module], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True, env=env, cwd=cwd,
                                     start_new_session=True, bufsize=1)
        self._lines = read_lines(self.proc.stdout)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, argv: list, timeouts: dict, first_stage: str) -> ChildOutcome:
        err_from = os.fstat(self._err.fileno()).st_size
        start = time.monotonic()
        try:
            self.proc.stdin.write(json.dumps({"argv": [str(a) for a in argv]}) + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass   # it died while idle: follow() sees its output end, the case gets the record
        outcome = follow(self.proc, self._lines, timeouts, first_stage, until="served")
        served = next((e for e in outcome.events if e.get("event") == "served"), None)
        outcome.returncode = served["returncode"] if served else self._reap()
        outcome.seconds = round(time.monotonic() - start, 3)
        outcome.stderr_tail = self._stderr_since(err_from)
        outcome.worker = {"pid": self.pid, "reuse": self.served}
        if served:
            outcome.worker["modules"] = served.get("modules", [])
        self.served += 1
        return outcome

    def close(self, grace: float = 10.0) -> None:
        """End of stdin asks the worker to exit; one that does not is killed."""
        if self.alive():
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._kill()
        self._reap()
        self._err.close()

    def _reap(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._kill()
            return self.proc.wait()

    def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _stderr_since(self, offset: int) -> str:
        fd = self._err.fileno()
        size = os.fstat(fd).st_size
        start = max(offset, size - 4 * STDERR_TAIL_CHARS)
        return os.pread(fd, size - start, start).decode("utf-8", "replace")[-STDERR_TAIL_CHARS:]


class WorkerPool:
    """Workers shared by the threads of one run; each case has a worker to itself."""

    def __init__(self, rss_limit_mib: float = DEFAULT_RSS_LIMIT_MIB, max_idle: int = 4):
        self.rss_limit_mib, self.max_idle = rss_limit_mib, max_idle
        self._idle: list = []          # least recently used first
        self._lock = threading.Lock()
        self._closed = False

    def run(self, cmd: list, env: dict, timeouts: dict, first_stage: str, cwd: Optional[str] = None) -> ChildOutcome:
        """``cmd`` is ``[python, "-m", module, *argv]``, as for procs.run_staged."""
        python, dash_m, module, *argv = cmd
        if dash_m != "-m":
            raise ValueError(f"a pooled command runs a module (python -m M ...), not {cmd[:3]}")
        key = (python, module, cwd, tuple(sorted(env.items())))
        worker = self._take(key) or Worker(key, python, module, env, cwd)
        try:
            outcome = worker.run(argv, timeouts, first_stage)
        except BaseException:
            worker.close()
            raise
        why = self._retire_reason(worker, outcome)
        if why:
            outcome.worker["retired"] = why
            worker.close()
        else:
            self._give_back(worker)
        return outcome

    def _retire_reason(self, worker: Worker, outcome: ChildOutcome) -> Optional[str]:
        if outcome.timed_out:
            return f"killed: {outcome.stage} overran {outcome.timeout_seconds:.0f} s"
        if not worker.alive():
            return f"ended during {outcome.stage} ({outcome.signal_name or f'exit {outcome.returncode}'})"
        if outcome.returncode:
            return f"the case exited {outcome.returncode}"
        rss = rss_mib(worker.pid)
        outcome.worker["rss_mib"] = rss
        if rss is not None and rss > self.rss_limit_mib:
            return f"RSS {rss:.0f} MiB above the limit of {self.rss_limit_mib:.0f} MiB"
        return None

    def _take(self, key: tuple) -> Optional[Worker]:
        with self._lock:
            for i in range(len(self._idle) - 1, -1, -1):
                if self._idle[i].key == key:
                    worker = self._idle.pop(i)
                    if worker.alive():
                        return worker
                    worker.close()
        return None

    def _give_back(self, worker: Worker) -> None:
        with self._lock:
            if self._closed:
                evicted = [worker]
            else:
                self._idle.append(worker)
                evicted = [self._idle.pop(0) for _ in range(len(self._idle) - max(1, self.max_idle))]
        for w in evicted:
            w.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for w in idle:
            w.close()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
