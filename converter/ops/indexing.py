"""Indexing and selection: Slice, Gather*, Scatter*, OneHot, NonZero, Compress, TopK,
ArgMax/ArgMin, CumSum, Trilu, Where."""
from __future__ import annotations

import numpy as np
import oneflow as flow

from ..device_checks import host_check, record, tracing
from ..dtypes import to_list
from ..folding import check_alloc
from ..registry import register

# OneFlow 0.9 CPU kernels missing for some dtypes; these ops only move or compare values,
# so running them in a wider dtype and casting back is exact.
_WIDER = {flow.float16: flow.float32, flow.uint8: flow.int32, flow.int8: flow.int32, flow.bool: flow.int8}


def exact_via_wider(fn, widen=(flow.float16,)):
    """Run ``fn`` on tensors whose first argument's dtype is in ``widen`` in a wider dtype.

    Tensor arguments with the first argument's dtype are widened, and tensor results of the
    widened dtype narrowed back.
    """
    def run(x, *rest):
        if not isinstance(x, flow.Tensor) or x.dtype not in widen:
            return fn(x, *rest)
        narrow, wide = x.dtype, _WIDER[x.dtype]
        up = [a.to(wide) if isinstance(a, flow.Tensor) and a.dtype == narrow else a for a in rest]
        out = fn(x.to(wide), *up)
        back = lambda t: t.to(narrow) if isinstance(t, flow.Tensor) and t.dtype == wide else t  # noqa: E731
        return tuple(back(t) for t in out) if isinstance(out, tuple) else back(out)
    return run


def check_index_range(index, dims, what: str = "index") -> None:
    """IndexError unless every value of ``index`` is in [-dim, dim - 1] (ONNX's valid range).

    ``dims`` is one axis length or, for GatherND/ScatterND, one per last-axis column. OneFlow's
    gather/scatter kernels CHECK their indices and abort the whole process on a bad one
    (docs/design.md: C++ CHECKs), so nothing out of range may reach them. A run-time tensor
    is read on the host; while nn.Graph traces, use ``in_range_index`` (checked on the device).
    """
    if isinstance(index, flow.Tensor):
        if index.numel() == 0:
            return
        with host_check():
            index = index.numpy()
    index = np.asarray(index).astype(np.int64, copy=False)
    if index.size == 0:
        return
    dims = np.asarray(dims, dtype=np.int64)
    bad = (index < -dims) | (index >= dims)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise _range_error(what, int(index[where]), where, dims)


def _range_error(what, value, where, dims) -> IndexError:
    dims = np.asarray(dims, dtype=np.int64)
    dim = int(dims if dims.ndim == 0 else dims[where[-1]])
    return IndexError(f"{what} {value} at position {where} is out of range "
                      f"[{-dim}, {dim - 1}] for an axis of length {dim}")


def in_range_index(index, dims, what: str = "index"):
    """``index`` as int64 after checking its values are in [-dim, dim - 1] (check_index_range).

    Eager: checked on the host. Traced by nn.Graph: checked on the device (device_checks: the
    graph wrapper raises this same IndexError, naming the node, after the call), and the
    offending elements are replaced by 0 so the kernel that follows cannot abort on them."""
    if not tracing(index):
        check_index_range(index, dims, what)
        return index.to(flow.int64)
    idx = index.to(flow.int64)
    if idx.numel() == 0:
        return idx
    shape = tuple(idx.shape)
    dims_list = [int(d) for d in np.asarray(dims).reshape(-1)]
    if 0 in dims_list:   # an empty axis: every index is out of range, whatever its value
        raise IndexError(f"{what}: {idx.numel()} index value(s) into an axis of length 0")
    bound = dims_list[0] if np.ndim(dims) == 0 else \
        flow.tensor(dims_list, dtype=flow.int64, device=idx.device)
    bad = (idx < -bound) | (idx >= bound)
    record(idx, bad, lambda pos, val: _range_error(what, val, _unravel(pos, shape), dims))
    return idx.masked_fill(bad, 0)


def _unravel(position: int, shape) -> tuple:
    return tuple(int(i) for i in np.unravel_index(position, shape))


def _normalize_index(index, dim, what: str = "index", checked: bool = False):
    """Negative indices count from the end; OneFlow kernels want int64. ``checked``: the range
    was checked at build time (constant indices), so nothing is read back per call."""
    index = index.to(flow.int64) if checked else in_range_index(index, dim, what)
    return flow.where(index < 0, index + dim, index)


def _static_dim(ctx, i: int, axis: int):
    """Length of input ``i``'s ``axis`` when known at build time, else None."""
    info = ctx.input_info(i)
    shape = info.shape if info is not None and info.shape is not None else None
    if shape is None and ctx.const(i) is not None:
        shape = ctx.const(i).shape
    if shape is None or not -len(shape) <= axis < len(shape):
        return None
    return shape[axis]


def _check_const_indices(ctx, data: int, indices: int, axis: int) -> bool:
    """Constant indices are checked when the node is built (the error names the node); True
    when they were, so the run need not read them back."""
    value, dim = ctx.const(indices), _static_dim(ctx, data, axis)
    if value is not None and dim is not None:
        check_index_range(value, dim, f"{ctx.op_type} index")
        return True
    return False


# --- Slice --------------------------------------------------------------------------------------
def _clamped(start, end, step, dim):
    """ONNX Slice clamping of one axis -> (start, end) in range semantics.

    The spec text (and ONNX Runtime): negative values get ``dim`` added, then for a positive
    step start and end clamp into [0, dim], for a negative step start into [0, dim-1] and end
    into [-1, dim-1]. ONNX's Python reference slices with numpy instead, which returns an
    empty result for a start below -dim with a negative step; the spec wins (issue-tracked).
    """
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        return min(max(start, 0), dim), min(max(end, 0), dim)
    return min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)


def _slice(x, starts, ends, axes, steps):
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} differ in length")
    if any(st == 0 for st in steps):
        raise ValueError(f"steps {steps} contain 0")
    axes = [a + x.ndim if a < 0 else a for a in axes]
    if any(not 0 <= a < x.ndim for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"axes {axes} must be distinct axes of a rank-{x.ndim} tensor")
    index = [slice(None)] * x.ndim
    flips = []
    for s, e, a, st in zip(starts, ends, axes, steps):
        dim = x.shape[a]
        s, e = _clamped(s, e, st, dim)
        if st > 0:
            index[a] = slice(s, max(e, s), st)
        elif dim == 0:
            index[a] = slice(0, 0)
        else:   # run backwards on the flipped axis: element i is element dim-1-i there
            s, e = dim - 1 - s, dim - 1 - e
            index[a] = slice(s, max(e, s), -st)
            flips.append(a)
    if flips:
        x = exact_via_wider(lambda t: flow.flip(t, flips))(x)
    return x[tuple(index)]


@register("Slice", 1, 10, 11, 13,
          notes="clamps per the spec text and ONNX Runtime (negative step: start into [0, dim-1]); "
                "ONNX's numpy reference returns empty for start < -dim there")
def slice_(ctx):
    if ctx.version == 1:
        starts, ends, axes = ctx.attr("starts"), ctx.attr("ends"), ctx.attr("axes")
        return lambda x: _slice(x, starts, ends, axes, None)
    static = [to_list(ctx.const(i)) for i in range(1, 5)]
    if all(v is not None or not ctx.has_input(i + 1) for i, v in enumerate(static)):
        ctx.claim(1, 2, 3, 4)
        return lambda x: _slice(x, *static)
    return lambda x, starts, ends, axes=None, steps=None: _slice(
        x, to_list(starts), to_list(ends), to_list(axes), to_list(steps))


# --- Gather family ------------------------------------------------------------------------------
_gather_safe = exact_via_wider(lambda x, axis, idx: flow.index_select(x, axis, idx), (flow.uint8, flow.float16))


@register("Gather", 1, 11, 13, notes="indices outside [-s, s-1] raise (as ONNX Runtime does)")
def gather(ctx):
    axis = ctx.attr("axis", 0)
    checked = _check_const_indices(ctx, 0, 1, axis)
    known = ctx.const(1)   # constant indices, data's axis unknown at build: checked per call, no host read

    def run(x, indices):
        ax = axis + x.ndim if axis < 0 else axis
        if not checked and known is not None:
            check_index_range(known, x.shape[ax], "Gather index")
        idx = _normalize_index(indices, x.shape[ax], checked=checked or known is not None)
        out = _gather_safe(x, ax, idx.reshape(-1))
        return out.reshape(list(x.shape[:ax]) + list(indices.shape) + list(x.shape[ax + 1:]))

    return run


@register("GatherElements", 11, 13, notes="indices outside [-s, s-1] raise")
def gather_elements(ctx):
    axis = ctx.attr("axis", 0)
    checked = _check_const_indices(ctx, 0, 1, axis)

    def run(x, indices):
        ax = axis + x.ndim if axis < 0 else axis
        return flow.gather(x, ax, _normalize_index(indices, x.shape[ax], checked=checked))

    return exact_via_wider(run)


def _check_const_nd(ctx, batch_dims: int = 0) -> bool:
    """GatherND/ScatterND: constant indices checked at build time against the data's known
    dims (True when they were: the run reads nothing back, nn.Graph can trace the node)."""
    value, info = ctx.const(1), ctx.input_info(0)
    shape = info.shape if info is not None and info.shape is not None else None
    if value is None or shape is None or value.ndim == 0:
        return False
    dims = shape[batch_dims:batch_dims + value.shape[-1]]
    if len(dims) != value.shape[-1] or any(d is None for d in dims):
        return False
    check_index_range(value, list(dims), f"{ctx.op_type} index")
    return True


def _nd_index(data_shape, indices, batch_dims, checked=False):
    """GatherND/ScatterND indices with negatives resolved and batch dims folded into one.

    Returns (indices of shape (nb, ..., 1 + k), nb) addressing ``data`` reshaped to
    (nb, *data_shape[batch_dims:]).
    """
    k = indices.shape[-1]
    if k > len(data_shape) - batch_dims:
        raise IndexError(f"indices address {k} axes; the data has {len(data_shape) - batch_dims} after batch_dims")
    if list(indices.shape[:batch_dims]) != list(data_shape[:batch_dims]):
        raise IndexError(f"batch dims of indices {list(indices.shape[:batch_dims])} differ from the data's "
                         f"{list(data_shape[:batch_dims])}")
    idx = indices.to(flow.int64) if checked else in_range_index(indices, list(data_shape[batch_dims:batch_dims + k]))
    dims = flow.tensor(list(data_shape[batch_dims:batch_dims + k]), dtype=flow.int64, device=indices.device)
    idx = flow.where(idx < 0, idx + dims, idx)
    nb = int(np.prod(data_shape[:batch_dims]))
    inner = list(indices.shape[batch_dims:-1])
    idx = idx.reshape([nb] + inner + [k])
    batch = flow.arange(nb, dtype=flow.int64, device=idx.device).reshape([nb] + [1] * (len(inner) + 1))
    batch = batch.expand(*([nb] + inner + [1]))
    return flow.cat([batch, idx], dim=-1), nb


@register("GatherND", 11, 12, 13, notes="indices outside [-s, s-1] raise")
def gather_nd(ctx):
    batch_dims = ctx.attr("batch_dims", 0)
    checked = _check_const_nd(ctx, batch_dims)

    def run(x, indices):
        idx, nb = _nd_index(x.shape, indices, batch_dims, checked)
        out = flow.gather_nd(x.reshape([nb] + list(x.shape[batch_dims:])), idx)
        k = indices.shape[-1]
        return out.reshape(list(indices.shape[:-1]) + list(x.shape[batch_dims + k:]))

    return exact_via_wider(run)


# --- Scatter family -------------------------------------------------------------------------------
# OneFlow's scatter reduces "add" correctly, and "multiply" for float and int32 only (on
# int8/uint8/int64 it adds); max and min have no kernel. Those run one update at a time.
_SCATTER_REDUCE = {"add": "add", "mul": "multiply"}
_MULTIPLY_OK = (flow.float32, flow.float64, flow.int32)
_PAIRWISE = {"mul": flow.mul, "max": flow.maximum, "min": flow.minimum}


def _native_reduce(reduction, dtype) -> bool:
    return reduction == "add" or (reduction == "mul" and dtype in _MULTIPLY_OK)
_SCATTER_WIDEN = (flow.float16, flow.bool)   # no bool max/min kernels; int8 is exact


def _reduction_check(ctx):
    reduction = ctx.attr("reduction", "none")
    if reduction not in ("none", "add", "mul", "max", "min"):
        return f"reduction={reduction!r}"
    return None


def _scatter_elements(reduction, axis, checked=False):
    def run(x, indices, updates):
        ax = axis + x.ndim if axis < 0 else axis
        if indices.ndim != x.ndim or tuple(updates.shape) != tuple(indices.shape):
            raise ValueError(f"indices {tuple(indices.shape)} and updates {tuple(updates.shape)} must have "
                             f"one shape, of the data's rank {x.ndim}")
        idx = _normalize_index(indices, x.shape[ax], checked=checked)
        if reduction == "none":
            return flow.scatter(x, ax, idx, updates)
        if _native_reduce(reduction, x.dtype):
            return flow.scatter(x, ax, idx, updates, reduce=_SCATTER_REDUCE[reduction])
        return _scatter_pairwise(x, ax, idx, updates, _PAIRWISE[reduction])

    return exact_via_wider(run, _SCATTER_WIDEN)


def _scatter_pairwise(x, axis, idx, updates, combine):
    """max/min scatter, one update at a time (duplicates combine in order); OneFlow has no kernel."""
    out = x.clone()
    positions = np.argwhere(np.ones(tuple(idx.shape), dtype=bool))
    idx_np, upd = idx.numpy(), updates
    for pos in positions:
        target = list(pos)
        target[axis] = int(idx_np[tuple(pos)])
        out[tuple(target)] = combine(out[tuple(target)], upd[tuple(pos)])
    return out


@register("ScatterElements", 11, 13, 16, 18, check=_reduction_check, notes="indices outside [-s, s-1] raise; "
          "float16 add/mul run (ONNX Runtime 1.19 has no kernel for them, so they are not compared)")
def scatter_elements(ctx):
    checked = _check_const_indices(ctx, 0, 1, ctx.attr("axis", 0))
    return _scatter_elements(ctx.attr("reduction", "none"), ctx.attr("axis", 0), checked)


@register("Scatter", 9, 11, notes="indices outside [-s, s-1] raise")
def scatter(ctx):
    checked = _check_const_indices(ctx, 0, 1, ctx.attr("axis", 0))
    return _scatter_elements("none", ctx.attr("axis", 0), checked)


@register("ScatterND", 11, 13, 16, 18, check=_reduction_check, notes="indices outside [-s, s-1] raise; float16 "
          "add/mul and bool max/min run (ONNX Runtime 1.19 has no kernel for them, so they are not compared)")
def scatter_nd(ctx):
    reduction = ctx.attr("reduction", "none")
    checked = _check_const_nd(ctx)

    def run(x, indices, updates):
        k = indices.shape[-1]
        if k > x.ndim:
            raise IndexError(f"indices address {k} axes of a rank-{x.ndim} tensor")
        want = list(indices.shape[:-1]) + list(x.shape[k:])
        if list(updates.shape) != want:
            raise ValueError(f"updates have shape {list(updates.shape)}, expected {want}")
        idx = indices.to(flow.int64) if checked else in_range_index(indices, list(x.shape[:k]))
        if x.numel() == 0 or updates.numel() == 0:   # nothing to write (and no -1 to infer
            return x.clone()                          # beside a 0: OneFlow's reshape traps)
        rows = int(np.prod(x.shape[:k]))
        rest = list(x.shape[k:])
        n_updates = int(np.prod(indices.shape[:-1]))
        dims = flow.tensor(list(x.shape[:k]), dtype=flow.int64, device=x.device)
        idx = idx.reshape(n_updates, k)
        idx = flow.where(idx < 0, idx + dims, idx)
        strides = flow.tensor([int(np.prod(x.shape[i + 1:k])) for i in range(k)], dtype=flow.int64,
                              device=x.device)
        flat = (idx * strides).sum(dim=1)                       # row of each update
        upd = updates.reshape([n_updates] + rest)
        data = x.reshape([rows] + rest)
        index = flat.reshape([-1] + [1] * len(rest)).expand(*upd.shape) if rest else flat
        if reduction == "none":
            out = flow.scatter(data, 0, index, upd)
        elif _native_reduce(reduction, x.dtype):
            out = flow.scatter(data, 0, index, upd, reduce=_SCATTER_REDUCE[reduction])
        else:
            out = data.clone()
            for i, row in enumerate(flat.numpy().tolist()):
                out[row] = _PAIRWISE[reduction](out[row], upd[i])
        return out.reshape(list(x.shape))

    return exact_via_wider(run, _SCATTER_WIDEN)


# --- selection --------------------------------------------------------------------------------------
@register("OneHot", 9, 11, notes="a float index with a fractional part selects no class (all off_value), "
                                "as ONNX Runtime and onnx's reference")
def one_hot(ctx):
    axis = ctx.attr("axis", -1)
    static = ctx.claim_list(1)

    def run(indices, depth, values):
        d = static[0] if static is not None else int(depth.numpy().reshape(-1)[0])
        if d < 1:
            raise ValueError(f"depth {d} must be positive")
        out_rank = indices.ndim + 1
        check_alloc(list(indices.shape) + [d], values.dtype)
        ax = axis + out_rank if axis < 0 else axis
        # A float index with a fraction addresses no class (all off), as ORT and onnx's
        # reference: compare in float64 rather than truncate.
        idx = indices.to(flow.float64 if indices.is_floating_point() else flow.int64)
        idx = flow.where(idx < 0, idx + d, idx).unsqueeze(ax)
        classes = flow.arange(d, dtype=idx.dtype, device=idx.device).reshape(
            [d if i == ax else 1 for i in range(out_rank)])
        hot = idx == classes
        off, on = values[0], values[1]
        return flow.where(hot, on.expand(*hot.shape), off.expand(*hot.shape))

    return _one_hot_safe(run)


def _one_hot_safe(run):
    """OneHot's dtype is its ``values``' dtype: widen those, not the indices."""
    def wrapped(indices, depth, values):
        if values.dtype in _WIDER:
            return run(indices, depth, values.to(_WIDER[values.dtype])).to(values.dtype)
        return run(indices, depth, values)
    return wrapped


def _nonzero(x):
    # A 0-d input counts as one element: (1, nnz), as numpy.nonzero (which the spec names),
    # ONNX Runtime and onnx's reference (shape inference alone says (0, nnz)).
    return flow.nonzero(x.reshape(1) if x.ndim == 0 else x).permute(1, 0).to(flow.int64)


@register("NonZero", 9, 13, notes="a 0-d input gives shape (1, nnz) as numpy.nonzero, ONNX Runtime and onnx's "
                                  "reference (onnx shape inference says (0, nnz))")
def non_zero(ctx):
    return exact_via_wider(_nonzero)


@register("Compress", 9, 11)
def compress(ctx):
    axis = ctx.attr("axis")

    def run(x, condition):
        keep = flow.nonzero(condition.to(flow.bool)).reshape(-1)
        if axis is None:
            x, ax = x.reshape(-1), 0
        else:
            ax = axis + x.ndim if axis < 0 else axis
        keep = in_range_index(keep, x.shape[ax], "selected position")   # condition longer than the axis
        return _gather_safe(x, ax, keep)

    return run


@register("TopK", 1, 10, 11, notes="ties keep the lower index first; NaN ranks above +inf (as numpy's sort "
                                  "and torch.topk; ONNX leaves it open, ONNX Runtime's order is not monotone there)")
def top_k(ctx):
    axis = ctx.attr("axis", -1)
    largest = bool(ctx.attr("largest", 1))
    k_attr = ctx.attr("k") if ctx.version == 1 else (ctx.claim_list(1) or [None])[0]

    def run(x, k=None):
        kk = k_attr if k_attr is not None else to_list(k)[0]
        ax = axis + x.ndim if axis < 0 else axis
        if not 0 <= kk <= x.shape[ax]:
            raise ValueError(f"k={kk} is outside [0, {x.shape[ax]}] (the length of axis {ax})")
        if kk == 0 or x.numel() == 0:   # OneFlow's sort traps on an empty axis, its topk on k=0
            shape = list(x.shape[:ax]) + [kk] + list(x.shape[ax + 1:])
            return (flow.zeros(*shape, dtype=x.dtype, device=x.device),
                    flow.zeros(*shape, dtype=flow.int64, device=x.device))
        idx = flow.narrow(_stable_order(x, ax, largest), ax, 0, kk)
        return flow.gather(x, ax, idx), idx

    # OneFlow's CPU argsort mis-orders int8/uint8; int32 holds them exactly.
    return exact_via_wider(run, (flow.float16, flow.int8, flow.uint8))


def _stable_order(x, ax, largest):
    """Positions along ``ax`` that sort ``x`` (descending when ``largest``), ties by ascending
    position, NaN above +inf. OneFlow's argsort is not stable, so it sorts unique int64 keys:
    (rank of the value among the row's values) * n + position; the rank is a binary search
    in the sorted row. Exact, on the device (no host read: nn.Graph traces it)."""
    n = x.shape[ax]
    row = flow.transpose(x, ax, x.ndim - 1) if ax != x.ndim - 1 else x
    if n == 0:
        return flow.zeros(*x.shape, dtype=flow.int64, device=x.device)
    nan = None
    if row.is_floating_point():
        nan = row != row
        row = row.masked_fill(nan, float("inf"))
    ordered, _ = flow.sort(row, dim=-1)
    rank = flow.searchsorted(ordered.contiguous(), row.contiguous()).to(flow.int64)   # values below it
    if nan is not None:
        rank = rank.masked_fill(nan, n)
    pos = flow.arange(n, dtype=flow.int64, device=x.device)
    key = rank * n + ((n - 1) - pos if largest else pos)
    order = flow.argsort(key, dim=-1, descending=largest).to(flow.int64)
    return flow.transpose(order, ax, x.ndim - 1) if ax != x.ndim - 1 else order


def _arg_reduce(fn):
    def build(ctx):
        axis = ctx.attr("axis", 0)
        keepdims = bool(ctx.attr("keepdims", 1))
        last = bool(ctx.attr("select_last_index", 0))

        def run(x):
            ax = axis + x.ndim if axis < 0 else axis
            if last:   # first occurrence in the reversed axis is the last one in the original
                idx = x.shape[ax] - 1 - fn(exact_via_wider(lambda t: flow.flip(t, [ax]))(x), dim=ax, keepdim=keepdims)
            else:
                idx = fn(x, dim=ax, keepdim=keepdims)
            return idx.to(flow.int64)

        return exact_via_wider(run, (flow.float16, flow.bool))
    return build


register("ArgMax", 1, 11, 12, 13)(_arg_reduce(flow.argmax))
register("ArgMin", 1, 11, 12, 13)(_arg_reduce(flow.argmin))


@register("CumSum", 11, 14, notes="float16 accumulates in float32")
def cum_sum(ctx):
    exclusive = bool(ctx.attr("exclusive", 0))
    reverse = bool(ctx.attr("reverse", 0))
    static_axis = ctx.claim_list(1)   # a constant axis is read once, here (nn.Graph traces the node)

    def run(x, axis=None):
        ax = (static_axis if static_axis is not None else to_list(axis))[0]
        if not -x.ndim <= ax < x.ndim:
            raise IndexError(f"axis {ax} is out of range for a rank-{x.ndim} input")
        ax = ax + x.ndim if ax < 0 else ax
        if reverse:
            x = flow.flip(x, [ax])
        out = flow.cumsum(x, dim=ax).to(x.dtype)
        if exclusive:   # shift by one, zero first: exact, unlike cumsum - x
            zero = flow.zeros_like(flow.narrow(out, ax, 0, 1))
            out = flow.cat([zero, flow.narrow(out, ax, 0, max(out.shape[ax] - 1, 0))], dim=ax)
        if reverse:
            out = flow.flip(out, [ax])
        return out

    return exact_via_wider(run)


@register("Trilu", 14)
def trilu(ctx):
    upper = bool(ctx.attr("upper", 1))
    static_k = ctx.claim_list(1) if ctx.has_input(1) else [0]   # a constant k is read once, here

    def run(x, k=None):
        kk = (static_k if static_k is not None else to_list(k))[0]
        if 0 in x.shape:
            return x
        return flow.triu(x, kk) if upper else flow.tril(x, kk)

    return exact_via_wider(run, (flow.float16, flow.bool))


def _where(cond, x, y):
    if x.dtype in _WIDER:
        return flow.where(cond.to(flow.bool), x.to(_WIDER[x.dtype]), y.to(_WIDER[x.dtype])).to(x.dtype)
    return flow.where(cond.to(flow.bool), x, y)


@register("Where", 9, 16)
def where(ctx):
    return _where


@register("ReverseSequence", 10)
def reverse_sequence(ctx):
    time_axis, batch_axis = ctx.attr("time_axis", 0), ctx.attr("batch_axis", 1)

    def run(x, sequence_lens):
        steps, batch = x.shape[time_axis], x.shape[batch_axis]
        lens = sequence_lens.to(flow.int64).reshape(1, batch)
        error = lambda pos, val: IndexError(  # noqa: E731
            f"sequence_lens {val} at position {pos} must be in [0, {steps}]")
        if tracing(lens):       # checked on the device; a length past the axis must not reach gather
            bad = (lens < 0) | (lens > steps)
            record(lens, bad, error)
            lens = lens.masked_fill(bad, 0)
        elif batch:
            with host_check():
                lens_np = lens.numpy().reshape(-1)
            wrong = np.flatnonzero((lens_np < 0) | (lens_np > steps))
            if wrong.size:
                raise error(int(wrong[0]), int(lens_np[wrong[0]]))
        t = flow.arange(steps, dtype=flow.int64, device=x.device).reshape(steps, 1)
        index = flow.where(t < lens, lens - 1 - t, t.expand(steps, batch))   # (time, batch)
        if time_axis > batch_axis:
            index = index.permute(1, 0)
        shape = [d if i in (time_axis, batch_axis) else 1 for i, d in enumerate(x.shape)]
        return flow.gather(x, time_axis, index.reshape(shape).expand(*x.shape))

    return exact_via_wider(run)


def _unique_flat(x, keep_sorted):
    flat = x.reshape(-1)
    values, inverse, counts = flow.unique(flat, sorted=True, return_inverse=True, return_counts=True)
    inverse, counts = inverse.to(flow.int64), counts.to(flow.int64)
    n, k = flat.shape[0], values.shape[0]
    check_alloc([2, k, n], flow.int64, "Unique's first-occurrence tables")
    # First occurrence of each unique value: the smallest position mapping to it.
    hit = inverse.reshape(1, n) == flow.arange(k, dtype=flow.int64, device=x.device).reshape(k, 1)
    positions = flow.arange(n, dtype=flow.int64, device=x.device).reshape(1, n).expand(k, n)
    first = flow.where(hit, positions, flow.full_like(positions, n)).amin(dim=1)
    if not keep_sorted:   # ONNX: in order of first occurrence
        order = flow.argsort(first)
        rank = flow.argsort(order)
        values, first, counts = values[order], first[order], counts[order]
        inverse = rank[inverse].to(flow.int64)
    return values, first, inverse, counts


def _unique_slices(x, axis, keep_sorted):
    """Unique sub-tensors along ``axis`` by pairwise comparison (OneFlow's unique flattens)."""
    n = x.shape[axis]
    rows = x.permute(axis, *[d for d in range(x.ndim) if d != axis]).reshape(n, x.numel() // n)
    check_alloc([n, n, rows.shape[1]], flow.int64, "Unique's pairwise slice comparison")
    same = (rows.unsqueeze(1) == rows.unsqueeze(0)).to(flow.int32).amin(dim=2) > 0     # (n, n)
    pos = flow.arange(n, dtype=flow.int64, device=x.device)
    first_of = flow.where(same, pos.reshape(1, n).expand(n, n), flow.full((n, n), n, dtype=flow.int64,
                                                                          device=x.device)).amin(dim=1)
    firsts = flow.nonzero(first_of == pos).reshape(-1).to(flow.int64)   # in order of appearance
    if keep_sorted:   # lexicographic order of the unique rows: rank = how many rows are smaller
        u = rows[firsts]
        differ = u.unsqueeze(1) != u.unsqueeze(0)                                     # (k, k, m)
        col = differ.to(flow.int32).argmax(dim=2, keepdim=True)                        # first difference
        a = flow.gather(u.unsqueeze(1).expand(*differ.shape), 2, col).squeeze(2)
        b = flow.gather(u.unsqueeze(0).expand(*differ.shape), 2, col).squeeze(2)
        smaller = (a < b) & differ.to(flow.int32).amax(dim=2).to(flow.bool)            # row i < row j
        rank = smaller.to(flow.int64).sum(dim=0)
        firsts = firsts[flow.argsort(rank)].to(flow.int64)
    k = firsts.shape[0]
    matches = first_of.reshape(1, n) == firsts.reshape(k, 1)                          # (k, n)
    inverse = matches.to(flow.int64).argmax(dim=0).to(flow.int64)
    counts = matches.to(flow.int64).sum(dim=1)
    return _gather_safe(x, axis, firsts), firsts, inverse, counts


def _unique_empty(x, axis):
    """Unique of an empty tensor: no values, no indices, an inverse as long as the axis."""
    if axis is None:
        values, n = flow.zeros(0, dtype=x.dtype, device=x.device), 0
    else:
        ax = axis + x.ndim if axis < 0 else axis
        n = x.shape[ax]
        shape = list(x.shape)
        shape[ax] = 1 if n else 0   # equal (empty) slices: one unique slice when there are any
        values = flow.zeros(*shape, dtype=x.dtype, device=x.device)
    k = values.shape[axis] if axis is not None else 0
    index = lambda m: flow.zeros(m, dtype=flow.int64, device=x.device)  # noqa: E731
    return values, index(k), index(n), flow.full((k,), n, dtype=flow.int64, device=x.device) if k else index(0)


@register("Unique", 11)
def unique(ctx):
    keep_sorted = bool(ctx.attr("sorted", 1))
    axis = ctx.attr("axis")

    def run(x):
        if x.numel() == 0:   # OneFlow's sort traps on an empty axis: nothing is unique
            return _unique_empty(x, axis)
        if axis is None:
            return _unique_flat(x, keep_sorted)
        return _unique_slices(x, axis + x.ndim if axis < 0 else axis, keep_sorted)

    return exact_via_wider(run)
