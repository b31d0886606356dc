"""Convolution, normalisation and pooling."""
from __future__ import annotations

import numpy as np
import oneflow as flow
import oneflow.nn.functional as F

from ..registry import register
from ._util import const_param, flow_pad_arg, spatial_pads

_CONV = {1: flow.nn.Conv1d, 2: flow.nn.Conv2d, 3: flow.nn.Conv3d}
_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class _PaddedConv(flow.nn.Module):
    """A native ConvNd; pads that ConvNd cannot express (asymmetric, SAME_*) applied first."""

    def __init__(self, conv, auto_pad, pads, kernel, stride, dilation):
        super().__init__()
        self.conv = conv
        self.geometry = (auto_pad, pads, kernel, stride, dilation)

    def forward(self, x, *_):
        auto_pad, pads, kernel, stride, dilation = self.geometry
        begins, ends = spatial_pads(auto_pad, pads, x.shape, kernel, stride, dilation)
        if any(begins) or any(ends):
            x = F.pad(x, flow_pad_arg(begins, ends))
        return self.conv(x)


@register("Conv", 1, 11)
def conv(ctx):
    w = ctx.const(1)
    b = ctx.const(2) if ctx.has_input(2) else None
    rank = ctx.input_rank(1) or (w.ndim if w is not None else None)
    if rank is None or rank - 2 not in _CONV:
        raise ctx.unsupported(f"Conv with weight rank {rank} (OneFlow has Conv1d/2d/3d)")
    nd = rank - 2
    group = ctx.attr("group", 1)
    stride = ctx.attr("strides") or [1] * nd
    dilation = ctx.attr("dilations") or [1] * nd
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    pads = ctx.attr("pads") or [0] * (2 * nd)
    symmetric = auto_pad in ("NOTSET", "VALID") and list(pads[:nd]) == list(pads[nd:])
    padding = list(pads[:nd]) if auto_pad == "NOTSET" and symmetric else [0] * nd

    if w is not None and (b is not None or not ctx.has_input(2)):
        out_ch, in_per_group = w.shape[0], w.shape[1]
        kernel = list(ctx.attr("kernel_shape") or w.shape[2:])
        layer = _CONV[nd](in_per_group * group, out_ch, kernel, stride=stride, padding=padding,
                          dilation=dilation, groups=group, bias=b is not None)
        layer.weight = const_param(w)
        if b is not None:
            layer.bias = const_param(b)
        ctx.claim(1, 2)
        return layer if symmetric else _PaddedConv(layer, auto_pad, pads, kernel, stride, dilation)

    conv_fn = _CONV_FN[nd]

    def run(x, weight, bias=None):
        kernel = list(weight.shape[2:])
        if symmetric:
            return conv_fn(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=group)
        begins, ends = spatial_pads(auto_pad, pads, x.shape, kernel, stride, dilation)
        x = F.pad(x, flow_pad_arg(begins, ends))
        return conv_fn(x, weight, bias, stride=stride, padding=0, dilation=dilation, groups=group)

    return run


_BN = {2: flow.nn.BatchNorm1d, 3: flow.nn.BatchNorm1d, 4: flow.nn.BatchNorm2d, 5: flow.nn.BatchNorm3d}


@register("BatchNormalization", 1, 6, 7, 9, 14, 15)
def batch_norm(ctx):
    if ctx.attr("training_mode", 0):
        raise ctx.unsupported("training_mode=1 (only inference is converted)")
    if ctx.version < 9 and ctx.attr("spatial", 1) != 1:
        raise ctx.unsupported("spatial=0")
    eps = ctx.attr("epsilon", 1e-5)
    params = [ctx.const(i) for i in range(1, 5)]
    rank = ctx.input_rank(0)
    if all(p is not None for p in params) and rank in _BN:
        scale, bias, mean, var = params
        layer = _BN[rank](scale.shape[0], eps=eps, affine=True)
        layer.weight = const_param(scale)
        layer.bias = const_param(bias)
        layer.running_mean = flow.tensor(mean)
        layer.running_var = flow.tensor(var)
        ctx.claim(1, 2, 3, 4)
        return layer

    def run(x, scale, bias, mean, var):
        shape = [1, -1] + [1] * (x.ndim - 2)
        inv = flow.rsqrt(var.reshape(shape) + eps)
        return (x - mean.reshape(shape)) * inv * scale.reshape(shape) + bias.reshape(shape)

    return run


_MAXPOOL = {1: flow.nn.MaxPool1d, 2: flow.nn.MaxPool2d, 3: flow.nn.MaxPool3d}
_AVGPOOL = {1: flow.nn.AvgPool1d, 2: flow.nn.AvgPool2d, 3: flow.nn.AvgPool3d}


def _pool_geometry(ctx):
    kernel = list(ctx.attr("kernel_shape"))
    nd = len(kernel)
    stride = ctx.attr("strides") or [1] * nd
    dilation = ctx.attr("dilations") or [1] * nd
    return kernel, nd, stride, dilation


@register("MaxPool", 1, 8, 10, 11, 12)
def max_pool(ctx):
    if len(ctx.outputs) > 1 and ctx.outputs[1]:
        raise ctx.unsupported("the Indices output")
    kernel, nd, stride, dilation = _pool_geometry(ctx)
    if nd not in _MAXPOOL:
        raise ctx.unsupported(f"{nd}-D MaxPool")
    ceil = bool(ctx.attr("ceil_mode", 0))
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    pads = ctx.attr("pads") or [0] * (2 * nd)
    native = auto_pad in ("NOTSET", "VALID") and list(pads[:nd]) == list(pads[nd:]) \
        and all(p * 2 <= k for p, k in zip(pads[:nd], kernel))
    padding = list(pads[:nd]) if auto_pad == "NOTSET" and native else [0] * nd
    pool = _MAXPOOL[nd](kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil)
    if native:
        return pool

    def run(x):
        begins, ends = spatial_pads(auto_pad, pads, x.shape, kernel, stride, dilation)
        x = F.pad(x, flow_pad_arg(begins, ends), value=float("-inf"))
        return pool(x)

    return run


@register("GlobalAveragePool", 1)
def global_average_pool(ctx):
    return lambda x: flow.mean(x, dim=list(range(2, x.ndim)), keepdim=True)


@register("GlobalMaxPool", 1)
def global_max_pool(ctx):
    def run(x):
        return flow.amax(x, dim=list(range(2, x.ndim)), keepdim=True)
    return run
