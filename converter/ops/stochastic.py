"""Dropout at inference and the random generators.

The random ops draw from OneFlow's generator, so their values can never match another
runtime's: only shape and dtype are comparable.
"""
from __future__ import annotations

import numpy as np
import onnx
import oneflow as flow

from ..dtypes import flow_dtype
from ..registry import register
from ._util import require


def _dropout_check(ctx):
    # Training mode is random unless the ratio is 0, so only that case converts.
    training = ctx.const(2) if ctx.has_input(2) else np.bool_(False)
    ratio = ctx.const(1) if ctx.has_input(1) else np.float32(0.5)
    if training is not None and ratio is not None and _training_with_drop(training, ratio):
        return "training_mode=1 with a non-zero ratio (random)"
    return None


@register("Dropout", 1, 6, 7, 10, 12, 13, 22, check=_dropout_check,
          notes="inference only; version 10's mask is all False, as ONNX Runtime (the spec text is silent; "
                "onnx's reference gives True, as versions >= 12 say)")
def dropout(ctx):
    # Versions < 7 carry ``is_test``; the converter builds inference modules, so it is ignored.
    require(ctx, _dropout_check)
    mask_is_bool = ctx.version >= 10   # before, the mask has the input's type
    kept = ctx.version != 10            # see notes: ORT's version-10 kernel leaves the mask False

    def run(x, ratio_t=None, training_t=None):
        if training_t is not None and _training_with_drop(
                training_t.numpy(), ratio_t.numpy() if ratio_t is not None else np.float32(0.5)):
            raise RuntimeError("training-mode Dropout with a non-zero ratio is random; "
                               "only inference is converted")
        mask = (flow.ones if kept else flow.zeros)(x.shape, dtype=flow.bool if mask_is_bool else x.dtype,
                                                   device=x.device)
        return x, mask

    return run


def _training_with_drop(training, ratio) -> bool:
    return bool(np.asarray(training).reshape(-1)[0]) and float(np.asarray(ratio).reshape(-1)[0]) != 0.0


def _dtype_of(ctx, default_input=None):
    if "dtype" in ctx.attrs:
        return flow_dtype(onnx.helper.tensor_dtype_to_np_dtype(ctx.attrs["dtype"]))
    return default_input


def _seeded(ctx):
    seed = ctx.attr("seed")
    gen = flow.Generator()
    if seed is not None:
        gen.manual_seed(int(seed))
    return gen


class _Generator(flow.nn.Module):
    """A random op without inputs: a module, so that ``.to(device)`` also moves where it draws
    (the empty ``anchor`` buffer carries the device)."""

    def __init__(self, draw):
        super().__init__()
        self.draw = draw
        self.register_buffer("anchor", flow.zeros(0))

    def forward(self, *_):
        return self.draw(self.anchor.device)


@register("RandomNormal", 1, 22)
def random_normal(ctx):
    shape = list(ctx.attr("shape"))
    mean, scale = ctx.attr("mean", 0.0), ctx.attr("scale", 1.0)
    dtype = _dtype_of(ctx) or flow.float32
    gen = _seeded(ctx)
    return _Generator(lambda device: (flow.randn(*shape, generator=gen).to(device) * scale + mean).to(dtype))


@register("RandomUniform", 1, 22)
def random_uniform(ctx):
    shape = list(ctx.attr("shape"))
    low, high = ctx.attr("low", 0.0), ctx.attr("high", 1.0)
    dtype = _dtype_of(ctx) or flow.float32
    gen = _seeded(ctx)
    def draw(device):
        return (flow.rand(*shape, generator=gen).to(device) * (high - low) + low).to(dtype)

    return _Generator(draw)


@register("RandomNormalLike", 1, 22)
def random_normal_like(ctx):
    mean, scale = ctx.attr("mean", 0.0), ctx.attr("scale", 1.0)
    gen = _seeded(ctx)
    dtype = _dtype_of(ctx)

    def run(x):
        out = flow.randn(*x.shape, generator=gen).to(x.device) * scale + mean
        return out.to(dtype or x.dtype)

    return run


@register("RandomUniformLike", 1, 22)
def random_uniform_like(ctx):
    low, high = ctx.attr("low", 0.0), ctx.attr("high", 1.0)
    gen = _seeded(ctx)
    dtype = _dtype_of(ctx)

    def run(x):
        out = flow.rand(*x.shape, generator=gen).to(x.device) * (high - low) + low
        return out.to(dtype or x.dtype)

    return run


@register("Bernoulli", 15, 22)
def bernoulli(ctx):
    gen = _seeded(ctx)
    dtype = _dtype_of(ctx)

    def run(p):
        draw = flow.rand(*p.shape, generator=gen).to(p.device) < p
        return draw.to(dtype or p.dtype)

    return run
