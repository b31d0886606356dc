"""OneFlow 0.9's CPU run-time settings, and the configuration measured fastest here
(docs/design.md §9; benchmarks/cpu_settings.py measures them).

OneFlow reads ``ONEFLOW_ENABLE_ONEDNN_OPTS`` when a kernel runs, not at import: with oneDNN's
element-wise primitives on (0.9's default), a binary op whose second operand broadcasts
along a non-leading axis (``x - mean`` of a layer norm, ``bias + y``, a per-channel conv bias)
takes ~100 ms on a (1, 197, 3072) float32 tensor instead of ~0.3 ms. Nothing here imports
OneFlow; ``apply`` only sets environment variables the caller has not set.
"""
from __future__ import annotations

import os

# The fastest configuration measured (docs/design.md §9).
FASTEST = {"ONEFLOW_ENABLE_ONEDNN_OPTS": "0"}
# Variables that change OneFlow's CPU speed, recorded next to every benchmark number.
RECORDED = ("ONEFLOW_ENABLE_ONEDNN_OPTS", "OMP_NUM_THREADS", "ONEFLOW_VM_WORKER_THREAD_LIMIT",
            "ONEFLOW_MLIR_ENABLE_INFERENCE_OPTIMIZATION", "ONEFLOW_KERNEL_ENABLE_FUSED_CONV_BIAS")


def apply(settings: dict = FASTEST) -> dict:
    """Set each variable of ``settings`` the environment does not set already; returns what
    is now in force (``current()``)."""
    for key, value in settings.items():
        os.environ.setdefault(key, value)
    return current()


def current() -> dict:
    """The recorded variables as set in this process (unset ones omitted), and the core count."""
    found = {k: os.environ[k] for k in RECORDED if k in os.environ}
    found["cpu_count"] = os.cpu_count()
    return found
