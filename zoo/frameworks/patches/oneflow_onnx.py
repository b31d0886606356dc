"""oneflow-onnx 0.6.2 conversion fixes (see PATCHES in __init__.py for the bugs).

Each fix registers handlers through oneflow-onnx's own ``flow_op`` registry: a handler for
the same OneFlow op and opset replaces the stock one, as a handler shipped in the package
would. Handlers follow the package's conventions (``node.attrs`` become ONNX attributes,
``ctx.MakeConst`` adds initializers). Registration is idempotent.
"""
from __future__ import annotations

import numpy as np

from . import fired

_registered: set = set()


def _once(name):
    def wrap(register):
        def run():
            if name not in _registered:
                register()
                _registered.add(name)
        return run
    return wrap


def _const(ctx, hint: str, value: np.ndarray) -> str:
    import oneflow

    return ctx.MakeConst(oneflow._oneflow_internal.UniqueStr(hint), value).output_tensor_names[0]


@_once("reduce_sum")
def reduce_sum_axes_input() -> None:
    from oneflow_onnx.oneflow2onnx.handler import flow_op
    from oneflow_onnx.oneflow2onnx.handlers.reduce import ReduceOpBase

    @flow_op("reduce_sum", onnx_op="ReduceSum")
    class ReduceSum13:
        @classmethod
        def Version_13(cls, ctx, node, **kwargs):
            # The stock opset-1/11 logic normalises the axes into node.attrs["axes"]; since
            # ReduceSum-13 they are an input (no input = reduce over every axis).
            ReduceOpBase.Version_1(ctx, node, **kwargs)
            axes = node.attrs.pop("axes", None)
            if axes:
                node.input_tensor_names.append(_const(ctx, f"{node.name}_axes", np.array(axes, np.int64)))
            fired("oneflow-onnx-reduce-sum-axes-input")


@_once("hardtanh")
def hardtanh_clip_bounds() -> None:
    from oneflow_onnx.oneflow2onnx.handler import flow_op
    from oneflow_onnx.oneflow2onnx.handlers.math import ClipOps

    def bounds(node):
        return float(node.attrs.get("min_val", 0.0)), float(node.attrs.get("max_val", 6.0))

    @flow_op("hardtanh", onnx_op="Clip")
    class HardTanhBounds(ClipOps):
        @classmethod
        def Version_1(cls, ctx, node, **kwargs):
            lo, hi = bounds(node)
            if (lo, hi) != (0.0, 6.0):  # the stock handler hard-codes ReLU6's bounds
                fired("oneflow-onnx-hardtanh-clip-bounds")
            ClipOps.Version_1(ctx, node, lo, hi)

        @classmethod
        def Version_11(cls, ctx, node, **kwargs):
            # Clip-11 takes its bounds as inputs; the stock handler passed none (identity).
            ClipOps.Version_11(ctx, node, *bounds(node))
            fired("oneflow-onnx-hardtanh-clip-bounds")


@_once("maxpool")
def maxpool_ceil_mode_pads() -> None:
    from oneflow_onnx.oneflow2onnx.handler import flow_op
    from oneflow_onnx.oneflow2onnx.handlers.nn import PoolOp

    @flow_op(["max_pool_2d"], onnx_op="MaxPool")
    @flow_op(["maxpool_2d"], onnx_op="MaxPool")
    class MaxPoolCeil:
        @classmethod
        def Version_1(cls, ctx, node, **kwargs):
            PoolOp._Convert(ctx, node, **kwargs)   # MaxPool < 10 has no ceil_mode: stock

        @classmethod
        def Version_10(cls, ctx, node, **kwargs):
            if not (node.attrs.get("ceil_mode") and "padding" in node.attrs):
                PoolOp._Convert(ctx, node, **kwargs)
                return
            # ceil_mode: the stock handler re-derives pads from the output size and loses the
            # module's padding; ONNX MaxPool-10 has ceil_mode with the same output rule.
            padding = list(node.attrs["padding"])
            PoolOp._Convert(ctx, node, **kwargs)
            if list(node.attrs["pads"]) != padding + padding:  # where the stock export was wrong
                fired("oneflow-onnx-maxpool-ceil-mode-pads")
            node.attrs["pads"] = padding + padding
            node.attrs["ceil_mode"] = 1

        @classmethod
        def Version_11(cls, ctx, node, **kwargs):
            cls.Version_10(ctx, node, **kwargs)


@_once("var")
def var_two_pass() -> None:
    from oneflow_onnx.oneflow2onnx.handler import flow_op

    @flow_op(["var"])
    class VarTwoPass:
        @classmethod
        def Version_11(cls, ctx, node, **kwargs):
            # Opsets 11 and 12 only: the stock Version_13 still serves 13+. Two passes (mean,
            # then mean of squared deviations): no cancellation of E[x^2] - E[x]^2.
            x, out = node.input_tensor_names[0], node.output_tensor_names[0]
            shape = ctx.get_shape(x)
            dims = node.attrs.get("dim") or list(range(len(shape)))
            dims = [d + len(shape) if d < 0 else d for d in dims]
            keepdim = int(bool(node.attrs.get("keepdim", False)))
            dtypes = node.output_dtypes
            ctx.RemoveNode(node.name)
            mean = ctx.MakeNode("ReduceMean", [x], op_name_scope=node.name, name="mean", dtypes=dtypes,
                                attr={"axes": dims, "keepdims": 1}).output_tensor_names[0]
            dev = ctx.MakeNode("Sub", [x, mean], op_name_scope=node.name, name="dev", dtypes=dtypes).output_tensor_names[0]
            sq = ctx.MakeNode("Mul", [dev, dev], op_name_scope=node.name, name="sq", dtypes=dtypes).output_tensor_names[0]
            n = int(np.prod([shape[d] for d in dims]))
            if not node.attrs.get("unbiased") or n < 2:
                ctx.MakeNode("ReduceMean", [sq], op_name_scope=node.name, name="var", dtypes=dtypes,
                             attr={"axes": dims, "keepdims": keepdim}, outputs=[out])
            else:  # Bessel's correction over the reduced elements
                biased = ctx.MakeNode("ReduceMean", [sq], op_name_scope=node.name, name="biased", dtypes=dtypes,
                                      attr={"axes": dims, "keepdims": keepdim}).output_tensor_names[0]
                scale = _const(ctx, f"{node.name}_bessel", np.array(n / (n - 1), np.float32))
                ctx.MakeNode("Mul", [biased, scale], op_name_scope=node.name, name="var", dtypes=dtypes,
                             outputs=[out])
            fired("oneflow-onnx-var-opset11")


@_once("deconv2d")
def deconv2d() -> None:
    from oneflow_onnx.oneflow2onnx.handler import flow_op
    from oneflow_onnx.oneflow2onnx.handlers.nn import _ConvConvertInputs

    @flow_op(["deconv2d"], flow_ibns=["in", "weight"])
    class Deconv2d:
        @classmethod
        def Version_1(cls, ctx, node, **kwargs):
            # OneFlow's deconv weight is (C_in, C_out/groups, kH, kW), ONNX ConvTranspose's too.
            node.op_type = "ConvTranspose"
            node.attrs["kernel_shape"] = list(node.attrs["kernel_size"])
            node.attrs["group"] = node.attrs.get("groups", 1)
            node.attrs["dilations"] = list(node.attrs.get("dilation_rate", [1, 1]))
            node.attrs["pads"] = list(node.attrs.get("padding_before", [0, 0])) * 2
            node.attrs["output_padding"] = list(node.attrs.get("output_padding", [0, 0]))
            _ConvConvertInputs(ctx, node, with_kernel=True)
            fired("oneflow-onnx-deconv2d")

        @classmethod
        def Version_11(cls, ctx, node, **kwargs):
            cls.Version_1(ctx, node, **kwargs)
