"""ShuffleNet V1 (Zhang et al., 2018; g = 3, 1.0x) and ShuffleNet V2 1.0x (Ma et al., 2018)."""
from __future__ import annotations

from keras import layers

from .. import layouts
from . import register
from .layers import avg_pool, channel_shuffle, classifier, conv_bn, depthwise_bn, image_input, max_pool, model, split_channels


def _v1_unit(x, out_channels: int, groups: int, stride: int, grouped_first: bool):
    """Pointwise group conv -> shuffle -> 3x3 depthwise -> pointwise group conv; a stride-2
    unit concatenates a 3x3/2 average pool of its input instead of adding it."""
    in_channels = x.shape[-1]
    branch_out = out_channels - in_channels if stride == 2 else out_channels
    mid = out_channels // 4
    # The first pointwise conv of stage 2 is not grouped: its 24 input channels are too few.
    y = conv_bn(x, mid, 1, groups=groups if grouped_first else 1)
    y = channel_shuffle(y, groups)
    y = depthwise_bn(y, 3, stride)
    y = conv_bn(y, branch_out, 1, groups=groups, act=None)
    if stride == 2:
        return layers.ReLU()(layers.Concatenate()([avg_pool(x, 3, 2), y]))
    return layers.ReLU()(layers.Add()([x, y]))


@register("shufflenet_v1_g3_x1_0")
def shufflenet_v1_g3_x1_0(input_shape=(224, 224, 3), classes: int = 1000):
    groups, cfg = 3, layouts.SHUFFLENET_V1
    inputs = image_input(input_shape)
    x = conv_bn(inputs, cfg["stem"], 3, stride=2)
    x = max_pool(x)
    for _, channels, stride, grouped_first in layouts.shufflenet_v1_units(cfg, groups):
        x = _v1_unit(x, channels, groups, stride, grouped_first)
    return model(inputs, classifier(x, classes), "shufflenet_v1_g3_x1_0")


def _v2_branch(x, channels: int, stride: int):
    y = conv_bn(x, channels, 1)
    y = depthwise_bn(y, 3, stride)
    return conv_bn(y, channels, 1)


def _v2_unit(x, out_channels: int, stride: int):
    half = out_channels // 2
    if stride == 1:
        keep, x2 = split_channels(x, 2)
        y = layers.Concatenate()([keep, _v2_branch(x2, half, 1)])
    else:
        left = conv_bn(depthwise_bn(x, 3, stride), half, 1)
        y = layers.Concatenate()([left, _v2_branch(x, half, stride)])
    return channel_shuffle(y, 2)


@register("shufflenet_v2_x1_0")
def shufflenet_v2_x1_0(input_shape=(224, 224, 3), classes: int = 1000):
    cfg = layouts.SHUFFLENET_V2_X1_0
    inputs = image_input(input_shape)
    x = conv_bn(inputs, cfg["stem"], 3, stride=2)
    x = max_pool(x)
    for repeats, channels in zip(cfg["repeats"], cfg["widths"]):
        for i in range(repeats):
            x = _v2_unit(x, channels, 2 if i == 0 else 1)
    x = conv_bn(x, cfg["last"], 1)
    return model(inputs, classifier(x, classes), "shufflenet_v2_x1_0")
