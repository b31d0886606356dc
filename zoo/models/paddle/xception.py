"""Xception (Chollet 2017) and its DeepLabv3+ form Xception-65 (Chen et al. 2018)."""
from __future__ import annotations

from paddle import nn

from . import register
from .layers import ClassifierHead, ConvBNAct


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 → pointwise 1x1. DeepLab's form adds BN (+ReLU) after each half."""

    def __init__(self, cin, cout, stride=1, deeplab=False, inner_relu=False):
        if not deeplab:
            super().__init__(nn.Conv2D(cin, cin, 3, stride, 1, groups=cin, bias_attr=False),
                             nn.Conv2D(cin, cout, 1, bias_attr=False))
            return
        act = "relu" if inner_relu else None
        super().__init__(ConvBNAct(cin, cin, 3, stride, groups=cin, act=act),
                         ConvBNAct(cin, cout, 1, act=act))


class XceptionBlock(nn.Layer):
    """[ReLU → SepConv → BN] x len(widths), then a 3x3/2 max-pool when strided."""

    def __init__(self, cin, widths, stride, start_with_relu=True):
        super().__init__()
        layers, c = [], cin
        for i, w in enumerate(widths):
            if i > 0 or start_with_relu:
                layers.append(nn.ReLU())
            layers += [SeparableConv(c, w), nn.BatchNorm2D(w)]
            c = w
        if stride != 1:
            layers.append(nn.MaxPool2D(3, stride, 1))
        self.body = nn.Sequential(*layers)
        self.skip = (nn.Identity() if stride == 1 and cin == c
                     else ConvBNAct(cin, c, 1, stride, act=None))

    def forward(self, x):
        return self.body(x) + self.skip(x)


class Xception(nn.Layer):
    """Entry flow (3 strided blocks), middle flow (8 x 728), exit flow — 36 conv layers."""

    def __init__(self, num_classes=1000):
        super().__init__()
        blocks = [ConvBNAct(3, 32, 3, 2), ConvBNAct(32, 64, 3),
                  XceptionBlock(64, (128, 128), 2, start_with_relu=False),
                  XceptionBlock(128, (256, 256), 2), XceptionBlock(256, (728, 728), 2)]
        blocks += [XceptionBlock(728, (728, 728, 728), 1) for _ in range(8)]
        blocks += [XceptionBlock(728, (728, 1024), 2),
                   SeparableConv(1024, 1536), nn.BatchNorm2D(1536), nn.ReLU(),
                   SeparableConv(1536, 2048), nn.BatchNorm2D(2048), nn.ReLU()]
        self.features = nn.Sequential(*blocks)
        self.head = ClassifierHead(2048, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


class DeepLabXceptionModule(nn.Layer):
    """Three separable convs, the last strided (no max-pool), with a conv or identity skip."""

    def __init__(self, cin, widths, stride):
        super().__init__()
        layers, c = [], cin
        for i, w in enumerate(widths):
            layers += [nn.ReLU(), SeparableConv(c, w, stride if i == len(widths) - 1 else 1,
                                                deeplab=True)]
            c = w
        self.body = nn.Sequential(*layers)
        self.skip = (nn.Identity() if stride == 1 and cin == c
                     else ConvBNAct(cin, c, 1, stride, act=None))

    def forward(self, x):
        return self.body(x) + self.skip(x)


class Xception65(nn.Layer):
    """Entry flow (128/256/728), middle flow 16 x 728, exit flow at output stride 32."""

    def __init__(self, num_classes=1000):
        super().__init__()
        blocks = [ConvBNAct(3, 32, 3, 2), ConvBNAct(32, 64, 3),
                  DeepLabXceptionModule(64, (128,) * 3, 2),
                  DeepLabXceptionModule(128, (256,) * 3, 2),
                  DeepLabXceptionModule(256, (728,) * 3, 2)]
        blocks += [DeepLabXceptionModule(728, (728,) * 3, 1) for _ in range(16)]
        blocks += [DeepLabXceptionModule(728, (728, 1024, 1024), 2),
                   SeparableConv(1024, 1536, deeplab=True, inner_relu=True),
                   SeparableConv(1536, 1536, deeplab=True, inner_relu=True),
                   SeparableConv(1536, 2048, deeplab=True, inner_relu=True)]
        self.features = nn.Sequential(*blocks)
        self.head = ClassifierHead(2048, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


@register("xception")
def xception(**kw):
    return Xception(**kw)


@register("xception65")
def xception65(**kw):
    return Xception65(**kw)
