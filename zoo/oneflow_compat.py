"""Compatibility shims for the OneFlow export side (flowvision 0.2.2, oneflow-onnx 0.6.2).

* flowvision 0.2.2 decorates helpers with ``oneflow.jit._script_if_tracing``, which
  oneflow 0.9.0 does not have; eager OneFlow has no scripting, so identity is exact.
* oneflow-onnx 0.6.2 uses ``np.bool``, removed in numpy 1.24; it meant the builtin bool.
* oneflow-onnx 0.6.2 reads its loaded weights slowly and copies them often: the
  duplicate-constant merge reads both weights of every same-shaped pair from OneFlow
  (``Tensor.numpy()``, ~5 ms each here; 68,730 reads, ~330 of 368 s for regnet_x_400mf), and
  every optimizer pass deep-copies the graph with all its weights (~40 s more; vgg16's copies
  got its export OOM-killed here). ``cheapen_weight_access`` shares the read-only weights
  between those copies and reads each one once. The exported model is the same, up to the
  generated names that differ from run to run anyway (tests/test_zoo_oneflow.py checks it).
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


class _ReadOnlyWeights(dict):
    """oneflow-onnx's loaded weights (it only ever reads them), plus the arrays read so far.
    Deep copies of the graph share one instance instead of copying every tensor."""

    def __init__(self, weights):
        super().__init__(weights)
        self.arrays = {}

    def __deepcopy__(self, memo):
        return self


def cheapen_weight_access() -> None:
    """Share and memoize oneflow-onnx's weight reads (idempotent)."""
    from oneflow_onnx.onnx_wrapper import Graph

    init, read = Graph.__init__, Graph.get_saved_tensor
    if hasattr(read, "__wrapped__"):
        return

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._param_dict = _ReadOnlyWeights(self._param_dict)

    @functools.wraps(read)
    def get_saved_tensor(self, node):
        name = node.output_tensor_names[0]
        # The value is a pure function of the loaded weights and the name, shape and dtype it
        # is read as; a changed constant gets a ``value`` attribute and never comes here.
        shape = self.get_shape(name)
        key = (name, tuple(shape) if shape is not None else None, self.get_dtype(name))
        arrays = self._param_dict.arrays
        if key not in arrays:
            arrays[key] = read(self, node)
        return arrays[key].copy()  # callers get a fresh array, as from the original

    Graph.__init__ = __init__
    Graph.get_saved_tensor = get_saved_tensor
