"""Read harness result files (JSON lines): final case records and run headers."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

# A case is one (framework, model, opset, device): the fields every final record names
# (docs/design.md §3). A cell of the matrix is a case in one mode: KEY_FIELDS, case_key.
CASE_KEYS = ("framework", "model", "opset", "device")
KEY_FIELDS = CASE_KEYS + ("mode",)


@dataclass
class RunSet:
    finals: list = field(default_factory=list)    # one per case key, the newest wins
    runs: list = field(default_factory=list)      # {"event": "run", command, commit, time, ...}
    unfinished: list = field(default_factory=list)  # case records started but never finished
    sources: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)  # case keys with more than one final record


class RecordError(ValueError):
    """A results file cannot be read; names the file and line."""


def mode(rec: dict) -> str:
    """The record's mode; records from before the mode dimension are eager."""
    return rec.get("mode") or "eager"


def case_key(rec: dict) -> tuple:
    """(framework, model, opset, device, mode): eager and graph runs of a case are two cells."""
    return tuple(int(rec[k]) if k == "opset" else rec[k] for k in CASE_KEYS) + (mode(rec),)


def case_label(rec: dict) -> str:
    """The case id, naming the mode when it is not eager."""
    return rec["case"] + ("" if mode(rec) == "eager" else f" ({mode(rec)} mode)")


def _checked(rec, where: str) -> dict:
    """The record, or RecordError naming ``where`` (file:line) and what is wrong with it."""
    if not isinstance(rec, dict):
        raise RecordError(f"{where}: a record is a JSON object, got a JSON {type(rec).__name__}")
    if rec.get("event") in ("final", "started"):
        needed = ("case", *CASE_KEYS) if rec["event"] == "final" else ("case",)
        missing = [k for k in needed if k not in rec]
        if missing:
            raise RecordError(f"{where}: {rec['event']} record lacks {', '.join(missing)}")
        try:
            int(rec.get("opset", 0))
        except (TypeError, ValueError):
            raise RecordError(f"{where}: opset {rec['opset']!r} is not a number") from None
    return rec


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
                    rec = _checked(json.loads(line), f"{path}:{n}")
                except json.JSONDecodeError as e:
                    raise RecordError(f"{path}:{n}: not a JSON record ({e.msg})") from None
                event = rec.get("event")
                if event == "final":
                    key = case_key(rec)
                    if by_case.pop(key, None) is not None:   # keep insertion order of the newest
                        out.duplicates.append(key)
                    by_case[key] = rec
                elif event == "started":
                    started.setdefault((rec["case"], rec.get("mode")), rec)
                elif event == "run":
                    out.runs.append(rec)
    out.finals = list(by_case.values())
    # The runner's started records name no mode: one matches a final of that case id in any mode.
    done = {(r["case"], mode(r)) for r in out.finals}
    done_any = {case for case, _ in done}
    out.unfinished = [rec for (case, m), rec in started.items()
                      if ((case, m) not in done if m else case not in done_any)]
    return out
