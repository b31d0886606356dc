"""The inputs ``python -m converter --check`` feeds: given by the user or drawn, seeded.

Shapes come from the declared dims (converter.dims), bound in this order: ``--input`` arrays,
``--input-shape``, ``--free-dim`` for a name, then the defaults below. One name, one size.

Defaults for a dim the model leaves open (chosen so typical models run; docs/design.md §5):
  * a named dim whose name says what it is: batch (batch, N, B, bs) 1; sequence (seq, len,
    length, time, step, token, T, S, L) 16; height/width (height, width, H, W) 224;
  * otherwise by position: dim 0 of an input of rank >= 2 is a batch (1); a rank-4 input
    is an image: channels 3, the two spatial dims 224 (NCHW; NHWC when its last dim is fixed
    at 1-4 and its dim 1 is not); every other open dim is 16.
Values: floats standard normal; bools 0/1; integers uniform in [1, 2] (INT_RANGE: never 0,
which as a divisor makes ONNX Runtime die of SIGFPE and as a length or count empties a
tensor; valid as an index into any axis or table of >= 3 entries), except inputs named like a
mask, token type or segment id: [0, 1] (BERT's token types index a table of 2). Anything
else (a sample rate, a vocabulary-sized id): give it with --input NAME=VALUE or a .npy file.
"""
from __future__ import annotations

import os
import re

import numpy as np

from .dims import bind, shown
from .errors import InputError

BATCH, SEQUENCE, SPATIAL, CHANNELS = 1, 16, 224, 3
INT_RANGE = (1, 2)
INT_RANGE_BY_NAME = (((0, 1), r"mask|type|segment"),)

_NAME_HINTS = ((BATCH, r"batch|^(n|b|bs)$"),
               (SEQUENCE, r"seq|len|time|step|token|^(t|s|l)$"),
               (SPATIAL, r"height|width|^(h|w)$"))


class OptionError(ValueError):
    """A command-line input option that cannot be used (unknown name, bad value)."""


class UndrawableInput(ValueError):
    """The model declares an input no values can be drawn for (no rank or type, too large)."""


def parse_assignment(text: str, option: str) -> tuple:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise OptionError(f"{option} {text!r}: expected NAME=VALUE")
    return name, value


def parse_shape(text: str, option: str = "--input-shape") -> tuple:
    """'1x3x48x320' or '1,3,48,320' -> (1, 3, 48, 320); '' -> () (a scalar)."""
    name, value = parse_assignment(text, option)
    parts = [p for p in re.split(r"[x,]", value.strip()) if p != ""] if value.strip() else []
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise OptionError(f"{option} {text!r}: dims are non-negative integers, e.g. {name}=1x3x224x224") from None
    if any(d < 0 for d in dims):
        raise OptionError(f"{option} {text!r}: dims cannot be negative")
    return name, dims


def parse_free_dim(text: str) -> tuple:
    name, value = parse_assignment(text, "--free-dim")
    try:
        size = int(value)
    except ValueError:
        size = -1
    if size < 0:
        raise OptionError(f"--free-dim {text!r}: the size is a non-negative integer")
    return name, size


def parse_input(text: str) -> tuple:
    """NAME=FILE.npy -> (name, array); NAME=VALUE -> (name, the value as text)."""
    name, value = parse_assignment(text, "--input")
    if value.endswith(".npy") or os.path.sep in value:
        try:
            return name, np.load(value, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise OptionError(f"--input {text!r}: cannot read {value} ({e})") from None
    return name, value


def default_dim(dims: tuple, k: int) -> int:
    d = dims[k]
    if isinstance(d, str):
        for size, pattern in _NAME_HINTS:
            if re.search(pattern, d, re.IGNORECASE):
                return size
    rank = len(dims)
    if k == 0 and rank >= 2:
        return BATCH
    if rank == 4:
        nhwc = isinstance(dims[3], int) and 1 <= dims[3] <= 4 and not isinstance(dims[1], int)
        return SPATIAL if k in ((1, 2) if nhwc else (2, 3)) else CHANNELS
    return SEQUENCE


def build_feeds(specs, *, shapes: dict, free_dims: dict, given: dict, seed: int) -> tuple:
    """(feeds by input name, notes on what was chosen). OptionError for names the model
    does not have or values that do not fit, InputError when given shapes disagree with the
    declared dims, UndrawableInput when the model leaves nothing to draw from."""
    names = [s.name for s in specs]
    for option, chosen in (("--input-shape", shapes), ("--input", given)):
        unknown = sorted(set(chosen) - set(names))
        if unknown:
            raise OptionError(f"{option}: the model has no input {unknown[0]!r} (inputs: {', '.join(names)})")
    params = {d for s in specs for d in (s.dims or ()) if isinstance(d, str)}
    unknown = sorted(set(free_dims) - params)
    if unknown:
        raise OptionError(f"--free-dim: the model declares no dim {unknown[0]!r} "
                          f"(named dims: {', '.join(sorted(params)) or 'none'})")
    for s in specs:
        if s.shape is None and s.name not in given and s.name not in shapes:
            raise UndrawableInput(f"input {s.name!r} has no declared rank; give --input-shape {s.name}=... or --input")
        if s.dtype is None:
            raise UndrawableInput(f"input {s.name!r} has no declared element type")

    arrays = {n: v for n, v in given.items() if isinstance(v, np.ndarray)}
    for n, v in arrays.items():
        want = next(s.dtype for s in specs if s.name == n)
        if v.dtype != want:
            raise OptionError(f"--input {n}: the file holds {v.dtype}, the model declares {want}")
    # Names bound by arrays first, then by explicit shapes, then --free-dim.
    bound = bind((s.name, s.dims, arrays[s.name].shape) for s in specs if s.name in arrays)
    bound.update(bind((s.name, s.dims, shapes[s.name]) for s in specs if s.name in shapes and s.name not in arrays))
    for name, size in free_dims.items():
        if bound.setdefault(name, size) != size:
            raise OptionError(f"--free-dim {name}={size}: the inputs given make {name!r} {bound[name]}")

    rng = np.random.default_rng(seed)
    feeds, notes = {}, []
    for s in specs:
        if s.name in arrays:
            feeds[s.name] = arrays[s.name]
            continue
        shape, defaulted = _shape_of(s, shapes.get(s.name), bound)
        if defaulted:
            notes.append(f"input {s.name!r} {shown(s.dims)}: open dims set to defaults -> shape {shape}")
        if s.name in given:
            feeds[s.name] = _filled(s, shape, given[s.name])
        else:
            feeds[s.name] = _drawn(s, shape, rng)
    return feeds, notes


def _shape_of(spec, explicit, bound: dict) -> tuple:
    """The input's concrete shape and whether a default was used."""
    dims = spec.dims if spec.dims is not None else spec.shape
    if explicit is not None:
        return tuple(explicit), False
    shape, defaulted = [], False
    for k, d in enumerate(dims):
        if isinstance(d, int):
            shape.append(d)
        elif isinstance(d, str) and d in bound:
            shape.append(bound[d])
        else:
            size = default_dim(dims, k)
            if isinstance(d, str):
                bound[d] = size
            shape.append(size)
            defaulted = True
    return tuple(shape), defaulted


def _filled(spec, shape: tuple, text: str) -> np.ndarray:
    dt = np.dtype(spec.dtype)
    try:
        value = float(text) if dt.kind == "f" else int(text) if dt.kind in "iu" else \
            {"true": True, "false": False, "1": True, "0": False}[text.lower()]
    except (ValueError, KeyError):
        raise OptionError(f"--input {spec.name}={text}: not a {dt} value (or give a .npy file)") from None
    return np.full(shape, value, dtype=dt)


def _drawn(spec, shape: tuple, rng) -> np.ndarray:
    from .errors import TensorTooLarge
    from .folding import check_alloc

    try:   # the input, its float64 draw and ORT's copy: refuse what cannot fit, before numpy tries
        check_alloc(shape, np.float64, f"random input {spec.name!r}")
    except TensorTooLarge as e:
        raise UndrawableInput(str(e)) from None
    dt = np.dtype(spec.dtype)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(dt)
    if dt.kind in "iu":
        low, high = next((r for r, pattern in INT_RANGE_BY_NAME if re.search(pattern, spec.name, re.IGNORECASE)),
                         INT_RANGE)
        return rng.integers(low, high + 1, shape).astype(dt)
    raise UndrawableInput(f"input {spec.name!r}: cannot draw values of dtype {dt}; give it with --input")


__all__ = ["InputError", "OptionError", "UndrawableInput", "build_feeds", "parse_free_dim", "parse_input", "parse_shape"]
