"""ResNet-50-shaped bottleneck networks: ResNeXt, SE-ResNet, SE-ResNeXt and Res2Net.

All share the ResNet-50 skeleton (Xie et al., 2017; Hu et al., 2018; Gao et al., 2019):
7x7/2 stem + 3x3/2 max pool, four stages of [3, 4, 6, 3] bottlenecks with outputs
256-512-1024-2048, stride on the 3x3 conv, 1x1 conv + BN projection shortcuts.
"""
from __future__ import annotations

from keras import layers

from .. import layouts
from . import register
from .layers import avg_pool, bn, classifier, conv, conv_bn, image_input, max_pool, model, split_channels, squeeze_excite


def _shortcut(x, out_channels: int, stride: int):
    if stride == 1 and x.shape[-1] == out_channels:
        return x
    return bn(conv(x, out_channels, 1, stride))


def _bottleneck(x, planes: int, stride: int, expansion: int, groups: int, base_width: int, se: bool):
    width = planes * base_width // 64 * groups
    out_channels = planes * expansion
    y = conv_bn(x, width, 1)
    y = conv_bn(y, width, 3, stride, groups=groups)
    y = conv_bn(y, out_channels, 1, act=None)
    if se:
        y = squeeze_excite(y, out_channels // layouts.SE_REDUCTION)
    y = layers.Add()([y, _shortcut(x, out_channels, stride)])
    return layers.ReLU()(y)


def _res2net_bottleneck(x, planes: int, stride: int, expansion: int, base_width: int, scale: int, first: bool):
    """Res2Net block: the 3x3 conv becomes `scale - 1` hierarchical 3x3 convs over channel
    splits, each fed the previous one's output; the last split passes through (or is
    average-pooled in a stage's first block, where the splits are not chained)."""
    width = planes * base_width // 64
    out_channels = planes * expansion
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
    """``block(x, planes, stride, expansion, first)`` adds one unit."""
    cfg = layouts.RESNET50
    inputs = image_input(input_shape)
    x = conv_bn(inputs, cfg["stem"], 7, stride=2)
    x = max_pool(x)
    for _, planes, stride, first in layouts.resnet_units(cfg):
        x = block(x, planes, stride, cfg["expansion"], first)
    return model(inputs, classifier(x, classes), name)


def _resnext_like(name, se, input_shape, classes, groups, base_width):
    def block(x, planes, stride, expansion, _first):
        return _bottleneck(x, planes, stride, expansion, groups, base_width, se)
    return _resnet50_skeleton(name, block, input_shape, classes)


@register("resnext50_32x4d")
def resnext50_32x4d(input_shape=(224, 224, 3), classes: int = 1000):
    return _resnext_like("resnext50_32x4d", False, input_shape, classes, **layouts.RESNEXT50_32X4D)


@register("se_resnet50")
def se_resnet50(input_shape=(224, 224, 3), classes: int = 1000):
    return _resnext_like("se_resnet50", True, input_shape, classes, groups=1, base_width=64)


@register("se_resnext50_32x4d")
def se_resnext50_32x4d(input_shape=(224, 224, 3), classes: int = 1000):
    return _resnext_like("se_resnext50_32x4d", True, input_shape, classes, **layouts.RESNEXT50_32X4D)


@register("res2net50_26w_4s")
def res2net50_26w_4s(input_shape=(224, 224, 3), classes: int = 1000):
    def block(x, planes, stride, expansion, first):
        return _res2net_bottleneck(x, planes, stride, expansion, **layouts.RES2NET50_26W_4S, first=first)
    return _resnet50_skeleton("res2net50_26w_4s", block, input_shape, classes)
