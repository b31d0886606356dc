"""Small helpers shared by the handler families."""
from __future__ import annotations

import numpy as np
import oneflow as flow

from ..dtypes import to_tensor


def const_param(value: np.ndarray) -> flow.nn.Parameter:
    """A frozen Parameter holding a build-time constant (weights of converted layers)."""
    return flow.nn.Parameter(to_tensor(value), requires_grad=False)


def same_pads(in_size, kernel, stride, dilation, upper: bool):
    """ONNX auto_pad SAME_UPPER/SAME_LOWER pads (begin list, end list) for one input size."""
    begins, ends = [], []
    for n, k, s, d in zip(in_size, kernel, stride, dilation):
        out = -(-n // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
        small, big = total // 2, total - total // 2
        begins.append(small if upper else big)
        ends.append(big if upper else small)
    return begins, ends


def flow_pad_arg(begins, ends) -> list:
    """ONNX-order pads (per spatial axis, first to last) -> F.pad order (last axis first)."""
    out = []
    for b, e in zip(reversed(begins), reversed(ends)):
        out += [int(b), int(e)]
    return out


def spatial_pads(auto_pad, pads, x_shape, kernel, stride, dilation):
    """(begins, ends) from ONNX ``auto_pad``/``pads`` for an input shape (N, C, *spatial)."""
    n = len(kernel)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return same_pads(list(x_shape[2:]), kernel, stride, dilation, auto_pad == "SAME_UPPER")
    if auto_pad == "VALID":
        return [0] * n, [0] * n
    pads = pads or [0] * (2 * n)
    return list(pads[:n]), list(pads[n:])


def check_windows(x_shape, begins, ends, kernel, dilation) -> None:
    """Refuse a sliding window that does not fit its padded input (ONNX Runtime refuses it;
    OneFlow's kernels abort the process on the empty output): ValueError naming the axis."""
    for axis, (n, b, e, k, d) in enumerate(zip(x_shape[2:], begins, ends, kernel, dilation)):
        span = (k - 1) * d + 1
        if n + b + e < span:
            raise ValueError(f"spatial axis {axis}: input length {n} padded by ({b}, {e}) is shorter "
                             f"than the dilated kernel ({span}): the output would be empty")


INT_DTYPES = (flow.int8, flow.uint8, flow.int32, flow.int64)


def fp16_via_fp32(fn):
    """Wrap an elementwise ``fn`` so float16 inputs run in float32 and come back as float16.

    OneFlow 0.9 has almost no float16 CPU kernels. float32 holds every float16 value and
    more than twice its precision, so + - * / sqrt min/max round back to exactly the float16
    result, and other functions to within float16's own rounding.
    """
    def run(*args):
        if not any(isinstance(a, flow.Tensor) and a.dtype == flow.float16 for a in args):
            return fn(*args)
        up = [a.to(flow.float32) if isinstance(a, flow.Tensor) and a.dtype == flow.float16 else a
              for a in args]
        out = fn(*up)
        return out.to(flow.float16) if out.dtype == flow.float32 else out
    run.__name__ = getattr(fn, "__name__", "fn")
    return run


def require(ctx, check) -> None:
    """Run a handler's ``check(ctx) -> reason | None`` at build time too (``inventory`` runs it
    before anything is built; building directly must refuse the same nodes)."""
    reason = check(ctx)
    if reason:
        raise ctx.unsupported(reason)


# Ops whose one output has the broadcast shape of all their tensor inputs (unary ones included:
# their handlers may combine the input with broadcast scalars).
ELEMENTWISE = frozenset(
    "Add Sub Mul Div Pow Mod And Or Xor Not Equal Greater Less GreaterOrEqual LessOrEqual Where "
    "BitShift BitwiseAnd BitwiseOr BitwiseXor BitwiseNot Max Min Sum Mean PRelu Abs Acos Acosh Asin "
    "Asinh Atan Atanh Ceil Cos Cosh Erf Exp Floor IsInf IsNaN Log Neg Reciprocal Relu Round Sigmoid "
    "Sign Sin Sinh Sqrt Tan Tanh Celu Elu Gelu HardSigmoid HardSwish LeakyRelu Mish Selu Shrink "
    "Softplus Softsign ThresholdedRelu Clip Cast".split())


def empty_broadcast(fn):
    """Wrap an elementwise ``fn`` so an empty broadcast result never reaches OneFlow.

    OneFlow 0.9 aborts the process on some elementwise kernels over zero-size tensors (where
    broadcasting into an empty shape: SIGABRT; prelu: SIGFPE; measured). An empty result has
    no values, only a shape and a dtype: the dtype comes from ``fn`` run on one-element
    stand-ins (ones: no division by zero, a true condition), the shape from broadcasting."""
    def run(*args):
        tensors = [a for a in args if isinstance(a, flow.Tensor)]
        if not any(t.numel() == 0 for t in tensors):
            return fn(*args)
        try:
            shape = np.broadcast_shapes(*(tuple(t.shape) for t in tensors))
        except ValueError:
            return fn(*args)   # its own error names the mismatch
        if 0 not in shape:
            return fn(*args)
        ones = [flow.ones(tuple([1] * a.ndim), dtype=a.dtype, device=a.device) if isinstance(a, flow.Tensor) else a
                for a in args]
        probe = fn(*ones)
        return flow.zeros(tuple(shape), dtype=probe.dtype, device=probe.device)
    run.__dict__.update(getattr(fn, "__dict__", {}))
    run.__name__ = getattr(fn, "__name__", "elementwise")
    return run
