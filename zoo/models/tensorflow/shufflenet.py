"""ShuffleNet V1 (Zhang et al., 2018; g = 3, 1.0x) and ShuffleNet V2 1.0x (Ma et al., 2018)."""
from __future__ import annotations

from keras import layers

from . import register
from .layers import avg_pool, channel_shuffle, classifier, conv_bn, depthwise_bn, image_input, max_pool, model, split_channels

STAGE_REPEATS = (4, 8, 4)
V1_G3_CHANNELS = (24, 240, 480, 960)        # table 1, g = 3
V2_X1_0_CHANNELS = (24, 116, 232, 464, 1024)


def _v1_unit(x, out_channels: int, groups: int, stride: int, first_group: bool):
    """Pointwise group conv -> shuffle -> 3x3 depthwise -> pointwise group conv; a stride-2
    unit concatenates a 3x3/2 average pool of its input instead of adding it."""
    in_channels = x.shape[-1]
    branch_out = out_channels - in_channels if stride == 2 else out_channels
    mid = out_channels // 4
    # The first pointwise conv of stage 2 is not grouped: its 24 input channels are too few.
    y = conv_bn(x, mid, 1, groups=1 if first_group else groups)
    y = channel_shuffle(y, groups)
    y = depthwise_bn(y, 3, stride)
    y = conv_bn(y, branch_out, 1, groups=groups, act=None)
    if stride == 2:
        return layers.ReLU()(layers.Concatenate()([avg_pool(x, 3, 2), y]))
    return layers.ReLU()(layers.Add()([x, y]))


@register("shufflenet_v1_g3_x1_0")
def shufflenet_v1_g3_x1_0(input_shape=(224, 224, 3), classes: int = 1000):
    groups = 3
    inputs = image_input(input_shape)
    x = conv_bn(inputs, V1_G3_CHANNELS[0], 3, stride=2)
    x = max_pool(x)
    for stage, (repeats, channels) in enumerate(zip(STAGE_REPEATS, V1_G3_CHANNELS[1:])):
        for i in range(repeats):
            x = _v1_unit(x, channels, groups, 2 if i == 0 else 1, first_group=stage == 0 and i == 0)
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
    inputs = image_input(input_shape)
    x = conv_bn(inputs, V2_X1_0_CHANNELS[0], 3, stride=2)
    x = max_pool(x)
    for repeats, channels in zip(STAGE_REPEATS, V2_X1_0_CHANNELS[1:-1]):
        for i in range(repeats):
            x = _v2_unit(x, channels, 2 if i == 0 else 1)
    x = conv_bn(x, V2_X1_0_CHANNELS[-1], 1)
    return model(inputs, classifier(x, classes), "shufflenet_v2_x1_0")
