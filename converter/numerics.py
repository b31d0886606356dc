"""Error statistics between an output and its reference, shared by the CLI's --check and
the conformance runner (the harness has its own: converter must not depend on it)."""
from __future__ import annotations

import numpy as np


def error_stats(actual: np.ndarray, reference: np.ndarray, rtol: float) -> tuple:
    """(max abs error, max rel error, smallest atol passing at ``rtol``, specials_match).

    The numbers are taken where both values are finite; ``specials_match`` says whether
    every inf/nan of one side stands, equal, at the same place in the other.
    """
    a, r = actual.astype(np.float64), reference.astype(np.float64)
    both = np.isfinite(a) & np.isfinite(r)
    specials_match = not np.any(~both & ~((a == r) | (np.isnan(a) & np.isnan(r))))
    if not np.any(both):
        return 0.0, 0.0, 0.0, specials_match
    diff = np.abs(a[both] - r[both])
    ref = np.abs(r[both])
    max_rel = float((diff / np.maximum(ref, np.finfo(np.float64).tiny)).max())
    min_atol = float(np.maximum(diff - rtol * ref, 0).max())
    return float(diff.max()), max_rel, min_atol, specials_match
