"""``python -m harness complete RESULTS... [--opset N] [--publish DIR]``: is a run complete,
and publish it.

A run is complete (docs/design.md §3) when
* for each device and mode it covers, it covers every opset of the catalogue: eager the
  matrix's opsets and every cell's ``extra_opsets``, graph mode GRAPH_OPSETS (``--opset``
  names the set instead: `make matrix MATRIX_OPSETS=13` publishes one slice knowingly);
* each (opset, device, mode) slice has exactly one final record per catalogue cell at that
  opset — none missing, none twice, none outside the catalogue — and no case started
  without finishing; at an extra opset (e.g. 10) the catalogue cells are those naming it;
* each slice is one run: its records name one run id, whose run header names the commit
  and the code digest (harness/digest.py) it ran;
* every final record is current (record_version), has a status of the vocabulary, and
  carries both gates wherever the case reached them (ORT vs the source once ORT ran,
  OneFlow vs ORT once the converted model ran, the converter's verdict), and once the
  converted model ran, its latency block (positive medians and ratios, rounds, threads;
  or the error that stopped the timing);
* no slice is skipped through and through (a CUDA run on a device OneFlow cannot use).

Each refusal names the file and line (or the slice) and the reason. Only a complete run may
replace committed results: ``--publish DIR`` then writes one file per slice,
DIR/<device>-opset<N>.jsonl for eager and DIR/<device>-opset<N>-graph.jsonl for graph mode:
a ``slice`` header (run id, commit, code digest, versions), the run's header(s), then the
slice's started and final records; nothing when the run is incomplete. Exit 0 complete,
1 incomplete, 2 unreadable.
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import os
import sys
import time

from . import status as st
from .cases import GRAPH_OPSETS, MATRIX_OPSETS, CatalogueError, cells_at, extra_opsets, load_cells
from .records import RECORD_VERSION

# What records before each version lack (harness/records.py). provenance=False reads records
# from FIRST_GATED_VERSION on, for everything but the run id, digest and latency.
LACKING_BEFORE = {2: "the two gates", 3: "the run id and code digest", 4: "the latency block"}
FIRST_GATED_VERSION = 2
FIRST_LATENCY_VERSION = 4
CONVERTER_VERDICTS = ("matches ORT", "differs from ORT", "untested")


class ResultsError(ValueError):
    """A results file cannot be read; names the file and line."""


class Record(dict):
    """A record that knows where it was read (``where``: "path:line")."""
    where = ""


def read_records(path: str) -> list:
    try:
        with open(path) as f:
            lines = f.readlines()
    except OSError as e:
        raise ResultsError(f"{path}: {e.strerror}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ResultsError(f"{path}:{n}: not a JSON record ({e.msg})") from None
        if not isinstance(rec, dict):
            raise ResultsError(f"{path}:{n}: a record is a JSON object, got a JSON {type(rec).__name__}")
        if rec.get("event") == "final" and not all(k in rec for k in ("case", "framework", "model", "opset", "device")):
            raise ResultsError(f"{path}:{n}: final record lacks case/framework/model/opset/device")
        rec = Record(rec)
        rec.where = f"{path}:{n}"
        out.append(rec)
    return out


def locator(recs: list):
    """where(rec): "path:line" for a record read from a file, else "record N" (its place)."""
    place = {id(r): i + 1 for i, r in enumerate(recs)}
    return lambda rec: getattr(rec, "where", "") or f"record {place.get(id(rec), '?')}"


def mode(rec: dict) -> str:
    """The record's mode; records written before the mode dimension are eager."""
    return rec.get("mode") or "eager"


def slice_key(rec: dict) -> tuple:
    return rec["device"], int(rec["opset"]), mode(rec)


def slice_name(device: str, opset: int, run_mode: str = "eager") -> str:
    """The published file of one slice: eager keeps the names files had before modes."""
    return f"{device}-opset{opset}" + ("" if run_mode == "eager" else f"-{run_mode}") + ".jsonl"


def _slice_text(device: str, opset: int, run_mode: str) -> str:
    return f"opset {opset} {device}" + ("" if run_mode == "eager" else f" {run_mode} mode")


def _unfinished(recs: list) -> list:
    """Case ids started but never finished. A started record names its case id; one that
    carries a mode must meet a final of that mode, one without (runs before modes) a
    final of any mode."""
    done = {(r["case"], mode(r)) for r in recs if r.get("event") == "final"}
    done_any = {case for case, _ in done}
    return list(dict.fromkeys(
        r["case"] for r in recs if r.get("event") == "started"
        and ((r["case"], r["mode"]) not in done if r.get("mode") else r["case"] not in done_any)))


def record_problems(rec: dict, provenance: bool = True) -> list:
    """Why one final record cannot be published (empty: it can)."""
    status = rec.get("status")
    if not st.is_valid(status):
        return [f"status {status!r} is not a final status (docs/design.md §3: pass, xpass, infra, "
                f"fail/xfail/crash/timeout:<stage>, skip:<reason>)"]
    out = []
    version = rec.get("record_version")
    wanted = RECORD_VERSION if provenance else FIRST_GATED_VERSION
    if not isinstance(version, int) or version < wanted:
        have = version if isinstance(version, int) else 0
        lacks = [what for v, what in LACKING_BEFORE.items() if have < v <= wanted]
        out.append(f"record_version {version!r}: records before version {wanted} lack {', '.join(lacks)}; re-run the case")
    if provenance and not rec.get("run_id"):
        out.append("no run_id")
    k, _, stage = status.partition(":")
    passed = k in ("pass", "xpass")
    reached_parity = passed or (k in ("fail", "xfail") and stage == "parity")
    ort_ran = reached_parity or (k in ("fail", "xfail") and stage in ("convert", "run"))
    converter = rec.get("converter")
    needed = []
    if ort_ran or (k in ("fail", "xfail") and stage == "ort"):
        needed.append("converter")
    if ort_ran or converter in ("matches ORT", "differs from ORT"):
        needed.append("ort_vs_source")
    if reached_parity or converter in ("matches ORT", "differs from ORT"):
        needed.append("oneflow_vs_ort")
        if provenance and isinstance(version, int) and version >= FIRST_LATENCY_VERSION:
            needed.append("latency")     # the converted module ran: process B timed it
    missing = [f for f in needed if rec.get(f) is None]
    if missing:
        out.append(f"{status} reached {'the converter gate' if 'oneflow_vs_ort' in needed else 'ONNX Runtime'} "
                   f"but the record lacks {', '.join(missing)}")
    if "latency" in needed and "latency" not in missing:
        out += latency_problems(rec["latency"])
    if converter is not None and converter not in CONVERTER_VERDICTS and not str(converter).startswith("fails at "):
        out.append(f"converter {converter!r} is not a verdict ({', '.join(CONVERTER_VERDICTS)}, fails at <stage>)")
    if passed and not missing:
        bad = [g for g in ("ort_vs_source", "oneflow_vs_ort") if (rec.get(g) or {}).get("ok") is not True]
        if bad or converter != "matches ORT":
            said = [f"{g}.ok is {rec[g].get('ok')}" for g in bad] or [f"converter {converter!r}"]
            out.append(f"{status} but {', '.join(said)}")
    return out


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def latency_problems(block) -> list:
    """A latency block (harness/latency.py) carries positive finite medians and ratios of the
    converted module and ORT, its rounds and threads; or the error that stopped the timing."""
    if not isinstance(block, dict):
        return [f"latency is a {type(block).__name__}, not a block"]
    if block.get("error"):
        return []       # the timing failed and says why; the gates still decided the status
    out = [f"latency.{k} is {block.get(k)!r}, not a positive number" for k in ("oneflow_ms", "ort_ms", "vs_ort")
           if not _positive(block.get(k))]
    if not (isinstance(block.get("iters"), int) and block["iters"] >= 1):
        out.append(f"latency.iters is {block.get('iters')!r}, not a count of rounds")
    threads = block.get("threads")
    if not (isinstance(threads, dict) and all(isinstance(threads.get(k), int) for k in ("oneflow", "ort"))):
        out.append(f"latency.threads is {threads!r}, not the threads of oneflow and ort")
    if "native_ms" in block and not (_positive(block["native_ms"]) and _positive(block.get("vs_native"))):
        out.append(f"latency.native_ms {block['native_ms']!r} / vs_native {block.get('vs_native')!r} are not positive numbers")
    return out


def expected_opsets(cells, run_mode: str, opsets=None) -> set:
    if opsets:
        return set(opsets)
    return set(MATRIX_OPSETS) | extra_opsets(cells) if run_mode == "eager" else set(GRAPH_OPSETS)


def _provenance_problems(recs: list, slices: dict) -> list:
    """One run per slice: one run id, with a header naming commit and code digest."""
    where = locator(recs)
    headers = collections.defaultdict(list)
    for r in recs:
        if r.get("event") == "run" and r.get("run_id"):
            headers[r["run_id"]].append(r)
    out = []
    for key, rows in sorted(slices.items()):
        text = _slice_text(*key)
        ids = collections.Counter(r.get("run_id") for r in rows if r.get("run_id"))
        if len(ids) > 1:
            firsts = {i: next(where(r) for r in rows if r.get("run_id") == i) for i in ids}
            out.append(f"{text}: records of {len(ids)} runs in one slice (a slice is one run): "
                       + "; ".join(f"run {i} ({n} records, first at {firsts[i]})" for i, n in ids.items()))
            continue
        if not ids:
            continue   # each record already says it has no run_id
        run_id = next(iter(ids))
        hs = headers.get(run_id)
        if not hs:
            out.append(f"{text}: no run header for run {run_id} (the header names the commit and code digest)")
            continue
        for field in ("commit", "code_digest"):
            values = {h.get(field) for h in hs}
            if None in values or "" in values:
                out.append(f"{where(hs[0])}: run {run_id}'s header lacks {field}")
            elif len(values) > 1:
                out.append(f"{text}: run {run_id}'s headers disagree on {field}: "
                           + ", ".join(f"{h.get(field)} ({where(h)})" for h in hs))
    return out


def problems(recs: list, cells, opsets=None, provenance: bool = True) -> list:
    """Why the records are not one complete run over the catalogue ``cells`` (empty:
    complete). ``opsets``: the opsets the run means to publish (default: the catalogue's
    for each mode). ``provenance`` False checks records from before the run id and code
    digest (record_version 2) for everything else."""
    finals = [r for r in recs if r.get("event") == "final"]
    out = [f"{case} started but never finished" for case in _unfinished(recs)]
    if not finals:
        return out + ["no final case records"]
    where = locator(recs)
    for r in finals:
        out += [f"{where(r)}: {r['case']}: {p}" for p in record_problems(r, provenance)]
    counts = collections.Counter((r["framework"], r["model"]) + slice_key(r) for r in finals)
    out += [f"{fw}-{model}-opset{opset}-{device}" + ("" if m == "eager" else f" ({m} mode)")
            + f": {n} final records (one expected)" for (fw, model, device, opset, m), n in counts.items() if n > 1]
    slices = collections.defaultdict(list)
    for r in finals:
        slices[slice_key(r)].append(r)
    extra = extra_opsets(cells)
    for device, run_mode in sorted({(d, m) for d, _, m in slices}):
        covered = {o for d, o, m in slices if (d, m) == (device, run_mode)}
        absent = sorted(expected_opsets(cells, run_mode, opsets) - covered)
        if absent:
            out.append(f"{device} {run_mode}: no records at opset(s) {', '.join(map(str, absent))} — the catalogue's "
                       f"slice set is opsets {', '.join(map(str, sorted(expected_opsets(cells, run_mode, opsets))))} "
                       "(--opset names another set)")
    for (device, opset, run_mode), rows in sorted(slices.items()):
        catalogue = {(c["framework"], c["model"]) for c in cells_at(cells, opset, extra)}
        have = {(r["framework"], r["model"]) for r in rows}
        missing = sorted(catalogue - have)
        foreign = sorted(have - catalogue)
        text = _slice_text(device, opset, run_mode)
        if missing:
            out.append(f"{text}: {len(missing)} catalogue cell(s) without a record "
                       f"(a filtered or unfinished run?): {', '.join('/'.join(m) for m in missing[:10])}"
                       + (" ..." if len(missing) > 10 else ""))
        if foreign:
            out.append(f"{text}: record(s) for cells not in the catalogue"
                       + (" at this opset" if opset in extra else "") + f": {', '.join('/'.join(m) for m in foreign)}")
        if all(st.kind(r.get("status") or "") == "skip" for r in rows):
            reasons = sorted({r.get("reason") or r["status"] for r in rows})
            out.append(f"{text}: every case is skipped, nothing was tested ({'; '.join(reasons)[:300]})")
    if provenance:
        out += _provenance_problems(recs, slices)
    return out


def publish(recs: list, directory: str) -> list:
    """One results file per (device, opset, mode): DIR/<slice_name>. Returns the paths."""
    headers = [r for r in recs if r.get("event") == "run"]
    slices: dict = collections.defaultdict(list)
    # A started record without a mode goes with its case's final: the n-th started record of a
    # case id with the n-th final of that case id (an eager and a graph run of one case).
    final_modes = collections.defaultdict(collections.deque)
    for r in recs:
        if r.get("event") == "final":
            final_modes[r["case"]].append(mode(r))
    for r in recs:
        if r.get("event") == "final":
            slices[slice_key(r)].append(r)
        elif r.get("event") == "started":
            queue = final_modes[r["case"]]
            run_mode = r.get("mode") or (queue.popleft() if queue else "eager")
            slices[(r["device"], int(r["opset"]), run_mode)].append(r)
    os.makedirs(directory, exist_ok=True)
    paths = []
    for (device, opset, run_mode), rows in sorted(slices.items()):
        run_ids = {r.get("run_id") for r in rows if r.get("event") == "final"}
        own = [h for h in headers if h.get("run_id") in run_ids] or headers
        first = own[0] if own else {}
        head = {"event": "slice", "record_version": RECORD_VERSION, "device": device, "opset": opset,
                "mode": run_mode, "run_id": first.get("run_id"), "commit": first.get("commit"),
                "code_digest": first.get("code_digest"), "versions": first.get("versions"),
                "cases": sum(r.get("event") == "final" for r in rows), "published": time.time()}
        path = os.path.join(directory, slice_name(device, opset, run_mode))
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.writelines(json.dumps(r, sort_keys=True, default=str) + "\n" for r in [head] + own + rows)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness complete", description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="results files of one run (JSON lines)")
    ap.add_argument("--opset", action="append", type=int, default=[],
                    help="the opsets the run publishes (repeatable; default: every catalogue opset of each mode)")
    ap.add_argument("--publish", metavar="DIR", help="if complete, write DIR/<device>-opset<N>[-graph].jsonl, one file per slice")
    args = ap.parse_args(argv)
    try:
        recs = [r for path in args.results for r in read_records(path)]
        cells = load_cells()
        found = problems(recs, cells, args.opset)
    except (ResultsError, CatalogueError) as e:
        print(f"harness complete: error: {e}", file=sys.stderr)
        return 2
    if found:
        print(f"harness complete: {', '.join(args.results)} is not a complete run"
              + ("; nothing published" if args.publish else "") + ":", file=sys.stderr)
        for p in found:
            print(f"  {p}", file=sys.stderr)
        return 1
    if args.publish:
        for path in publish(recs, args.publish):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
