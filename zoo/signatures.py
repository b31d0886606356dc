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

Named dynamic dims: ``axes`` names an input's dims (``[batch, sequence]``; ``null`` for a
fixed dim). A named dim is one size across the inputs and symbolic in the exported graph;
the signature's ``sizes`` are further bindings of those names (``{batch: 1, sequence: 9}``)
at which the same exported model runs again, its inputs made the same way at that size (a
mask's padding repeats over the rows and stays short of the row's length; a segments split
stays inside it).

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
    axes: Optional[tuple] = None        # a name (dynamic) or None (fixed) per dim
    def as_dict(self) -> dict:
        """As written in the catalogue, defaults filled in, unused fields left out."""
        row = {"name": self.name, "kind": self.kind, "shape": list(self.shape), "dtype": self.dtype}
        for key in ("range", "layout", "vocab", "low", "pad_id", "padded_by", "padding", "split", "axes"):
            value = getattr(self, key)
            if value is not None:
                row[key] = list(value) if isinstance(value, tuple) else value
        return row


@dataclass(frozen=True)
class Signature:
    """A cell's typed inputs, in the ONNX graph's input order, and the further sizes of their
    named dims the exported model also runs at."""
    inputs: tuple      # of TypedInput
    sizes: tuple = ()  # of dicts {dim name: size}

    @property
    def names(self) -> list:
        return [i.name for i in self.inputs]

    @property
    def shape(self) -> tuple:
        """The first input's shape; its leading dim is the cell's batch size (every input of a
        signature shares it)."""
        return self.inputs[0].shape

    def dims(self) -> dict:
        """{dim name: its size in the inputs' own shapes}."""
        return {name: size for i in self.inputs for name, size in zip(i.axes or (), i.shape) if name}

    def dynamic_axes(self) -> dict:
        """{input name: {axis: dim name}} of the named dims (the exporter's dynamic axes)."""
        return {i.name: {axis: name for axis, name in enumerate(i.axes) if name}
                for i in self.inputs if i.axes and any(i.axes)}

    def as_dict(self) -> dict:
        row = {"inputs": [i.as_dict() for i in self.inputs]}
        return {**row, "sizes": [dict(s) for s in self.sizes]} if self.sizes else row


def make_inputs(signature: Signature, seed: int, batch: Optional[int] = None, dims: Optional[dict] = None) -> list:
    """The seeded arrays of ``signature``, in its order. ``dims`` ({dim name: size}, one of
    its ``sizes``) resizes the named dims; ``batch`` replaces every input's leading dim (a
    calibration batch). A mask repeats its rows' padding cyclically, short of a full row."""
    import numpy as np

    arrays = {}
    for index, spec in enumerate(signature.inputs):
        rng = np.random.default_rng([seed, index])
        shape = tuple((dims or {}).get(name, size) if name else size
                      for name, size in zip(spec.axes or (None,) * len(spec.shape), spec.shape))
        shape = shape if batch is None else (batch,) + shape[1:]
        if spec.kind == FLOAT:
            low, high = spec.range or DEFAULT_RANGE
            x = rng.uniform(low, high, size=shape)
        elif spec.kind == IDS:
            x = rng.integers(1 if spec.low is None else spec.low, spec.vocab, size=shape)
        elif spec.kind == MASK:
            x = np.ones(shape)
            length = shape[-1]
            for row in range(shape[0]):
                pad = min(spec.padding[row % len(spec.padding)], length - 1)
                if pad:
                    x[row, length - pad:] = 0
        elif spec.kind == SEGMENTS:
            x = np.zeros(shape)
            x[..., shape[-1] // 2 if spec.split is None else min(spec.split, shape[-1]):] = 1
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
