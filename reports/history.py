"""A cell's history over several runs, oldest first, for the HTML report: its status sequence
(one coloured square per run) and a max-abs sparkline (log scale), drawn as inline SVG."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from .diff import load_side
from .html_page import COLORS, _e, _status_kind, table
from .matrix import Matrix
from .records import case_key

MAX_RUNS = 30                 # the newest ones; older runs are dropped
STEP, SQUARE = 10, 8          # px per run; status square size
SPARK_TOP, SPARK_H = 12, 18   # sparkline band under the squares
TREND = "#1a73e8"             # sparkline colour (tools/check_report_html.py counts its pixels)


@dataclass
class History:
    labels: list              # one per run, oldest first
    runs: list                # per run: {(framework, model, opset, device, mode): record}


def runs_in(directory) -> list:
    """The runs kept in DIR, in name order (name them in time order: dates, or a numbered prefix).
    A *.jsonl file directly in DIR is one run; a subdirectory's *.jsonl files are one run's shards."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as e:
        raise ValueError(f"{directory}: {e.strerror}") from None
    runs = []
    for name in names:
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shards = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".jsonl"))
            if shards:
                runs.append(shards)
        elif name.endswith(".jsonl"):
            runs.append([path])
    if not runs:
        raise ValueError(f"{directory}: no *.jsonl results (or subdirectories of them)")
    return runs


def _label(side) -> str:
    when = side.run.get("time") or ", ".join(os.path.basename(p) for p in side.files)
    commit = side.run.get("commit")
    return f"{when} ({commit[:7]})" if commit else when


def load(groups) -> History:
    """groups: one list of result files per run, oldest first; identical groups count once."""
    seen, sides = set(), []
    for group in groups:
        ident = tuple(sorted(os.path.realpath(p) for p in group))
        if ident not in seen:
            seen.add(ident)
            sides.append(load_side(group))
    sides = sides[-MAX_RUNS:]
    return History([_label(s) for s in sides], [s.cells for s in sides])


def _point_title(label, rec) -> str:
    if rec is None:
        return f"{label}: no record"
    err = rec.get("max_abs")
    return f"{label}: {rec.get('status')}" + (f", max abs {err:.2e}" if isinstance(err, (int, float)) else "")


def cell_svg(h: History, key) -> str:
    seq = [run.get(key) for run in h.runs]
    width = STEP * len(seq) + 2
    out = [f'<svg class="trend" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{SPARK_TOP + SPARK_H + 2}" role="img" aria-label="status and max abs per run">']
    for i, rec in enumerate(seq):
        out.append(f'<rect class="run" x="{i * STEP + 1}" y="1" width="{SQUARE}" height="{SQUARE}" '
                   f'fill="{COLORS.get(_status_kind(rec), "#d93025")}"><title>{_e(_point_title(h.labels[i], rec))}'
                   f'</title></rect>')
    points = [(i, math.log10(max(rec["max_abs"], 1e-12))) for i, rec in enumerate(seq)
              if rec is not None and isinstance(rec.get("max_abs"), (int, float)) and math.isfinite(rec["max_abs"])]
    if points:
        lo, hi = min(v for _, v in points), max(v for _, v in points)
        if hi - lo < 1:                      # at least one decade tall: flat noise stays flat
            lo, hi = (lo + hi) / 2 - 0.5, (lo + hi) / 2 + 0.5
        xy = [(i * STEP + 1 + SQUARE / 2, SPARK_TOP + 2 + (hi - v) / (hi - lo) * (SPARK_H - 4)) for i, v in points]
        out.append(f'<polyline fill="none" stroke="{TREND}" stroke-width="1" '
                   f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in xy)}"/>')
        for (i, _), (x, y) in zip(points, xy):
            out.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{TREND}">'
                       f'<title>{_e(_point_title(h.labels[i], seq[i]))}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def section_html(m: Matrix, h: History) -> str:
    """The history table: the matrix's rows and columns, one status sequence + sparkline per cell."""
    if len(h.runs) < 2:
        return ""

    def td(row, col, rec):
        model = rec["model"] if rec else m.models.get(row, {}).get(col.framework)
        key = case_key(rec) if rec else (col.framework, model, col.opset, col.device, col.mode)
        if model is None or all(run.get(key) is None for run in h.runs):
            return "<td>—</td>"
        last = rec.get("max_abs") if rec else None
        tail = f'<br><span class="last">{last:.1e}</span>' if isinstance(last, (int, float)) else ""
        return f"<td>{cell_svg(h, key)}{tail}</td>"

    runs = "".join(f"<li>{_e(label)}</li>" for label in h.labels)
    return f"""<h2>History ({len(h.runs)} runs, oldest → newest)</h2>
<p>Each cell: one square per run in the status colours above, and the max abs error on a log scale
(hover for values).</p>
{table(m, "history", td)}
<details><summary>Runs</summary><ol id="history-runs">{runs}</ol></details>
"""
