"""ResNet-50-shaped bottleneck networks: ResNeXt, SE-ResNet, SE-ResNeXt and Res2Net.

All share the ResNet-50 skeleton (Xie et al., 2017; Hu et al., 2018; Gao et al., 2019):
7x7/2 stem + 3x3/2 max pool, four stages of [3, 4, 6, 3] bottlenecks with outputs
256-512-1024-2048, stride on the 3x3 conv, 1x1 conv + BN projection shortcuts.
"""
from __future__ import annotations

from keras import layers

from . import register
from .layers import avg_pool, bn, classifier, conv, conv_bn, image_input, max_pool, model, split_channels, squeeze_excite

STAGE_DEPTHS = (3, 4, 6, 3)
STAGE_PLANES = (64, 128, 256, 512)
EXPANSION = 4
SE_REDUCTION = 16


def _shortcut(x, out_channels: int, stride: int):
    if stride == 1 and x.shape[-1] == out_channels:
        return x
    return bn(conv(x, out_channels, 1, stride))


def _bottleneck(x, planes: int, stride: int, groups: int, base_width: int, se: bool):
    width = planes * base_width // 64 * groups
    out_channels = planes * EXPANSION
    y = conv_bn(x, width, 1)
    y = conv_bn(y, width, 3, stride, groups=groups)
    y = conv_bn(y, out_channels, 1, act=None)
    if se:
        y = squeeze_excite(y, out_channels // SE_REDUCTION)
    y = layers.Add()([y, _shortcut(x, out_channels, stride)])
    return layers.ReLU()(y)


def _res2net_bottleneck(x, planes: int, stride: int, base_width: int, scale: int, first: bool):
    """Res2Net block: the 3x3 conv becomes `scale - 1` hierarchical 3x3 convs over channel
    splits, each fed the previous one's output; the last split passes through (or is
    average-pooled in a stage's first block, where the splits are not chained)."""
    width = planes * base_width // 64
    out_channels = planes * EXPANSION
    y = conv_bn(x, width * scale, 1)
    splits = split_channels(y, scale)
    outs, prev = [], None
    for part in splits[:-1]:
        inp = part if first or prev is None else layers.Add()([prev, part])
        prev = conv_bn(inp, width, 3, stride)
        outs.append(prev)
    outs.append(avg_pool(splits[-1], 3, stride) if first else splits[-1])
    y = layers.Concatenate()(outs)
    y = conv_bn(y, out_channels, 1, act=None)
    y = layers.Add()([y, _shortcut(x, out_channels, stride)])
    return layers.ReLU()(y)


def _resnet50_skeleton(name: str, block, input_shape, classes: int):
    inputs = image_input(input_shape)
    x = conv_bn(inputs, 64, 7, stride=2)
    x = max_pool(x)
    for stage, (depth, planes) in enumerate(zip(STAGE_DEPTHS, STAGE_PLANES)):
        for i in range(depth):
            stride = 2 if stage > 0 and i == 0 else 1
            x = block(x, planes, stride, i == 0)
    return model(inputs, classifier(x, classes), name)


def _resnext_like(name, groups, base_width, se, input_shape, classes):
    def block(x, planes, stride, _first):
        return _bottleneck(x, planes, stride, groups, base_width, se)
    return _resnet50_skeleton(name, block, input_shape, classes)


@register("resnext50_32x4d")
def resnext50_32x4d(input_shape=(224, 224, 3), classes: int = 1000):
    return _resnext_like("resnext50_32x4d", 32, 4, False, input_shape, classes)


@register("se_resnet50")
def se_resnet50(input_shape=(224, 224, 3), classes: int = 1000):
    return _resnext_like("se_resnet50", 1, 64, True, input_shape, classes)


@register("se_resnext50_32x4d")
def se_resnext50_32x4d(input_shape=(224, 224, 3), classes: int = 1000):
    return _resnext_like("se_resnext50_32x4d", 32, 4, True, input_shape, classes)


@register("res2net50_26w_4s")
def res2net50_26w_4s(input_shape=(224, 224, 3), classes: int = 1000):
    def block(x, planes, stride, first):
        return _res2net_bottleneck(x, planes, stride, base_width=26, scale=4, first=first)
    return _resnet50_skeleton("res2net50_26w_4s", block, input_shape, classes)
