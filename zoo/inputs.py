"""Seeded, non-constant model inputs and output sanity checks (DESIGN §4)."""
from __future__ import annotations

import numpy as np

STD_FLOOR = 1e-6


def seeded_input(shape, seed: int, low: float = -1.0, high: float = 1.0, dtype="float32") -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(dtype)


def check_outputs(outputs: list, names: list) -> None:
    """Raise ValueError if any output is non-finite or degenerate (near-constant)."""
    for name, out in zip(names, outputs):
        arr = np.asarray(out)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"output {name!r} has non-finite values")
        if arr.size > 1 and float(np.std(arr.astype(np.float64))) < STD_FLOOR:
            raise ValueError(f"output {name!r} is degenerate (std < {STD_FLOOR})")


def make_inputs(spec, seed: int) -> list:
    """The model inputs for a catalogue InputSpec (one input per spec)."""
    low, high = spec.range
    return [seeded_input(list(spec.shape), seed, low, high, dtype=spec.dtype)]
