"""Shape and layout: Constant, Identity, Reshape, Expand, Tile, Transpose, Concat, Split,
Squeeze, Unsqueeze, Flatten, Shape, Size, ConstantOfShape, Range, Cast, CastLike."""
from __future__ import annotations

import numpy as np
import oneflow as flow
import onnx

from ..dtypes import NP_TO_FLOW, flow_dtype, to_list
from ..folding import Folded, check_alloc, fits_fold_budget
from ..registry import register


def _static_shape(ctx, i: int = 0):
    """Input i's fully static shape (inferred or declared), else None."""
    info = ctx.input_info(i)
    if info is not None and info.shape is not None and all(d is not None for d in info.shape):
        return tuple(info.shape)
    value = ctx.const(i)
    return None if value is None else value.shape


# ONNX element types OneFlow 0.9 has a dtype for. Others (int16, uint16+, bfloat16, float8,
# int4, string, complex) have none; onnx maps some of them onto numpy look-alikes, so look
# the element type up, not its numpy dtype.
_FLOW_ELEM_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                    onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT32,
                    onnx.TensorProto.INT64, onnx.TensorProto.BOOL}


def _onnx_np_dtype(elem_type: int):
    if elem_type not in _FLOW_ELEM_TYPES:
        return None
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))


def _elem_type_name(elem_type) -> str:
    try:
        return onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:
        return str(elem_type)


def _dtype_problem(np_dtype, what: str):
    """Reason OneFlow cannot hold ``np_dtype``, or None."""
    if np_dtype is None or np.dtype(np_dtype) not in NP_TO_FLOW:
        return f"{what} {np_dtype} has no OneFlow dtype"
    return None


# --- constants -----------------------------------------------------------------------------------
_CONSTANT_KINDS = {"value": None, "value_float": np.float32, "value_floats": np.float32,
                   "value_int": np.int64, "value_ints": np.int64}


def _constant_check(ctx):
    present = [k for k in ctx.attrs]
    if any(k in ("sparse_value", "value_string", "value_strings") for k in present):
        return f"Constant with {present[0]} (OneFlow has no sparse or string tensors)"
    if "value" in ctx.attrs:
        return _dtype_problem(ctx.attrs["value"].dtype, "value of dtype")
    return None


@register("Constant", 1, 9, 11, 12, 13, 19, 21, check=_constant_check)
def constant(ctx):
    for key, dtype in _CONSTANT_KINDS.items():
        if key in ctx.attrs:
            return Folded(np.asarray(ctx.attrs[key], dtype=dtype))
    raise ctx.unsupported(f"Constant with attribute {sorted(ctx.attrs)}")


@register("Identity", 1, 13, 14, 16, 19, 21)
def identity(ctx):
    return lambda x: (x,)   # a 1-tuple: x may be a sequence (list), which alone would mean several outputs


def _refuse_negative(ctx, dims, what: str, allowed: int = 0):
    """A build-time shape argument with a dim below ``allowed`` (Reshape: -1) breaks the spec:
    InvalidModelError naming the node (ONNX Runtime refuses it too). Run-time values are
    checked when the node runs (NodeExecutionError)."""
    if dims is not None and any(d < allowed for d in dims):
        raise ctx.invalid(f"{what} {dims} has a negative dim" if allowed == 0 else
                          f"{what} {dims} has a dim below {allowed}")
    return dims


def _cos_check(ctx):
    value = ctx.attr("value")
    return None if value is None else _dtype_problem(value.dtype, "value of dtype")


@register("ConstantOfShape", 9, 20, 21, check=_cos_check,
          notes="a constant shape with a negative dim is an InvalidModelError naming the node (ORT refuses it)")
def constant_of_shape(ctx):
    value = ctx.attr("value")
    fill = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    shape = ctx.const(0)
    _refuse_negative(ctx, to_list(shape), "shape")
    if shape is not None and fits_fold_budget(to_list(shape), fill.dtype):
        return Folded(np.full(to_list(shape), fill[0], dtype=fill.dtype))
    dtype = flow_dtype(fill.dtype)

    def run(shape):
        dims = to_list(shape)
        check_alloc(dims, dtype)
        return flow.full(dims, fill[0].item(), dtype=dtype, device=shape.device) if dims else \
            flow.tensor(fill[0], dtype=dtype, device=shape.device)

    return run


def _eye_like_check(ctx):
    if ctx.attr("dtype") is not None and _onnx_np_dtype(ctx.attr("dtype")) is None:
        return f"dtype {_elem_type_name(ctx.attr('dtype'))} has no OneFlow dtype"
    return None


@register("EyeLike", 9, 22, check=_eye_like_check)
def eye_like(ctx):
    k = ctx.attr("k", 0)
    dtype = flow_dtype(_onnx_np_dtype(ctx.attr("dtype"))) if ctx.attr("dtype") is not None else None

    def run(x):
        rows, cols = x.shape
        i = flow.arange(rows, dtype=flow.int64, device=x.device).reshape(rows, 1)
        j = flow.arange(cols, dtype=flow.int64, device=x.device).reshape(1, cols)
        return ((j - i) == k).to(dtype or x.dtype)

    return run


@register("Range", 11)
def range_(ctx):
    def run(start, limit, delta):
        s, l, d = start.numpy().item(), limit.numpy().item(), delta.numpy().item()
        if d == 0:
            raise ValueError("delta is 0")
        n = max(int(np.ceil((l - s) / d)), 0)   # float/int: ceil((limit - start) / delta) elements
        check_alloc([n], start.dtype)
        # ONNX defines element i as start + i * delta (not repeated addition).
        steps = flow.arange(n, dtype=flow.int64, device=start.device).to(start.dtype)
        return steps * delta + start

    return run


# --- shape queries (folded when the input's shape is static) -----------------------------------
def _shape_slice(start, end, rank):
    end = rank if end is None else end
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return start, end


@register("Shape", 1, 13, 15, 19, 21)
def shape(ctx):
    bounds = (ctx.attr("start", 0), ctx.attr("end"))
    static = _static_shape(ctx)
    if static is not None:
        start, end = _shape_slice(*bounds, len(static))
        return Folded(np.asarray(static[start:end], dtype=np.int64))

    def run(x):
        start, end = _shape_slice(*bounds, x.ndim)
        return flow.tensor(list(x.shape)[start:end], dtype=flow.int64, device=x.device)

    return run


@register("Size", 1, 13, 19, 21)
def size(ctx):
    static = _static_shape(ctx)
    if static is not None:
        return Folded(np.asarray(int(np.prod(static)), dtype=np.int64))
    return lambda x: flow.tensor(int(np.prod(x.shape)), dtype=flow.int64, device=x.device)


# --- reshaping ---------------------------------------------------------------------------------
def _reshape_target(shape, target, allowzero):
    if allowzero:
        return list(target)
    return [shape[i] if d == 0 else d for i, d in enumerate(target)]


def _reshape(x, target):
    if -1 in target and 0 in x.shape:   # OneFlow cannot infer -1 for empty tensors
        known = int(np.prod([d for d in target if d != -1]))
        if not known:   # any length fits; OneFlow's reshape dies of SIGFPE, ONNX Runtime refuses
            raise ValueError(f"cannot infer the -1 in shape {list(target)}: the other dims multiply to 0")
        target = [0 if d == -1 else d for d in target]
    return x.reshape(target)


@register("Reshape", 1, 5, 13, 14, 19, 21,
          notes="a constant shape with a dim below -1 or two -1 is an InvalidModelError naming the node (ORT refuses it)")
def reshape(ctx):
    allowzero = ctx.attr("allowzero", 0)
    static = ctx.attr("shape") if ctx.version == 1 else to_list(ctx.const(1))
    _refuse_negative(ctx, static, "shape", allowed=-1)
    if static is not None and static.count(-1) > 1:
        raise ctx.invalid(f"shape {static} has more than one -1")

    def run(x, shape=None):
        target = static if static is not None else to_list(shape)
        return _reshape(x, _reshape_target(list(x.shape), target, allowzero))

    if static is not None:
        ctx.claim(1)
    return run


@register("Flatten", 1, 9, 11, 13, 21)
def flatten(ctx):
    axis = ctx.attr("axis", 1)

    def run(x):
        ax = axis if axis >= 0 else axis + x.ndim
        lead = int(np.prod(x.shape[:ax]))
        return x.reshape(lead, int(np.prod(x.shape[ax:])))

    return run


@register("Expand", 8, 13, notes="a constant shape with a negative dim is an InvalidModelError naming the node (ORT refuses it)")
def expand(ctx):
    static = _refuse_negative(ctx, ctx.claim_list(1), "shape")

    def run(x, shape=None):
        # Expand broadcasts both ways: a target dim of 1 keeps the input's dim.
        target = np.broadcast_shapes(tuple(x.shape), tuple(static if static is not None else to_list(shape)))
        # A view here, but the next node materialises it: refuse absurd sizes now.
        check_alloc(target, x.dtype)
        return x.expand(*target) if target else x

    return run


@register("Tile", 1, 6, 13, notes="constant repeats with a negative value are an InvalidModelError naming the node (ORT refuses them)")
def tile(ctx):
    legacy = ctx.version == 1
    static_reps, static_axis = _refuse_negative(ctx, ctx.claim_list(1), "repeats"), ctx.claim_list(2)

    def run(x, repeats=None, axis=None):
        reps = static_reps if static_reps is not None else to_list(repeats)
        if legacy:   # Tile-1: repeat one axis ``tiles`` times
            full = [1] * x.ndim
            full[(static_axis if static_axis is not None else to_list(axis))[0]] = reps[0]
            reps = full
        if len(reps) != x.ndim or any(r < 0 for r in reps):
            raise ValueError(f"repeats {reps} must be {x.ndim} non-negative values")
        check_alloc([d * r for d, r in zip(x.shape, reps)], x.dtype)
        return x.repeat(*reps) if reps else x

    return run


@register("Transpose", 1, 13, 21)
def transpose(ctx):
    perm = ctx.attr("perm")
    return lambda x: x.permute(*(perm if perm is not None else range(x.ndim - 1, -1, -1)))


@register("Concat", 1, 4, 11, 13)
def concat(ctx):
    axis = ctx.attr("axis", 1)
    return lambda *xs: flow.cat([x for x in xs if x is not None], dim=axis)


# --- Split --------------------------------------------------------------------------------------
def _split_sizes(dim, given, n_out, num_outputs):
    if given:
        return given
    if num_outputs:               # Split-18: the last chunk may be smaller
        chunk = -(-dim // num_outputs)
        return [min(chunk, dim - i * chunk) for i in range(num_outputs)]
    return [dim // n_out] * n_out


@register("Split", 1, 2, 11, 13, 18)
def split(ctx):
    axis = ctx.attr("axis", 0)
    n_out = len(ctx.outputs)
    num_outputs = ctx.attr("num_outputs") if ctx.version >= 18 else None
    attr_sizes = ctx.attr("split")
    static = to_list(ctx.const(1)) if ctx.version in (1, 13, 18) and ctx.has_input(1) else None
    if static is not None:
        ctx.claim(1)

    def run(x, sizes=None):
        given = attr_sizes or static or (to_list(sizes) if sizes is not None else None)
        ax = axis + x.ndim if axis < 0 else axis
        parts = _split_sizes(x.shape[ax], given, n_out, num_outputs)
        outs, start = [], 0
        for n in parts:
            outs.append(flow.narrow(x, ax, start, n))
            start += n
        return tuple(outs)

    return run


# --- Squeeze / Unsqueeze --------------------------------------------------------------------------
def _axes(ctx, value_index: int, first_input_version: int):
    """(static axes or None, axes come from input) for ops whose axes moved from attr to input."""
    if ctx.version < first_input_version:
        return ctx.attr("axes"), False
    if not ctx.has_input(value_index):
        return None, False
    value = ctx.const(value_index)
    if value is not None:
        ctx.claim(value_index)
        return to_list(value), False
    return None, True


@register("Squeeze", 1, 11, 13, 21)
def squeeze(ctx):
    static, runtime = _axes(ctx, 1, 13)

    def run(x, axes=None):
        ax = to_list(axes) if runtime else static
        if ax is None:
            ax = [i for i, d in enumerate(x.shape) if d == 1]
        ax = {a + x.ndim if a < 0 else a for a in ax}
        return x.reshape([d for i, d in enumerate(x.shape) if i not in ax])

    return run


@register("Unsqueeze", 1, 11, 13, 21)
def unsqueeze(ctx):
    static, runtime = _axes(ctx, 1, 13)

    def run(x, axes=None):
        ax = to_list(axes) if runtime else static
        rank = x.ndim + len(ax)
        ax = {a + rank if a < 0 else a for a in ax}
        dims = iter(x.shape)
        return x.reshape([1 if i in ax else next(dims) for i in range(rank)])

    return run


# --- Cast ---------------------------------------------------------------------------------------
_CAST1_NAMES = {"FLOAT": 1, "UINT8": 2, "INT8": 3, "UINT16": 4, "INT16": 5, "INT32": 6, "INT64": 7,
                "STRING": 8, "BOOL": 9, "FLOAT16": 10, "DOUBLE": 11, "UINT32": 12, "UINT64": 13}


def _cast_target(ctx):
    to = ctx.attr("to")
    if isinstance(to, str):   # Cast-1 names the type
        to = _CAST1_NAMES.get(to.upper(), 0)
    return _onnx_np_dtype(to)


def _cast_check(ctx):
    if _cast_target(ctx) is None:
        to = ctx.attr("to")
        return f"target type {to if isinstance(to, str) else _elem_type_name(to)} has no OneFlow dtype"
    return \
        (_dtype_problem(ctx.input_dtype(0), "input dtype") if ctx.input_dtype(0) is not None else None)


def _cast(x, dtype):
    if x.dtype == dtype:
        return x
    if dtype == flow.bool:     # nonzero (NaN included) is True
        return x != 0
    return x.to(dtype)


@register("Cast", 1, 6, 9, 13, 19, 21, check=_cast_check,
          notes="float/double/float16/int8/uint8/int32/int64/bool only (OneFlow 0.9 has no other dtype)")
def cast(ctx):
    dtype = flow_dtype(_cast_target(ctx))
    return lambda x: _cast(x, dtype)


def _cast_like_check(ctx):
    return _dtype_problem(ctx.input_dtype(1), "target dtype") if ctx.input_dtype(1) is not None else None


@register("CastLike", 15, 19, 21, check=_cast_like_check, notes="same dtypes as Cast")
def cast_like(ctx):
    target = ctx.input_dtype(1)
    if target is not None:
        ctx.claim(1)
        dtype = flow_dtype(target)
        return lambda x: _cast(x, dtype)
    return lambda x, like: _cast(x, like.dtype)
