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


def _pool_geometry(e):
    kernel = tuple(e.attr("kernel_shape"))
    nd = len(kernel)
    return kernel, nd, tuple(e.attr("strides") or (1,) * nd), tuple(e.attr("dilations") or (1,) * nd)


@emitter("MaxPool")
def max_pool(e):
    if len(e.ctx.outputs) > 1 and e.ctx.outputs[1]:
        raise e.unsupported("the Indices output")
    kernel, nd, stride, dilation = _pool_geometry(e)
    pads = list(e.attr("pads") or [0] * (2 * nd))
    if any(2 * p > k for p, k in zip(pads, kernel + kernel)):
        x, padding = _pad_call_forced(e, e.arg(0), nd, pads, "float('-inf')")
    else:
        x, padding = _pad_call(e, e.arg(0), nd, kernel, stride, dilation, "float('-inf')")
    return (f"F.max_pool{nd}d({x}, kernel_size={_ints(kernel)}, stride={_ints(stride)}, "
            f"padding={_ints(padding)}, dilation={_ints(dilation)}, ceil_mode={bool(e.attr('ceil_mode', 0))})")


def _pad_call_forced(e, x, nd, pads, value):
    """Explicit pads larger than half the kernel: OneFlow pools refuse them, so pad first."""
    if e.attr("auto_pad", "NOTSET") != "NOTSET":
        raise e.unsupported("auto_pad together with pads larger than half the kernel")
    flow_order = []
    for b, en in zip(reversed(pads[:nd]), reversed(pads[nd:])):
        flow_order += [int(b), int(en)]
    return f"F.pad({x}, {flow_order!r}, value={value})", (0,) * nd


@emitter("AveragePool")
def average_pool(e):
    kernel, nd, stride, dilation = _pool_geometry(e)
    if any(d != 1 for d in dilation):
        raise e.unsupported("dilated AveragePool")
    include = bool(e.attr("count_include_pad", 0))
    x, padding = _pad_call(e, e.arg(0), nd, kernel, stride, dilation)
    if x != e.arg(0) and not include:
        raise e.unsupported("asymmetric or SAME pads with count_include_pad=0")
    return (f"F.avg_pool{nd}d({x}, kernel_size={_ints(kernel)}, stride={_ints(stride)}, "
            f"padding={_ints(padding)}, ceil_mode={bool(e.attr('ceil_mode', 0))}, "
            f"count_include_pad={include})")


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


_BINARY = {"Add": "flow.add", "Sub": "flow.sub", "Mul": "flow.mul", "Pow": "flow.pow"}


@emitter(*_BINARY)
def binary(e):
    _no_legacy_broadcast(e)
    return f"{_BINARY[e.ctx.op_type]}({e.arg(0)}, {e.arg(1)})"


@emitter("Div")
def div(e):
    _no_legacy_broadcast(e)
    dtype = e.ctx.input_dtype(0)
    if dtype is not None and np.dtype(dtype).kind == "f":
        return f"flow.div({e.arg(0)}, {e.arg(1)})"
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
    return e.arg(0)


# --- linear ---------------------------------------------------------------------------------
@emitter("Gemm")
def gemm(e):
    alpha, beta = e.attr("alpha", 1.0), e.attr("beta", 1.0)
    trans_a, trans_b = e.attr("transA", 0), e.attr("transB", 0)
    b, c = e.const(1), e.const(2)
    if not trans_a and b is not None and b.ndim == 2 and b.dtype == np.float32 and (
            not e.ctx.has_input(2) or (c is not None and c.size in (1, b.shape[0 if trans_b else 1]))):
        # Same folding as the converter: alpha into W, beta into the bias.
        w = ((b if trans_b else b.T) * np.float32(alpha)).astype(np.float32)
        bias = None if c is None else np.broadcast_to(
            c.reshape(-1) * np.float32(beta), (w.shape[0],)).astype(np.float32)
        layer = e.layer(f"nn.Linear({w.shape[1]}, {w.shape[0]}, bias={bias is not None})",
                        weight=w, bias=bias)
        return f"{layer}({e.arg(0)})"
    return (f"{e.helper('_gemm')}({e.arg(0)}, {e.arg(1)}, {e.arg(2)}, {_float(alpha)}, {_float(beta)}, "
            f"{bool(trans_a)}, {bool(trans_b)})")


@emitter("MatMul")
def matmul(e):
    b = e.const(1)
    if b is not None and b.ndim == 2 and b.dtype == np.float32 and (e.ctx.input_rank(0) or 0) >= 2:
        layer = e.layer(f"nn.Linear({b.shape[0]}, {b.shape[1]}, bias=False)", weight=b.T)
        return f"{layer}({e.arg(0)})"
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
