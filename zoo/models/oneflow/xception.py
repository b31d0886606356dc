"""Xception (Chollet 2017) and its DeepLabv3+ form Xception-65 (Chen et al. 2018)."""
from __future__ import annotations

from oneflow import nn

from .. import layouts
from . import register
from .layers import FeatureClassifier, conv_bn_act


def separable_conv(cin, cout, stride=1, deeplab=False, inner_relu=False):
    """Depthwise 3x3 → pointwise 1x1. DeepLab's form adds BN (+ReLU) after each half."""
    if not deeplab:
        return nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
                             nn.Conv2d(cin, cout, 1, bias=False))
    act = "relu" if inner_relu else None
    return nn.Sequential(conv_bn_act(cin, cin, 3, stride, groups=cin, act=act),
                         conv_bn_act(cin, cout, 1, act=act))


class _Residual(nn.Module):
    """body(x) + skip(x); the skip is a strided 1x1 conv + BN when the shape changes."""

    def __init__(self, body, cin, cout, stride):
        super().__init__()
        self.body = body
        self.skip = (nn.Identity() if stride == 1 and cin == cout
                     else conv_bn_act(cin, cout, 1, stride, act=None))

    def forward(self, x):
        return self.body(x) + self.skip(x)


def xception_block(cin, widths, stride, start_with_relu=True):
    """[ReLU → SepConv → BN] x len(widths), then a 3x3/2 max-pool when strided."""
    layers, c = [], cin
    for i, w in enumerate(widths):
        if i > 0 or start_with_relu:
            layers.append(nn.ReLU())
        layers += [separable_conv(c, w), nn.BatchNorm2d(w)]
        c = w
    if stride != 1:
        layers.append(nn.MaxPool2d(3, stride, 1))
    return _Residual(nn.Sequential(*layers), cin, c, stride)


def deeplab_module(cin, widths, stride):
    """Three separable convs (BN after each half), the last strided instead of a max-pool."""
    layers, c = [], cin
    for i, w in enumerate(widths):
        layers += [nn.ReLU(), separable_conv(c, w, stride if i == len(widths) - 1 else 1, deeplab=True)]
        c = w
    return _Residual(nn.Sequential(*layers), cin, c, stride)


def _stem(widths):
    layers, cin = [], 3
    for cout, stride in widths:
        layers.append(conv_bn_act(cin, cout, 3, stride))
        cin = cout
    return layers, cin


class Xception(FeatureClassifier):
    """Entry flow (3 strided blocks), middle flow (8 x 728), exit flow — 36 conv layers."""

    def __init__(self, stem, blocks, exit_flow, num_classes=1000):
        layers, cin = _stem(stem)
        for i, (widths, stride) in enumerate(blocks):
            # the first block follows the stem's ReLU
            layers.append(xception_block(cin, widths, stride, start_with_relu=i > 0))
            cin = widths[-1]
        for cout in exit_flow:
            layers += [separable_conv(cin, cout), nn.BatchNorm2d(cout), nn.ReLU()]
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
            layers.append(separable_conv(cin, cout, deeplab=True, inner_relu=True))
            cin = cout
        super().__init__(layers, cin, num_classes)


@register("xception")
def xception(**kw):
    return Xception(**layouts.XCEPTION, **kw)


@register("xception65")
def xception65(**kw):
    return Xception65(**layouts.XCEPTION65, **kw)
