"""Render the support matrix as one self-contained HTML page with three SVG pictures:
a status heatmap of the matrix, the max abs error of every cell on a log scale, and every
timed cell's latency ratios (converted / ONNX Runtime, converted / OneFlow's own module)."""
from __future__ import annotations

import html
import math

from .markdown import LOOSENED, patch_note, render_speed, render_summary
from .matrix import GRAPH_LABEL, Matrix, converter_gate_text, converter_short, converter_verdict, kind, loosened_gates, \
    speed

COLORS = {"pass": "#2e9e44", "xpass": "#8bc34a", "fail": "#d93025", "crash": "#7b1fa2",
          "timeout": "#ef6c00", "infra": "#6d4c41", "xfail": "#f9ab00", "skip": "#9e9e9e", None: "#eeeeee"}
LABELS = {"pass": "pass", "xpass": "stale xfail", "fail": "fail", "crash": "crash", "timeout": "timeout",
          "infra": "infra", "xfail": "expected failure", "skip": "skipped", None: "no record"}
CELL_W, CELL_H, LEFT, TOP = 92, 22, 150, 70
# The speed chart's bars: converted / ORT, converted / OneFlow's own module (native).
SPEED_COLORS = {"vs_ort": "#1565c0", "vs_native": "#00897b"}
SPEED_LABELS = {"vs_ort": "converted / ONNX Runtime", "vs_native": "converted / OneFlow native"}


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _status_kind(rec):
    return None if rec is None else kind(rec.get("status"))


def _tooltip(rec) -> str:
    if rec is None:
        return "no record"
    parts = [f"{rec.get('model')} — {rec.get('status')}"]
    if converter_verdict(rec):
        parts.append(converter_verdict(rec))
    if converter_gate_text(rec):
        parts.append(converter_gate_text(rec))
    if rec.get("max_abs") is not None:
        parts.append(f"OneFlow vs the source: max abs {rec['max_abs']:.2e}, max rel {rec.get('max_rel') or 0:.2e}")
    parts += loosened_gates(rec)
    if speed_text(rec):
        parts.append(speed_text(rec))
    for key in ("reason", "error"):
        if rec.get(key):
            parts.append(str(rec[key])[:300])
    if patch_note(rec):
        parts.append(patch_note(rec))
    return "\n".join(parts)


def heatmap_svg(m: Matrix) -> str:
    w = max(LEFT + CELL_W * len(m.columns) + 10, LEFT + 640)   # room for the legend
    h = TOP + CELL_H * len(m.rows) + 40
    out = [f'<svg id="heatmap" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'role="img" aria-label="status heatmap of the support matrix" font-family="sans-serif" font-size="11">']
    for j, col in enumerate(m.columns):
        x = LEFT + j * CELL_W + CELL_W / 2
        out.append(f'<text x="{x}" y="{TOP - 24}" text-anchor="middle">{_e(col.framework)}</text>')
        out.append(f'<text x="{x}" y="{TOP - 10}" text-anchor="middle">{_e(col.device)}'
                   f'{" op" + str(col.opset) if m.with_opset else ""}'
                   f'{"" if col.mode == "eager" else " " + GRAPH_LABEL}</text>')
    for i, arch in enumerate(m.rows):
        y = TOP + i * CELL_H
        out.append(f'<text x="{LEFT - 6}" y="{y + 15}" text-anchor="end">{_e(arch)}</text>')
        for j, col in enumerate(m.columns):
            rec = m.cells.get((arch, col))
            k = _status_kind(rec)
            out.append(f'<rect class="cell" data-status="{_e(k or "none")}" x="{LEFT + j * CELL_W + 1}" '
                       f'y="{y + 1}" width="{CELL_W - 2}" height="{CELL_H - 2}" fill="{COLORS.get(k, "#d93025")}">'
                       f'<title>{_e(arch)} / {_e(col.title(True))}: {_e(_tooltip(rec))}</title></rect>')
    x = LEFT
    y = TOP + CELL_H * len(m.rows) + 18
    for k in ("pass", "fail", "crash", "timeout", "xfail", "xpass", "skip", None):
        out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{COLORS[k]}"/>'
                   f'<text x="{x + 16}" y="{y}">{_e(LABELS[k])}</text>')
        x += 20 + 7 * len(LABELS[k])
    out.append("</svg>")
    return "\n".join(out)


def error_chart_svg(m: Matrix) -> str:
    """Horizontal bars: log10(max abs error) of every cell that produced a comparison."""
    items = []
    for arch in m.rows:
        for col in m.columns:
            rec = m.cells.get((arch, col))
            if rec is not None and rec.get("max_abs") is not None and math.isfinite(rec["max_abs"]):
                items.append((f"{arch} · {col.framework} {col.device}" + (f" op{col.opset}" if m.with_opset else "")
                              + ("" if col.mode == "eager" else f" {GRAPH_LABEL}"), rec["max_abs"], _status_kind(rec)))
    if not items:
        return '<p id="error-chart">No cell produced a numerical comparison.</p>'
    lo, hi = -10, 2          # 1e-10 .. 1e2
    bar_w, left, row_h = 420, 260, 16
    h = 40 + row_h * len(items)
    out = [f'<svg id="error-chart" xmlns="http://www.w3.org/2000/svg" width="{left + bar_w + 80}" height="{h}" '
           f'role="img" aria-label="max abs error per cell" font-family="sans-serif" font-size="10">']
    for p in range(lo, hi + 1, 2):
        x = left + (p - lo) / (hi - lo) * bar_w
        out.append(f'<line x1="{x}" y1="20" x2="{x}" y2="{h - 10}" stroke="#ddd"/>'
                   f'<text x="{x}" y="14" text-anchor="middle">1e{p}</text>')
    for i, (label, err, k) in enumerate(items):
        y = 24 + i * row_h
        v = max(lo, min(hi, math.log10(err) if err > 0 else lo))
        width = max(1.0, (v - lo) / (hi - lo) * bar_w)
        out.append(f'<text x="{left - 6}" y="{y + 10}" text-anchor="end">{_e(label)}</text>'
                   f'<rect x="{left}" y="{y}" width="{width:.1f}" height="{row_h - 4}" fill="{COLORS.get(k, "#d93025")}">'
                   f'<title>{_e(label)}: {err:.3e}</title></rect>'
                   f'<text x="{left + width + 4}" y="{y + 10}">{err:.1e}</text>')
    out.append("</svg>")
    return "\n".join(out)


def speed_text(rec) -> str:
    """The cell's latency in words: medians and ratios (and graph compile seconds)."""
    sp = speed(rec)
    if sp is None:
        return ""
    text = f"latency: converted {sp['oneflow_ms']:.1f} ms, ONNX Runtime {sp['ort_ms']:.1f} ms ({sp['vs_ort']:.2f}×)"
    if sp.get("vs_native"):
        text += f", OneFlow native {sp['native_ms']:.1f} ms ({sp['vs_native']:.2f}×)"
    if sp.get("graph_compile_s") is not None:
        text += f"; nn.Graph first call {sp['graph_compile_s']:.1f} s"
        if sp.get("native_graph_compile_s") is not None:
            text += f" (native {sp['native_graph_compile_s']:.1f} s)"
    return text + f"; median of {sp.get('iters')} interleaved rounds"


def speed_chart_svg(m: Matrix) -> str:
    """Horizontal bars on a log2 scale around 1×: each timed cell's converted/ORT latency and,
    in the OneFlow column, converted/native. Left of the 1× line the converted model is faster."""
    items = []
    for arch in m.rows:
        for col in m.columns:
            rec = m.cells.get((arch, col))
            sp = speed(rec)
            if sp:
                items.append((f"{arch} · {col.framework} {col.device}" + (f" op{col.opset}" if m.with_opset else "")
                              + ("" if col.mode == "eager" else f" {GRAPH_LABEL}"), sp, speed_text(rec)))
    if not items:
        return '<p id="speed-chart">No cell carries latency (records before record_version 4).</p>'
    lo, hi = -2, 6           # 0.25x .. 64x
    bar_w, left, row_h = 420, 260, 24
    one = left + (0 - lo) / (hi - lo) * bar_w
    h = 60 + row_h * len(items)
    out = [f'<svg id="speed-chart" xmlns="http://www.w3.org/2000/svg" width="{left + bar_w + 90}" height="{h}" '
           f'role="img" aria-label="latency ratios per cell" font-family="sans-serif" font-size="10">']
    for p in range(lo, hi + 1):
        x = left + (p - lo) / (hi - lo) * bar_w
        out.append(f'<line x1="{x}" y1="20" x2="{x}" y2="{h - 30}" stroke="{"#888" if p == 0 else "#ddd"}"/>'
                   f'<text x="{x}" y="14" text-anchor="middle">{2.0 ** p:g}×</text>')
    for i, (label, sp, tip) in enumerate(items):
        y = 24 + i * row_h
        out.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{_e(label)}</text>')
        for j, key in enumerate(("vs_ort", "vs_native")):
            ratio = sp.get(key)
            if not ratio:
                continue
            v = max(lo, min(hi, math.log2(ratio)))
            x0, x1 = sorted((one, left + (v - lo) / (hi - lo) * bar_w))
            by = y + j * (row_h - 4) / 2
            out.append(f'<rect class="speed" data-ratio="{key}" x="{x0:.1f}" y="{by:.1f}" width="{max(1.0, x1 - x0):.1f}" '
                       f'height="{(row_h - 6) / 2:.1f}" fill="{SPEED_COLORS[key]}"><title>{_e(label)}: '
                       f'{_e(SPEED_LABELS[key])} {ratio:.2f}×; {_e(tip)}</title></rect>'
                       f'<text x="{max(x1, one) + 4:.1f}" y="{by + 8:.1f}">{ratio:.2f}×</text>')
    x, y = left, h - 12
    for key in ("vs_ort", "vs_native"):
        out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{SPEED_COLORS[key]}"/>'
                   f'<text x="{x + 16}" y="{y}">{_e(SPEED_LABELS[key])}</text>')
        x += 40 + 6 * len(SPEED_LABELS[key])
    out.append("</svg>")
    return "\n".join(out)


def table(m: Matrix, table_id: str, td) -> str:
    """An HTML table with the matrix's rows and columns; td(row, column, record) -> '<td>…</td>'."""
    head = "".join(f"<th>{_e(c.title(m.with_opset))}</th>" for c in m.columns)
    body, group = [], None
    for row in m.rows:
        tier, task = m.groups.get(row, (1, None))
        if tier > 1 and (tier, task) != group:   # the second tier: a heading row per task
            body.append(f'<tr class="group"><th colspan="{len(m.columns) + 1}">Tier {tier}: {_e(task)}</th></tr>')
        group = (tier, task) if tier > 1 else None
        body.append(f"<tr><th>{_e(row)}</th>{''.join(td(row, col, m.cells.get((row, col))) for col in m.columns)}</tr>")
    return f'<table id="{table_id}"><tr><th>Architecture</th>{head}</tr>\n{"".join(body)}\n</table>'


def _matrix_td(row, col, rec) -> str:
    k = _status_kind(rec)
    text = "—" if rec is None else ("pass" if k in ("pass", "xpass") else rec.get("status"))
    if rec is not None and k in ("pass", "xpass") and rec.get("exporter_patches"):
        text += " (patched)"  # the tooltip names the upstream bug and the patch
    if rec is not None and converter_verdict(rec):
        text += f" ({converter_short(rec)})"
    if rec is not None and k != "skip" and loosened_gates(rec):
        text += f" {LOOSENED}"   # a gate looser than the default: the tooltip gives the row's reason
    return f'<td style="background:{COLORS.get(k, "#d93025")}22" title="{_e(_tooltip(rec))}">{_e(text)}</td>'


def render(m: Matrix, title: str = "ONNX → OneFlow support matrix", history_html: str = "") -> str:
    """history_html: reports/history.py's section, placed right after the heatmap."""
    env = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in m.environment.items())
    run = m.run
    footer = " · ".join(_e(f"{k}: {v}") for k, v in run.items() if v)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; font-size: 13px; text-align: left; }}
h2 {{ margin-top: 1.6em; }}
</style></head>
<body>
<h1>{_e(title)}</h1>
<p id="summary">{_e(render_summary(m))}</p>
<p id="speed">{_e(render_speed(m))}</p>
<h2>Status heatmap</h2>
{heatmap_svg(m)}
{history_html}<h2>Matrix</h2>
{table(m, "matrix", _matrix_td)}
<h2>Max abs error per cell (log scale)</h2>
{error_chart_svg(m)}
<h2>Latency per cell: converted / ONNX Runtime, converted / OneFlow native (log scale)</h2>
{speed_chart_svg(m)}
<h2>Environment</h2>
<table id="environment"><tr><th>package</th><th>version</th></tr>{env}</table>
<p id="footer">{footer}<br>Generated by <code>python -m reports</code> from result records.</p>
</body></html>
"""
