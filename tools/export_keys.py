"""Which export cache entries would a change re-key? Compare every catalogue cell's export key
(zoo/export.py ``case_key`` digest, or zoo/signature_export.py's for a cell with typed inputs)
between this tree and a git revision.

    .venv/bin/python tools/export_keys.py --against main      # differing keys, then a summary
    .venv/bin/python tools/export_keys.py                      # this tree's digests as JSON

The revision's zoo/ is unpacked (git archive) into a temporary directory and keyed there with
this interpreter, so both sides read the same installed versions. Exit 1 when a cell present on
both sides has a different key: its cached exports would be made again (docs/design.md §6).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

KEYS = r"""
import json, sys
from zoo import cache, catalogue, export
from zoo.vocabulary import DEFAULT_SEED, MATRIX_OPSETS
try:
    from zoo import signature_export
except ImportError:
    signature_export = None
out = {}
for cell in catalogue.load().cells():
    if cell.unavailable:
        continue
    signed = signature_export is not None and getattr(cell, "signature", None) is not None
    key_of = signature_export.case_key if signed else export.case_key
    for opset in sorted(set(MATRIX_OPSETS) | set(cell.extra_opsets)):
        out[f"{cell.framework}-{cell.model}-opset{opset}"] = cache.digest(key_of(cell, opset, DEFAULT_SEED))
json.dump(out, sys.stdout, sort_keys=True)
"""


def digests(tree: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", KEYS], cwd=tree, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": tree})
    if proc.returncode:
        sys.exit(f"keying {tree} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--against", metavar="REV", help="a git revision to compare with (e.g. main)")
    args = ap.parse_args(argv)
    here = digests(ROOT)
    if not args.against:
        json.dump(here, sys.stdout, indent=0, sort_keys=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", args.against, "zoo"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        there = digests(tmp)
    common = sorted(set(here) & set(there))
    changed = [k for k in common if here[k] != there[k]]
    for k in changed:
        print(f"re-keyed: {k}")
    print(f"{len(common)} cases in both: {len(changed)} re-keyed; {len(set(here) - set(there))} only here, "
          f"{len(set(there) - set(here))} only in {args.against}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
