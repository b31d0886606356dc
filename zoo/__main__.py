"""python -m zoo list [--json] [--framework F] [--model M]: the catalogue, one row per cell.
python -m zoo patches --json: the exporter patches (name, exporter, upstream bug, fix).
python -m zoo prune-cache DIR [--dry-run] [--no-exporter-patches]: drop the export cache's
entries the current zoo would never read again (zoo/cache_prune.py)."""
from __future__ import annotations

import argparse
import json
import sys

from . import catalogue

COLUMNS = ("framework", "model", "architecture", "task", "builder", "variant", "marks",
           "tolerance", "xfail", "unavailable")


def _brief(row: dict, key: str) -> str:
    value = row[key]
    if value is None or value == []:
        return ""
    if key == "marks":
        return ",".join(value)
    if key == "tolerance":
        return "; ".join(f"{t.get('device', 'any')}: rtol={t['rtol']:g} atol={t['atol']:g}" for t in value)
    if key == "xfail":
        return f"{value['stage']}: {value['reason']}"
    return str(value)


def list_cells(args) -> int:
    rows = [c.listing() for c in catalogue.load(args.catalogue).cells(args.framework, args.model)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"zoo catalogue: {len(rows)} cells")
    for col in COLUMNS:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(_brief(row, col) for col in COLUMNS))
    # Piped output gets a wide table instead of rich's 80-column default.
    Console(width=None if sys.stdout.isatty() else 220).print(table)
    return 0


def prune_cache(args) -> int:
    import os

    from . import cache_prune
    from .frameworks import patches

    if args.no_exporter_patches:  # the stock exporters' keys (zoo.export --no-exporter-patches)
        os.environ[patches.ENV] = "0"
    done = cache_prune.prune(args.cache_dir, catalogue.load(args.catalogue), dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for name, why in done.removed:
        print(f"{verb} {name}: {why}")
    print(f"{args.cache_dir}: kept {len(done.kept)} entries; {verb} {len(done.removed)} "
          f"({done.freed_bytes / 2**30:.2f} GiB)")
    return 0


def list_patches(args) -> int:
    from .frameworks import patches

    rows = [p.as_dict() for p in patches.PATCHES]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['name']} ({row['exporter']}): {row['bug']}; fix: {row['fix']}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zoo", description="The model zoo catalogue.")
    sub = ap.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="one row per (framework, model) cell")
    ls.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    ls.add_argument("--framework", choices=catalogue.FRAMEWORKS)
    ls.add_argument("--model")
    ls.add_argument("--catalogue", default=catalogue.CATALOGUE_PATH, help=argparse.SUPPRESS)
    pr = sub.add_parser("prune-cache", help="remove export cache entries whose key is no longer current")
    pr.add_argument("cache_dir", metavar="DIR")
    pr.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")
    pr.add_argument("--no-exporter-patches", action="store_true",
                    help="keep the stock-exporter entries instead of the patched ones")
    pr.add_argument("--catalogue", default=catalogue.CATALOGUE_PATH, help=argparse.SUPPRESS)
    pa = sub.add_parser("patches", help="the exporter patches and the upstream bugs they fix")
    pa.add_argument("--json", action="store_true", help="print them as a JSON list")
    args = ap.parse_args(argv)
    try:
        if args.command == "patches":
            return list_patches(args)
        return list_cells(args) if args.command == "list" else prune_cache(args)
    except catalogue.CatalogueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
