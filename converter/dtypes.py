"""numpy <-> OneFlow dtype mapping and tensor helpers shared by the handlers."""
from __future__ import annotations

import numpy as np
import oneflow as flow

NP_TO_FLOW = {
    np.dtype(np.float32): flow.float32,
    np.dtype(np.float64): flow.float64,
    np.dtype(np.float16): flow.float16,
    np.dtype(np.int8): flow.int8,
    np.dtype(np.uint8): flow.uint8,
    np.dtype(np.int32): flow.int32,
    np.dtype(np.int64): flow.int64,
    np.dtype(np.bool_): flow.bool,
}
FLOW_TO_NP = {v: k for k, v in NP_TO_FLOW.items()}


def flow_dtype(np_dtype) -> "flow.dtype":
    """OneFlow dtype for a numpy dtype; KeyError names the dtype OneFlow lacks."""
    dt = np.dtype(np_dtype)
    try:
        return NP_TO_FLOW[dt]
    except KeyError:
        raise KeyError(f"OneFlow 0.9 has no tensor dtype for numpy {dt}") from None


def numpy_dtype(flow_dt) -> np.dtype:
    return FLOW_TO_NP[flow_dt]


def to_tensor(value, device=None) -> "flow.Tensor":
    """numpy array (any supported dtype, 0-d included) -> OneFlow tensor, dtype preserved."""
    # np.require keeps 0-d arrays 0-d (np.ascontiguousarray would make them shape (1,)).
    arr = np.require(value, requirements="C")
    t = flow.tensor(arr, dtype=flow_dtype(arr.dtype))
    return t if device is None else t.to(device)


def to_list(value) -> list:
    """A static or runtime 1-D integer tensor (shape, axes, pads, ...) as a Python list."""
    if value is None:
        return None
    if isinstance(value, flow.Tensor):
        value = value.numpy()
    return [int(v) for v in np.asarray(value).reshape(-1)]
