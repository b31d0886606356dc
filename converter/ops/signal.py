"""Window functions: HannWindow, HammingWindow, BlackmanWindow (computed in float64, then cast)."""
from __future__ import annotations

import math

import onnx
import oneflow as flow

from ..dtypes import flow_dtype
from ..registry import register

# cosine-sum windows: w[n] = sum_k (-1)^k a_k cos(2 pi k n / N)
_COEFFS = {
    "HannWindow": (0.5, 0.5),
    "HammingWindow": (25 / 46, 21 / 46),
    "BlackmanWindow": (0.42, 0.5, 0.08),
}


def _register_window(op_type, coeffs):
    @register(op_type, 17)
    def build(ctx):
        dtype = flow_dtype(onnx.helper.tensor_dtype_to_np_dtype(ctx.attr("output_datatype", 1)))
        periodic = bool(ctx.attr("periodic", 1))

        def run(size):
            n_points = int(size.numpy().reshape(-1)[0]) if isinstance(size, flow.Tensor) else int(size)
            denom = n_points if periodic else n_points - 1
            n = flow.arange(n_points, dtype=flow.float64, device=size.device)
            w = flow.zeros_like(n)
            for k, a in enumerate(coeffs):
                w = w + ((-1) ** k) * a * flow.cos(2 * math.pi * k * n / denom)
            return w.to(dtype)

        return run

    build.__name__ = op_type.lower()


for _op, _coeffs in _COEFFS.items():
    _register_window(_op, _coeffs)
