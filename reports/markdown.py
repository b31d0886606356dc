"""Render the support matrix as Markdown (support_matrix.md and the README section)."""
from __future__ import annotations

import html
import re

from .matrix import FRAMEWORK_TITLES, GRAPH_LABEL, Matrix, converter_gate_text, converter_short, converter_verdict, \
    kind, loosened_gates, sections, speed_summary

START = "<!-- support-matrix:start -->"
END = "<!-- support-matrix:end -->"

LOOSENED = "≈"
LEGEND = ("✅ pass (hover: the converter gate's error, OneFlow vs ONNX Runtime, and OneFlow vs the source) · "
          f"{LOOSENED} after a mark: a gate looser than the default tolerance (hover: the catalogue row and its "
          "measured need) · ✅ patched: passes with an exporter patch (the note names "
          "the upstream bug and the patch) · ❌ fails at the named stage (crash/timeout say so) · "
          "⚠️ expected failure (known, with reason) · an ort failure is an exporter bug: it says whether "
          "the converter still matched ONNX Runtime on the exported model · ⏭ skipped (reason in the note) · "
          "— no record")
# Said only when the table has such marks, so a table without them reads as before. The
# not-a-cell mark is as wide as the others: the marks after it keep their places under the header.
NOT_A_CELL = "⬜"
LEGEND_NOT_A_CELL = (f"{NOT_A_CELL} not a catalogue cell at that opset (an extra opset such as the seed's "
                     "opset 10 runs only for the cells whose catalogue entry lists it)")
LEGEND_GRAPH = (f"{GRAPH_LABEL} N: the converted model run as oneflow.nn.Graph (static graph) at opset N; "
                "the other marks run it eagerly")
SYMBOL = {"pass": "✅", "xpass": "✅", "fail": "❌", "crash": "❌", "timeout": "❌", "infra": "❌",
          "xfail": "⚠️", "skip": "⏭"}


def _one_line(text, limit=220) -> str:
    text = re.sub(r"\s+", " ", str(text or "")).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.1e}"


class _Notes:
    """Numbered notes under the table (footnote text de-duplicated)."""

    def __init__(self):
        self.items: list = []

    def ref(self, text: str) -> str:
        text = _one_line(text).replace("|", "\\|")
        if text not in self.items:
            self.items.append(text)
        return f"<sup>[{self.items.index(text) + 1}](#matrix-note-{self.items.index(text) + 1})</sup>"


def patch_note(rec) -> str:
    """The exporter patches that changed this cell's export, with the upstream bug each one
    fixes, as the record carries them (``exporter_patch_notes``; reports read records only,
    docs/design.md §1); "" when the stock exporter was used as is."""
    names = rec.get("exporter_patches") or []
    if not names:
        return ""
    notes = {n.get("name"): n for n in rec.get("exporter_patch_notes") or () if isinstance(n, dict)}
    parts = []
    for name in names:
        p = notes.get(name) or {}
        parts.append(f"patch {name} ({p['exporter']}): upstream bug: {p['bug']}; fix: {p['fix']}"
                     if all(p.get(k) for k in ("exporter", "bug", "fix")) else f"patch {name}")
    return "exported with " + "; ".join(parts)


def loosened_mark(rec) -> str:
    """LOOSENED with the loosened gates' reasons on hover; "" when every gate is the default."""
    loose = loosened_gates(rec)
    return f'<span title="{html.escape(_one_line(" | ".join(loose), 600))}">{LOOSENED}</span>' if loose else ""


def cell(rec, notes: _Notes, compact: bool = False) -> str:
    """The cell's mark and note; ``compact`` (one mark per opset) leaves the words to the note."""
    if rec is None:
        return "—"
    if kind(rec.get("status") or "infra") == "skip":
        return _cell(rec, notes, compact)
    return _cell(rec, notes, compact) + loosened_mark(rec)


def _cell(rec, notes: _Notes, compact: bool) -> str:
    status = rec.get("status") or "infra"
    k = kind(status)
    symbol = SYMBOL.get(k, "❌")
    model = rec.get("model", "")
    graph = f" {GRAPH_LABEL}" if (rec.get("mode") or "eager") != "eager" else ""
    if k in ("pass", "xpass"):
        who = (f"{model} opset {rec.get('opset')}" if compact else model) + graph
        tip = (f"{who}: {converter_gate_text(rec) or 'converter gate not recorded'}; OneFlow vs the source: "
               f"max abs {_fmt(rec.get('max_abs'))}, max rel {_fmt(rec.get('max_rel'))}")
        text = f'<span title="{html.escape(tip)}">{symbol}</span>'
        if rec.get("exporter_patches"):
            # no model name: one note serves every cell a patch fixed
            text += ("" if compact else " patched") + notes.ref(patch_note(rec))
        if k == "xpass":
            text += ("" if compact else " xpass") + notes.ref(f"{model}: passes but is marked as an expected failure — "
                                         f"stale entry: {rec.get('reason') or ''}")
        return text
    stage = status.split(":", 1)[1] if ":" in status else status
    if k == "skip":
        # no model name: one note serves every cell skipped for the same reason
        return symbol + notes.ref(f"skipped ({stage}): {rec.get('reason') or rec.get('error') or ''}")
    label = stage if k in ("fail", "xfail") else status
    why = rec.get("reason") if k == "xfail" else rec.get("error")
    verdict = converter_verdict(rec)
    if verdict:   # an exporter bug: did the converter still match ORT on the exporter's model?
        label += f" ({converter_short(rec)})"
        why = f"{verdict}. {why or ''}"
    if k == "fail" and stage == "parity":
        why = f"{converter_gate_text(rec) or 'max abs ' + _fmt(rec.get('max_abs'))}; {why or ''}"
    return (symbol if compact else f"{symbol} {label}") + notes.ref(
        f"{model}{graph} ({status}): {why or 'no detail recorded'}")


def render_tables(m: Matrix) -> str:
    """The first tier's table, then one per second-tier task under its own heading; the notes
    (numbered across all of them) after the last."""
    notes, parts = _Notes(), []
    for title, part in sections(m):
        lines = render_table(part, notes, with_notes=False).split("\n")
        parts.append((f"#### {title}\n\n" if title else "") + "\n".join(lines))
    return _with_notes(["\n\n".join(parts)], notes)


def render_table(m: Matrix, notes: "_Notes" = None, with_notes: bool = True) -> str:
    notes = notes if notes is not None else _Notes()
    if m.compact:
        return render_compact_table(m, notes, with_notes)
    head = ["Architecture"] + [c.title(m.with_opset) for c in m.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arch in m.rows:
        lines.append("| " + " | ".join([arch] + [cell(m.cells.get((arch, c)), notes) for c in m.columns]) + " |")
    summary = ["| **pass / total**"] + [
        f"**{m.column_counts[c]['pass']} / {sum(m.column_counts[c].values())}**" for c in m.columns]
    lines.append(" | ".join(summary) + " |")
    return _with_notes(lines, notes) if with_notes else "\n".join(lines)


def _with_notes(lines: list, notes: _Notes) -> str:
    out = "\n".join(lines)
    if notes.items:
        out += "\n\nNotes:\n\n" + "\n".join(
            f'{i}. <a id="matrix-note-{i}"></a>{t}' for i, t in enumerate(notes.items, 1))
    return out


def column_groups(m: Matrix) -> dict:
    """(framework, device) -> [Column, ...]: eager opsets ascending, then graph mode's."""
    groups: dict = {}
    for c in m.columns:      # already in that order (matrix.build)
        groups.setdefault((c.framework, c.device), []).append(c)
    return groups


def extra_subcolumns(m: Matrix) -> set:
    """The (mode, opset) pairs only some framework/device groups have: an extra opset of a few
    cells (the catalogue's extra_opsets). A row without a record there is not a catalogue cell.
    Exact for complete slices (the committed results, `python -m harness complete`); in a
    filtered run's report a missing record may show as that mark too."""
    groups = column_groups(m).values()
    every = set.intersection(*({(c.mode, c.opset) for c in cols} for cols in groups)) if groups else set()
    return {(c.mode, c.opset) for c in m.columns} - every


def _subtitle(c) -> str:
    return str(c.opset) if c.mode == "eager" else f"{GRAPH_LABEL} {c.opset}"


def render_compact_table(m: Matrix, notes: "_Notes" = None, with_notes: bool = True) -> str:
    """Several opsets or modes: one column per framework and device, one mark per (opset, mode)
    in the order its header names ("✅✅⚠️✅" under "11 · 13 · 17 · nn.Graph 13"); each column
    lists its own, so one extra opset of a few cells (10) shows in their column only, as
    NOT_A_CELL in its other rows; the notes say what each mark means."""
    notes = notes if notes is not None else _Notes()
    groups = column_groups(m)
    extra = extra_subcolumns(m)
    head = ["Architecture"] + [f"{FRAMEWORK_TITLES.get(fw, fw)} {dev}<br>{' · '.join(map(_subtitle, cols))}"
                               for (fw, dev), cols in groups.items()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arch in m.rows:
        row = ["".join(cell(m.cells[(arch, c)], notes, compact=True) if (arch, c) in m.cells
                       else NOT_A_CELL if (c.mode, c.opset) in extra else "—" for c in cols) for cols in groups.values()]
        lines.append("| " + " | ".join([arch] + row) + " |")
    summary = ["| **pass / total**"] + [" · ".join(
        f"{m.column_counts[c]['pass']}/{sum(m.column_counts[c].values())}" for c in cols) for cols in groups.values()]
    lines.append(" | ".join(summary) + " |")
    return _with_notes(lines, notes) if with_notes else "\n".join(lines)


def legend(m: Matrix) -> str:
    """The legend, with the marks only some tables have."""
    parts = [LEGEND]
    if m.compact and any((a, c) not in m.cells for a in m.rows for c in m.columns
                         if (c.mode, c.opset) in extra_subcolumns(m)):
        parts.append(LEGEND_NOT_A_CELL)
    if any(c.mode != "eager" for c in m.columns):
        parts.append(LEGEND_GRAPH)
    return " · ".join(parts)


def render_summary(m: Matrix) -> str:
    c = m.counts
    total = sum(c.values())
    parts = [f"{total} cases", f"{c['pass']} pass"]
    for k, word in (("fail", "fail"), ("crash", "crash"), ("timeout", "timeout"), ("infra", "infra"),
                    ("xfail", "expected failure"), ("xpass", "stale expected failure (xpass)"),
                    ("skip", "skipped")):
        if c.get(k):
            parts.append(f"{c[k]} {word}")
    line = " · ".join(parts)
    if m.unfinished:
        line += f" · {len(m.unfinished)} started but never finished (the runner died)"
    return line


def render_speed(m: Matrix) -> str:
    """One line: per framework (and mode), the median over its timed cells of the converted
    model's latency over ONNX Runtime's and, in the OneFlow column, over OneFlow's own module;
    "" when no record carries latency."""
    parts = []
    for g in speed_summary(m):
        name = FRAMEWORK_TITLES.get(g["framework"], g["framework"]) + ("" if g["mode"] == "eager" else f" {GRAPH_LABEL}")
        text = f"{name} {g['median_vs_ort']:.2f}× ORT"
        if g["median_vs_native"] is not None:
            text += f", {g['median_vs_native']:.2f}× native"
        parts.append(f"{text} ({g['cells']} cell{'s' if g['cells'] != 1 else ''})")
    if not parts:
        return ""
    return ("Speed, converted model's median latency ÷ ONNX Runtime's (÷ OneFlow's own module: native), median "
            "over the timed cells: " + " · ".join(parts))


def render_environment(m: Matrix) -> str:
    rows = ["| package | version |", "|---|---|"] + [f"| {k} | {v} |" for k, v in m.environment.items()]
    return "\n".join(rows)


def render(m: Matrix, title: str = "Support matrix") -> str:
    run = m.run
    footer = []
    if run.get("command"):
        footer.append(f"Command: `{run['command']}`")
    if run.get("commit"):
        footer.append(f"Commit: `{run['commit']}`")
    if run.get("time"):
        footer.append(f"Run finished: {run['time']}")
    footer.append("Generated by `python -m reports` from the run's result records — do not edit by hand.")
    return "\n\n".join(filter(None, [
        f"### {title}",
        render_summary(m),
        render_speed(m),
        legend(m),
        render_tables(m),
        "<details><summary>Environment</summary>\n\n" + render_environment(m) + "\n\n</details>",
        "  \n".join(footer),
    ])) + "\n"


def replace_readme_section(readme_text: str, section: str) -> str:
    """Swap what stands between the support-matrix markers; ValueError if they are missing."""
    start, end = readme_text.find(START), readme_text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {START} ... {END} markers")
    return readme_text[: start + len(START)] + "\n" + section.rstrip("\n") + "\n" + readme_text[end:]


def readme_section(readme_text: str) -> str:
    start, end = readme_text.find(START), readme_text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {START} ... {END} markers")
    return readme_text[start + len(START): end].strip("\n")
