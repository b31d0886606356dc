"""``python -m harness matrix``: run the selected cases with a live progress bar, write the
records, print a summary, exit non-zero on unexpected failures (xfails don't count). An
xpass (a stale xfail row) is flagged; with --strict (nightly, `make matrix`) it fails the run
too (docs/design.md §3)."""
from __future__ import annotations

import argparse
import collections
import os
import shlex
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, \
    TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from . import latency, records
from . import status as st
from .cases import MATRIX_OPSETS, MODES, CatalogueError, select
from .costs import cost_table, load_finals
from .paths import DEFAULT_OUT
from .runner import RunOptions
from .scheduler import run_cases
from .shards import ShardError, recorded_costs, select_shard
from .selectors import add_selector_arguments, parse_timeouts

STYLE = {"pass": "green", "xfail": "yellow", "xpass": "bold magenta", "skip": "dim", "fail": "red",
         "crash": "bold red", "timeout": "red", "infra": "bold red"}


def build_parser(prog="python -m harness matrix") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__)
    add_selector_arguments(ap.add_argument)
    ap.add_argument("--results", default=os.path.join(DEFAULT_OUT, "results.jsonl"),
                    help="JSON-lines records (default out/results.jsonl; truncated unless --append)")
    ap.add_argument("--append", action="store_true", help="append to --results instead of starting it afresh")
    ap.add_argument("--jobs", "-j", type=int, default=1, help="cases run at once (each is its own processes)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output root: cache/ and bundles/ live here")
    ap.add_argument("--cache-dir", help="export cache (default OUT/cache)")
    ap.add_argument("--timeout", action="append", default=[], metavar="STAGE=SECONDS",
                    help="per-stage timeout override (repeatable)")
    ap.add_argument("--shard", metavar="K/N", help="run the K-th of N cost-balanced parts (harness/shards.py)")
    ap.add_argument("--costs", action="append", default=[], metavar="RESULTS",
                    help="result files whose seconds balance --shard (default: reports/results/*.jsonl)")
    ap.add_argument("--mode", choices=MODES, default="eager",
                    help="run the converted module eagerly or as oneflow.nn.Graph (records carry the mode)")
    ap.add_argument("--strict", action="store_true", help="an xpass (stale xfail row) fails the run")
    ap.add_argument("--no-pool", action="store_true",
                    help="a fresh process per export and per OneFlow side instead of pooled workers (harness/pool.py)")
    ap.add_argument("--no-exporter-patches", action="store_true",
                    help="stock exporters: zoo/frameworks/patches not applied, their xfail rows apply")
    ap.add_argument("--run-id", default=None,
                    help="the run id every record names (default: $HARNESS_RUN_ID, else a fresh one); "
                         "the shards of one run share it so `harness complete` can publish them as one")
    ap.add_argument("--allow-skip-device", action="store_true",
                    help="a CUDA device OneFlow cannot run makes its cases skip:<reason> instead of infra")
    ap.add_argument("--threads", type=int, default=latency.DEFAULT_THREADS,
                    help="intra-op threads of OneFlow and ONNX Runtime in process B (default %(default)s; recorded)")
    ap.add_argument("--latency-iters", type=int, default=latency.DEFAULT_ITERS,
                    help="timed interleaved rounds per case, at most (default %(default)s; harness/latency.py)")
    ap.add_argument("--latency-budget", type=float, default=latency.DEFAULT_BUDGET_S,
                    help="seconds of timed rounds per case; a slow model gets fewer rounds (default %(default)s)")
    return ap


def counts_text(counts: collections.Counter) -> str:
    order = (st.PASS, *st.RED_KINDS, st.XFAIL, st.XPASS, st.SKIP)
    return "  ".join(f"[{STYLE[k]}]{k} {counts[k]}[/]" for k in order if counts[k])


def selected_cases(args) -> list:
    """The cases of the selectors. No --opset: the matrix's opsets and each cell's extra ones
    (zoo/catalogue.yaml extra_opsets)."""
    cases = select(args.framework, args.model, args.opset or MATRIX_OPSETS, args.device, with_extra=not args.opset)
    if not args.shard:
        return cases
    return select_shard(cases, args.shard, recorded_costs(load_finals(args.costs), args.mode))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.no_exporter_patches:  # read by `zoo list` (xfails) and zoo.export, both child processes
        os.environ["ZOO_EXPORTER_PATCHES"] = "0"
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)   # CI logs: don't fold the summary to 80 columns
    try:
        cases = selected_cases(args)
    except (CatalogueError, ShardError) as e:
        console.print(f"[red]catalogue: {e}")
        return 2
    if not cases:
        console.print("[red]no case matches the selectors")
        return 2
    if not args.append and os.path.exists(args.results):
        os.remove(args.results)
    run_id = args.run_id or records.new_run_id()
    records.append(args.results, records.run_header(
        " ".join(["python -m harness matrix", *map(shlex.quote, sys.argv[1:] if argv is None else argv)]), run_id))
    opts = RunOptions(out_dir=args.out, results=args.results, keep=args.keep,
                      timeouts=parse_timeouts(args.timeout), cache=args.cache_dir, mode=args.mode,
                      pool=not args.no_pool, run_id=run_id, allow_skip_device=args.allow_skip_device,
                      threads=args.threads, latency_iters=args.latency_iters, latency_budget=args.latency_budget)
    finals = []
    counts: collections.Counter = collections.Counter()
    columns = [SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("matrix", total=len(cases), counts="")
        # one export process per (framework, model): every opset from one build (scheduler.py)
        for rec in run_cases(cases, opts, args.jobs):
            finals.append(rec)
            k = st.kind(rec["status"])
            counts[k] += 1
            progress.console.print(f"[{STYLE[k]}]{rec['status']:<18}[/] {rec['case']}  "
                                   f"{rec['seconds'].get('total', 0):.1f}s")
            progress.update(task, advance=1, counts=counts_text(counts))
    for case_id in records.close_unfinished(args.results):
        console.print(f"[bold red]infra[/] {case_id}: started but never finished")
    print_summary(console, finals, args.results)
    console.print(cost_table(finals))
    stale = [r for r in finals if r["status"] == st.XPASS]
    if args.strict and stale:
        for r in stale:
            console.print(f"[bold magenta]strict: {stale_row(r)}")
    return 1 if any(st.is_unexpected(r["status"]) for r in finals) or (args.strict and stale) else 0


def stale_row(rec: dict) -> str:
    """Where the stale xfail row lives, for the message that fails a strict run."""
    return (f"{rec['case']} passed: remove or re-scope its xfail row, zoo/catalogue.yaml "
            f"models.{rec['model']}.frameworks.{rec['framework']}.xfail (opset {rec['opset']}; {rec.get('reason')})")


def print_summary(console: Console, finals: list, results_path: str) -> None:
    by_status = collections.Counter(r["status"] for r in finals)
    console.print(f"{len(finals)} cases; records in {results_path}")
    table = Table()
    table.add_column("status")
    table.add_column("cases", justify="right")
    for s, n in sorted(by_status.items(), key=lambda kv: (list(STYLE).index(st.kind(kv[0])), kv[0])):
        table.add_row(f"[{STYLE[st.kind(s)]}]{s}", str(n))
    console.print(table)
    notable = [r for r in finals if st.kind(r["status"]) not in ("pass", "skip")]
    if notable:
        detail = Table(title="not passing", show_lines=False)
        for col in ("case", "status", "error / reason", "bundle"):
            detail.add_column(col, overflow="fold")
        for r in sorted(notable, key=lambda r: r["case"]):
            text = r.get("error") or r.get("reason") or ""
            detail.add_row(r["case"], f"[{STYLE[st.kind(r['status'])]}]{r['status']}",
                           text[:300], r.get("bundle") or "")
        console.print(detail)
    xpasses = [r["case"] for r in finals if r["status"] == st.XPASS]
    if xpasses:
        console.print(f"[bold magenta]stale xfail (xpass) — remove the catalogue's xfail: {', '.join(xpasses)}")


if __name__ == "__main__":
    sys.exit(main())
