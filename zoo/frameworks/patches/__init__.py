"""Exporter patches: genuine fixes of pinned exporters' conversion bugs, as data + code.

Each ``Patch`` names the upstream bug, the exporter distribution and the version range it
applies to, and the function (in this package's module for that exporter) that fixes the
conversion. Patches are applied in the export process only (zoo.export, docs/design.md §7),
never in the converter under test; an installed exporter outside the range gets none.

    patches.apply("oneflow")      # in the export process, before exporting
    patches.fired()               # names of the patches that changed this export's graph

``ZOO_EXPORTER_PATCHES=0`` (``--no-exporter-patches`` on ``python -m zoo.export`` and
``python -m harness matrix``) selects the stock exporters: the upstream bugs stay visible and
the catalogue's ``xfail: {unless_patched: <name>}`` rows apply again. A comma-separated list
of patch names selects just those (tests/test_exporter_patches.py proves each one alone). This module imports no
framework: the catalogue and the reports read it too.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import os
from dataclasses import dataclass
from typing import Optional

ENV = "ZOO_EXPORTER_PATCHES"


@dataclass(frozen=True)
class Patch:
    name: str          # id used by the catalogue (unless_patched), meta.json and the reports
    framework: str     # the export process it belongs to
    exporter: str      # the distribution whose conversion is fixed
    versions: str      # PEP 440 specifier of the exporter versions with the bug
    bug: str           # the upstream bug, as observed
    fix: str           # what the patch does instead
    apply: str         # "<module in this package>:<function>"

    def applies_to_installed(self) -> bool:
        from packaging.specifiers import SpecifierSet

        try:
            installed = importlib.metadata.version(self.exporter)
        except importlib.metadata.PackageNotFoundError:
            return False
        return installed in SpecifierSet(self.versions)

    def as_dict(self) -> dict:
        return {"name": self.name, "exporter": f"{self.exporter}{self.versions}", "bug": self.bug,
                "fix": self.fix}


PATCHES = (
    Patch("oneflow-onnx-reduce-sum-axes-input", "oneflow", "oneflow-onnx", "==0.6.2",
          "reduce_sum at opset >= 13 keeps `axes` as an attribute, which ReduceSum-13 dropped: "
          "the exported ReduceSum sums over every axis",
          "ReduceSum-13 handler passing the axes as an int64 input", "oneflow_onnx:reduce_sum_axes_input"),
    Patch("oneflow-onnx-hardtanh-clip-bounds", "oneflow", "oneflow-onnx", "==0.6.2",
          "hardtanh at opset >= 11 exports Clip with empty min/max inputs (the identity); below 11 "
          "its bounds are hard-coded to [0, 6]",
          "Clip with hardtanh's own min_val/max_val (inputs at opset >= 11)", "oneflow_onnx:hardtanh_clip_bounds"),
    Patch("oneflow-onnx-maxpool-ceil-mode-pads", "oneflow", "oneflow-onnx", "==0.6.2",
          "max_pool_2d with ceil_mode=True exports pads recomputed from the output size, dropping "
          "the module's padding when the stride divides the padded extent",
          "MaxPool (opset >= 10) with the module's symmetric padding and ceil_mode", "oneflow_onnx:maxpool_ceil_mode_pads"),
    Patch("oneflow-onnx-var-opset11", "oneflow", "oneflow-onnx", "==0.6.2",
          "`var` has a handler for opset >= 13 only: below 13 the export fails",
          "two-pass variance (ReduceMean of squared deviations from the mean) at opsets 11-12, "
          "Bessel-corrected over the reduced dims", "oneflow_onnx:var_two_pass"),
    Patch("oneflow-onnx-deconv2d", "oneflow", "oneflow-onnx", "==0.6.2",
          "deconv2d (ConvTranspose2d) has no handler: the export fails",
          "ConvTranspose handler from deconv2d's attributes", "oneflow_onnx:deconv2d"),
    Patch("tf2onnx-erfc", "tensorflow", "tf2onnx", "==1.16.1",
          "no handler for TF Erfc (Keras 3 exact GELU): left in the graph, onnx.checker rejects it",
          "Erfc as 1 - Erf(x) (opset >= 9)", "tf2onnx:erfc"),
    Patch("tf2onnx-einsum-opset11", "tensorflow", "tf2onnx", "==1.16.1",
          "Einsum has a handler for opset >= 12 only (ONNX Einsum is opset 12): at opset 11 TF Einsum "
          "(Keras MultiHeadAttention) is left in the graph, onnx.checker rejects it",
          "two-operand Einsum at opset 11 as Transpose/Reshape to 3-D, one batched MatMul, Reshape/"
          "Transpose to the output order (indices summed in one operand: ReduceSum first)",
          "tf2onnx:einsum_opset11"),
    Patch("paddle2onnx-leaky-relu-alpha", "paddle", "paddle2onnx", "==2.1.0",
          "LeakyRelu alpha read as float32 from PIR's float64 negative_slope (0.0 or garbage)",
          "post-export fix-up: each LeakyRelu gets the negative_slope of its leaky_relu op in the saved "
          "Paddle program (paddle2onnx is a C++ extension)", "paddle2onnx:leaky_relu_alpha"),
)
BY_NAME = {p.name: p for p in PATCHES}
_fired: list = []


def _wanted() -> Optional[set]:
    """Patch names the environment allows: None = all, empty = none."""
    value = os.environ.get(ENV, "1").strip()
    if value in ("", "1"):
        return None
    if value == "0":
        return set()
    names = {n.strip() for n in value.split(",") if n.strip()}
    unknown = names - set(BY_NAME)
    if unknown:
        raise ValueError(f"{ENV}={value!r}: unknown patch(es) {sorted(unknown)} (known: {sorted(BY_NAME)})")
    return names


def enabled() -> bool:
    return _wanted() != set()


def selected(framework: str, only=None) -> list:
    """The patches that apply to ``framework``'s installed exporters (none when disabled)."""
    wanted = _wanted()
    return [p for p in PATCHES if p.framework == framework and p.applies_to_installed()
            and (wanted is None or p.name in wanted) and (only is None or p.name in only)]


def active(name: str) -> bool:
    """Whether the named patch is in effect for this process's exports."""
    patch = BY_NAME[name]
    return bool(selected(patch.framework, only=(name,)))


def apply(framework: str, only=None) -> list:
    """Apply the selected patches (idempotent); return their names."""
    names = []
    for patch in selected(framework, only):
        module, function = patch.apply.split(":")
        getattr(importlib.import_module(f"{__name__}.{module}"), function)()
        names.append(patch.name)
    return names


def fired(name: str = None) -> list:
    """Record that ``name`` changed the graph being exported; return the names so far."""
    if name is not None and name not in _fired:
        _fired.append(name)
    return list(_fired)
