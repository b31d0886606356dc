"""The project's one output comparison (docs/design.md §4): the CLI's --check, the
conformance runner and the harness's two parity gates all use it.

It imports nothing but numpy, and ``converter/__init__`` imports OneFlow only when its API
is first used, so OneFlow-free processes (the harness parent, reports) can use this module.

Rules, everywhere:
* np.allclose semantics, reference second: |actual - reference| <= atol + rtol * |reference|;
* NaN must stand where the reference has NaN; an inf must meet an inf of the same sign;
  the error numbers are taken where both sides are finite;
* a shape mismatch fails; non-numeric outputs (bool, strings) must have the reference's kind
  of dtype and be equal element for element (True never equals 1.0); ``check_dtype`` (the
  harness's gates, the conformance runner) makes any dtype difference a failure;
* a missing or an extra output is a failing row of its own (never dropped by zip());
* ``exact_integers`` (the harness's gates: labels, indices, counts): integer outputs on both
  sides must be equal element for element, whatever the tolerance; a difference has no
  passing atol (``min_atol`` inf).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Optional, Sequence, Union

import numpy as np

DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-5
INF = float("inf")


@dataclass
class OutputParity:
    name: str
    shape_ok: bool
    max_abs: float
    max_rel: float
    min_atol: float        # smallest atol that passes at the given rtol (inf: no atol does)
    passed: bool
    top5_agreement: Optional[float] = None   # classifiers: share of top-5 indices in common
    error: Optional[str] = None              # why it failed, when numbers do not say it

    def to_dict(self) -> dict:
        return asdict(self)


def _failed(name: str, error: str, shape_ok: bool = False) -> OutputParity:
    return OutputParity(name, shape_ok, INF, INF, INF, False, None, error)


def compare_output(name: str, actual, reference, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                   classifier: bool = False, check_dtype: bool = False,
                   exact_integers: bool = False) -> OutputParity:
    a, r = np.asarray(actual), np.asarray(reference)
    if check_dtype and a.dtype != r.dtype:
        return _failed(name, f"{name}: dtype {a.dtype}, expected {r.dtype}", shape_ok=a.shape == r.shape)
    if a.shape != r.shape:
        return _failed(name, f"{name}: shape {a.shape}, expected {r.shape}")
    if not (np.issubdtype(a.dtype, np.number) and np.issubdtype(r.dtype, np.number)):   # bool, str: exact
        if a.dtype.kind != r.dtype.kind:
            return _failed(name, f"{name}: dtype {a.dtype}, expected {r.dtype}", shape_ok=True)
        same = a.tolist() == r.tolist()
        return OutputParity(name, True, 0.0 if same else INF, 0.0 if same else INF, 0.0 if same else INF, same,
                            None, None if same else f"{name}: {int(np.sum(a != r))} of {r.size} elements differ")
    if r.size == 0:
        return OutputParity(name, True, 0.0, 0.0, 0.0, True)
    if exact_integers and a.dtype.kind in "iu" and r.dtype.kind in "iu":
        differ = int(np.count_nonzero(a != r))
        if not differ:
            return OutputParity(name, True, 0.0, 0.0, 0.0, True)
        diff = np.abs(a.astype(np.float64) - r.astype(np.float64))
        ref = np.abs(r.astype(np.float64))
        rel = diff[ref > 0] / ref[ref > 0]
        return OutputParity(name, True, float(diff.max()), float(rel.max()) if rel.size else INF, INF, False, None,
                            f"{name}: {differ} of {r.size} integer elements differ (integers compare exactly)")
    a64, r64 = a.astype(np.float64), r.astype(np.float64)
    both = np.isfinite(a64) & np.isfinite(r64)
    # Non-finite values must match exactly: NaN for NaN, +inf for +inf, -inf for -inf.
    specials_ok = bool(np.all(both | (a64 == r64) | (np.isnan(a64) & np.isnan(r64))))
    if np.any(both):
        diff = np.abs(a64[both] - r64[both])
        ref = np.abs(r64[both])
        # Relative error only where it means something: a reference below atol would report
        # ~1e300 for an absolute error the tolerance accepts anyway.
        significant = ref >= max(atol, np.finfo(np.float64).tiny)
        max_abs = float(diff.max())
        max_rel = float((diff[significant] / ref[significant]).max()) if significant.any() else 0.0
        min_atol = float(max(0.0, (diff - rtol * ref).max()))
        close = bool(np.all(diff <= atol + rtol * ref))
    else:
        max_abs = max_rel = min_atol = 0.0
        close = True
    top5 = top5_agreement(np.where(both, a64, 0.0), np.where(both, r64, 0.0)) if classifier else None
    if not specials_ok:
        bad = int(np.sum(~(both | (a64 == r64) | (np.isnan(a64) & np.isnan(r64)))))
        return OutputParity(name, True, INF, INF, INF, False, top5,
                            f"{name}: {bad} NaN/inf value(s) where the reference differs")
    return OutputParity(name, True, max_abs, max_rel, min_atol, close, top5)


Outputs = Union[Mapping[str, object], Sequence[object]]


def compare_outputs(actual: Outputs, reference: Outputs, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                    classifier: bool = False, check_dtype: bool = False, exact_integers: bool = False) -> list:
    """One row per output of either side, reference order first. Mappings pair outputs by
    name, sequences by position; an output on one side only is a failing row."""
    act, ref = _named(actual), _named(reference)
    rows = []
    for name, r in ref.items():
        if name not in act:
            rows.append(_failed(name, f"missing output {name!r} (has {sorted(act)})"))
        else:
            rows.append(compare_output(name, act[name], r, rtol, atol, classifier, check_dtype, exact_integers))
    rows += [_failed(name, f"extra output {name!r} (the reference has {sorted(ref)})")
             for name in act if name not in ref]
    return rows


def _named(outputs: Outputs) -> dict:
    if isinstance(outputs, Mapping):
        return dict(outputs)
    return {f"output {i}": o for i, o in enumerate(outputs)}


def all_passed(rows: list) -> bool:
    return bool(rows) and all(r.passed for r in rows)


def top5_agreement(actual: np.ndarray, reference: np.ndarray) -> Optional[float]:
    if actual.ndim != 2 or actual.shape[1] < 5:
        return None
    a = np.argsort(-actual, axis=1)[:, :5]
    r = np.argsort(-reference, axis=1)[:, :5]
    return float(np.mean([len(set(x) & set(y)) / 5.0 for x, y in zip(a, r)]))
