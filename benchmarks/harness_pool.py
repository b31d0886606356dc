"""Pooled workers vs one process per case, on the same small set of warm-cache cases.

    python benchmarks/harness_pool.py --framework torch --model squeezenet --model mobilenet \
        --opset 13 --cache-dir out/cache [--rounds 2] [--jobs 2]

Runs the selected cases through harness.scheduler.run_cases (what ``python -m harness
matrix`` runs) with ``--no-pool`` and with the pool, interleaved (the order flips every
round, so a load change on a shared machine hits both), and prints per run: wall seconds, the
OneFlow side's ``startup`` stage summed over cases (importing oneflow/ORT/the converter: paid
once per worker when pooled), the export stage summed (a zoo.export process per model, or a
request to a pooled export worker), the number of OneFlow workers and the statuses. Then the
median of each mode and their ratio. No assertions: timings on a shared machine are noisy,
compare the ratio within one run.

The export cache is only read: every selected case must already be in it (checked first, in a
child process; a miss stops the benchmark before anything is written). Bundles and records
go to a temporary directory.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness.cases import select  # noqa: E402
from harness.runner import RunOptions  # noqa: E402
from harness.scheduler import run_cases  # noqa: E402
from harness.versions import framework_env  # noqa: E402

# Looks the cases up in the cache without exporting (zoo.export would write a miss).
CACHE_PROBE = """
import json, sys
from zoo import cache, catalogue, export
cat = catalogue.load(catalogue.CATALOGUE_PATH)
for framework, model, opset, seed, root in json.loads(sys.argv[1]):
    _, name = export._cache_slot(cat.cell(framework, model), opset, root, seed)
    if not cache.lookup(root, name):
        print(f"{framework}-{model}-opset{opset}")
"""


def cache_misses(cases, cache_dir: str) -> list:
    wanted = json.dumps([(c.framework, c.model, c.opset, c.seed, cache_dir) for c in cases])
    proc = subprocess.run([sys.executable, "-c", CACHE_PROBE, wanted], capture_output=True, text=True,
                          cwd=ROOT, env=framework_env("zoo"), check=True)
    return proc.stdout.split()


def one_run(cases, cache_dir: str, jobs: int, pooled: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        opts = RunOptions(out_dir=tmp, results=os.path.join(tmp, "results.jsonl"), cache=cache_dir, pool=pooled)
        t0 = time.monotonic()
        finals = list(run_cases(cases, opts, jobs))
        wall = time.monotonic() - t0
    seconds = [f.get("seconds") or {} for f in finals]
    workers = {(f.get("worker") or {}).get("oneflow", {}).get("pid") for f in finals} - {None}
    return {"wall": wall, "startup": sum(s.get("startup") or 0 for s in seconds),
            "export": sum(s.get("export") or 0 for s in seconds),
            "workers": len(workers) if pooled else len(finals),
            "statuses": sorted(f["status"] for f in finals)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--framework", action="append", default=[])
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--opset", action="append", type=int, default=[])
    ap.add_argument("--cache-dir", required=True, help="a warm export cache (only read)")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each mode")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    cache_dir = os.path.abspath(args.cache_dir)
    cases = select(args.framework, args.model, args.opset or [13], ["cpu"])
    print(f"{len(cases)} cases: {', '.join(c.case_id for c in cases)}; jobs {args.jobs}", flush=True)
    missing = cache_misses(cases, cache_dir)
    if missing:
        print(f"not in the cache (this benchmark never exports): {', '.join(missing)}")
        return 2
    walls: dict = {"no pool": [], "pool": []}
    for r in range(args.rounds):
        for pooled in ((False, True) if r % 2 == 0 else (True, False)):
            mode = "pool" if pooled else "no pool"
            row = one_run(cases, cache_dir, args.jobs, pooled)
            walls[mode].append(row["wall"])
            print(f"round {r + 1} {mode:8s} wall {row['wall']:6.1f} s  OneFlow startup {row['startup']:6.1f} s  "
                  f"export {row['export']:6.1f} s  OneFlow processes {row['workers']}  {row['statuses']}",
                  flush=True)
    med = {k: statistics.median(v) for k, v in walls.items()}
    print(f"median wall: no pool {med['no pool']:.1f} s, pool {med['pool']:.1f} s, "
          f"pool/no pool {med['pool'] / med['no pool']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
