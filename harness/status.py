"""The statuses of a case record (docs/design.md §3): one final status per case, spelled
with the catalogue's vocabulary (zoo/vocabulary.py)."""
from __future__ import annotations

from zoo.vocabulary import (  # noqa: F401 - STAGES, EXPORT_STAGES, PASS, XPASS: the harness's names
    CRASH, EXPORT_STAGES, FAIL, INFRA, PASS, RED_KINDS, SKIP, STAGES, TIMEOUT, XFAIL, XPASS, status_kind,
)


def fail(stage: str) -> str:
    return f"{FAIL}:{stage}"


def xfail(stage: str) -> str:
    return f"{XFAIL}:{stage}"


def crash(stage: str) -> str:
    return f"{CRASH}:{stage}"


def timeout(stage: str) -> str:
    return f"{TIMEOUT}:{stage}"


def skip(reason: str) -> str:
    return f"{SKIP}:{reason}"


kind = status_kind   # 'fail:parity' -> 'fail'


def is_unexpected(status: str) -> bool:
    """Statuses that make a run red. Known failures (xfail), skips and stale xfails (xpass,
    flagged separately) do not."""
    return kind(status) in RED_KINDS


def is_failure(status: str) -> bool:
    """Statuses that leave a repro bundle: every failure, expected or not."""
    return kind(status) in RED_KINDS + (XFAIL,)


def is_valid(status) -> bool:
    """A final status of the vocabulary (docs/design.md §3): pass, xpass, infra,
    fail/xfail/crash/timeout:<stage> with a known stage, skip:<reason>."""
    if not isinstance(status, str):
        return False
    if status in (PASS, XPASS, INFRA):
        return True
    k, _, detail = status.partition(":")
    if k in (FAIL, XFAIL, CRASH, TIMEOUT):
        return detail in STAGES
    return k == SKIP and bool(detail.strip())
