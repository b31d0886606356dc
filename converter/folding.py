"""Build-time constants, and the size budget for every tensor a handler materialises.

Folding computes a node once at conversion time when its inputs are constants. A 214-byte
model can ask for a ConstantOfShape of 2**32 elements, so sizes are checked from shapes
*before* anything is allocated (documented on ``converter.convert``):

* at conversion time against ``fold_limit_bytes`` (an option of ``convert``; default
  DEFAULT_FOLD_LIMIT_BYTES): above it the node stays a run-time node;
* at run time against the memory the process can still get (MemAvailable and the
  RLIMIT_AS headroom): above it the node fails with a TensorTooLarge naming the size,
  instead of OneFlow's allocator aborting the process (its failures are C++ CHECKs).
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import resource

import numpy as np
import oneflow as flow

from .dtypes import numpy_dtype
from .errors import TensorTooLarge

DEFAULT_FOLD_LIMIT_BYTES = 256 * 2**20

# Set while the builder runs: the conversion-time budget in bytes (None = run time).
_fold_limit: contextvars.ContextVar = contextvars.ContextVar("fold_limit", default=None)


class Folded:
    """A handler's build result meaning "this node's outputs are these constants"."""

    def __init__(self, *values):
        self.values = [np.asarray(v) for v in values]


@contextlib.contextmanager
def folding_budget(limit_bytes: int):
    """Within the block, materialised tensors are checked against ``limit_bytes``."""
    token = _fold_limit.set(int(limit_bytes))
    try:
        yield
    finally:
        _fold_limit.reset(token)


def nbytes(shape, dtype) -> int:
    """Bytes of a dense tensor of ``shape`` and a numpy or OneFlow ``dtype`` (Python ints: no overflow)."""
    return math.prod(int(d) for d in shape) * _np_dtype(dtype).itemsize


def _np_dtype(dtype) -> np.dtype:
    return numpy_dtype(dtype) if isinstance(dtype, flow.dtype) else np.dtype(dtype)


def fits_fold_budget(shape, dtype) -> bool:
    limit = _fold_limit.get()
    return limit is None or nbytes(shape, dtype) <= limit


def check_alloc(shape, dtype, what: str = "output") -> None:
    """Raise TensorTooLarge before a tensor of ``shape``/``dtype`` is allocated if it is above
    the budget in force (conversion time: the fold limit; run time: available memory)."""
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise ValueError(f"{what} shape {dims} has a negative dimension")
    size = nbytes(dims, dtype)
    limit = _fold_limit.get()
    where = "the conversion-time fold limit"
    if limit is None:
        limit, where = available_bytes(), "the memory this process can still allocate"
    if size > limit:
        raise TensorTooLarge(f"{what} of shape {dims} ({_np_dtype(dtype)}) needs {_human(size)}, "
                             f"above {where} ({_human(limit)})")


def available_bytes() -> int:
    """MemAvailable, lowered to the address-space headroom when RLIMIT_AS is set."""
    avail = _meminfo_available()
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        avail = min(avail, max(soft - _vm_size(), 0))
    return avail


def _meminfo_available() -> int:
    kib = _proc_kib("/proc/meminfo", "MemAvailable:")
    return 2**63 - 1 if kib is None else kib * 1024   # unknown (not Linux): only the fold limit applies


def _vm_size() -> int:
    return (_proc_kib("/proc/self/status", "VmSize:") or 0) * 1024


def _proc_kib(path: str, key: str):
    """A ``key: N kB`` line of a /proc file, or None."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
