"""The support matrix as data: rows = architectures, columns = framework x device (x opset x mode)."""
from __future__ import annotations

import collections
import datetime
from dataclasses import dataclass, field

from zoo.vocabulary import FRAMEWORKS, STATUS_KINDS, status_kind

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


def _row_order(finals) -> list:
    """The records in the order their rows should appear: a row's place is where it first
    shows up in the largest eager slice (a full run lists the catalogue's order), not wherever
    the first results file named happens to mention it (reports/results/*.jsonl sorts the
    3-cell cpu-opset10.jsonl before the full slices); graph-mode slices come after eager ones."""
    size = collections.Counter((r["device"], int(r["opset"]), mode(r)) for r in finals)
    return sorted(finals, key=lambda r: (mode(r) != "eager", -size[(r["device"], int(r["opset"]), mode(r))]))


def build(runset) -> Matrix:
    rows, models, cells, cols = [], {}, {}, set()
    for rec in _row_order(runset.finals):
        row = _row_for(rec, rows, models)
        col = Column(rec["framework"], rec["device"], int(rec["opset"]), mode(rec))
        cols.add(col)
        cells[(row, col)] = rec
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
                  column_counts, _environment(runset.finals), _run_info(runset), list(runset.unfinished))


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
        "rows": [{"architecture": a, "models": m.models[a], "cells": {
            c.key: _cell_json(m.cells.get((a, c))) for c in m.columns}}
            for a in m.rows],
        "counts": m.counts,
        "environment": m.environment,
        "run": m.run,
        "unfinished": [r.get("case") for r in m.unfinished],
    }


def _cell_json(rec):
    if rec is None:
        return None
    keys = ("case", "model", "mode", "status", "stage", "error", "reason", "max_abs", "max_rel", "min_tolerance",
            "top5", "tolerance", "seconds", "exporter_patches", "converter", "ort_vs_source", "oneflow_vs_ort",
            "oneflow_vs_source", "converter_tolerance")
    return {**{k: rec.get(k) for k in keys}, "verdict": converter_verdict(rec)}
