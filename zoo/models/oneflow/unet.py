"""U-Net (Ronneberger et al. 2015): 4 down / 4 up levels, 64→1024 channels, skip concats,
2x2 up-convolutions (ConvTranspose), as the other columns' unet.

Convs are padded ('same') so the output matches the input size, and each is followed by
BatchNorm — the now-usual form; the 2015 paper used unpadded convs without BN.
"""
from __future__ import annotations

import oneflow as flow
from oneflow import nn

from .. import layouts
from . import register
from .layers import conv_bn_act


def double_conv(cin, cout):
    return nn.Sequential(conv_bn_act(cin, cout, 3), conv_bn_act(cout, cout, 3))


class UNet(nn.Module):
    def __init__(self, widths, in_channels=3, num_classes=2):
        super().__init__()
        self.down = nn.ModuleList()
        cin = in_channels
        for w in widths:
            self.down.append(double_conv(cin, w))
            cin = w
        self.pool = nn.MaxPool2d(2, 2)
        self.up, self.merge = nn.ModuleList(), nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, w, 2, stride=2))   # "up-convolution" 2x2
            self.merge.append(double_conv(2 * w, w))
            cin = w
        self.classifier = nn.Conv2d(cin, num_classes, 1)

    def forward(self, x):
        skips = []
        for i, level in enumerate(self.down):
            x = level(x if i == 0 else self.pool(x))
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(flow.cat([skips.pop(), up(x)], dim=1))
        return self.classifier(x)


@register("unet")
def unet(**kw):
    return UNet(**layouts.UNET, **kw)
