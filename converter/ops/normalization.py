"""Normalisation layers (inference): Batch/Instance/Layer/Group norm, LRN, MVN, LpNormalization."""
from __future__ import annotations

import math

import oneflow as flow
import oneflow.nn.functional as F

from ..registry import register
from ._util import const_param, fp16_via_fp32, require

_BN = {2: flow.nn.BatchNorm1d, 3: flow.nn.BatchNorm1d, 4: flow.nn.BatchNorm2d, 5: flow.nn.BatchNorm3d}


def _channel_shape(x):
    return [1, -1] + [1] * (x.ndim - 2)


def _batch_norm_check(ctx):
    if ctx.version < 9 and ctx.attr("spatial", 1) != 1:
        return "spatial=0"
    if not ctx.attr("training_mode", 0) and any(ctx.outputs[1:]):
        return "running mean/var outputs without training_mode"
    return None


@register("BatchNormalization", 1, 6, 7, 9, 14, 15, check=_batch_norm_check)
def batch_norm(ctx):
    require(ctx, _batch_norm_check)
    eps = ctx.attr("epsilon", 1e-5)
    if ctx.attr("training_mode", 0):
        return fp16_via_fp32(_training_batch_norm(eps, ctx.attr("momentum", 0.9)))
    params = [ctx.const(i) for i in range(1, 5)]
    rank = ctx.input_rank(0)
    if all(p is not None and p.dtype.name == "float32" for p in params) and rank in _BN:
        scale, bias, mean, var = params
        layer = _BN[rank](scale.shape[0], eps=eps, affine=True)
        layer.weight = const_param(scale)
        layer.bias = const_param(bias)
        layer.running_mean = flow.tensor(mean)
        layer.running_var = flow.tensor(var)
        ctx.claim(1, 2, 3, 4)
        return layer

    def run(x, scale, bias, mean, var):
        shape = _channel_shape(x)
        inv = flow.rsqrt(var.reshape(shape) + eps)
        return (x - mean.reshape(shape)) * inv * scale.reshape(shape) + bias.reshape(shape)

    return fp16_via_fp32(run)


def _training_batch_norm(eps, momentum):
    """training_mode=1: normalise with the batch's statistics; also return updated running ones."""
    def run(x, scale, bias, mean, var):
        shape = _channel_shape(x)
        dims = [0] + list(range(2, x.ndim))
        batch_mean, batch_var = _moments(x, dims)
        y = (x - batch_mean) * flow.rsqrt(batch_var + eps) * scale.reshape(shape) + bias.reshape(shape)
        running_mean = mean * momentum + batch_mean.reshape(-1) * (1 - momentum)
        running_var = var * momentum + batch_var.reshape(-1) * (1 - momentum)
        return y, running_mean, running_var
    return run


def _moments(x, dims):
    """Mean and biased variance over ``dims``, kept for broadcasting."""
    mean = flow.mean(x, dim=dims, keepdim=True)
    var = flow.mean(flow.square(x - mean), dim=dims, keepdim=True)
    return mean, var


def _check_rank3(rank) -> None:
    """InstanceNormalization needs N x C x D1...: ONNX Runtime refuses a rank below 3 (over no
    spatial axis the statistics are of one element each)."""
    if rank is not None and rank < 3:
        raise ValueError(f"input of rank {rank}: InstanceNormalization needs N x C x D1 ... (rank >= 3)")


@register("InstanceNormalization", 1, 6, 22, notes="rank < 3 refused (NodeBuildError), as ORT")
def instance_norm(ctx):
    eps = ctx.attr("epsilon", 1e-5)
    _check_rank3(ctx.input_rank(0))

    def run(x, scale, bias):
        _check_rank3(x.ndim)
        mean, var = _moments(x, list(range(2, x.ndim)))
        shape = _channel_shape(x)
        return (x - mean) * flow.rsqrt(var + eps) * scale.reshape(shape) + bias.reshape(shape)

    return fp16_via_fp32(run)


def _stash_type_check(ctx):
    if ctx.attr("stash_type", 1) != 1:
        return f"stash_type={ctx.attr('stash_type')} (statistics are float32)"
    return None


@register("LayerNormalization", 17, check=_stash_type_check, notes=(
    "float64 follows the spec's function body for stash_type=1: statistics and normalisation in "
    "float32, cast to float64 before scale/bias (ORT computes in float64: ~1e-7 relative apart); "
    "Mean/InvStdDev are float32"))
def layer_norm(ctx):
    require(ctx, _stash_type_check)
    axis, eps = ctx.attr("axis", -1), ctx.attr("epsilon", 1e-5)

    def run(x, scale, bias=None):
        dtype = x.dtype
        ax = axis if axis >= 0 else axis + x.ndim
        xf = x.to(flow.float32)
        mean, var = _moments(xf, list(range(ax, x.ndim)))
        inv_std = flow.rsqrt(var + eps)
        y = ((xf - mean) * inv_std).to(dtype) * scale
        if bias is not None:
            y = y + bias
        return y, mean, inv_std

    return _f16_outputs(run)


def _f16_outputs(run):
    """LayerNorm-style ops: float16 math runs in float32; Y returns in the input dtype."""
    def wrapped(x, *rest):
        if x.dtype != flow.float16:
            return run(x, *rest)
        rest = [None if r is None else r.to(flow.float32) for r in rest]
        y, mean, inv_std = run(x.to(flow.float32), *rest)
        return y.to(flow.float16), mean, inv_std
    return wrapped


@register("GroupNormalization", 18, 21, check=_stash_type_check)
def group_norm(ctx):
    require(ctx, _stash_type_check)
    groups, eps = ctx.attr("num_groups"), ctx.attr("epsilon", 1e-5)
    per_group_affine = ctx.version < 21   # version 18: scale/bias have one value per group

    def run(x, scale, bias):
        n, c = x.shape[0], x.shape[1]
        grouped = x.reshape(n, groups, math.prod(x.shape[1:]) // groups)   # no -1: see tensor._reshape
        mean, var = _moments(grouped, [2])
        y = ((grouped - mean) * flow.rsqrt(var + eps)).reshape(x.shape)
        if per_group_affine:
            scale = scale.repeat_interleave(c // groups)
            bias = bias.repeat_interleave(c // groups)
        shape = _channel_shape(x)
        return y * scale.reshape(shape) + bias.reshape(shape)

    return fp16_via_fp32(run)


@register("LRN", 1, 13)
def lrn(ctx):
    size = ctx.attr("size")
    alpha, beta, bias = ctx.attr("alpha", 1e-4), ctx.attr("beta", 0.75), ctx.attr("bias", 1.0)
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2

    def run(x):
        c = x.shape[1]
        sq = flow.square(x)
        # pad the channel axis (dim 1) so every channel sees its whole neighbourhood
        pad = [0, 0] * (x.ndim - 2) + [before, after]
        padded = F.pad(sq, pad)
        window = sum(padded.narrow(1, i, c) for i in range(size))
        return x / flow.pow(bias + (alpha / size) * window, beta)

    return fp16_via_fp32(run)


@register("MeanVarianceNormalization", 9, 13, notes=(
    "two-pass statistics accumulated in float64, then rounded to the input dtype; over one element "
    "the spec's function body gives 0 (ORT gives NaN): we follow the spec"))
def mean_variance_normalization(ctx):
    axes = list(ctx.attr("axes", [0, 2, 3]))

    def run(x):
        # Two-pass E[(x - mean)^2] in float64: float32 accumulation over large axes drifts
        # (the spec's function body E[x^2] - E[x]^2 in float32 loses ~1e-5).
        dtype = x.dtype
        xf = x.to(flow.float64)
        mean, var = _moments(xf, axes)
        return ((xf - mean) / (flow.sqrt(var) + 1e-9)).to(dtype)

    return run


def _lp_norm_check(ctx):
    return None if ctx.attr("p", 2) in (1, 2) else f"p={ctx.attr('p')} (ONNX allows 1 or 2)"


@register("LpNormalization", 1, 22, check=_lp_norm_check, notes=(
    "an all-zero slice gives 0, as ORT (the spec's x / norm is NaN there)"))
def lp_normalization(ctx):
    require(ctx, _lp_norm_check)
    axis, p = ctx.attr("axis", -1), ctx.attr("p", 2)

    def run(x):
        norm = flow.sum(flow.abs(x), dim=axis, keepdim=True) if p == 1 \
            else flow.sqrt(flow.sum(flow.square(x), dim=axis, keepdim=True))
        # An all-zero slice stays 0, as ONNX Runtime (x / 0 would be NaN; the spec's
        # function body leaves it unsaid).
        return x / flow.where(norm == 0, flow.ones_like(norm), norm)

    return fp16_via_fp32(run)
