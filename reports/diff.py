"""What changed between two runs, cell by cell: `python -m reports diff OLD NEW`.

A cell is one (framework, model, opset, device, mode): records.case_key (a record without a mode
is eager, so eager and graph-mode runs of one case are two cells). Each side is one results file or a shard set
(repeated --base / --new). Categories, in report order (status words: docs/design.md, status
vocabulary):

* regression   pass/xpass/xfail -> fail/crash/timeout/infra; a tested cell (pass, xpass,
               xfail, or failing) that is now skipped or gone (nothing is tested there any
               more: a CUDA run on an unusable device, a filtered or dropped cell); or the
               converter gate (oneflow_vs_ort.ok) true -> false where both sides carry it.
               The only category that makes the command exit 1.
* fix          fail/crash/timeout/infra -> pass, xfail -> pass, or the converter gate false -> true
* xpass        a cell newly passing although marked as an expected failure (a stale row)
* expected     changes into, out of or between expected failures (stage or reason)
* status       any other status change (skips, one failing stage to another)
* new, removed cells present on one side only (removed: a cell that was skipped already)
* error_growth max abs grew >= 10x in a cell passing on both sides
* latency_growth  the converted model's latency over ONNX Runtime's (or over OneFlow's own
               module) grew >= 1.25x, beyond the noise of the two runs' timed rounds (see
               _latency_growth); a ratio, so a faster or slower machine does not move it
* time_growth  a stage took >= 2x as long (see TIME_FLOOR)

Growth is reported, not failed on: parity still holds in those cells.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field

from zoo.vocabulary import PASS, RED_KINDS, XFAIL, XPASS

from .matrix import FRAMEWORK_ORDER, _run_info, kind
from .records import CASE_KEYS, KEY_FIELDS, RecordError, case_key, case_label, load

PASSING = {PASS, XPASS}
FINE = PASSING | {XFAIL}                  # the cell behaves as the catalogue says
BROKEN = set(RED_KINDS)

ERROR_GROWTH = 10.0
# Max abs below float32 epsilon (1.19e-7) is rounding noise: it is raised to this floor before the
# ratio is taken, so 1e-9 -> 5e-8 is not "50x worse".
ERROR_FLOOR = 1e-7
LATENCY_GROWTH = 1.25
# Milliseconds. A median below this is timer and scheduler noise: raised to it before the
# ratio is taken, so a 0.05 -> 0.1 ms ORT run does not halve anyone's ratio.
LATENCY_FLOOR_MS = 1.0
# The ratios compared: the record's latency key of the other side -> how the report names it.
LATENCY_RATIOS = {"ort": "converted/ORT", "native": "converted/native"}
TIME_GROWTH = 2.0
# Seconds. A stage is compared as max(before, TIME_FLOOR) -> after, so stages that stay under a
# second (process start-up, cache reads, small parity checks) never page anyone.
TIME_FLOOR = 1.0
# A cached export reads files, a cold one runs the exporter: their export (and total) times are
# not comparable, so those stages are skipped when the record's `cached` flag differs.
CACHE_DEPENDENT_STAGES = ("export", "total")

CATEGORIES = {
    "regression": "Regressions",
    "fix": "Fixes",
    "xpass": "New xpasses (stale expected failures)",
    "expected": "Expected-failure changes",
    "status": "Other status changes",
    "new": "New cells",
    "removed": "Removed cells",
    "error_growth": f"Max-abs growth ≥ {ERROR_GROWTH:g}× in passing cells",
    "latency_growth": f"Latency-ratio growth ≥ {LATENCY_GROWTH:g}× (converted vs ONNX Runtime / native)",
    "time_growth": f"Stage-time growth ≥ {TIME_GROWTH:g}×",
}


@dataclass
class Change:
    category: str
    key: tuple              # (framework, model, opset, device, mode)
    case: str
    before: str | None      # status on the base side (None: no cell)
    after: str | None
    detail: str = ""

    def to_json(self) -> dict:
        return {"category": self.category, "case": self.case, **dict(zip(KEY_FIELDS, self.key)),
                "before": self.before, "after": self.after, "detail": self.detail}


@dataclass
class Side:
    files: list
    cells: dict             # key -> final record (an unfinished case counts as infra)
    run: dict = field(default_factory=dict)   # command, commit, time (matrix._run_info)


@dataclass
class Diff:
    base: Side
    new: Side
    changes: list

    @property
    def regressed(self) -> bool:
        return any(c.category == "regression" for c in self.changes)

    def counts(self) -> dict:
        out = {c: 0 for c in CATEGORIES}
        for ch in self.changes:
            out[ch.category] += 1
        return out

    def to_json(self) -> dict:
        return {
            "base": {"files": self.base.files, "run": self.base.run, "cells": len(self.base.cells)},
            "new": {"files": self.new.files, "run": self.new.run, "cells": len(self.new.cells)},
            "regressed": self.regressed,
            "counts": self.counts(),
            "thresholds": {"error_growth": ERROR_GROWTH, "error_floor": ERROR_FLOOR,
                           "latency_growth": LATENCY_GROWTH, "latency_floor_ms": LATENCY_FLOOR_MS,
                           "time_growth": TIME_GROWTH, "time_floor_seconds": TIME_FLOOR},
            "changes": [c.to_json() for c in self.changes],
        }


def load_side(paths) -> Side:
    paths = [str(p) for p in paths]
    runset = load(paths)
    if not runset.finals:
        raise RecordError(f"{', '.join(paths)}: no final case records")
    cells = {case_key(rec): rec for rec in runset.finals}
    for rec in runset.unfinished:          # the runner died inside this case
        if all(k in rec for k in CASE_KEYS):
            cells.setdefault(case_key(rec), {**rec, "status": "infra",
                                             "error": "started but never finished (the runner died)"})
    return Side(paths, cells, _run_info(runset))


def _order(key):
    fw_rank = {f: i for i, f in enumerate(FRAMEWORK_ORDER)}
    return (fw_rank.get(key[0], 99), key[0], key[1], key[2], key[3] != "cpu", key[3], key[4] != "eager", key[4])


def _case(key, *recs) -> str:
    for rec in recs:
        if rec and rec.get("case"):
            return case_label(rec)
    return case_label({"case": "{}-{}-opset{}-{}".format(*key), "mode": key[4]})


def _status(rec) -> str:
    return rec.get("status") or "infra"


def _text(x, limit=240) -> str:
    x = " ".join(str(x or "").split())
    return x if len(x) <= limit else x[: limit - 1] + "…"


def _sci(x) -> str:
    return "n/a" if x is None else f"{x:.1e}"


def why(rec) -> str:
    """One line on what the record says about itself: reason, error, parity numbers."""
    k = kind(_status(rec))
    if k in PASSING:
        text = f"max abs {_sci(rec.get('max_abs'))}"
        return text + (f"; marked expected: {_text(rec.get('reason'))}" if k == "xpass" else "")
    if k in ("xfail", "skip"):
        return _text(rec.get("reason") or rec.get("error")) or "no reason recorded"
    text = _text(rec.get("error")) or "no error recorded"
    if _status(rec) == "fail:parity":
        text = f"max abs {_sci(rec.get('max_abs'))}, max rel {_sci(rec.get('max_rel'))}; {text}"
    return text


def _gate(rec):
    g = rec.get("oneflow_vs_ort")
    return g.get("ok") if isinstance(g, dict) and isinstance(g.get("ok"), bool) else None


def _gate_text(rec) -> str:
    g = rec["oneflow_vs_ort"]
    return f"converter gate (OneFlow vs ORT) {'ok' if g['ok'] else 'fails'}: max abs {_sci(g.get('max_abs'))}"


def _status_change(b, n):
    """(category, detail) for a status change, or None."""
    bs, ns = _status(b), _status(n)
    bk, nk = kind(bs), kind(ns)
    if bk in FINE and nk in BROKEN:
        return "regression", why(n)
    if bk != "skip" and nk == "skip":
        return "regression", f"no longer tested (was {bs}): {why(n)}"
    if nk == "pass" and (bk in BROKEN or bk == "xfail"):
        return "fix", why(n)
    if nk == "xpass" and bk != "xpass":
        return "xpass", why(n)
    if "xfail" in (bk, nk) and (bs != ns or _text(b.get("reason")) != _text(n.get("reason"))):
        if bk == nk:
            return "expected", f"{why(b)} → {why(n)}" if bs == ns else why(n)
        return "expected", ("was passing; now expected: " if bk in PASSING else "") + why(n)
    if bs != ns:
        return "status", why(n)
    return None


def _error_growth(b, n):
    metrics = [("max abs", b.get("max_abs"), n.get("max_abs"))]
    bg, ng = b.get("oneflow_vs_ort"), n.get("oneflow_vs_ort")
    if isinstance(bg, dict) and isinstance(ng, dict):
        metrics.append(("OneFlow vs ORT max abs", bg.get("max_abs"), ng.get("max_abs")))
    out = []
    for label, old, new in metrics:
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (old, new)):
            continue
        ratio = max(new, ERROR_FLOOR) / max(old, ERROR_FLOOR)
        if ratio >= ERROR_GROWTH:
            atol = (n.get("tolerance") or {}).get("atol")
            out.append(f"{label} {_sci(old)} → {_sci(new)} ({ratio:.0f}×"
                       + (f"; atol {atol:g}" if isinstance(atol, (int, float)) else "") + ")")
    return "; ".join(out) or None


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def latency_ratio(rec, other: str):
    """(ratio, (low, high)) of the converted model's median latency over ``other``'s (medians
    raised to LATENCY_FLOOR_MS first), with the range of the per-round ratios when the record
    has it (else the ratio itself); None when the record carries no such timing."""
    block = rec.get("latency")
    if not isinstance(block, dict):
        return None
    mine, theirs = block.get("oneflow_ms"), block.get(f"{other}_ms")
    if not (_number(mine) and _number(theirs)):
        return None
    ratio = max(mine, LATENCY_FLOOR_MS) / max(theirs, LATENCY_FLOOR_MS)
    rng = block.get(f"vs_{other}_range")
    floored = mine < LATENCY_FLOOR_MS or theirs < LATENCY_FLOOR_MS   # the rounds' ratios are noise there
    if floored or not (isinstance(rng, (list, tuple)) and len(rng) == 2 and all(map(_number, rng))):
        return ratio, (ratio, ratio)
    return ratio, (min(rng), max(rng))


def _latency_growth(b, n):
    """Noise-aware: a ratio grew by LATENCY_GROWTH or more, and the new run's timed rounds all
    sit above the old run's (their per-round ratios do not overlap), so the spread one run
    shows on this machine cannot explain the change."""
    out = []
    for other, label in LATENCY_RATIOS.items():
        old, new = latency_ratio(b, other), latency_ratio(n, other)
        if old is None or new is None:
            continue
        (r0, (lo0, hi0)), (r1, (lo1, hi1)) = old, new
        if r1 / r0 >= LATENCY_GROWTH and lo1 > hi0:
            out.append(f"{label} {r0:.2f}× → {r1:.2f}× ({r1 / r0:.2f}×; rounds {lo0:.2f}–{hi0:.2f} → {lo1:.2f}–{hi1:.2f})")
    return "; ".join(out) or None


def _time_growth(b, n):
    bs, ns = b.get("seconds") or {}, n.get("seconds") or {}
    skip = CACHE_DEPENDENT_STAGES if bool(b.get("cached")) != bool(n.get("cached")) else ()
    out = []
    for stage, new in ns.items():
        old = bs.get(stage)
        if stage in skip or not all(isinstance(v, (int, float)) for v in (old, new)):
            continue
        ratio = new / max(old, TIME_FLOOR)
        if ratio >= TIME_GROWTH:
            out.append(f"{stage} {old:.1f} s → {new:.1f} s ({new / old if old > 0 else math.inf:.1f}×)")
    return "; ".join(out) or None


def compare_cells(key, b, n) -> list:
    case, out = _case(key, n, b), []

    def add(category, detail):
        out.append(Change(category, key, case, b and _status(b), n and _status(n), detail))

    if b is None:
        add("new", why(n))
        if kind(_status(n)) == "xpass":
            add("xpass", why(n))
        return out
    if n is None:   # a cell that was tested and is gone is a regression: nothing tests it now
        add("removed" if kind(_status(b)) == "skip" else "regression", f"removed: no record (was {_status(b)}: {why(b)})")
        return out
    status = _status_change(b, n)
    gate_b, gate_n = _gate(b), _gate(n)
    gate = None
    if gate_b is True and gate_n is False:
        gate = "regression"
    elif gate_b is False and gate_n is True:
        gate = "fix"
    if status and gate == status[0]:
        add(status[0], f"{status[1]}; {_gate_text(n)}")
    else:
        if status:
            add(*status)
        if gate:
            add(gate, _gate_text(n))
    if kind(_status(b)) in PASSING and kind(_status(n)) in PASSING:
        grown = _error_growth(b, n)
        if grown:
            add("error_growth", grown)
    sluggish = _latency_growth(b, n)
    if sluggish:
        add("latency_growth", sluggish)
    slower = _time_growth(b, n)
    if slower:
        add("time_growth", slower)
    return out


def compare(base: Side, new: Side) -> Diff:
    changes = []
    for key in sorted(set(base.cells) | set(new.cells), key=_order):
        changes += compare_cells(key, base.cells.get(key), new.cells.get(key))
    rank = {c: i for i, c in enumerate(CATEGORIES)}
    changes.sort(key=lambda c: rank[c.category])      # stable: cell order within a category
    return Diff(base, new, changes)


def diff_files(base_paths, new_paths) -> Diff:
    return compare(load_side(base_paths), load_side(new_paths))


def main(argv=None) -> int:
    from . import diff_markdown

    ap = argparse.ArgumentParser(
        prog="python -m reports diff",
        description="What changed between two runs, per (framework, model, opset, device) cell. "
                    "Exit 1 when anything regressed, 0 otherwise, 2 on bad input.")
    ap.add_argument("old", nargs="?", help="results file of the earlier run")
    ap.add_argument("new", nargs="?", help="results file of the later run")
    ap.add_argument("--base", action="append", default=[], metavar="FILE",
                    help="another results file (shard) of the earlier run; repeatable")
    ap.add_argument("--new", dest="new_files", action="append", default=[], metavar="FILE",
                    help="another results file (shard) of the later run; repeatable")
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    ap.add_argument("--title", default="Changes since the previous run", help="Markdown heading")
    args = ap.parse_args(argv)
    base = ([args.old] if args.old else []) + args.base
    new = ([args.new] if args.new else []) + args.new_files
    if not base or not new:
        ap.error("need results on both sides: OLD NEW, or --base FILE... --new FILE...")
    try:
        d = diff_files(base, new)
    except (RecordError, ValueError) as e:
        print(f"reports diff: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(d.to_json(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(diff_markdown.render(d, args.title))
    return 1 if d.regressed else 0
