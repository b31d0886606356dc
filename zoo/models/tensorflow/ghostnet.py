"""GhostNet 1.0x (Han et al., 2020)."""
from __future__ import annotations

import math

from keras import layers

from .. import layouts
from . import register
from .layers import activation, conv, conv_bn, depthwise_bn, image_input, model


def _make_divisible(value: float) -> int:
    """GhostNet rounds its widths to a multiple of the layout's divisor."""
    return layouts.make_divisible(value, layouts.GHOSTNET["divisor"])


def _hard_sigmoid(x):
    # relu6(x + 3) / 6, as the reference implementation gates its SE module.
    return layers.Activation("hard_sigmoid")(x)


def _ghost_module(x, out_channels: int, relu: bool):
    """Half the channels from a 1x1 conv, the other half from a cheap 3x3 depthwise of those."""
    primary_channels = math.ceil(out_channels / 2)
    act = "relu" if relu else None
    primary = conv_bn(x, primary_channels, 1, act=act)
    cheap = depthwise_bn(primary, 3, 1, act=act)
    y = layers.Concatenate()([primary, cheap])
    return y if y.shape[-1] == out_channels else y[..., :out_channels]


def _squeeze_excite(x, ratio: float):
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = layers.Conv2D(_make_divisible(channels * ratio), 1, activation="relu")(s)
    s = _hard_sigmoid(layers.Conv2D(channels, 1)(s))
    return layers.Multiply()([x, s])


def _ghost_bottleneck(x, kernel, mid, out, se_ratio, stride):
    y = _ghost_module(x, mid, relu=True)
    if stride > 1:
        y = depthwise_bn(y, kernel, stride)
    if se_ratio:
        y = _squeeze_excite(y, se_ratio)
    y = _ghost_module(y, out, relu=False)
    if stride == 1 and x.shape[-1] == out:
        shortcut = x
    else:
        shortcut = conv_bn(depthwise_bn(x, kernel, stride), out, 1, act=None)
    return layers.Add()([y, shortcut])


@register("ghostnet_1_0")
def ghostnet_1_0(input_shape=(224, 224, 3), classes: int = 1000, width: float = 1.0):
    cfg = layouts.GHOSTNET
    blocks = layouts.ghostnet_blocks(cfg, width)
    inputs = image_input(input_shape)
    x = conv_bn(inputs, blocks[0][0], 3, stride=2)
    for _, kernel, mid, out, se_ratio, stride in blocks:
        x = _ghost_bottleneck(x, kernel, mid, out, se_ratio, stride)
    x = conv_bn(x, _make_divisible(cfg["last"] * width), 1)
    x = layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = activation(conv(x, cfg["head"], 1, use_bias=True), "relu")
    x = layers.Dropout(cfg["dropout"])(layers.Flatten()(x))
    return model(inputs, layers.Dense(classes)(x), "ghostnet_1_0")
