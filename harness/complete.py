"""``python -m harness complete RESULTS... [--publish DIR]``: is a run complete, and publish it.

A run is complete when, for every (opset, device, mode) it covers, it has exactly one final
record per catalogue cell at that opset — none missing (a filtered run), none twice, none
outside the catalogue — and no case started without finishing (docs/design.md §3). At an
extra opset (a cell's `extra_opsets`, e.g. 10) the catalogue cells are those naming it. A
record without a ``mode`` is eager. Only a complete run may replace committed results:
``--publish DIR`` then writes one file per slice, DIR/<device>-opset<N>.jsonl for eager and
DIR/<device>-opset<N>-graph.jsonl for graph mode (run header, started and final records of
that slice), and writes nothing when the run is incomplete. Exit 0 complete, 1 incomplete,
2 unreadable.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys

from .cases import CatalogueError, cells_at, extra_opsets, load_cells


class ResultsError(ValueError):
    """A results file cannot be read; names the file and line."""


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
        out.append(rec)
    return out


def mode(rec: dict) -> str:
    """The record's mode; records written before the mode dimension are eager."""
    return rec.get("mode") or "eager"


def slice_name(device: str, opset: int, run_mode: str = "eager") -> str:
    """The published file of one slice: eager keeps the names files had before modes."""
    return f"{device}-opset{opset}" + ("" if run_mode == "eager" else f"-{run_mode}") + ".jsonl"


def _unfinished(recs: list) -> list:
    """Case ids started but never finished. A started record names its case id; one that
    carries a mode must meet a final of that mode, one without (runs before modes) a
    final of any mode."""
    done = {(r["case"], mode(r)) for r in recs if r.get("event") == "final"}
    done_any = {case for case, _ in done}
    return list(dict.fromkeys(
        r["case"] for r in recs if r.get("event") == "started"
        and ((r["case"], r["mode"]) not in done if r.get("mode") else r["case"] not in done_any)))


def problems(recs: list, cells) -> list:
    """Why the records are not one complete run over the catalogue ``cells`` (empty: complete)."""
    finals = collections.Counter((r["framework"], r["model"], int(r["opset"]), r["device"], mode(r))
                                 for r in recs if r.get("event") == "final")
    out = [f"{case} started but never finished" for case in _unfinished(recs)]
    if not finals:
        return out + ["no final case records"]
    out += [f"{fw}-{model}-opset{opset}-{device}" + ("" if m == "eager" else f" ({m} mode)")
            + f": {n} final records (one expected)" for (fw, model, opset, device, m), n in finals.items() if n > 1]
    extra = extra_opsets(cells)
    for opset, device, run_mode in sorted({k[2:] for k in finals}):
        catalogue = {(c["framework"], c["model"]) for c in cells_at(cells, opset, extra)}
        have = {k[:2] for k in finals if k[2:] == (opset, device, run_mode)}
        missing = sorted(catalogue - have)
        foreign = sorted(have - catalogue)
        where = f"opset {opset} {device}" + ("" if run_mode == "eager" else f" {run_mode} mode")
        if missing:
            out.append(f"{where}: {len(missing)} catalogue cell(s) without a record "
                       f"(a filtered or unfinished run?): {', '.join('/'.join(m) for m in missing[:10])}"
                       + (" ..." if len(missing) > 10 else ""))
        if foreign:
            out.append(f"{where}: record(s) for cells not in the catalogue"
                       + (" at this opset" if opset in extra else "") + f": {', '.join('/'.join(m) for m in foreign)}")
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
            slices[(r["device"], int(r["opset"]), mode(r))].append(r)
        elif r.get("event") == "started":
            queue = final_modes[r["case"]]
            run_mode = r.get("mode") or (queue.popleft() if queue else "eager")
            slices[(r["device"], int(r["opset"]), run_mode)].append(r)
    os.makedirs(directory, exist_ok=True)
    paths = []
    for (device, opset, run_mode), rows in sorted(slices.items()):
        path = os.path.join(directory, slice_name(device, opset, run_mode))
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.writelines(json.dumps(r, sort_keys=True, default=str) + "\n" for r in headers + rows)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness complete", description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="results files of one run (JSON lines)")
    ap.add_argument("--publish", metavar="DIR", help="if complete, write DIR/<device>-opset<N>[-graph].jsonl, one file per slice")
    args = ap.parse_args(argv)
    try:
        recs = [r for path in args.results for r in read_records(path)]
        cells = load_cells()
    except (ResultsError, CatalogueError) as e:
        print(f"harness complete: error: {e}", file=sys.stderr)
        return 2
    found = problems(recs, cells)
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
