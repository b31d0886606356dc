"""Compatibility shims for the OneFlow export side (flowvision 0.2.2, oneflow-onnx 0.6.2).

* flowvision 0.2.2 decorates helpers with ``oneflow.jit._script_if_tracing``, which
  oneflow 0.9.0 does not have; eager OneFlow has no scripting, so identity is exact.
* oneflow-onnx 0.6.2 uses ``np.bool``, removed in numpy 1.24; it meant the builtin bool.
* oneflow-onnx 0.6.2's duplicate-constant merge compares every pair of same-shaped weight
  constants, reading both from OneFlow (``Tensor.numpy()``, ~5 ms each here) on every
  comparison: 68,730 reads and ~330 of 368 s for regnet_x_400mf. ``memoize_saved_weights``
  reads each weight once. The exported model is the same, up to the generated names that
  differ from run to run anyway (tests/test_zoo_oneflow.py checks it).
"""
from __future__ import annotations

import functools

import numpy as np


def apply() -> None:
    import oneflow

    if not hasattr(oneflow.jit, "_script_if_tracing"):
        oneflow.jit._script_if_tracing = lambda fn: fn
    if "bool" not in np.__dict__:
        np.bool = bool


def memoize_saved_weights() -> None:
    """Cache oneflow-onnx's weight reads per graph (idempotent)."""
    from oneflow_onnx.onnx_wrapper import Graph

    read = Graph.get_saved_tensor
    if hasattr(read, "__wrapped__"):
        return

    @functools.wraps(read)
    def get_saved_tensor(self, node):
        name = node.output_tensor_names[0]
        # The value is a pure function of the loaded weights (fixed for the graph's life)
        # and the name, shape and dtype it is read as; a changed constant gets a ``value``
        # attribute instead and never reaches this method.
        shape = self.get_shape(name)
        key = (name, tuple(shape) if shape is not None else None, self.get_dtype(name))
        cache = self.__dict__.setdefault("_memoized_weights", {})
        if key not in cache:
            cache[key] = read(self, node)
        return cache[key].copy()  # callers get a fresh array, as from the original

    Graph.get_saved_tensor = get_saved_tensor
