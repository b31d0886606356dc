"""Xception (Chollet 2017) and its DeepLabv3+ form Xception-65 (Chen et al. 2018)."""
from __future__ import annotations

from paddle import nn

from .. import layouts
from . import register
from .layers import ConvBNAct, FeatureClassifier


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


def _stem(widths):
    layers, cin = [], 3
    for cout, stride in widths:
        layers.append(ConvBNAct(cin, cout, 3, stride))
        cin = cout
    return layers, cin


class _Residual(nn.Layer):
    """body(x) + skip(x); the skip is a strided 1x1 conv + BN when the shape changes."""

    def __init__(self, body, cin, cout, stride):
        super().__init__()
        self.body = body
        self.skip = (nn.Identity() if stride == 1 and cin == cout
                     else ConvBNAct(cin, cout, 1, stride, act=None))

    def forward(self, x):
        return self.body(x) + self.skip(x)


def xception_block(cin, widths, stride, start_with_relu=True):
    """[ReLU → SepConv → BN] x len(widths), then a 3x3/2 max-pool when strided."""
    layers, c = [], cin
    for i, w in enumerate(widths):
        if i > 0 or start_with_relu:
            layers.append(nn.ReLU())
        layers += [SeparableConv(c, w), nn.BatchNorm2D(w)]
        c = w
    if stride != 1:
        layers.append(nn.MaxPool2D(3, stride, 1))
    return _Residual(nn.Sequential(*layers), cin, c, stride)


def deeplab_module(cin, widths, stride):
    """Three separable convs (BN after each half), the last strided instead of a max-pool."""
    layers, c = [], cin
    for i, w in enumerate(widths):
        layers += [nn.ReLU(), SeparableConv(c, w, stride if i == len(widths) - 1 else 1, deeplab=True)]
        c = w
    return _Residual(nn.Sequential(*layers), cin, c, stride)


class Xception(FeatureClassifier):
    """Entry flow (3 strided blocks), middle flow (8 x 728), exit flow — 36 conv layers."""

    def __init__(self, stem, blocks, exit_flow, num_classes=1000):
        layers, cin = _stem(stem)
        for i, (widths, stride) in enumerate(blocks):
            # the first block follows the stem's ReLU
            layers.append(xception_block(cin, widths, stride, start_with_relu=i > 0))
            cin = widths[-1]
        for cout in exit_flow:
            layers += [SeparableConv(cin, cout), nn.BatchNorm2D(cout), nn.ReLU()]
            cin = cout
        super().__init__(layers, cin, num_classes)


class Xception65(FeatureClassifier):
    """Entry flow (128/256/728), middle flow 16 x 728, exit flow at output stride 32."""

    def __init__(self, stem, blocks, exit_flow, num_classes=1000):
        layers, cin = _stem(stem)
        for widths, stride in blocks:
            layers.append(deeplab_module(cin, widths, stride))
            cin = widths[-1]
        for cout in exit_flow:
            layers.append(SeparableConv(cin, cout, deeplab=True, inner_relu=True))
            cin = cout
        super().__init__(layers, cin, num_classes)


@register("xception")
def xception(**kw):
    return Xception(**layouts.XCEPTION, **kw)


@register("xception65")
def xception65(**kw):
    return Xception65(**layouts.XCEPTION65, **kw)
