"""Read harness result files (JSON lines): final case records and run headers."""
from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class RunSet:
    finals: list = field(default_factory=list)    # one per case id, the newest wins
    runs: list = field(default_factory=list)      # {"event": "run", command, commit, time, ...}
    unfinished: list = field(default_factory=list)  # case ids started but never finished
    sources: list = field(default_factory=list)


class RecordError(ValueError):
    """A results file cannot be read; names the file and line."""


def load(paths) -> RunSet:
    out = RunSet(sources=[str(p) for p in paths])
    by_case: dict = {}
    started: dict = {}
    for path in paths:
        try:
            f = open(path)
        except OSError as e:
            raise RecordError(f"{path}: {e.strerror}") from None
        with f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise RecordError(f"{path}:{n}: not a JSON record ({e.msg})") from None
                event = rec.get("event")
                if event == "final":
                    by_case.pop(rec["case"], None)      # keep insertion order of the newest
                    by_case[rec["case"]] = rec
                elif event == "started":
                    started.setdefault(rec["case"], rec)
                elif event == "run":
                    out.runs.append(rec)
    out.finals = list(by_case.values())
    out.unfinished = [started[c] for c in started if c not in by_case]
    return out
