"""Small runtime functions copied verbatim into generated code when an emitted line needs them.

They use only ``flow`` and ``F`` (the generated module's imports), so the output stays
standalone. Each expresses one ONNX rule that has no single OneFlow call.
"""
from __future__ import annotations

import inspect
import re
import sys

import oneflow as flow
import oneflow.nn.functional as F

# Handler functions that are self-contained are pasted as they are: one implementation.
from ..ops.linear import matmul_nd as _matmul  # noqa: F401
from ..ops.math import int_divisor_safe as _int_divisor_safe, int_pow as _int_pow, pow_typed as _pow  # noqa: F401
from ..ops.math import true_div as _div  # noqa: F401


def _same_pads(x, kernel, stride, dilation, upper):
    """ONNX auto_pad SAME_UPPER/SAME_LOWER pads in F.pad order (last axis first)."""
    out = []
    for n, k, s, d in reversed(list(zip(x.shape[2:], kernel, stride, dilation))):
        total = max(0, (-(-n // s) - 1) * s + (k - 1) * d + 1 - n)
        small, big = total // 2, total - total // 2
        out += [small, big] if upper else [big, small]
    return out


def _flatten2d(x, axis):
    """ONNX Flatten: a 2-D view, dims before ``axis`` in the first."""
    axis = axis if axis >= 0 else axis + x.ndim
    lead, rest = 1, 1
    for d in x.shape[:axis]:
        lead *= d
    for d in x.shape[axis:]:
        rest *= d
    return x.reshape(lead, rest)   # explicit: OneFlow's reshape divides by zero inferring -1 beside a 0


def _reshape(x, shape, allowzero=False):
    """ONNX Reshape: a 0 in ``shape`` copies the input dim unless ``allowzero``."""
    shape = [int(d) for d in (shape.numpy().reshape(-1) if isinstance(shape, flow.Tensor) else shape)]
    if not allowzero:
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def _unsqueeze(x, axes):
    """ONNX Unsqueeze: ``axes`` index the output, so insert them in ascending order."""
    rank = x.ndim + len(axes)
    for a in sorted(a if a >= 0 else a + rank for a in axes):
        x = flow.unsqueeze(x, a)
    return x


def _softmax2d(x, axis, log=False):
    """Softmax before opset 13: over all dims from ``axis`` on, as one flattened dim."""
    axis = axis if axis >= 0 else axis + x.ndim
    rest = 1
    for d in x.shape[axis:]:
        rest *= d
    flat = x.reshape(list(x.shape[:axis]) + [rest])   # OneFlow's -1 divides by a 0
    y = F.log_softmax(flat, dim=-1) if log else F.softmax(flat, dim=-1)
    return y.reshape(x.shape)


def _fill_where(mask, y, value):
    """``value`` where ``mask`` (Resize's tf_crop_and_resize extrapolation), else ``y``."""
    return flow.where(mask, flow.full_like(y, value), y)


def _gemm(a, b, c, alpha, beta, trans_a, trans_b):
    """ONNX Gemm with runtime operands: alpha * A' B' + beta * C."""
    y = flow.matmul(a.transpose(0, 1) if trans_a else a, b.transpose(0, 1) if trans_b else b)
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        y = y + (c * beta if beta != 1.0 else c)
    return y


def _batch_norm(x, scale, bias, mean, var, eps):
    """Inference BatchNormalization with runtime statistics."""
    shape = [1, -1] + [1] * (x.ndim - 2)
    inv = flow.rsqrt(var.reshape(shape) + eps)
    return (x - mean.reshape(shape)) * inv * scale.reshape(shape) + bias.reshape(shape)


def source_of(names) -> str:
    """Source text of the named helpers, for pasting into a generated module (a function
    imported from a handler module is renamed to the helper's name, and its own calls to
    other helpers use theirs)."""
    module = sys.modules[__name__]
    renames = {getattr(module, n).__name__: n for n in dir(module)
               if n.startswith("_") and inspect.isfunction(getattr(module, n))}
    out = []
    for n in names:
        src = inspect.getsource(getattr(module, n))
        for original, alias in renames.items():
            if original != alias:
                src = re.sub(rf"\b{original}\(", f"{alias}(", src)
        out.append("\n\n" + src)
    return "".join(out)
