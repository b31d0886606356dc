"""The model catalogue (zoo/catalogue.yaml), loaded into frozen records and validated strictly.

    from zoo import catalogue
    cat = catalogue.load()
    for cell in catalogue.cells(framework="torch"): ...

Every mistake in the file is a CatalogueError naming the file and the key path; unknown
keys are rejected, so a typo cannot silently drop a tolerance or an xfail.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from . import signatures
from .frameworks import patches
from .vocabulary import (  # noqa: F401 - FRAMEWORKS, SOURCE_FRAMEWORKS, ...: the catalogue's names too
    ANY_DEVICE, CLASSIFICATION, CONVERTER_GATE, DEFAULT_ATOL, DEFAULT_OPSET, DEFAULT_RTOL, DEVICES, FRAMEWORKS, GATES,
    SOURCE_FRAMEWORKS, SOURCE_GATE, STAGES, TASKS,
)

CATALOGUE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalogue.yaml")

# docs/design.md §6, in its order: the first tier (image classifiers, fixed shape, one float input).
ARCHITECTURES = (
    "AlexNet", "VGG", "GoogLeNet", "ResNet", "ResNetV2", "ResNeXt", "SENet", "SE-ResNeXt",
    "MobileNetV1", "MobileNetV2", "MobileNetV3", "RegNet", "DenseNet", "EfficientNet",
    "InceptionV3", "ShuffleNetV1", "ShuffleNetV2", "SqueezeNet", "Xception", "Xception-DeepLab",
    "DPN", "DarkNet", "GhostNet", "RepVGG", "Res2Net", "UNet", "ViT",
)
# The second tier (docs/design.md §6, issue 22): the tasks people convert beyond classification,
# with typed signatures (zoo/signatures.py). Grows as its cells are written.
SECOND_TIER_ARCHITECTURES = ("BERT", "LLaMA", "GPT-2", "DeepLabV3")
TIERS = {1: ARCHITECTURES, 2: SECOND_TIER_ARCHITECTURES}
# `zoo` = our own definition in zoo/models/<framework>/, in that framework's idiom.
BUILDERS = {
    "torch": ("torchvision", "timm", "zoo", "transformers"),
    "tensorflow": ("keras", "zoo"),
    "paddle": ("paddle.vision", "zoo"),
    "oneflow": ("flowvision", "zoo"),
}
MARKS = ("slow", "big")
ROW_DEVICES = DEVICES + (ANY_DEVICE,)   # the devices a tolerance row may name
LAYOUTS = ("NCHW", "NHWC")
DTYPES = ("float32",)
DYNAMIC_BATCH = ("torch",)   # exporters that take a dynamic batch axis (dynamic_axes)
# Source frameworks whose exporters take a typed signature (`inputs:`), and the module that
# exports such a cell (zoo/signature_export.py; the first tier's cells keep zoo.export).
SIGNATURE_FRAMEWORKS = ("torch",)
SIGNATURE_EXPORT_MODULE = "zoo.signature_export"
# Builders that exist for signature cells only (their models take named, typed inputs).
SIGNATURE_ONLY_BUILDERS = ("transformers",)
INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
OPSETS = range(7, 22)      # opsets an xfail row may name
MODEL_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class CatalogueError(ValueError):
    """The catalogue file is malformed; the message names the file and the key path."""


@dataclass(frozen=True)
class InputSpec:
    shape: tuple
    layout: str
    dtype: str
    range: tuple

    def as_dict(self) -> dict:
        return {"shape": list(self.shape), "layout": self.layout, "dtype": self.dtype,
                "range": list(self.range)}


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    device: str = ANY_DEVICE
    reason: str = ""
    # Which comparison the row relaxes (docs/design.md §4): "source" (the exporter's gate,
    # source vs ONNX Runtime) or "converter" (OneFlow vs ONNX Runtime). A source row never
    # loosens the converter's gate.
    gate: str = SOURCE_GATE
    # A converter row of a dynamic-batch cell may apply at one of its `dynamic_batch` sizes
    # only (the others keep the default gate); None: the cell's own comparison and every batch.
    batch: Optional[int] = None

    def as_dict(self) -> dict:
        # As written in the file: no `device` key means any device, no `gate` the source gate.
        row = {"rtol": self.rtol, "atol": self.atol, "reason": self.reason}
        row = row if self.device == ANY_DEVICE else {**row, "device": self.device}
        row = row if self.batch is None else {**row, "batch": self.batch}
        return row if self.gate == SOURCE_GATE else {**row, "gate": self.gate}


DEFAULT_TOLERANCE = Tolerance(DEFAULT_RTOL, DEFAULT_ATOL, ANY_DEVICE, "default fp32 tolerance (docs/design.md §4)")


@dataclass(frozen=True)
class XFail:
    stage: str
    reason: str
    opsets: Optional[tuple] = None   # the opsets it applies to; None: every opset
    unless_patched: Optional[str] = None  # an exporter patch that fixes it (zoo/frameworks/patches)

    def applies(self, opset: int) -> bool:
        return self.opsets is None or opset in self.opsets

    def waived(self) -> bool:
        """The exporter bug is fixed by a patch in effect (not under --no-exporter-patches)."""
        return self.unless_patched is not None and patches.active(self.unless_patched)

    def as_dict(self) -> dict:
        row = {"stage": self.stage, "reason": self.reason}
        row = row if self.opsets is None else {**row, "opsets": list(self.opsets)}
        return row if self.unless_patched is None else {**row, "unless_patched": self.unless_patched}


@dataclass(frozen=True)
class Cell:
    """One (framework, model) pair: where the model comes from and how it is checked."""

    framework: str
    model: str
    architecture: str
    task: str
    # The first tier's one float input (InputSpec), or a typed signature (signatures.Signature:
    # several named inputs, the second tier's `inputs:`). Both have as_dict() and a shape whose
    # leading dim is the cell's batch size.
    input: Union[InputSpec, signatures.Signature]
    builder: Optional[str] = None
    variant: Optional[str] = None
    kwargs: dict = field(default_factory=dict)
    outputs: Union[tuple, int, None] = None
    tolerances: tuple = ()          # of Tolerance; device-specific ones win over "any"
    xfails: tuple = ()              # of XFail, each naming its opsets (at most one per opset)
    marks: tuple = ()               # model marks + cell marks
    unavailable: Optional[str] = None
    # Export with a dynamic batch axis; the harness runs one converted module at each of
    # these batch sizes against ORT (docs/design.md §4). Exporters that support it: DYNAMIC_BATCH.
    dynamic_batch: tuple = ()
    # Opsets this cell also runs at besides the matrix's (the seed's OneFlow2ONNX list at opset
    # 10, docs/design.md §6): where the cell runs, not what is exported.
    extra_opsets: tuple = ()

    @property
    def id(self) -> str:
        return f"{self.framework}-{self.model}"

    @property
    def classifier(self) -> bool:
        return self.task == CLASSIFICATION

    @property
    def signature(self) -> Optional[signatures.Signature]:
        """The typed inputs of a second-tier cell (None: the first tier's one float input)."""
        return self.input if isinstance(self.input, signatures.Signature) else None

    @property
    def tier(self) -> int:
        return next(t for t, archs in TIERS.items() if self.architecture in archs)

    @property
    def export_module(self) -> str:
        """The module whose command line exports this cell (python -m MODULE --framework ...)."""
        return SIGNATURE_EXPORT_MODULE if self.signature else "zoo.export"

    def tolerance(self, device: str = "cpu", gate: str = SOURCE_GATE) -> Tolerance:
        """The tolerance of ``gate`` on ``device`` (the default one without override)."""
        for wanted in (device, ANY_DEVICE):
            for tol in self.tolerances:
                if tol.device == wanted and tol.gate == gate and tol.batch is None:
                    return tol
        return DEFAULT_TOLERANCE

    def xfail_for(self, opset: int) -> Optional[XFail]:
        return next((x for x in self.xfails if x.applies(opset) and not x.waived()), None)

    @property
    def xfail(self) -> Optional[XFail]:
        """The expected failure at the default opset (the zoo column tests export there)."""
        return self.xfail_for(DEFAULT_OPSET)

    def as_dict(self) -> dict:
        """The catalogue row (`python -m zoo list --json`); xfails a patch in effect fixes are left out."""
        xfails = [x for x in self.xfails if not x.waived()]
        return {
            "framework": self.framework, "model": self.model, "architecture": self.architecture,
            "task": self.task, "builder": self.builder, "variant": self.variant,
            "kwargs": dict(self.kwargs), "input": self.input.as_dict(),
            "outputs": list(self.outputs) if isinstance(self.outputs, tuple) else self.outputs,
            "marks": list(self.marks),
            "tolerance": [t.as_dict() for t in self.tolerances] or None,
            # One row as a mapping (as most are written), several as a list.
            "xfail": (xfails[0].as_dict() if len(xfails) == 1 else
                      [x.as_dict() for x in xfails]) if xfails else None,
            "unavailable": self.unavailable,
            # only when set: the row keys the export cache, other cells' keys stay as they were
            **({"dynamic_batch": list(self.dynamic_batch)} if self.dynamic_batch else {}),
        }

    def listing(self) -> dict:
        """The row `python -m zoo list --json` prints: as_dict() and the extra opsets. They
        stay out of as_dict(), which keys the export cache (zoo/export.py): running a cell at
        one more opset must not re-export it at the others. A signature cell also names the
        module that exports it (the harness runs that module's command line) and its tier."""
        return {**self.as_dict(), **({"extra_opsets": list(self.extra_opsets)} if self.extra_opsets else {}),
                **({"export_module": self.export_module, "tier": self.tier} if self.signature else {})}


@dataclass(frozen=True)
class Entry:
    """One model id (one architecture) with its cells by framework."""

    model: str
    architecture: str
    task: str
    marks: tuple
    cells: dict  # framework -> Cell


@dataclass(frozen=True)
class Catalogue:
    path: str
    entries: dict  # model id -> Entry

    def cells(self, framework: Optional[str] = None, model: Optional[str] = None) -> list:
        return [c for e in self.entries.values() for c in e.cells.values()
                if (framework is None or c.framework == framework)
                and (model is None or c.model == model)]

    def cell(self, framework: str, model: str) -> Cell:
        entry = self.entries.get(model)
        if entry is None:
            raise KeyError(f"no model {model!r} in {self.path} (known: {', '.join(sorted(self.entries))})")
        if framework not in entry.cells:
            raise KeyError(f"model {model!r} has no {framework!r} cell in {self.path} "
                           f"(it has: {', '.join(sorted(entry.cells))})")
        return entry.cells[framework]

    def architectures(self) -> list:
        return [e.architecture for e in self.entries.values()]


# --- parsing -------------------------------------------------------------------------------

class _Parser:
    """Walks the YAML tree, knowing where it is, so every error names its key path."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, where: str, message: str) -> None:
        raise CatalogueError(f"{self.path}: {where}: {message}")

    def mapping(self, node: Any, where: str, required=(), optional=()) -> dict:
        if not isinstance(node, dict):
            self.fail(where, f"expected a mapping, got {type(node).__name__}")
        allowed = tuple(required) + tuple(optional)
        unknown = [k for k in node if k not in allowed]
        if unknown:
            self.fail(where, f"unknown key(s) {', '.join(map(repr, unknown))} (allowed: {', '.join(allowed)})")
        missing = [k for k in required if k not in node]
        if missing:
            self.fail(where, f"missing key(s) {', '.join(map(repr, missing))}")
        return node

    def choice(self, value: Any, choices, where: str) -> str:
        if value not in choices:
            self.fail(where, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, "expected a non-empty string")
        return value

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            self.fail(where, f"expected a non-negative number, got {value!r}")
        return float(value)

    def marks(self, value: Any, where: str) -> tuple:
        if not isinstance(value, list):
            self.fail(where, "expected a list of marks")
        return tuple(self.choice(m, MARKS, f"{where}[{i}]") for i, m in enumerate(value))

    def input_spec(self, base: dict, override: Any, where: str) -> dict:
        node = self.mapping(override, where, optional=("shape", "layout", "dtype", "range"))
        merged = {**base, **node}
        if "shape" in node:
            shape = node["shape"]
            if not (isinstance(shape, list) and shape and all(isinstance(d, int) and not isinstance(d, bool)
                                                            and d > 0 for d in shape)):
                self.fail(f"{where}.shape", f"expected a list of positive ints, got {shape!r}")
        if "layout" in node:
            self.choice(node["layout"], LAYOUTS, f"{where}.layout")
        if "dtype" in node:
            self.choice(node["dtype"], DTYPES, f"{where}.dtype")
        if "range" in node:
            rng = node["range"]
            if not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(v, (int, float)) for v in rng)
                    and rng[0] < rng[1]):
                self.fail(f"{where}.range", f"expected [low, high] with low < high, got {rng!r}")
        return merged

    def positive_int(self, value: Any, where: str, minimum: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(where, f"expected an integer >= {minimum}, got {value!r}")
        return value

    def shape(self, value: Any, where: str) -> tuple:
        if not (isinstance(value, list) and value and all(isinstance(d, int) and not isinstance(d, bool)
                                                          and d > 0 for d in value)):
            self.fail(where, f"expected a list of positive ints, got {value!r}")
        return tuple(value)

    def typed_input(self, node: Any, where: str) -> signatures.TypedInput:
        """One entry of a cell's `inputs:` (zoo/signatures.py names the kinds and their keys)."""
        every_key = ("dtype", "axes") + tuple(k for _, (req, opt) in signatures.KIND_KEYS.items() for k in req + opt)
        self.mapping(node, where, required=("name", "kind", "shape"), optional=every_key)
        kind = self.choice(node["kind"], signatures.KINDS, f"{where}.kind")
        required, optional = signatures.KIND_KEYS[kind]
        self.mapping(node, where, required=("name", "kind", "shape") + required,
                     optional=("dtype", "axes") + optional)
        name = self.text(node["name"], f"{where}.name")
        if not INPUT_NAME.match(name):
            self.fail(f"{where}.name", f"{name!r} is not an input name (letters, digits, '_', '.')")
        shape = self.shape(node["shape"], f"{where}.shape")
        fields = {"name": name, "kind": kind, "shape": shape,
                  "dtype": self.choice(node.get("dtype", signatures.DEFAULT_DTYPE[kind]), signatures.DTYPES[kind],
                                       f"{where}.dtype")}
        if "axes" in node:
            axes = node["axes"]
            if not (isinstance(axes, list) and len(axes) == len(shape) and any(axes) and all(
                    a is None or (isinstance(a, str) and INPUT_NAME.match(a)) for a in axes)):
                self.fail(f"{where}.axes", f"expected a dim name or null per dim of {list(shape)} (at least one "
                                           f"name), got {axes!r}")
            fields["axes"] = tuple(axes)
        if kind in (signatures.MASK, signatures.SEGMENTS) and len(shape) != 2:
            self.fail(f"{where}.shape", f"a {kind} input is [batch, sequence], got {list(shape)}")
        if kind == signatures.FLOAT:
            rng = node.get("range", list(signatures.DEFAULT_RANGE))
            if not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(v, (int, float)) for v in rng)
                    and rng[0] < rng[1]):
                self.fail(f"{where}.range", f"expected [low, high] with low < high, got {rng!r}")
            fields["range"] = (float(rng[0]), float(rng[1]))
            if "layout" in node:
                fields["layout"] = self.choice(node["layout"], signatures.LAYOUTS, f"{where}.layout")
        elif kind == signatures.IDS:
            vocab = fields["vocab"] = self.positive_int(node["vocab"], f"{where}.vocab", 2)
            for key in ("low", "pad_id"):
                if key in node:
                    fields[key] = self.positive_int(node[key], f"{where}.{key}", 0)
                    if fields[key] >= vocab:
                        self.fail(f"{where}.{key}", f"{fields[key]} is outside the vocabulary [0, {vocab})")
            if "padded_by" in node:
                fields["padded_by"] = self.text(node["padded_by"], f"{where}.padded_by")
        elif kind == signatures.MASK:
            padding = node["padding"]
            if not (isinstance(padding, list) and len(padding) == shape[0] and all(
                    isinstance(p, int) and not isinstance(p, bool) and 0 <= p < shape[1] for p in padding)):
                self.fail(f"{where}.padding", f"expected one count of trailing zeros per row ({shape[0]} rows), "
                                              f"each in [0, {shape[1]}) so no row is all padding, got {padding!r}")
            fields["padding"] = tuple(padding)
        elif kind == signatures.SEGMENTS and "split" in node:
            fields["split"] = self.positive_int(node["split"], f"{where}.split", 0)
            if fields["split"] > shape[1]:
                self.fail(f"{where}.split", f"{fields['split']} is past the sequence length {shape[1]}")
        return signatures.TypedInput(**fields)

    def signature(self, node: Any, where: str, framework: str, sizes: Any = None) -> signatures.Signature:
        """A cell's `inputs:`: its typed inputs, in the ONNX graph's input order."""
        if framework not in SIGNATURE_FRAMEWORKS:
            self.fail(where, f"the {framework} exporter here takes no typed signature yet "
                             f"(only {', '.join(SIGNATURE_FRAMEWORKS)})")
        if not (isinstance(node, list) and node):
            self.fail(where, "expected a non-empty list of typed inputs")
        inputs = tuple(self.typed_input(item, f"{where}[{i}]") for i, item in enumerate(node))
        names = [i.name for i in inputs]
        if len(set(names)) != len(names):
            self.fail(where, f"input names repeat: {names}")
        if len({i.shape[0] for i in inputs}) != 1:
            self.fail(where, f"every input shares the batch size (leading dim), got {[list(i.shape) for i in inputs]}")
        by_name = {i.name: i for i in inputs}
        for i, item in enumerate(inputs):
            if item.padded_by is not None:
                mask = by_name.get(item.padded_by)
                if mask is None or mask.kind != signatures.MASK or mask.shape != item.shape:
                    self.fail(f"{where}[{i}].padded_by", f"{item.padded_by!r} is not a mask input of shape "
                                                         f"{list(item.shape)} in this signature")
        dims: dict = {}
        for i, item in enumerate(inputs):
            for name, size in zip(item.axes or (), item.shape):
                if name and dims.setdefault(name, size) != size:
                    self.fail(f"{where}[{i}].axes", f"dim {name!r} is {dims[name]} in an earlier input, {size} here")
        sig = signatures.Signature(inputs)
        if sizes is None:
            return sig
        size_where = where.rsplit(".", 1)[0] + ".sizes"
        if not (isinstance(sizes, list) and sizes):
            self.fail(size_where, "expected a non-empty list of {dim name: size} bindings")
        out = []
        for k, binding in enumerate(sizes):
            self.mapping(binding, f"{size_where}[{k}]", optional=tuple(dims))
            if not binding:
                self.fail(f"{size_where}[{k}]", f"binds none of the named dims {sorted(dims)}")
            for name, size in binding.items():
                self.positive_int(size, f"{size_where}[{k}].{name}")
            if all(dims[n] == v for n, v in binding.items()) or dict(binding) in out:
                self.fail(f"{size_where}[{k}]", f"{binding!r} repeats a size the cell already runs at")
            out.append(dict(binding))
        return signatures.Signature(inputs, tuple(out))

    def tolerances(self, node: Any, where: str, dynamic_batch: tuple = ()) -> tuple:
        items = node if isinstance(node, list) else [node]
        out = []
        for i, item in enumerate(items):
            w = f"{where}[{i}]" if isinstance(node, list) else where
            self.mapping(item, w, required=("rtol", "atol", "reason"), optional=("device", "gate", "batch"))
            tol = Tolerance(self.number(item["rtol"], f"{w}.rtol"), self.number(item["atol"], f"{w}.atol"),
                            self.choice(item.get("device", ANY_DEVICE), ROW_DEVICES, f"{w}.device"),
                            self.text(item["reason"], f"{w}.reason"),
                            self.choice(item.get("gate", SOURCE_GATE), GATES, f"{w}.gate"), item.get("batch"))
            if tol.batch is not None and not (tol.gate == CONVERTER_GATE and isinstance(tol.batch, int)
                                              and not isinstance(tol.batch, bool) and tol.batch in dynamic_batch):
                self.fail(f"{w}.batch", f"a batch-scoped row is a converter row at one of the cell's dynamic_batch "
                                        f"sizes {list(dynamic_batch)}, got batch {tol.batch!r} (gate {tol.gate})")
            out.append(tol)
        keys = [(t.device, t.gate, t.batch) for t in out]
        if len(set(keys)) != len(keys):
            self.fail(where, f"more than one tolerance for the same device, gate and batch: {keys}")
        return tuple(out)

    def xfails(self, node: Any, where: str) -> tuple:
        items = node if isinstance(node, list) else [node]
        out = []
        for i, item in enumerate(items):
            w = f"{where}[{i}]" if isinstance(node, list) else where
            x = self.mapping(item, w, required=("stage", "reason"), optional=("opsets", "unless_patched"))
            opsets = self.opset_list(x["opsets"], f"{w}.opsets") if "opsets" in x else None
            unless = x.get("unless_patched")
            if unless is not None:
                self.choice(unless, tuple(patches.BY_NAME), f"{w}.unless_patched")
            out.append(XFail(self.choice(x["stage"], STAGES, f"{w}.stage"), self.text(x["reason"], f"{w}.reason"),
                             opsets, unless))
        for opset in OPSETS:
            if sum(x.applies(opset) for x in out) > 1:
                self.fail(where, f"more than one xfail row applies at opset {opset}")
        return tuple(out)

    def opset_list(self, node: Any, where: str) -> tuple:
        """A non-empty list of distinct opsets in OPSETS, sorted."""
        if not (isinstance(node, list) and node and all(
                isinstance(o, int) and not isinstance(o, bool) and o in OPSETS for o in node)):
            self.fail(where, f"expected a non-empty list of opsets in {OPSETS.start}..{OPSETS.stop - 1}, got {node!r}")
        if len(set(node)) != len(node):
            self.fail(where, f"opset listed twice: {node!r}")
        return tuple(sorted(node))

    def dynamic_batch(self, node: Any, where: str, framework: str) -> tuple:
        if framework not in DYNAMIC_BATCH:
            self.fail(where, f"the {framework} exporter here has no dynamic batch axis (only {', '.join(DYNAMIC_BATCH)})")
        if not (isinstance(node, list) and len(node) >= 2 and all(
                isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in node)):
            self.fail(where, f"expected a list of at least two positive batch sizes, got {node!r}")
        return tuple(node)

    def outputs(self, node: Any, where: str):
        if isinstance(node, int) and not isinstance(node, bool) and node > 0:
            return node
        if isinstance(node, list) and node and all(isinstance(n, str) and n for n in node):
            return tuple(node)
        self.fail(where, f"expected a positive count or a list of output names, got {node!r}")

    def cell(self, node: Any, where: str, framework: str, model: str, entry: dict, base_input: dict) -> Cell:
        common = dict(framework=framework, model=model, architecture=entry["architecture"],
                      task=entry["task"])
        if isinstance(node, dict) and "unavailable" in node:
            self.mapping(node, where, required=("unavailable",))
            return Cell(**common, input=InputSpec(tuple(base_input["shape"]), base_input["layout"],
                                                  base_input["dtype"], tuple(base_input["range"])),
                        marks=entry["marks"], unavailable=self.text(node["unavailable"], f"{where}.unavailable"))
        self.mapping(node, where, required=("builder", "variant"),
                     optional=("kwargs", "input", "inputs", "sizes", "outputs", "tolerance", "xfail", "marks",
                               "dynamic_batch", "extra_opsets"))
        if "inputs" in node:
            if "input" in node or "dynamic_batch" in node:
                self.fail(where, "a cell with typed `inputs` has no `input` (one float input) and no "
                                 "`dynamic_batch` (not yet for signatures)")
            spec = self.signature(node["inputs"], f"{where}.inputs", framework, node.get("sizes"))
        else:
            if "sizes" in node:
                self.fail(f"{where}.sizes", "sizes bind the named dims of typed `inputs`")
            if node["builder"] in SIGNATURE_ONLY_BUILDERS:
                self.fail(f"{where}.builder", f"{node['builder']} models take typed `inputs` (zoo/signatures.py)")
            merged = self.input_spec(base_input, node.get("input", {}), f"{where}.input")
            spec = InputSpec(tuple(merged["shape"]), merged["layout"], merged["dtype"], tuple(merged["range"]))
        kwargs = node.get("kwargs", {})
        if not isinstance(kwargs, dict):
            self.fail(f"{where}.kwargs", "expected a mapping")
        xfails = self.xfails(node["xfail"], f"{where}.xfail") if "xfail" in node else ()
        dynamic_batch = self.dynamic_batch(node["dynamic_batch"], f"{where}.dynamic_batch", framework) \
            if "dynamic_batch" in node else ()
        marks = entry["marks"] + tuple(m for m in self.marks(node.get("marks", []), f"{where}.marks")
                                       if m not in entry["marks"])
        return Cell(**common, input=spec,
                    builder=self.choice(node["builder"], BUILDERS[framework], f"{where}.builder"),
                    variant=self.text(node["variant"], f"{where}.variant"),
                    kwargs=dict(kwargs),
                    outputs=self.outputs(node["outputs"], f"{where}.outputs") if "outputs" in node else None,
                    tolerances=self.tolerances(node["tolerance"], f"{where}.tolerance", dynamic_batch)
                    if "tolerance" in node else (),
                    xfails=xfails, marks=marks, dynamic_batch=dynamic_batch,
                    extra_opsets=self.opset_list(node["extra_opsets"], f"{where}.extra_opsets")
                    if "extra_opsets" in node else ())

    def catalogue(self, doc: Any) -> Catalogue:
        self.mapping(doc, "<top level>", required=("defaults", "models"))
        defaults = self.mapping(doc["defaults"], "defaults", required=("input",))
        base = self.mapping(defaults["input"], "defaults.input", required=("shape", "layout", "dtype", "range"))
        base_input = self.input_spec({}, base, "defaults.input")
        models = doc["models"]
        if not isinstance(models, dict) or not models:
            self.fail("models", "expected a non-empty mapping of model ids")
        entries, seen_arch = {}, {}
        for model, node in models.items():
            where = f"models.{model}"
            if not isinstance(model, str) or not MODEL_ID.match(model):
                self.fail(where, "model ids are lowercase letters, digits and '_' (they are pytest -k names)")
            self.mapping(node, where, required=("architecture", "task", "frameworks"), optional=("marks", "input"))
            arch = self.choice(node["architecture"], ARCHITECTURES + SECOND_TIER_ARCHITECTURES,
                               f"{where}.architecture")
            if arch in seen_arch:
                self.fail(f"{where}.architecture", f"{arch} already has model id {seen_arch[arch]!r} "
                                                   "(one model id per architecture)")
            seen_arch[arch] = model
            entry = {"architecture": arch, "task": self.choice(node["task"], TASKS, f"{where}.task"),
                     "marks": self.marks(node.get("marks", []), f"{where}.marks")}
            model_input = self.input_spec(base_input, node.get("input", {}), f"{where}.input")
            frameworks = self.mapping(node["frameworks"], f"{where}.frameworks", optional=FRAMEWORKS)
            if not frameworks:
                self.fail(f"{where}.frameworks", "no framework cells")
            cells = {fw: self.cell(frameworks[fw], f"{where}.frameworks.{fw}", fw, model, entry, model_input)
                     for fw in FRAMEWORKS if fw in frameworks}
            entries[model] = Entry(model, arch, entry["task"], entry["marks"], cells)
        return Catalogue(self.path, entries)


def parse(doc: Any, path: str = "<catalogue>") -> Catalogue:
    """Validate an already-loaded YAML document (tests feed broken ones here)."""
    return _Parser(path).catalogue(doc)


def load(path: str = CATALOGUE_PATH) -> Catalogue:
    import yaml

    with open(path) as f:
        try:
            doc = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise CatalogueError(f"{path}: not valid YAML: {e}") from e
    return parse(doc, path)


@functools.lru_cache(maxsize=None)
def _default() -> Catalogue:
    return load()


def cells(framework: Optional[str] = None, model: Optional[str] = None) -> list:
    """Cells of the default catalogue, optionally filtered."""
    return _default().cells(framework, model)


def cell(framework: str, model: str) -> Cell:
    return _default().cell(framework, model)
