"""A pool of long-lived worker processes where one item's crash or hang costs only that item.

Workers are spawned (not forked), import their heavy modules once, and run one item at a
time. A worker that dies (signal, abort, os._exit) or exceeds the per-item timeout is
killed and replaced; the item is reported as ``crash`` or ``timeout`` with the tail of the
worker's stderr, and the run goes on.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import tempfile
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Callable, Iterable, Iterator, Optional, Union

_STDERR_TAIL = 2000


@dataclass
class Outcome:
    key: str
    kind: str           # "ok" (value is the task's result), "crash", "timeout" or "error"
    value: object = None
    detail: str = ""    # for crash/timeout/error: what happened, with the stderr tail
    seconds: float = 0.0


def _worker_main(conn, task: Callable, warmup: Optional[Callable], log_path: str) -> None:
    # Native code (OneFlow's glog, CHECK failures) writes to fd 2 directly: send it to a
    # file the parent reads back when this worker dies.
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    if warmup is not None:
        warmup()          # heavy imports once per worker, not charged to the first item
    conn.send(("ready", None))
    while True:
        item = conn.recv()
        if item is None:
            return
        try:
            conn.send(("ok", task(item)))
        except BaseException:  # noqa: BLE001 - the task's own bug; keep the worker alive
            conn.send(("error", traceback.format_exc(limit=8)))


class _Worker:
    def __init__(self, ctx, task: Callable, warmup: Optional[Callable], log_dir: str, index: int):
        self.log_path = os.path.join(log_dir, f"worker{index}.log")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, task, warmup, self.log_path), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.key = None
        self.started = time.monotonic()
        self.log_offset = 0

    def give(self, key: str, item) -> None:
        self.key, self.started = key, time.monotonic()
        self.log_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.conn.send(item)

    def stderr_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return text[-_STDERR_TAIL:].strip()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(5)
        self.kill()


def _death(exitcode) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"worker killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"worker killed by signal {-exitcode}"
    return f"worker exited with code {exitcode}"


def run_isolated(task: Callable, items: Iterable[tuple], *, jobs: int = 2,
                 timeout: Union[float, Callable[[str], float]] = 60.0,
                 warmup: Optional[Callable] = None, startup_timeout: float = 300.0) -> Iterator[Outcome]:
    """Run ``task(item)`` for every ``(key, item)`` in worker processes; yield Outcomes as they finish.

    ``timeout`` is seconds per item, or a function of the item's key giving them.
    ``task`` and ``warmup`` must be module-level functions (workers are spawned and unpickle
    them). ``warmup()`` runs once per worker before it takes items; its time is not charged
    to any item, but a worker that cannot start within ``startup_timeout`` ends the run.
    """
    ctx = mp.get_context("spawn")
    limit = timeout if callable(timeout) else (lambda key: timeout)
    pending = list(items)
    pending.reverse()
    with tempfile.TemporaryDirectory(prefix="isolated-workers-") as log_dir:
        spawned = 0

        def new_worker():
            nonlocal spawned
            spawned += 1
            return _Worker(ctx, task, warmup, log_dir, spawned)

        workers = [new_worker() for _ in range(max(1, min(jobs, len(pending))))]
        try:
            while pending or any(w.key is not None for w in workers):
                for w in workers:
                    if w.ready and w.key is None and pending:
                        w.give(*pending.pop())
                now = time.monotonic()
                deadlines = [w.started + (limit(w.key) if w.ready else startup_timeout)
                             for w in workers if w.key is not None or not w.ready]
                ready = wait([w.conn for w in workers] + [w.proc.sentinel for w in workers],
                             max(0.0, min(deadlines) - now) if deadlines else None)
                for i, w in enumerate(workers):
                    if not w.ready:
                        _check_startup(w, ready, startup_timeout)
                        continue
                    if w.key is None:
                        continue
                    outcome = _collect(w, ready, limit(w.key))
                    if outcome is None:
                        continue
                    if outcome.kind in ("crash", "timeout"):
                        w.kill()
                        workers[i] = new_worker()
                    else:
                        w.key = None
                    yield outcome
        finally:
            for w in workers:
                w.stop()


def _check_startup(w: _Worker, ready: list, startup_timeout: float) -> None:
    if w.conn in ready:
        try:
            kind, _ = w.conn.recv()
            w.ready = kind == "ready"
            if w.ready:
                return
        except (EOFError, OSError):
            pass
    if w.conn in ready or w.proc.sentinel in ready or time.monotonic() - w.started > startup_timeout:
        detail = w.stderr_tail()
        w.kill()
        raise RuntimeError(f"a worker process failed to start ({_death(w.proc.exitcode)}):\n{detail}")


def _collect(w: _Worker, ready: list, timeout: float) -> Optional[Outcome]:
    """The busy worker's outcome if it has one now (result, death or timeout), else None."""
    elapsed = time.monotonic() - w.started
    if w.conn in ready:
        try:
            kind, value = w.conn.recv()
            return Outcome(w.key, kind, value if kind == "ok" else None, "" if kind == "ok" else value, elapsed)
        except (EOFError, OSError):
            pass   # died mid-send: a crash
    if w.proc.sentinel in ready or not w.proc.is_alive():
        w.proc.join(5)
        return Outcome(w.key, "crash", None, f"{_death(w.proc.exitcode)}\n{w.stderr_tail()}".strip(), elapsed)
    if elapsed >= timeout:
        return Outcome(w.key, "timeout", None, f"no result after {timeout:.0f} s\n{w.stderr_tail()}".strip(), elapsed)
    return None
