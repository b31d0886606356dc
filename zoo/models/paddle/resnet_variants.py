"""ResNet-50 relatives: ResNetV2 (pre-activation), SE-ResNet, SE-ResNeXt, Res2Net.

All use the ResNet-50 layout (layouts.RESNET50): 7x7/2 stem + 3x3/2 max-pool, four stages of [3, 4, 6, 3]
bottlenecks with 64·2^i base widths and 4x expansion, stride 2 in the first block of
stages 2–4, global pool and a 1000-way linear head.
"""
from __future__ import annotations

import functools

import paddle
from paddle import nn

from .. import layouts
from . import register
from .layers import ClassifierHead, ConvBNAct, SqueezeExcite


def _projection(cin, cout, stride):
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2D(cin, cout, 1, stride, bias_attr=False), nn.BatchNorm2D(cout))


class Bottleneck(nn.Layer):
    """Post-activation bottleneck; `groups`/`base_width` give ResNeXt, `se` gives SENet."""

    def __init__(self, cin, planes, stride, expansion, groups=1, base_width=64, se=False):
        super().__init__()
        width = int(planes * base_width / 64) * groups
        cout = planes * expansion
        self.body = nn.Sequential(
            ConvBNAct(cin, width, 1),
            ConvBNAct(width, width, 3, stride, groups=groups),
            ConvBNAct(width, cout, 1, act=None),
            SqueezeExcite(cout, cout // layouts.SE_REDUCTION) if se else nn.Identity(),
        )
        self.shortcut = _projection(cin, cout, stride)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class PreActBottleneck(nn.Layer):
    """ResNetV2 unit (He et al. 2016, identity mappings): BN-ReLU precedes every conv."""

    def __init__(self, cin, planes, stride, expansion):
        super().__init__()
        cout = planes * expansion
        self.preact = nn.Sequential(nn.BatchNorm2D(cin), nn.ReLU())
        self.conv1 = nn.Conv2D(cin, planes, 1, bias_attr=False)
        self.conv2 = nn.Sequential(nn.BatchNorm2D(planes), nn.ReLU(),
                                   nn.Conv2D(planes, planes, 3, stride, 1, bias_attr=False))
        self.conv3 = nn.Sequential(nn.BatchNorm2D(planes), nn.ReLU(),
                                   nn.Conv2D(planes, cout, 1, bias_attr=False))
        self.projection = (nn.Conv2D(cin, cout, 1, stride, bias_attr=False)
                           if stride != 1 or cin != cout else None)

    def forward(self, x):
        pre = self.preact(x)
        shortcut = x if self.projection is None else self.projection(pre)
        return self.conv3(self.conv2(self.conv1(pre))) + shortcut


class Res2NetBottleneck(nn.Layer):
    """Res2Net unit (Gao et al.): the 3x3 conv is split into `scale` hierarchical groups."""

    def __init__(self, cin, planes, stride, expansion, base_width, scale):
        super().__init__()
        width = int(planes * base_width / 64)
        cout = planes * expansion
        # The first unit of a stage cannot add the previous split (shapes change there).
        self.first_of_stage = stride != 1 or cin != cout
        self.scale, self.width = scale, width
        self.reduce = ConvBNAct(cin, width * scale, 1)
        self.convs = nn.LayerList([ConvBNAct(width, width, 3, stride) for _ in range(scale - 1)])
        self.pool_last = nn.AvgPool2D(3, stride, 1, exclusive=False) if self.first_of_stage else None
        self.expand = ConvBNAct(width * scale, cout, 1, act=None)
        self.shortcut = _projection(cin, cout, stride)
        self.relu = nn.ReLU()

    def forward(self, x):
        splits = paddle.split(self.reduce(x), self.scale, axis=1)
        outs, carried = [], None
        for i, conv in enumerate(self.convs):
            carried = conv(splits[i] if self.first_of_stage or carried is None else carried + splits[i])
            outs.append(carried)
        outs.append(self.pool_last(splits[-1]) if self.first_of_stage else splits[-1])
        return self.relu(self.expand(paddle.concat(outs, axis=1)) + self.shortcut(x))


class ResNet50Layout(nn.Layer):
    """``make_block(cin, planes, stride, expansion)`` makes one unit."""

    def __init__(self, make_block, preact=False, num_classes=1000):
        super().__init__()
        layout = layouts.RESNET50
        stem, units, expansion = layout["stem"], layouts.resnet_units(layout), layout["expansion"]
        stem_conv = (nn.Conv2D(3, stem, 7, 2, 3, bias_attr=False) if preact
                     else ConvBNAct(3, stem, 7, 2))
        self.stem = nn.Sequential(stem_conv, nn.MaxPool2D(3, 2, 1))
        self.blocks = nn.Sequential(*(make_block(cin, planes, stride, expansion)
                                      for cin, planes, stride, _ in units))
        cin = units[-1][1] * expansion
        # Pre-activation nets end with the BN-ReLU the last unit did not apply.
        self.final = nn.Sequential(nn.BatchNorm2D(cin), nn.ReLU()) if preact else nn.Identity()
        self.head = ClassifierHead(cin, num_classes)

    def forward(self, x):
        return self.head(self.final(self.blocks(self.stem(x))))


@register("resnet50_v2")
def resnet50_v2(**kw):
    return ResNet50Layout(PreActBottleneck, preact=True, **kw)


@register("se_resnet50")
def se_resnet50(**kw):
    return ResNet50Layout(functools.partial(Bottleneck, se=True), **kw)


@register("se_resnext50_32x4d")
def se_resnext50_32x4d(**kw):
    return ResNet50Layout(functools.partial(Bottleneck, **layouts.RESNEXT50_32X4D, se=True), **kw)


@register("res2net50_26w_4s")
def res2net50_26w_4s(**kw):
    return ResNet50Layout(functools.partial(Res2NetBottleneck, **layouts.RES2NET50_26W_4S), **kw)
