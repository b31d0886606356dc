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
