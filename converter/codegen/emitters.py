"""Emitters: one per ONNX op type, each returning the Python expression of one node.

An emitter gets an ``Emission`` (the node's NodeContext plus the SourceWriter) and returns an
expression string; the writer assigns it to the node's output variable(s). Ops without an
emitter are reported all at once by codegen(); an emitter that cannot express an attribute
combination raises ``e.unsupported(reason)``, reported the same way.
"""
from __future__ import annotations

import numpy as np

from ..context import NodeContext
from ..errors import NodeUnsupported

EMITTERS: dict = {}


def emitter(*op_types: str):
    def deco(fn):
        for op in op_types:
            if op in EMITTERS:
                raise ValueError(f"codegen: emitter for {op} registered twice")
            EMITTERS[op] = fn
        return fn
    return deco


class Emission:
    """One node as an emitter sees it: attributes and constants (ctx), inputs as expressions."""

    def __init__(self, ctx: NodeContext, writer, runtime_inputs: list):
        self.ctx = ctx
        self.writer = writer
        self._runtime = runtime_inputs        # the builder's step inputs: None = claimed/absent

    def attr(self, name, default=None):
        return self.ctx.attr(name, default)

    def const(self, i: int):
        return self.ctx.const(i)

    def arg(self, i: int) -> str:
        """Expression for input ``i``: its variable, a buffer for a constant, or None."""
        if not self.ctx.has_input(i):
            return "None"
        name = self.ctx.inputs[i]
        value = self.ctx.const(i)
        if value is not None:
            return self.writer.buffer(name, value)
        return self.writer.var(name)

    def layer(self, constructor: str, **state) -> str:
        hint = self.ctx.node.name or f"{self.ctx.op_type.lower()}_{self.ctx.outputs[0]}"
        return self.writer.layer(hint, constructor, state)

    def helper(self, name: str) -> str:
        return self.writer.helper(name)

    def unsupported(self, reason: str) -> NodeUnsupported:
        return NodeUnsupported(reason)


def _ints(values) -> str:
    return repr(tuple(int(v) for v in values))


def _float(v) -> str:
    # ONNX float attributes are float32: print the shortest text that rounds back to them.
    return str(np.float32(v))


# --- convolution, normalisation, pooling ------------------------------------------------
def _pad_call(e, x: str, nd: int, kernel, stride, dilation, value: str = "0.0"):
    """(expression with any pre-padding applied, padding to give the native layer)."""
    auto_pad = e.attr("auto_pad", "NOTSET")
    pads = list(e.attr("pads") or [0] * (2 * nd))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        fn = e.helper("_same_pads")
        return (f"F.pad({x}, {fn}({x}, {_ints(kernel)}, {_ints(stride)}, {_ints(dilation)}, "
                f"{auto_pad == 'SAME_UPPER'}), value={value})", (0,) * nd)
    if auto_pad == "VALID":
        return x, (0,) * nd
    begins, ends = pads[:nd], pads[nd:]
    if begins == ends:
        return x, tuple(begins)
    flow_order = []
    for b, en in zip(reversed(begins), reversed(ends)):
        flow_order += [int(b), int(en)]
    return f"F.pad({x}, {flow_order!r}, value={value})", (0,) * nd


@emitter("Conv")
def conv(e):
    w, b = e.const(1), e.const(2)
    if w is None:
        raise e.unsupported("Conv with a weight computed at run time")
    if e.ctx.has_input(2) and b is None:
        raise e.unsupported("Conv with a bias computed at run time")
    nd = w.ndim - 2
    if nd not in (1, 2, 3):
        raise e.unsupported(f"{nd}-D Conv")
    kernel = tuple(e.attr("kernel_shape") or w.shape[2:])
    stride = tuple(e.attr("strides") or (1,) * nd)
    dilation = tuple(e.attr("dilations") or (1,) * nd)
    group = int(e.attr("group", 1))
    x, padding = _pad_call(e, e.arg(0), nd, kernel, stride, dilation)
    layer = e.layer(f"nn.Conv{nd}d({w.shape[1] * group}, {w.shape[0]}, kernel_size={_ints(kernel)}, "
                    f"stride={_ints(stride)}, padding={_ints(padding)}, dilation={_ints(dilation)}, "
                    f"groups={group}, bias={b is not None})", weight=w, bias=b)
    return f"{layer}({x})"


@emitter("BatchNormalization")
def batch_norm(e):
    if e.attr("training_mode", 0):
        raise e.unsupported("training_mode=1")
    eps = e.attr("epsilon", 1e-5)
    params = [e.const(i) for i in range(1, 5)]
    rank = e.ctx.input_rank(0)
    kinds = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}
    if all(p is not None for p in params) and rank in kinds:
        scale, bias, mean, var = params
        layer = e.layer(f"nn.{kinds[rank]}({scale.shape[0]}, eps={_float(eps)})",
                        weight=scale, bias=bias, running_mean=mean, running_var=var)
        return f"{layer}({e.arg(0)})"
    args = ", ".join(e.arg(i) for i in range(5))
    return f"{e.helper('_batch_norm')}({args}, {_float(eps)})"


def _pool_layout(e, dilations_since: int):
    """The converter's own PoolGeometry for this node, plus the static spatial input size and
    numpy dtype (None when unknown) and the (begins, ends + extra) pads of its explicit path."""
    from ..ops.pooling import PoolGeometry
    version = e.ctx.version
    geo = PoolGeometry(e.ctx, dilations=version >= dilations_since, ceil=version >= 10)
    if geo.nd not in (1, 2, 3):
        raise e.unsupported(f"{geo.nd}-D pooling")
    info = e.ctx.input_info(0)
    in_size = None if info is None or info.shape is None or None in info.shape[2:] else list(info.shape[2:])
    dtype = e.ctx.input_dtype(0)
    if geo.native:
        return geo, in_size, dtype, None
    if in_size is None:
        raise e.unsupported("pads OneFlow's pooling cannot take, on an input of unknown spatial size")
    begins, ends, extra = geo.explicit_pads(in_size)
    return geo, in_size, dtype, (begins, ends, extra)


def _flow_pads(begins, ends) -> list:
    from ..ops._util import flow_pad_arg
    return flow_pad_arg(begins, ends)


@emitter("MaxPool")
def max_pool(e):
    """The handler's two paths: OneFlow's layer where it computes this window layout, else
    explicit -inf padding (ceil_mode cells included) and windows past the input set to the
    dtype's lowest value; integers pool in float64 (exact), as the handler does."""
    from ..ops.pooling import _lowest, empty_window_mask
    from ..dtypes import flow_dtype
    if len(e.ctx.outputs) > 1 and e.ctx.outputs[1]:
        raise e.unsupported("the Indices output")
    geo, in_size, dtype, explicit = _pool_layout(e, 10)
    x = e.arg(0)
    is_int = dtype is not None and np.dtype(dtype).kind in "iu"
    if is_int:
        x = f"{x}.to(flow.float64)"
    nd, k, st, dil = geo.nd, _ints(geo.kernel), _ints(geo.stride), _ints(geo.dilation)
    if explicit is None:
        y = (f"F.max_pool{nd}d({x}, kernel_size={k}, stride={st}, padding={_ints(geo.padding)}, "
             f"dilation={dil}, ceil_mode={geo.ceil})")
    else:
        begins, ends, extra = explicit
        pads = _flow_pads(begins, [a + b for a, b in zip(ends, extra)])
        y = f"F.max_pool{nd}d(F.pad({x}, {pads!r}, value=float('-inf')), kernel_size={k}, stride={st}, dilation={dil})"
        mask = empty_window_mask(geo, in_size, begins, ends, extra, "cpu")
        if mask is not None:
            if dtype is None:
                raise e.unsupported("a ceil_mode window past the input of an input of unknown dtype")
            buf = e.writer.buffer(e.ctx.outputs[0] + "_empty_windows", mask.numpy())
            y = f"flow.where({buf}, flow.full_like({y}, {_lowest(flow_dtype(dtype))!r}), {y})"
    if is_int:
        y = f"({y}).to({_dtype_name(dtype)})"
    return y


def _dtype_name(dtype) -> str:
    from ..dtypes import flow_dtype
    return str(flow_dtype(dtype)).replace("oneflow.", "flow.")


@emitter("AveragePool")
def average_pool(e):
    """The handler's two paths: OneFlow's layer where exact, else window sums by a depthwise
    ones-kernel convolution over the explicit padding, divided by the kernel size or by the
    count of input cells per window (computed here by the handler's own code)."""
    from ..ops.pooling import _window_sum
    geo, in_size, dtype, explicit = _pool_layout(e, 19)
    include = bool(e.attr("count_include_pad", 0))
    nd = geo.nd
    if geo.native and not geo.ceil and set(geo.dilation) == {1}:
        return (f"F.avg_pool{nd}d({e.arg(0)}, kernel_size={_ints(geo.kernel)}, stride={_ints(geo.stride)}, "
                f"padding={_ints(geo.padding)}, count_include_pad={include})")
    info = e.ctx.input_info(0)
    if in_size is None or dtype is None or info.shape[1] is None:
        raise e.unsupported("explicit-padding AveragePool of an input of unknown shape or dtype")
    import oneflow as flow
    begins, ends, extra = explicit or geo.explicit_pads(in_size)
    channels = int(info.shape[1])
    pads = _flow_pads(begins, [a + b for a, b in zip(ends, extra)])
    ones = e.writer.buffer(e.ctx.outputs[0] + "_ones", np.ones([channels, 1] + geo.kernel, dtype=dtype))
    total = (f"F.conv{nd}d(F.pad({e.arg(0)}, {pads!r}, value=0.0), {ones}, None, stride={_ints(geo.stride)}, "
             f"dilation={_ints(geo.dilation)}, groups={channels})")
    if include:
        return f"{total} / {int(np.prod(geo.kernel))}"
    valid = flow.ones([1, 1] + in_size, dtype=flow.tensor(np.zeros(0, dtype)).dtype)
    count = flow.clamp(_window_sum(valid, geo, begins, ends, extra), min=1).numpy()
    return f"{total} / {e.writer.buffer(e.ctx.outputs[0] + '_count', count)}"


@emitter("GlobalAveragePool")
def global_average_pool(e):
    x = e.arg(0)
    return f"flow.mean({x}, dim=list(range(2, {x}.ndim)), keepdim=True)"


@emitter("GlobalMaxPool")
def global_max_pool(e):
    x = e.arg(0)
    return f"flow.amax({x}, dim=list(range(2, {x}.ndim)), keepdim=True)"


# --- elementwise ---------------------------------------------------------------------------
def _no_legacy_broadcast(e):
    if e.ctx.version < 7 and e.attr("broadcast", 0):
        raise e.unsupported("legacy broadcast=1 (opset < 7)")


_BINARY = {"Add": "flow.add", "Sub": "flow.sub", "Mul": "flow.mul"}


@emitter(*_BINARY)
def binary(e):
    _no_legacy_broadcast(e)
    return f"{_BINARY[e.ctx.op_type]}({e.arg(0)}, {e.arg(1)})"


@emitter("Pow")
def pow_(e):
    _no_legacy_broadcast(e)
    e.helper("_int_pow")   # the converter's own pow, which calls it
    return f"{e.helper('_pow')}({e.arg(0)}, {e.arg(1)})"


@emitter("Div")
def div(e):
    _no_legacy_broadcast(e)
    dtype = e.ctx.input_dtype(0)
    if dtype is not None and np.dtype(dtype).kind == "f":
        return f"flow.div({e.arg(0)}, {e.arg(1)})"
    e.helper("_int_divisor_safe")   # the converter's own division, which calls it
    return f"{e.helper('_div')}({e.arg(0)}, {e.arg(1)})"


_UNARY = {"Relu": "flow.relu", "Sigmoid": "flow.sigmoid", "Tanh": "flow.tanh", "Exp": "flow.exp",
          "Log": "flow.log", "Sqrt": "flow.sqrt", "Neg": "flow.neg", "Abs": "flow.abs",
          "Erf": "flow.erf", "Reciprocal": "flow.reciprocal", "Floor": "flow.floor",
          "Ceil": "flow.ceil", "HardSwish": "F.hardswish", "Softplus": "F.softplus",
          "Mish": "F.mish"}


@emitter(*_UNARY)
def unary(e):
    return f"{_UNARY[e.ctx.op_type]}({e.arg(0)})"


@emitter("LeakyRelu")
def leaky_relu(e):
    return f"F.leaky_relu({e.arg(0)}, {_float(e.attr('alpha', 0.01))})"


@emitter("HardSigmoid")
def hard_sigmoid(e):
    alpha, beta = e.attr("alpha", 0.2), e.attr("beta", 0.5)
    return f"flow.clamp({e.arg(0)} * {_float(alpha)} + {_float(beta)}, 0.0, 1.0)"


@emitter("Clip")
def clip(e):
    if e.ctx.version < 11:
        lo, hi = e.attr("min"), e.attr("max")
    else:
        lo_v, hi_v = e.const(1), e.const(2)
        if (e.ctx.has_input(1) and lo_v is None) or (e.ctx.has_input(2) and hi_v is None):
            raise e.unsupported("Clip bounds computed at run time")
        lo = None if lo_v is None else lo_v.item()
        hi = None if hi_v is None else hi_v.item()
    if lo is None and hi is None:
        return e.arg(0)
    return f"flow.clamp({e.arg(0)}, {lo!r}, {hi!r})"


@emitter("Identity", "Dropout")
def identity(e):
    if e.ctx.op_type == "Dropout" and len(e.ctx.outputs) > 1 and e.ctx.outputs[1]:
        raise e.unsupported("Dropout's mask output")
    if e.ctx.op_type == "Dropout" and e.ctx.has_input(2):
        mode = e.const(2)
        if mode is None or bool(mode.reshape(-1)[0]):
            raise e.unsupported("training_mode that is not a constant false")
    return e.arg(0)


# --- linear ---------------------------------------------------------------------------------
@emitter("Gemm")
def gemm(e):
    from ..ops.linear import gemm_linear_weights
    folded = gemm_linear_weights(e.ctx)   # the converter's own folding rule, not a copy
    if folded is not None:
        w, bias = folded
        layer = e.layer(f"nn.Linear({w.shape[1]}, {w.shape[0]}, bias={bias is not None})",
                        weight=w, bias=bias)
        return f"{layer}({e.arg(0)})"
    alpha, beta = e.attr("alpha", 1.0), e.attr("beta", 1.0)
    trans_a, trans_b = e.attr("transA", 0), e.attr("transB", 0)
    return (f"{e.helper('_gemm')}({e.arg(0)}, {e.arg(1)}, {e.arg(2)}, {_float(alpha)}, {_float(beta)}, "
            f"{bool(trans_a)}, {bool(trans_b)})")


@emitter("MatMul")
def matmul(e):
    b = e.const(1)
    if b is not None and b.ndim == 2 and b.dtype == np.float32 and (e.ctx.input_rank(0) or 0) >= 2:
        layer = e.layer(f"nn.Linear({b.shape[0]}, {b.shape[1]}, bias=False)", weight=b.T)
        return f"{layer}({e.arg(0)})"
    ranks = (e.ctx.input_rank(0), e.ctx.input_rank(1))
    if None in ranks or min(ranks) < 2:
        return f"{e.helper('_matmul')}({e.arg(0)}, {e.arg(1)})"
    return f"flow.matmul({e.arg(0)}, {e.arg(1)})"


# --- shape and layout -----------------------------------------------------------------------
@emitter("Flatten")
def flatten(e):
    axis = e.attr("axis", 1)
    if axis == 1:
        return f"flow.flatten({e.arg(0)}, 1)"
    return f"{e.helper('_flatten2d')}({e.arg(0)}, {axis})"


@emitter("Reshape")
def reshape(e):
    shape = e.const(1)
    allowzero = bool(e.attr("allowzero", 0))
    if shape is not None:
        target = [int(d) for d in shape.reshape(-1)]
        if allowzero or 0 not in target:
            return f"{e.arg(0)}.reshape({target!r})"
        return f"{e.helper('_reshape')}({e.arg(0)}, {target!r})"
    return f"{e.helper('_reshape')}({e.arg(0)}, {e.arg(1)}, {allowzero})"


@emitter("Concat")
def concat(e):
    parts = ", ".join(e.arg(i) for i in range(e.ctx.num_inputs) if e.ctx.has_input(i))
    return f"flow.cat([{parts}], dim={e.attr('axis')})"


@emitter("Transpose")
def transpose(e):
    perm = e.attr("perm")
    if perm is None:
        x = e.arg(0)
        return f"{x}.permute(*reversed(range({x}.ndim)))"
    return f"{e.arg(0)}.permute({', '.join(str(int(p)) for p in perm)})"


@emitter("Softmax", "LogSoftmax")
def softmax(e):
    log = e.ctx.op_type == "LogSoftmax"
    if e.ctx.version >= 13:
        return f"F.{'log_softmax' if log else 'softmax'}({e.arg(0)}, dim={e.attr('axis', -1)})"
    return f"{e.helper('_softmax2d')}({e.arg(0)}, {e.attr('axis', 1)}, log={log})"


def _axes(e, attr_until: int):
    """Axes from the attribute (ops before version ``attr_until``) or the constant input 1."""
    if e.ctx.version < attr_until:
        return e.attr("axes")
    if not e.ctx.has_input(1):
        return None
    value = e.const(1)
    if value is None:
        raise e.unsupported("axes computed at run time")
    return [int(a) for a in value.reshape(-1)]


@emitter("Unsqueeze")
def unsqueeze(e):
    return f"{e.helper('_unsqueeze')}({e.arg(0)}, {_axes(e, 13)!r})"


@emitter("Squeeze")
def squeeze(e):
    axes = _axes(e, 13)
    return f"flow.squeeze({e.arg(0)})" if not axes else f"flow.squeeze({e.arg(0)}, dim={axes!r})"


@emitter("ReduceMean")
def reduce_mean(e):
    axes = _axes(e, 18)
    keep = bool(e.attr("keepdims", 1))
    x = e.arg(0)
    if not axes:
        if e.attr("noop_with_empty_axes", 0):
            return x
        return f"flow.mean({x}, dim=list(range({x}.ndim)), keepdim={keep})"
    return f"flow.mean({x}, dim={axes!r}, keepdim={keep})"


# --- more activations -------------------------------------------------------------------------
@emitter("PRelu")
def prelu(e):
    x = e.arg(0)
    return f"flow.where({x} < 0, {x} * {e.arg(1)}, {x})"


@emitter("Elu")
def elu(e):
    return f"F.elu({e.arg(0)}, alpha={_float(e.attr('alpha', 1.0))})"


@emitter("Selu")
def selu(e):
    alpha, gamma = e.attr("alpha", 1.67326319217681884765625), e.attr("gamma", 1.05070102214813232421875)
    x = e.arg(0)
    return f"{_float(gamma)} * flow.where({x} > 0, {x}, {_float(alpha)} * (flow.exp({x}) - 1))"


@emitter("Gelu")
def gelu(e):
    approximate = e.attr("approximate", "none")
    return f"F.gelu({e.arg(0)}, approximate={approximate!r})"


@emitter("Softsign")
def softsign(e):
    return f"F.softsign({e.arg(0)})"


_VARIADIC = {"Sum": "flow.add", "Max": "flow.maximum", "Min": "flow.minimum", "Mean": "flow.add"}


@emitter(*_VARIADIC)
def variadic(e):
    # Left fold, in input order: the order ONNX Runtime and the converter accumulate in.
    args = [e.arg(i) for i in range(e.ctx.num_inputs) if e.ctx.has_input(i)]
    half = e.ctx.input_dtype(0) == np.float16   # the converter computes float16 in float32
    if half:
        args = [f"{a}.to(flow.float32)" for a in args]
    expr = args[0]
    for a in args[1:]:
        expr = f"{_VARIADIC[e.ctx.op_type]}({expr}, {a})"
    expr = f"{expr} / {len(args)}" if e.ctx.op_type == "Mean" and len(args) > 1 else expr
    return f"({expr}).to(flow.float16)" if half else expr


# --- more shape and layout ------------------------------------------------------------------
def _static_dim(e, i: int, axis: int):
    info = e.ctx.input_info(i)
    if info is None or info.shape is None or info.shape[axis] is None:
        return None
    return info.shape[axis]


@emitter("Split")
def split(e):
    rank = e.ctx.input_rank(0)
    axis = e.attr("axis", 0)
    if e.ctx.version < 13:
        sizes = e.attr("split")
    elif e.ctx.has_input(1):
        value = e.const(1)
        if value is None:
            raise e.unsupported("split sizes computed at run time")
        sizes = [int(v) for v in value.reshape(-1)]
    else:
        sizes = None
    n_out = len(e.ctx.outputs)
    if not sizes:
        if rank is None:
            raise e.unsupported("equal Split of an input of unknown rank")
        dim = _static_dim(e, 0, axis if axis >= 0 else axis + rank)
        if dim is None:
            raise e.unsupported("equal Split along a dynamic dimension")
        chunk = -(-dim // n_out)
        sizes = [min(chunk, dim - k * chunk) for k in range(n_out)]
    return f"flow.split({e.arg(0)}, {list(map(int, sizes))!r}, dim={axis})"


@emitter("Slice")
def slice_(e):
    if e.ctx.version < 10:
        starts, ends, axes, steps = e.attr("starts"), e.attr("ends"), e.attr("axes"), None
    else:
        values = [e.const(i) if e.ctx.has_input(i) else None for i in range(1, 5)]
        if any(e.ctx.has_input(i) and values[i - 1] is None for i in range(1, 5)):
            raise e.unsupported("Slice bounds computed at run time")
        starts, ends, axes, steps = [None if v is None else [int(a) for a in v.reshape(-1)] for v in values]
    rank = e.ctx.input_rank(0)
    if rank is None:
        raise e.unsupported("Slice of an input of unknown rank")
    axes = axes or list(range(len(starts)))
    steps = steps or [1] * len(starts)
    if any(s <= 0 for s in steps):
        raise e.unsupported("Slice with negative steps")
    parts = [":"] * rank
    big = 2 ** 31
    for a, s, en, st in zip(axes, starts, ends, steps):
        a = a if a >= 0 else a + rank
        s = "" if s <= -big else str(s)          # INT64 min/max mean "from/to the end"
        en = "" if en >= big else str(en)
        parts[a] = f"{s}:{en}" + (f":{st}" if st != 1 else "")
    while parts and parts[-1] == ":":
        parts.pop()
    return f"{e.arg(0)}[{', '.join(parts) or ':'}]"


@emitter("Cast")
def cast(e):
    from ..dtypes import flow_dtype
    try:
        target = flow_dtype(onnx_np_dtype(e.attr("to")))
    except (KeyError, TypeError, ValueError) as err:
        raise e.unsupported(f"Cast to {e.attr('to')}: {err}") from None
    return f"{e.arg(0)}.to({str(target).replace('oneflow.', 'flow.')})"


def onnx_np_dtype(elem_type: int):
    import onnx
    return onnx.helper.tensor_dtype_to_np_dtype(elem_type)


@emitter("Pad")
def pad(e):
    mode = e.attr("mode", "constant")
    modes = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}
    if mode not in modes:
        raise e.unsupported(f"mode={mode!r}")
    if e.ctx.version < 11:
        pads, value = e.attr("pads") or e.attr("paddings"), e.attr("value", 0.0)
        axes = None
    else:
        pads_v = e.const(1)
        value_v = e.const(2) if e.ctx.has_input(2) else np.zeros(())
        if pads_v is None or value_v is None:
            raise e.unsupported("pads or constant value computed at run time")
        if e.ctx.has_input(3):
            raise e.unsupported("the axes input")
        pads, value, axes = [int(p) for p in pads_v.reshape(-1)], value_v.reshape(-1)[0].item() \
            if value_v.size else 0.0, None
    n = len(pads) // 2
    begins, ends = list(pads[:n]), list(pads[n:])
    if min(begins + ends) < 0:
        raise e.unsupported("negative pads (cropping)")
    while begins and begins[0] == 0 and ends[0] == 0:   # F.pad pads the trailing dims only
        begins, ends = begins[1:], ends[1:]
    flow_order = []
    for b, en in zip(reversed(begins), reversed(ends)):
        flow_order += [b, en]
    if not flow_order:
        return e.arg(0)
    if mode != "constant":
        return f"F.pad({e.arg(0)}, {flow_order!r}, mode={modes[mode]!r})"
    return f"F.pad({e.arg(0)}, {flow_order!r}, value={float(value)!r})"


@emitter("Gather")
def gather(e):
    idx = e.const(1)
    axis = e.attr("axis", 0)
    if idx is None:
        raise e.unsupported("indices computed at run time")
    rank = e.ctx.input_rank(0)
    if rank is None:
        raise e.unsupported("Gather from an input of unknown rank")
    axis = axis if axis >= 0 else axis + rank
    if (idx < 0).any():
        dim = _static_dim(e, 0, axis)
        if dim is None:
            raise e.unsupported("negative indices along a dynamic dimension")
        idx = np.where(idx < 0, idx + dim, idx)
    if idx.ndim == 0:
        return f"flow.select({e.arg(0)}, {axis}, {int(idx)})"
    if idx.ndim == 1:
        index = e.writer.buffer(e.ctx.inputs[1] + "_index", idx.astype(np.int64))   # normalised copy
        return f"flow.index_select({e.arg(0)}, {axis}, {index})"
    raise e.unsupported("Gather with indices of rank > 1")


@emitter("Expand")
def expand(e):
    shape = e.const(1)
    if shape is None:
        raise e.unsupported("target shape computed at run time")
    x = e.arg(0)
    # ONNX Expand broadcasts both ways: the result has the broadcast of both shapes.
    return f"{x}.expand(*flow.broadcast_shapes({x}.shape, {tuple(int(d) for d in shape.reshape(-1))!r}))"


# --- more layers ----------------------------------------------------------------------------
@emitter("ConvTranspose")
def conv_transpose(e):
    w, b = e.const(1), e.const(2)
    if w is None or (e.ctx.has_input(2) and b is None):
        raise e.unsupported("weights computed at run time")
    nd = w.ndim - 2
    if nd not in (1, 2, 3):
        raise e.unsupported(f"{nd}-D ConvTranspose")
    if e.attr("output_shape") is not None or e.attr("auto_pad", "NOTSET") != "NOTSET":
        raise e.unsupported("output_shape / auto_pad")
    pads = list(e.attr("pads") or [0] * (2 * nd))
    if pads[:nd] != pads[nd:]:
        raise e.unsupported("asymmetric pads")
    group = int(e.attr("group", 1))
    kernel = tuple(e.attr("kernel_shape") or w.shape[2:])
    stride = tuple(e.attr("strides") or (1,) * nd)
    dilation = tuple(e.attr("dilations") or (1,) * nd)
    out_pad = tuple(e.attr("output_padding") or (0,) * nd)
    layer = e.layer(f"nn.ConvTranspose{nd}d({w.shape[0]}, {w.shape[1] * group}, kernel_size={_ints(kernel)}, "
                    f"stride={_ints(stride)}, padding={_ints(pads[:nd])}, output_padding={_ints(out_pad)}, "
                    f"groups={group}, bias={b is not None}, dilation={_ints(dilation)})", weight=w, bias=b)
    return f"{layer}({e.arg(0)})"


@emitter("LayerNormalization")
def layer_norm(e):
    if any(o for o in e.ctx.outputs[1:]):
        raise e.unsupported("the Mean / InvStdDev outputs")
    scale, bias = e.const(1), e.const(2)
    rank = e.ctx.input_rank(0)
    axis = e.attr("axis", -1)
    if scale is None or (e.ctx.has_input(2) and bias is None) or rank is None:
        raise e.unsupported("runtime scale/bias or unknown input rank")
    axis = axis if axis >= 0 else axis + rank
    if scale.ndim != rank - axis:
        raise e.unsupported("scale not covering exactly the normalised dims")
    layer = e.layer(f"nn.LayerNorm({tuple(int(d) for d in scale.shape)!r}, eps={_float(e.attr('epsilon', 1e-5))}, "
                    f"elementwise_affine=True)", weight=scale,
                    bias=bias if bias is not None else np.zeros_like(scale))
    return f"{layer}({e.arg(0)})"


def _const_input(e, i):
    """A constant optional input as a flat list ([] when absent or empty)."""
    if not e.ctx.has_input(i):
        return []
    value = e.const(i)
    if value is None:
        raise e.unsupported(f"input {i} computed at run time")
    return value.reshape(-1).tolist()


@emitter("Resize", "Upsample")
def resize(e):
    """The converter's own per-axis tables (ops.resize.resize_plan), baked into buffers:
    index_select for nearest, a weight matmul for linear/cubic, the extrapolation mask."""
    from ..dtypes import flow_dtype
    from ..ops.resize import _resize_check, _upsample_check, resize_compute_dtype, resize_plan, resize_spec
    op, version = e.ctx.op_type, e.ctx.version
    reason = (_upsample_check if op == "Upsample" else _resize_check)(e.ctx)
    if reason:
        raise e.unsupported(reason)
    spec = resize_spec(e.ctx)
    roi, sizes = [], []
    if op == "Upsample" and version == 1:
        scales = [1.0, 1.0, e.attr("height_scale"), e.attr("width_scale")]
    elif op == "Upsample" and version == 7:
        scales = list(e.attr("scales"))
    elif op == "Upsample" or version == 10:
        scales = _const_input(e, 1)
    else:
        roi, scales, sizes = _const_input(e, 1), _const_input(e, 2), _const_input(e, 3)
    info, dtype = e.ctx.input_info(0), e.ctx.input_dtype(0)
    if info is None or info.shape is None or None in info.shape or dtype is None:
        raise e.unsupported("an input of unknown shape or dtype")
    plan = resize_plan(list(info.shape), spec, scales=None if sizes else scales, sizes=sizes or None,
                       roi=roi, axes=e.attr("axes"))
    flow_in = flow_dtype(dtype)
    compute = flow_in if spec.mode == "nearest" else resize_compute_dtype(flow_in)
    y = e.arg(0) if compute == flow_in else f"{e.arg(0)}.to({_dtype_name(compute)})"
    out = e.ctx.outputs[0]
    for axis, table, outside in plan:
        if spec.mode == "nearest":
            index = e.writer.buffer(f"{out}_index{axis}", table.astype(np.int64))
            y = (f"flow.index_select({y}.to(flow.int32), {axis}, {index}).to(flow.uint8)"
                 if flow_in == flow_dtype(np.uint8) else f"flow.index_select({y}, {axis}, {index})")
        else:
            weight = e.writer.buffer(f"{out}_weight{axis}", table.T.astype(
                np.float64 if compute == flow_dtype(np.float64) else np.float32))
            y = f"flow.movedim(flow.matmul(flow.movedim({y}, {axis}, -1), {weight}), -1, {axis})"
        if outside.any():
            shape = [1] * len(info.shape)
            shape[axis] = len(outside)
            mask = e.writer.buffer(f"{out}_outside{axis}", outside.reshape(shape))
            y = f"{e.helper('_fill_where')}({mask}, {y}, {float(spec.extrapolation)!r})"
    return y if compute == flow_in else f"({y}).to({_dtype_name(flow_in)})"


_REDUCE = {"ReduceSum": ("flow.sum", 13), "ReduceMax": ("flow.amax", 18), "ReduceMin": ("flow.amin", 18)}


@emitter(*_REDUCE)
def reduce(e):
    fn, axes_input_since = _REDUCE[e.ctx.op_type]
    axes = _axes(e, axes_input_since)
    keep = bool(e.attr("keepdims", 1))
    x = e.arg(0)
    if not axes:
        if e.attr("noop_with_empty_axes", 0):
            return x
        return f"{fn}({x}, dim=list(range({x}.ndim)), keepdim={keep})"
    return f"{fn}({x}, dim={axes!r}, keepdim={keep})"
