"""Xception (Chollet 2017) and its DeepLabv3+ form Xception-65 (Chen et al. 2018)."""
from __future__ import annotations

from oneflow import nn

from . import register
from .layers import ClassifierHead, conv_bn_act


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


class Xception(nn.Module):
    """Entry flow (3 strided blocks), middle flow (8 x 728), exit flow — 36 conv layers."""

    def __init__(self, num_classes=1000):
        super().__init__()
        blocks = [conv_bn_act(3, 32, 3, 2), conv_bn_act(32, 64, 3),
                  xception_block(64, (128, 128), 2, start_with_relu=False),
                  xception_block(128, (256, 256), 2), xception_block(256, (728, 728), 2)]
        blocks += [xception_block(728, (728, 728, 728), 1) for _ in range(8)]
        blocks += [xception_block(728, (728, 1024), 2),
                   separable_conv(1024, 1536), nn.BatchNorm2d(1536), nn.ReLU(),
                   separable_conv(1536, 2048), nn.BatchNorm2d(2048), nn.ReLU()]
        self.features = nn.Sequential(*blocks)
        self.head = ClassifierHead(2048, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


class Xception65(nn.Module):
    """Entry flow (128/256/728), middle flow 16 x 728, exit flow at output stride 32."""

    def __init__(self, num_classes=1000):
        super().__init__()
        blocks = [conv_bn_act(3, 32, 3, 2), conv_bn_act(32, 64, 3),
                  deeplab_module(64, (128,) * 3, 2), deeplab_module(128, (256,) * 3, 2),
                  deeplab_module(256, (728,) * 3, 2)]
        blocks += [deeplab_module(728, (728,) * 3, 1) for _ in range(16)]
        blocks += [deeplab_module(728, (728, 1024, 1024), 2),
                   separable_conv(1024, 1536, deeplab=True, inner_relu=True),
                   separable_conv(1536, 1536, deeplab=True, inner_relu=True),
                   separable_conv(1536, 2048, deeplab=True, inner_relu=True)]
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
