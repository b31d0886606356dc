"""Zoo cells -> harness cases: framework x model x opset x device, with their tolerance,
expected failure and marks.

The zoo is read through its command-line contract (``python -m zoo list --json``), so the
harness depends on the catalogue's data, not on its loader's internals.
"""
from __future__ import annotations

import functools
import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Optional

from zoo.vocabulary import (  # noqa: F401 - FRAMEWORKS, DEVICES, MODES, ...: the harness's names too
    ANY_DEVICE, CLASSIFICATION, CONVERTER_GATE, DEFAULT_ATOL, DEFAULT_OPSET, DEFAULT_RTOL, DEFAULT_SEED,
    DEVICES, FRAMEWORKS, GRAPH_OPSETS, MATRIX_OPSETS, MODES, SOURCE_GATE,
)

from .paths import REPO_ROOT
from .versions import framework_env


# Cases `make test` runs without any zoo selector, so CI exercises the harness path end to
# end: the first of these the catalogue has (small and fast: ~5 MB, seconds once cached).
SMOKE_CANDIDATES = (("torch", "squeezenet1_1"), ("torch", "resnet18"))


class CatalogueError(RuntimeError):
    """The zoo catalogue could not be listed or has a cell the harness cannot read."""


@dataclass(frozen=True)
class Tolerance:
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    reason: str = ""


@dataclass(frozen=True)
class Case:
    framework: str
    model: str
    architecture: str
    opset: int
    device: str
    tolerance: Tolerance = Tolerance()    # the source gate: source vs ONNX Runtime (exporter)
    xfail: Optional[dict] = None          # {"stage": ..., "reason": ...}, the row for this opset
    unavailable: Optional[str] = None     # why the framework cannot build this model
    classifier: bool = True
    marks: tuple = ()
    seed: int = DEFAULT_SEED
    # A case directory made elsewhere (tests build tiny ONNX models): no export stage.
    prepared_dir: Optional[str] = field(default=None, compare=False)
    # The converter gate: OneFlow vs ONNX Runtime (docs/design.md §4).
    converter_tolerance: Tolerance = Tolerance()
    # A dynamic-batch export: batch sizes one converted module also runs at (docs/design.md §4).
    batches: tuple = ()
    # ((batch, Tolerance), ...): converter rows scoped to one of those batch sizes.
    batch_tolerances: tuple = ()
    # The OneFlow column: how its export built OneFlow's own module ({builder, variant, kwargs,
    # seed}), so process B can time that module beside the converted one (harness/latency.py).
    native: Optional[dict] = field(default=None, compare=False)
    # The module whose command line exports the case (`python -m MODULE --framework ...`): the
    # catalogue row's export_module, zoo.export unless the cell has a typed signature (the
    # second tier: zoo.signature_export).
    export_module: str = "zoo.export"
    # What the architecture does and its tier (zoo/catalogue.py): records carry both, so the
    # reports group rows by them without reading the zoo.
    task: str = CLASSIFICATION
    tier: int = 1

    @property
    def case_id(self) -> str:
        return f"{self.framework}-{self.model}-opset{self.opset}-{self.device}"

    def identity(self) -> dict:
        return {"framework": self.framework, "model": self.model, "architecture": self.architecture,
                "task": self.task, "tier": self.tier, "opset": self.opset, "device": self.device, "seed": self.seed}


# --- reading the catalogue ---------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def load_cells() -> tuple:
    """Every (framework, model) cell of the zoo as plain dicts."""
    proc = subprocess.run([sys.executable, "-m", "zoo", "list", "--json"], capture_output=True,
                          text=True, cwd=REPO_ROOT, env=framework_env("zoo"), timeout=120)
    if proc.returncode == 0:
        data = json.loads(proc.stdout)
        cells = data.get("cells", data) if isinstance(data, dict) else data
        return tuple(cells)
    raise CatalogueError(f"`python -m zoo list --json` failed (exit {proc.returncode}): "
                         f"{proc.stderr.strip()[-2000:]}")


@functools.lru_cache(maxsize=1)
def _patches() -> dict:
    """name -> {name, exporter, bug, fix} of every exporter patch (`python -m zoo patches --json`)."""
    proc = subprocess.run([sys.executable, "-m", "zoo", "patches", "--json"], capture_output=True,
                          text=True, cwd=REPO_ROOT, env=framework_env("zoo"), timeout=120)
    if proc.returncode != 0:
        raise CatalogueError(f"`python -m zoo patches --json` failed (exit {proc.returncode}): "
                             f"{proc.stderr.strip()[-2000:]}")
    return {p["name"]: p for p in json.loads(proc.stdout)}


def patch_notes(names) -> list:
    """What a record says about the exporter patches that changed its export: the upstream
    bug and the fix of each (the reports print them without reading the zoo)."""
    return [_patches().get(name, {"name": name}) for name in names or ()]


def tolerance_for(cell_tolerance, device: str, gate: str = SOURCE_GATE, batch=None) -> Tolerance:
    """Resolve a cell's tolerance of ``gate`` for ``device``: a row naming the device wins
    over a row without one; no row means the default (docs/design.md §4). Rows without a
    ``gate`` are source-gate rows: they never loosen the converter's gate. A row naming a
    ``batch`` applies at that batch size only (``batch``), never to the cell's own comparison."""
    if not cell_tolerance:
        return Tolerance()
    rows = cell_tolerance
    if isinstance(rows, dict) and not ({"rtol", "atol"} & set(rows)):
        rows = [{**v, "device": k} for k, v in rows.items()]     # {"cpu": {...}, "cuda": {...}}
    if isinstance(rows, dict):
        rows = [rows]
    rows = [r for r in rows if r.get("gate", SOURCE_GATE) == gate and r.get("batch") == batch]
    own = [r for r in rows if r.get("device") == device]
    generic = [r for r in rows if r.get("device") in (None, ANY_DEVICE)]
    chosen = (own or generic or [None])[0]
    if chosen is None:
        return Tolerance()
    return Tolerance(float(chosen.get("rtol", DEFAULT_RTOL)), float(chosen.get("atol", DEFAULT_ATOL)),
                     str(chosen.get("reason", "")))


def xfail_for(rows, opset: int) -> Optional[dict]:
    """The catalogue's xfail row that applies at ``opset`` (rows without ``opsets`` apply
    at every opset), or None."""
    for row in ([rows] if isinstance(rows, dict) else rows or []):
        if row.get("opsets") is None or opset in row["opsets"]:
            return row
    return None


def case_from_cell(cell: dict, opset: int, device: str) -> Case:
    try:
        framework, model = cell["framework"], cell["model"]
    except KeyError as e:
        raise CatalogueError(f"catalogue cell without {e.args[0]!r}: {cell}") from None
    task = cell.get("task", CLASSIFICATION)
    return Case(
        framework=framework, model=model, architecture=cell.get("architecture", model),
        opset=opset, device=device, tolerance=tolerance_for(cell.get("tolerance"), device),
        converter_tolerance=tolerance_for(cell.get("tolerance"), device, CONVERTER_GATE),
        xfail=xfail_for(cell.get("xfail"), opset), unavailable=cell.get("unavailable") or None,
        batches=tuple(cell.get("dynamic_batch") or ()),
        batch_tolerances=tuple((b, tolerance_for(cell.get("tolerance"), device, CONVERTER_GATE, b))
                               for b in cell.get("dynamic_batch") or ()
                               if tolerance_for(cell.get("tolerance"), device, CONVERTER_GATE, b) != Tolerance()),
        classifier=bool(cell.get("classifier", task == CLASSIFICATION)),
        marks=tuple(cell.get("marks") or ()), seed=int(cell.get("seed", DEFAULT_SEED)),
        native=native_spec(cell), export_module=cell.get("export_module") or "zoo.export",
        task=task, tier=int(cell.get("tier", 1)))


def native_spec(cell: dict) -> Optional[dict]:
    """A OneFlow-column cell's builder, variant, kwargs and seed: what rebuilds its own module."""
    if cell.get("framework") != "oneflow" or not cell.get("builder") or cell.get("unavailable"):
        return None
    return {"builder": cell["builder"], "variant": cell.get("variant") or cell["model"],
            "kwargs": cell.get("kwargs") or {}, "seed": int(cell.get("seed", DEFAULT_SEED))}


def matches_model(cell: dict, patterns) -> bool:
    """--model matches the catalogue architecture name or the model id, case-insensitive
    substring (``resnet`` selects ResNet, ResNetV2, ...)."""
    if not patterns:
        return True
    names = (cell["model"].lower(), str(cell.get("architecture", "")).lower())
    return any(p.lower() in n for p in patterns for n in names)


def extra_opsets(cells) -> set:
    """The opsets some cell adds with `extra_opsets` (zoo/catalogue.yaml). At such an opset only
    the cells naming it are catalogue cells; naming a matrix opset there would be a no-op that
    hides a typo, so it is an error."""
    out = set()
    for cell in cells:
        named = set(cell.get("extra_opsets") or ())
        if named & set(MATRIX_OPSETS):
            raise CatalogueError(f"{cell['framework']}/{cell['model']}: extra_opsets {sorted(named)} names "
                                 f"a matrix opset ({', '.join(map(str, MATRIX_OPSETS))} run for every cell)")
        out |= named
    return out


def cells_at(cells, opset: int, extra=None) -> list:
    """The catalogue cells at ``opset``: every cell, except at an extra opset, where only the
    cells that name it in `extra_opsets` (``extra``: extra_opsets(cells), if already known)."""
    extra = extra_opsets(cells) if extra is None else extra
    if opset not in extra:
        return list(cells)
    return [c for c in cells if opset in (c.get("extra_opsets") or ())]


def select(frameworks=None, models=None, opsets=None, devices=None, cells=None, with_extra=False) -> list:
    """Cases for the selectors, in catalogue order; empty selectors mean everything
    (opset 13 and cpu for opsets and devices). ``with_extra`` (the matrix without --opset) adds
    each cell's extra opsets; at an extra opset only the cells naming it are cases."""
    cells = load_cells() if cells is None else cells
    frameworks = {f.lower() for f in frameworks or ()}
    unknown = frameworks - set(FRAMEWORKS)
    if unknown:
        raise CatalogueError(f"unknown framework(s) {sorted(unknown)}; choose from {list(FRAMEWORKS)}")
    opsets = list(opsets or [DEFAULT_OPSET])
    devices = list(devices or ["cpu"])
    extra = extra_opsets(cells)
    out = []
    for cell in cells:
        if frameworks and cell["framework"] not in frameworks:
            continue
        if not matches_model(cell, models):
            continue
        named = tuple(cell.get("extra_opsets") or ())
        mine = opsets + [o for o in named if with_extra and o not in opsets]
        for opset in mine:
            if opset in extra and opset not in named:
                continue
            for device in devices:
                out.append(case_from_cell(cell, opset, device))
    return out


def smoke_cases(cells=None) -> list:
    cells = load_cells() if cells is None else cells
    for framework, model in SMOKE_CANDIDATES:
        for cell in cells:
            if cell["framework"] == framework and cell["model"] == model and not cell.get("unavailable"):
                return [case_from_cell(cell, DEFAULT_OPSET, "cpu")]
    return []
