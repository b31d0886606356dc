"""Compatibility shims for the OneFlow export side (flowvision 0.2.2, oneflow-onnx 0.6.2).

* flowvision 0.2.2 decorates helpers with ``oneflow.jit._script_if_tracing``, which
  oneflow 0.9.0 does not have; eager OneFlow has no scripting, so identity is exact.
* oneflow-onnx 0.6.2 uses ``np.bool``, removed in numpy 1.24; it meant the builtin bool.
"""
from __future__ import annotations

import numpy as np


def apply() -> None:
    import oneflow

    if not hasattr(oneflow.jit, "_script_if_tracing"):
        oneflow.jit._script_if_tracing = lambda fn: fn
    if "bool" not in np.__dict__:
        np.bool = bool
