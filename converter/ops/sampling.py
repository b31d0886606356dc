"""Spatial sampling: GridSample and AffineGrid.

ONNX defined both after PyTorch's operators, which OneFlow mirrors for linear and cubic
sampling and for affine_grid. OneFlow's nearest mode rounds differently from ONNX (which
rounds half to even, then reflects/clamps), so nearest sampling is done here with index
math and a gather.
"""
from __future__ import annotations

import math

import oneflow as flow
import oneflow.nn.functional as F

from ..dtypes import to_list
from ..registry import register
from ._util import require

_MODES = {"bilinear": "bilinear", "linear": "bilinear", "nearest": "nearest",
          "bicubic": "bicubic", "cubic": "bicubic"}


def _grid_mode(ctx):
    return _MODES.get(ctx.attr("mode", "bilinear" if ctx.version < 20 else "linear"))


def _grid_sample_check(ctx):
    mode, rank = _grid_mode(ctx), ctx.input_rank(0)
    if mode is None:
        return f"mode={ctx.attr('mode')!r}"
    if rank is not None and rank not in (4, 5):
        return f"{rank - 2}-D sampling (OneFlow's grid_sample is 2-D/3-D)"
    if rank == 5 and mode == "bicubic":
        return "cubic 3-D sampling (OneFlow's grid_sample is bicubic in 2-D only)"
    return None


@register("GridSample", 16, 20, 22, check=_grid_sample_check)
def grid_sample(ctx):
    require(ctx, _grid_sample_check)
    mode = _grid_mode(ctx)
    padding = ctx.attr("padding_mode", "zeros")
    align = bool(ctx.attr("align_corners", 0))

    if mode == "nearest":
        return lambda x, grid: nearest_grid_sample(x, grid, padding, align)

    def run(x, grid):
        if padding == "reflection" and align:
            # OneFlow's reflection divides by the axis' extent, 0 for a length-1 axis under
            # align_corners (NaN; torch guards it). Doubling such an axis changes no value:
            # every coordinate and tap on it reads the one cell.
            for axis in range(2, x.ndim):
                if x.shape[axis] == 1:
                    x = flow.cat([x, x], dim=axis)
        return F.grid_sample(x, grid.to(x.dtype), mode=mode, padding_mode=padding, align_corners=align)

    return run


def _axis_positions(n, align, theta):
    """Positions of an axis' n cells in [-1, 1]: centres (align_corners=0) or corner centres at
    -1 and 1. A length-1 axis under align_corners=1 sits at 1, as ONNX Runtime (the spec text
    does not say; onnx's reference gives -1, torch and OneFlow's affine_grid 0)."""
    i = flow.arange(n, dtype=theta.dtype, device=theta.device)
    if not align:
        return (2 * i + 1) / n - 1
    return i * (2.0 / (n - 1)) - 1 if n > 1 else flow.ones(1, dtype=theta.dtype, device=theta.device)


def _affine_grid(theta, shape, align):
    spatial = list(shape[2:])                                    # (D,) H, W
    axes = flow.meshgrid(*[_axis_positions(n, align, theta) for n in spatial], indexing="ij")
    base = flow.stack(list(reversed(axes)) + [flow.ones_like(axes[0])], dim=-1)   # x, y, (z), 1
    base = base.reshape(1, -1, len(spatial) + 1).expand(theta.shape[0], -1, -1)
    return flow.matmul(base, theta.transpose(1, 2)).reshape([theta.shape[0]] + spatial + [len(spatial)])


@register("AffineGrid", 20, notes="align_corners=1 on a length-1 axis gives 1, as ONNX Runtime (onnx's "
                                  "reference -1, torch 0; the spec text is silent)")
def affine_grid(ctx):
    align = bool(ctx.attr("align_corners", 0))
    static = to_list(ctx.const(1))
    if static is not None:
        ctx.claim(1)

    def run(theta, size=None):
        return _affine_grid(theta, static if static is not None else to_list(size), align)

    return run


def _reflect(v, lo, hi):
    """Fold coordinates into [lo, hi] by reflecting at the borders (ONNX's reference rule)."""
    span = hi - lo
    if span <= 0:
        return flow.full_like(v, lo)
    below, above = lo - v, v - hi
    out = v
    for dist, near, far in ((below, lo, hi), (above, hi, lo)):
        turns = flow.floor(dist / span)
        rest = dist - turns * span
        even = flow.fmod(turns, flow.full_like(turns, 2.0)) == 0
        sign = 1.0 if near == lo else -1.0
        folded = flow.where(even, near + sign * rest, far - sign * rest)
        out = flow.where(dist > 0, folded, out)
    return out


def nearest_grid_sample(x, grid, padding, align):
    dims = list(x.shape[2:])
    n, c, nd = x.shape[0], x.shape[1], len(dims)
    out_shape = list(grid.shape[1:-1])
    flat_index = None
    valid = None
    stride = 1
    for i in reversed(range(nd)):            # the grid lists coordinates last axis first
        d = dims[i]
        g = grid[..., nd - 1 - i].to(flow.float32)
        pos = (g + 1) / 2 * (d - 1) if align else ((g + 1) * d - 1) / 2
        lo, hi = (0.0, d - 1.0) if align else (-0.5, d - 0.5)
        pos = flow.round(pos)                 # half to even, as ONNX (and PyTorch >= 2.1)
        outside = (pos < lo) | (pos > hi)
        if padding == "border":
            pos = flow.where(outside, flow.clamp(pos, 0, d - 1), pos)
        elif padding == "reflection":
            pos = flow.where(outside, _reflect(pos, lo, hi), pos)
        idx = flow.trunc(pos)
        if padding == "reflection":   # the reference reflects the integer index once more
            idx = flow.trunc(_reflect(idx, lo, hi))
        inside = (idx >= 0) & (idx <= d - 1)
        valid = inside if valid is None else valid & inside
        idx = flow.clamp(idx, 0, d - 1).to(flow.int64)
        flat_index = idx * stride if flat_index is None else flat_index + idx * stride
        stride *= d
    gathered = flow.gather(x.reshape(n, c, -1), 2,
                           flat_index.reshape(n, 1, -1).expand(n, c, math.prod(out_shape)))
    y = gathered.reshape([n, c] + out_shape)
    if padding == "zeros":
        y = flow.where(valid.unsqueeze(1).expand(y.shape), y, flow.zeros_like(y))
    return y
