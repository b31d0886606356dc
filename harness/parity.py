"""Output comparison with per-output error statistics (DESIGN §4)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-5


@dataclass
class OutputParity:
    name: str
    shape_ok: bool
    max_abs: float
    max_rel: float
    min_atol: float        # smallest atol that passes at the given rtol
    passed: bool
    top5_agreement: float | None = None   # classifiers: share of top-5 indices in common

    def to_dict(self) -> dict:
        return asdict(self)


def compare(name: str, actual, reference, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
            classifier: bool = False) -> OutputParity:
    """np.allclose(actual, reference) semantics: |a - r| <= atol + rtol * |r|; reference second."""
    a = np.asarray(actual)
    r = np.asarray(reference)
    if a.shape != r.shape:
        return OutputParity(name, False, float("inf"), float("inf"), float("inf"), False)
    a64, r64 = a.astype(np.float64), r.astype(np.float64)
    diff = np.abs(a64 - r64)
    if diff.size == 0:
        return OutputParity(name, True, 0.0, 0.0, 0.0, True)
    if not np.all(np.isfinite(a64)):
        return OutputParity(name, True, float("inf"), float("inf"), float("inf"), False)
    max_abs = float(diff.max())
    # Relative error only where it means something: near-zero references (below atol) would
    # report ~1e300 for an absolute error the tolerance accepts anyway.
    significant = np.abs(r64) >= max(atol, np.finfo(np.float64).tiny)
    max_rel = float((diff[significant] / np.abs(r64[significant])).max()) if significant.any() else 0.0
    min_atol = float(max(0.0, (diff - rtol * np.abs(r64)).max()))
    passed = bool(np.allclose(a64, r64, rtol=rtol, atol=atol))
    top5 = top5_agreement(a64, r64) if classifier else None
    return OutputParity(name, True, max_abs, max_rel, min_atol, passed, top5)


def top5_agreement(actual: np.ndarray, reference: np.ndarray) -> float | None:
    if actual.ndim != 2 or actual.shape[1] < 5:
        return None
    a = np.argsort(-actual, axis=1)[:, :5]
    r = np.argsort(-reference, axis=1)[:, :5]
    return float(np.mean([len(set(x) & set(y)) / 5.0 for x, y in zip(a, r)]))
