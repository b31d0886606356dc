"""python -m zoo list [--json] [--framework F] [--model M]: the catalogue, one row per cell."""
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zoo", description="The model zoo catalogue.")
    sub = ap.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="one row per (framework, model) cell")
    ls.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    ls.add_argument("--framework", choices=catalogue.FRAMEWORKS)
    ls.add_argument("--model")
    ls.add_argument("--catalogue", default=catalogue.CATALOGUE_PATH, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        return list_cells(args)
    except catalogue.CatalogueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
