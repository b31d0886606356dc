"""python -m reports --results FILE... --out DIR [--readme README.md] [--history DIR]
   python -m reports diff OLD NEW      (what changed; see reports/diff.py)

The files of one --results are one run: a sharded run's shard files (`python -m harness matrix
--shard K/N`) are merged by naming them together, e.g. --results out/shards/results-cpu-shard*.jsonl.
Repeated --results FILE... give earlier runs, oldest first (the last one is the matrix); they and
the runs in --history DIR (reports/history.py) add a per-cell history to the HTML page.
Writes DIR/support_matrix.md, support_matrix.json and support_matrix.html from harness
result records; with --readme, rewrites the README section between the support-matrix
markers with the same table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from . import history as history_mod
from . import html_page, markdown
from .matrix import build, to_json
from .records import RecordError, load


def generate(results, out_dir: str, readme: str | None = None, history=()) -> dict:
    """history: result files of earlier runs, one list per run, oldest first."""
    runset = load(results)
    if not runset.finals:
        raise RecordError(f"no final case records in {', '.join(map(str, results))}")
    m = build(runset)
    os.makedirs(out_dir, exist_ok=True)
    md = markdown.render(m)
    paths = {
        "md": os.path.join(out_dir, "support_matrix.md"),
        "json": os.path.join(out_dir, "support_matrix.json"),
        "html": os.path.join(out_dir, "support_matrix.html"),
    }
    with open(paths["md"], "w") as f:
        f.write(md)
    with open(paths["json"], "w") as f:
        json.dump(to_json(m), f, indent=2, sort_keys=True)
    with open(paths["html"], "w") as f:
        trend = history_mod.section_html(m, history_mod.load([*history, results])) if history else ""
        f.write(html_page.render(m, history_html=trend))
    if readme:
        with open(readme) as f:
            text = f.read()
        new = markdown.replace_readme_section(text, md)
        if new != text:
            with open(readme, "w") as f:
                f.write(new)
        paths["readme"] = readme
    return paths


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["diff"]:
        from .diff import main as diff_main
        return diff_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m reports", description=__doc__.splitlines()[0])
    ap.add_argument("--results", nargs="+", action="append", required=True,
                    help="harness result files (JSON lines) of one run; repeat for earlier runs, oldest first")
    ap.add_argument("--history", help="directory of earlier runs for the HTML history (reports/history.py)")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--readme", help="README to update between the support-matrix markers")
    args = ap.parse_args(argv)
    try:
        earlier = (history_mod.runs_in(args.history) if args.history else []) + args.results[:-1]
        paths = generate(args.results[-1], args.out, args.readme, earlier)
    except (RecordError, ValueError) as e:
        print(f"reports: error: {e}", file=sys.stderr)
        return 2
    for kind, path in paths.items():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
