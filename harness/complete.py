"""``python -m harness complete RESULTS... [--publish DIR]``: is a run complete, and publish it.

A run is complete when, for every (opset, device) it covers, it has exactly one final
record per catalogue cell — none missing (a filtered run), none twice, none outside the
catalogue — and no case started without finishing (docs/design.md §3). Only a complete run
may replace committed results: ``--publish DIR`` then writes one file per (device, opset),
DIR/<device>-opset<N>.jsonl (run header, started and final records of that slice), and
writes nothing when the run is incomplete. Exit 0 complete, 1 incomplete, 2 unreadable.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys

from .cases import CatalogueError, load_cells


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


def problems(recs: list, cells) -> list:
    """Why the records are not one complete run over the catalogue ``cells`` (empty: complete)."""
    finals = collections.Counter((r["framework"], r["model"], int(r["opset"]), r["device"])
                                 for r in recs if r.get("event") == "final")
    done = {r["case"] for r in recs if r.get("event") == "final"}
    out = [f"{case} started but never finished" for case in
           dict.fromkeys(r["case"] for r in recs if r.get("event") == "started" and r["case"] not in done)]
    if not finals:
        return out + ["no final case records"]
    out += [f"{'-'.join(map(str, k))}: {n} final records (one expected)" for k, n in finals.items() if n > 1]
    catalogue = {(c["framework"], c["model"]) for c in cells}
    for opset, device in sorted({(k[2], k[3]) for k in finals}):
        have = {(k[0], k[1]) for k in finals if k[2:] == (opset, device)}
        missing = sorted(catalogue - have)
        extra = sorted(have - catalogue)
        if missing:
            out.append(f"opset {opset} {device}: {len(missing)} catalogue cell(s) without a record "
                       f"(a filtered or unfinished run?): {', '.join('/'.join(m) for m in missing[:10])}"
                       + (" ..." if len(missing) > 10 else ""))
        if extra:
            out.append(f"opset {opset} {device}: record(s) for cells not in the catalogue: "
                       f"{', '.join('/'.join(m) for m in extra)}")
    return out


def publish(recs: list, directory: str) -> list:
    """One results file per (device, opset): DIR/<device>-opset<N>.jsonl. Returns the paths."""
    headers = [r for r in recs if r.get("event") == "run"]
    slices: dict = collections.defaultdict(list)
    for r in recs:
        if r.get("event") in ("started", "final"):
            slices[(r["device"], int(r["opset"]))].append(r)
    os.makedirs(directory, exist_ok=True)
    paths = []
    for (device, opset), rows in sorted(slices.items()):
        path = os.path.join(directory, f"{device}-opset{opset}.jsonl")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.writelines(json.dumps(r, sort_keys=True, default=str) + "\n" for r in headers + rows)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness complete", description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="results files of one run (JSON lines)")
    ap.add_argument("--publish", metavar="DIR", help="if complete, write DIR/<device>-opset<N>.jsonl")
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
