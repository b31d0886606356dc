"""The status vocabulary of a case record (docs/design.md §3): one final status per case."""
from __future__ import annotations

STAGES = ("build", "export", "ort", "convert", "run", "latency", "parity")

PASS = "pass"
XPASS = "xpass"
INFRA = "infra"


def fail(stage: str) -> str:
    return f"fail:{stage}"


def xfail(stage: str) -> str:
    return f"xfail:{stage}"


def crash(stage: str) -> str:
    return f"crash:{stage}"


def timeout(stage: str) -> str:
    return f"timeout:{stage}"


def skip(reason: str) -> str:
    return f"skip:{reason}"


def kind(status: str) -> str:
    """'fail:parity' -> 'fail'; 'pass' -> 'pass'."""
    return status.split(":", 1)[0]


def is_unexpected(status: str) -> bool:
    """Statuses that make a run red. Known failures (xfail), skips and stale xfails (xpass,
    flagged separately) do not."""
    return kind(status) in ("fail", "crash", "timeout", INFRA)


def is_failure(status: str) -> bool:
    """Statuses that leave a repro bundle: every failure, expected or not."""
    return kind(status) in ("fail", "xfail", "crash", "timeout", INFRA)


def is_valid(status) -> bool:
    """A final status of the vocabulary (docs/design.md §3): pass, xpass, infra,
    fail/xfail/crash/timeout:<stage> with a known stage, skip:<reason>."""
    if not isinstance(status, str):
        return False
    if status in (PASS, XPASS, INFRA):
        return True
    k, _, detail = status.partition(":")
    if k in ("fail", "xfail", "crash", "timeout"):
        return detail in STAGES
    return k == "skip" and bool(detail.strip())
