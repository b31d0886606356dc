"""Typed model signatures: several named inputs, each of a kind with its dtype, and several
outputs in one documented flat order (docs/design.md §4, §6; the zoo's second tier).

A catalogue cell that declares ``inputs:`` (a list of typed inputs, zoo/catalogue.yaml) has a
*signature* instead of the first tier's one float ``input``. Its inputs are made here, seeded
and framework-free, in the order the catalogue lists them; that order is the ONNX graph's
input order and the source model receives them by name.

Input kinds (the keys each takes; ``shape`` always, ``dtype`` optional):

* ``float``    — uniform in ``range`` (default [-1, 1]): images (optional ``layout``), audio,
  features. dtype float32.
* ``ids``      — token ids, uniform integers in [``low``, ``vocab``) (``low`` default 1, so id 0
  stays the padding id). ``padded_by: <mask input>`` puts ``pad_id`` (default 0) wherever that
  mask is 0, as a tokenizer pads. dtype int64 (or int32).
* ``mask``     — an attention mask [batch, sequence]: ones, then ``padding[i]`` zeros at the end
  of row i (right padding; a row is never all padding). dtype int64 (or int32, float32).
* ``segments`` — token type ids [batch, sequence]: 0 before ``split`` (default half the
  sequence), 1 from there on. dtype int64 (or int32).

Each input draws from its own generator, seeded by (seed, its position), so adding an input
at the end never changes the ones before it.

Output order (``flatten``): the source model's outputs flattened depth first — a mapping's
values in its own order (a Hugging Face ``ModelOutput`` or torchvision's ``OrderedDict``
keep the order the model wrote them), a tuple's or list's items in order — and ``None``
dropped (an output a configuration switched off). Each leaf is named by its path: mapping keys
and, for sequence items, their index, joined by "." (``last_hidden_state``,
``pooler_output``, ``out``); a bare top-level sequence names its items ``output_<i>``. Those
names are the ONNX graph's output names and the keys of expected.npz, so outputs are compared
one by one, by name (integer outputs exactly: harness/oneflow_side.py).

This module imports no framework (numpy only, when inputs are made): the catalogue parser reads
its vocabulary, and every source framework's exporter shares its inputs and output order.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

FLOAT, IDS, MASK, SEGMENTS = KINDS = ("float", "ids", "mask", "segments")
# kind -> (keys it requires besides name/kind/shape, keys it may have besides dtype)
KIND_KEYS = {
    FLOAT: ((), ("range", "layout")),
    IDS: (("vocab",), ("low", "pad_id", "padded_by")),
    MASK: (("padding",), ()),
    SEGMENTS: ((), ("split",)),
}
DTYPES = {FLOAT: ("float32",), IDS: ("int64", "int32"), MASK: ("int64", "int32", "float32"),
          SEGMENTS: ("int64", "int32")}
DEFAULT_DTYPE = {FLOAT: "float32", IDS: "int64", MASK: "int64", SEGMENTS: "int64"}
DEFAULT_RANGE = (-1.0, 1.0)
LAYOUTS = ("NCHW", "NHWC")


@dataclass(frozen=True)
class TypedInput:
    """One named input of a signature; fields a kind does not use stay None."""
    name: str
    kind: str
    shape: tuple
    dtype: str
    range: Optional[tuple] = None       # float
    layout: Optional[str] = None        # float images
    vocab: Optional[int] = None         # ids
    low: Optional[int] = None           # ids
    pad_id: Optional[int] = None        # ids
    padded_by: Optional[str] = None     # ids: the mask input whose zeros are padding
    padding: Optional[tuple] = None     # mask: trailing zeros per row
    split: Optional[int] = None         # segments

    def as_dict(self) -> dict:
        """As written in the catalogue, defaults filled in, unused fields left out."""
        row = {"name": self.name, "kind": self.kind, "shape": list(self.shape), "dtype": self.dtype}
        for key in ("range", "layout", "vocab", "low", "pad_id", "padded_by", "padding", "split"):
            value = getattr(self, key)
            if value is not None:
                row[key] = list(value) if isinstance(value, tuple) else value
        return row


@dataclass(frozen=True)
class Signature:
    """A cell's typed inputs, in the ONNX graph's input order."""
    inputs: tuple      # of TypedInput

    @property
    def names(self) -> list:
        return [i.name for i in self.inputs]

    @property
    def shape(self) -> tuple:
        """The first input's shape; its leading dim is the cell's batch size (every input of a
        signature shares it)."""
        return self.inputs[0].shape

    def as_dict(self) -> dict:
        return {"inputs": [i.as_dict() for i in self.inputs]}


def make_inputs(signature: Signature, seed: int, batch: Optional[int] = None) -> list:
    """The seeded arrays of ``signature``, in its order. ``batch`` replaces every input's leading
    dim (a calibration batch); a mask then repeats its rows' padding cyclically."""
    import numpy as np

    arrays = {}
    for index, spec in enumerate(signature.inputs):
        rng = np.random.default_rng([seed, index])
        shape = tuple(spec.shape) if batch is None else (batch,) + tuple(spec.shape[1:])
        if spec.kind == FLOAT:
            low, high = spec.range or DEFAULT_RANGE
            x = rng.uniform(low, high, size=shape)
        elif spec.kind == IDS:
            x = rng.integers(1 if spec.low is None else spec.low, spec.vocab, size=shape)
        elif spec.kind == MASK:
            x = np.ones(shape)
            length = shape[-1]
            for row in range(shape[0]):
                pad = spec.padding[row % len(spec.padding)]
                if pad:
                    x[row, length - pad:] = 0
        elif spec.kind == SEGMENTS:
            x = np.zeros(shape)
            x[..., shape[-1] // 2 if spec.split is None else spec.split:] = 1
        else:
            raise ValueError(f"input {spec.name!r}: unknown kind {spec.kind!r} (kinds: {', '.join(KINDS)})")
        arrays[spec.name] = x.astype(spec.dtype)
    for spec in signature.inputs:
        if spec.padded_by is not None:
            ids = arrays[spec.name].copy()
            ids[arrays[spec.padded_by] == 0] = spec.pad_id or 0
            arrays[spec.name] = ids
    return [arrays[name] for name in signature.names]


def flatten(outputs, path: str = "") -> list:
    """[(name, leaf)] of a model's outputs in the documented order (module docstring)."""
    if outputs is None:
        return []
    if isinstance(outputs, Mapping):
        return [leaf for key, value in outputs.items()
                for leaf in flatten(value, f"{path}.{key}" if path else str(key))]
    if isinstance(outputs, (tuple, list)):
        return [leaf for i, value in enumerate(outputs)
                for leaf in flatten(value, f"{path}.{i}" if path else f"output_{i}")]
    return [(path or "output_0", outputs)]
