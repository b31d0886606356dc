"""The support matrix as data: rows = architectures, columns = framework x device (x opset x mode)."""
from __future__ import annotations

import collections
import datetime
import math
import statistics
from dataclasses import dataclass, field

from zoo.vocabulary import CLASSIFICATION, DEFAULT_ATOL, DEFAULT_RTOL, FRAMEWORKS, STATUS_KINDS, TASKS, status_kind

from .records import mode

FRAMEWORK_ORDER = FRAMEWORKS
FRAMEWORK_TITLES = {"torch": "PyTorch", "tensorflow": "TensorFlow", "paddle": "PaddlePaddle",
                    "oneflow": "OneFlow (round trip)"}
ENV_KEYS = ("python", "oneflow", "onnx", "onnxruntime", "torch", "torchvision", "timm", "tensorflow",
            "tf2onnx", "paddle", "paddle2onnx", "flowvision", "oneflow_onnx")
KINDS = STATUS_KINDS


GRAPH_LABEL = "nn.Graph"   # how a graph-mode column is named (the converted model as oneflow.nn.Graph)


@dataclass(frozen=True)
class Column:
    framework: str
    device: str
    opset: int
    mode: str = "eager"

    def title(self, with_opset: bool) -> str:
        name = FRAMEWORK_TITLES.get(self.framework, self.framework)
        return f"{name} {self.device}" + (f" op{self.opset}" if with_opset else "") + \
            ("" if self.mode == "eager" else f" {GRAPH_LABEL}")

    @property
    def key(self) -> str:
        """The cell key of the JSON report: framework/device/opset, and /mode when not eager."""
        return f"{self.framework}/{self.device}/{self.opset}" + ("" if self.mode == "eager" else f"/{self.mode}")


@dataclass
class Matrix:
    rows: list                        # row labels: the architecture, "Arch (model)" for a second model
    models: dict                      # row label -> {framework: model id}
    columns: list
    cells: dict                       # (row label, Column) -> record
    with_opset: bool
    counts: dict                      # kind -> number, over every cell
    column_counts: dict               # Column -> {kind: number}
    environment: dict                 # package -> version(s)
    run: dict = field(default_factory=dict)   # command, commit, time of the run(s)
    unfinished: list = field(default_factory=list)
    groups: dict = field(default_factory=dict)  # row label -> (tier, task), from its records

    @property
    def compact(self) -> bool:
        """More than one (mode, opset) per framework and device: one mark per cell (markdown)."""
        return len({(c.mode, c.opset) for c in self.columns}) > 1


kind = status_kind   # "fail:parity" -> "fail"; no status -> "infra"


# What an exporter-bug cell (ORT disagrees with the source) says about the converter: the
# harness still converts the exporter's model and gates OneFlow against ORT (docs/design.md §4).
CONVERTER_SHORT = {"matches ORT": "converter ✅", "differs from ORT": "converter ❌", "untested": "converter untested"}


def converter_verdict(rec: dict):
    """"exporter bug; converter matches ORT" (or differs / untested / fails at a stage) for a
    cell that failed at the ort stage; None for every other cell."""
    status = rec.get("status") or ""
    if kind(status) not in ("fail", "xfail") or status.split(":", 1)[-1] != "ort":
        return None
    return f"exporter bug; converter {rec.get('converter') or 'untested'}"


def converter_short(rec: dict) -> str:
    """The verdict as a cell label: "converter ✅", "converter ❌", "converter untested", ..."""
    return CONVERTER_SHORT.get(rec.get("converter") or "untested", f"converter {rec.get('converter')}")


def _sci(x) -> str:
    return "n/a" if x is None else f"{x:.1e}"


def converter_gate_text(rec: dict) -> str:
    """The gate that decides a cell's status against the converter (OneFlow vs ORT, docs/design.md
    §4): its worst error and the atol it needed, and each extra batch size's; "" where it did not run."""
    g = rec.get("oneflow_vs_ort")
    if not isinstance(g, dict):
        return ""
    text = (f"converter gate (OneFlow vs ORT): max abs {_sci(g.get('max_abs'))}, max rel {_sci(g.get('max_rel'))}, "
            f"needs atol {_sci(g.get('min_atol'))} (allowed {_sci(g.get('atol'))})")
    for b, bg in sorted((rec.get("batches") or {}).items()):
        text += f"; at batch {b}: max abs {_sci(bg.get('max_abs'))}, needs atol {_sci(bg.get('min_atol'))} " \
                f"(allowed {_sci(bg.get('atol'))})"
    return text


def loosened_gates(rec: dict) -> list:
    """Each gate of the record looser than the default tolerance, with the catalogue row's reason."""
    rows = [("source gate", rec.get("tolerance")), ("converter gate", rec.get("converter_tolerance"))]
    rows += [(f"converter gate at batch {b}", t) for b, t in sorted((rec.get("batch_tolerances") or {}).items())]
    out = []
    for name, tol in rows:
        if isinstance(tol, dict) and (tol.get("rtol", DEFAULT_RTOL) > DEFAULT_RTOL or tol.get("atol", DEFAULT_ATOL) > DEFAULT_ATOL):
            out.append(f"{name} loosened to rtol {tol.get('rtol'):g}, atol {tol.get('atol'):g} (default rtol "
                       f"{DEFAULT_RTOL:g}, atol {DEFAULT_ATOL:g}): {tol.get('reason') or 'no reason recorded'}")
    return out


def _ratio(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0 else None


def speed(rec) -> dict | None:
    """A cell's latency as the record's ``latency`` block has it (harness/latency.py): the
    converted model's median time (ms) over ONNX Runtime's (``vs_ort``) and over OneFlow's own
    module of the same architecture and weights (``vs_native``, OneFlow column only), with
    the medians; None when the record carries no timing."""
    block = (rec or {}).get("latency")
    if not isinstance(block, dict) or _ratio(block.get("vs_ort")) is None:
        return None
    out = {k: _ratio(block.get(k)) for k in ("vs_ort", "vs_native", "oneflow_ms", "ort_ms", "native_ms")}
    for k in ("graph_compile_s", "native_graph_compile_s"):
        if _ratio(block.get(k)) is not None:
            out[k] = block[k]
    out["iters"] = block.get("iters")
    return out


def speed_summary(m: "Matrix") -> list:
    """Per (framework, mode): the cells timed and the median converted/ORT and converted/native
    ratio over them (opsets and devices pooled), in column order."""
    groups: dict = {}
    for (row, col), rec in m.cells.items():
        sp = speed(rec)
        if sp:
            groups.setdefault((col.framework, col.mode), []).append(sp)
    fw_rank = {f: i for i, f in enumerate(FRAMEWORK_ORDER)}
    out = []
    for (fw, run_mode), rows in sorted(groups.items(), key=lambda kv: (kv[0][1] != "eager", fw_rank.get(kv[0][0], 99))):
        native = [r["vs_native"] for r in rows if r.get("vs_native")]
        out.append({"framework": fw, "mode": run_mode, "cells": len(rows),
                    "median_vs_ort": round(statistics.median(r["vs_ort"] for r in rows), 3),
                    "median_vs_native": round(statistics.median(native), 3) if native else None,
                    "native_cells": len(native)})
    return out


def _row_order(finals) -> list:
    """The records in the order their rows should appear: a row's place is where it first
    shows up in the largest eager slice (a full run lists the catalogue's order), not wherever
    the first results file named happens to mention it (reports/results/*.jsonl sorts the
    3-cell cpu-opset10.jsonl before the full slices); graph-mode slices come after eager ones."""
    size = collections.Counter((r["device"], int(r["opset"]), mode(r)) for r in finals)
    return sorted(finals, key=lambda r: (mode(r) != "eager", -size[(r["device"], int(r["opset"]), mode(r))]))


def group_of(rec: dict) -> tuple:
    """(tier, task) of a record; records written before they carried them are the first tier's."""
    return int(rec.get("tier") or 1), rec.get("task") or CLASSIFICATION


def _grouped(rows: list, groups: dict) -> list:
    """Rows by tier; within the second tier by task (the vocabulary's order); else as they came."""
    order = {t: i for i, t in enumerate(TASKS)}
    return sorted(rows, key=lambda r: (groups[r][0], order.get(groups[r][1], len(order)) if groups[r][0] > 1 else 0))


def build(runset) -> Matrix:
    rows, models, cells, cols, groups = [], {}, {}, set(), {}
    for rec in _row_order(runset.finals):
        row = _row_for(rec, rows, models)
        groups.setdefault(row, group_of(rec))
        col = Column(rec["framework"], rec["device"], int(rec["opset"]), mode(rec))
        cols.add(col)
        cells[(row, col)] = rec
    rows = _grouped(rows, groups)
    fw_rank = {f: i for i, f in enumerate(FRAMEWORK_ORDER)}
    columns = sorted(cols, key=lambda c: (fw_rank.get(c.framework, 99), c.framework, c.device != "cpu",
                                          c.device, c.mode != "eager", c.mode, c.opset))
    counts = {k: 0 for k in KINDS}
    column_counts = {c: {k: 0 for k in KINDS} for c in columns}
    for (arch, col), rec in cells.items():
        k = kind(rec.get("status"))
        counts[k] = counts.get(k, 0) + 1
        column_counts[col][k] = column_counts[col].get(k, 0) + 1
    return Matrix(rows, models, columns, cells, len({c.opset for c in columns}) > 1, counts,
                  column_counts, _environment(runset.finals), _run_info(runset), list(runset.unfinished), groups)


def sections(m: Matrix) -> list:
    """[(title, Matrix)]: the first tier as one table (title ""), then one per second-tier task,
    each with only the columns its rows have records in and its own counts. One section (the
    whole matrix) when every row is the first tier's."""
    keys = list(dict.fromkeys((1, None) if m.groups.get(r, (1,))[0] == 1 else m.groups[r] for r in m.rows))
    if keys == [(1, None)]:
        return [("", m)]
    out = []
    for key in keys:
        rows = [r for r in m.rows if ((1, None) if m.groups.get(r, (1,))[0] == 1 else m.groups[r]) == key]
        cells = {(r, c): rec for (r, c), rec in m.cells.items() if r in rows}
        columns = [c for c in m.columns if any((r, c) in cells for r in rows)]
        column_counts = {c: {k: 0 for k in KINDS} for c in columns}
        counts = {k: 0 for k in KINDS}
        for (_, c), rec in cells.items():
            counts[kind(rec.get("status"))] += 1
            column_counts[c][kind(rec.get("status"))] += 1
        title = "" if key == (1, None) else f"Tier {key[0]}: {key[1]}"
        out.append((title, Matrix(rows, {r: m.models[r] for r in rows}, columns, cells,
                                  len({c.opset for c in columns}) > 1, counts, column_counts, m.environment,
                                  m.run, [], {r: m.groups[r] for r in rows if r in m.groups})))
    return out


def _row_for(rec: dict, rows: list, models: dict) -> str:
    """The row a record belongs to. Cells are keyed by (framework, model, opset, device): a
    second model of one architecture in one framework gets its own row, never overwrites."""
    arch = rec.get("architecture") or rec["model"]
    for row in rows:
        if (row == arch or row.startswith(f"{arch} (")) and \
                models[row].get(rec["framework"], rec["model"]) == rec["model"]:
            models[row][rec["framework"]] = rec["model"]
            return row
    row = arch if arch not in models else f"{arch} ({rec['model']})"
    rows.append(row)
    models[row] = {rec["framework"]: rec["model"]}
    return row


def _environment(finals) -> dict:
    seen: dict = {}
    for rec in finals:
        for key, value in (rec.get("versions") or {}).items():
            seen.setdefault(key, set()).add(str(value))
    ordered = [k for k in ENV_KEYS if k in seen] + sorted(k for k in seen if k not in ENV_KEYS)
    return {k: ", ".join(sorted(seen[k])) for k in ordered}


def _run_info(runset) -> dict:
    """Command, commit and UTC time of the run, from its header records (else the records)."""
    commands = [r.get("command") for r in runset.runs if r.get("command")]
    commits = [r.get("commit") for r in runset.runs if r.get("commit")]
    times = [r["time"] for r in runset.finals if isinstance(r.get("time"), (int, float))]
    when = max(times) if times else None
    return {
        "command": " ; ".join(dict.fromkeys(commands)) or None,
        "commit": ", ".join(dict.fromkeys(commits)) or None,
        "time": datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        if when else None,
    }


def to_json(m: Matrix) -> dict:
    return {
        "columns": [{"framework": c.framework, "device": c.device, "opset": c.opset, "mode": c.mode, "key": c.key}
                    for c in m.columns],
        "rows": [{"architecture": a, "tier": m.groups.get(a, (1, CLASSIFICATION))[0],
                  "task": m.groups.get(a, (1, CLASSIFICATION))[1], "models": m.models[a], "cells": {
            c.key: _cell_json(m.cells.get((a, c))) for c in m.columns}}
            for a in m.rows],
        "counts": m.counts,
        "environment": m.environment,
        "run": m.run,
        "unfinished": [r.get("case") for r in m.unfinished],
        "speed": speed_summary(m),
    }


def _cell_json(rec):
    if rec is None:
        return None
    keys = ("case", "model", "mode", "status", "stage", "error", "reason", "max_abs", "max_rel", "min_tolerance",
            "top5", "tolerance", "seconds", "exporter_patches", "converter", "ort_vs_source", "oneflow_vs_ort",
            "oneflow_vs_source", "converter_tolerance", "latency")
    return {**{k: rec.get(k) for k in keys}, "verdict": converter_verdict(rec), "speed": speed(rec)}
