"""U-Net (Ronneberger et al. 2015): 4 down / 4 up levels, 64→1024 channels, skip concats.

Convs are padded ('same') so the output matches the input size, and each is followed by
BatchNorm — the now-usual form; the 2015 paper used unpadded convs without BN.
"""
from __future__ import annotations

import paddle
from paddle import nn

from .. import layouts
from . import register
from .layers import ConvBNAct


class DoubleConv(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(ConvBNAct(cin, cout, 3), ConvBNAct(cout, cout, 3))


class UNet(nn.Layer):
    def __init__(self, widths, in_channels=3, num_classes=2):
        super().__init__()
        self.down = nn.LayerList()
        cin = in_channels
        for w in widths:
            self.down.append(DoubleConv(cin, w))
            cin = w
        self.pool = nn.MaxPool2D(2, 2)
        self.up = nn.LayerList()
        self.merge = nn.LayerList()
        for w in reversed(widths[:-1]):
            self.up.append(nn.Conv2DTranspose(cin, w, 2, 2))   # "up-convolution" 2x2
            self.merge.append(DoubleConv(2 * w, w))
            cin = w
        self.classifier = nn.Conv2D(cin, num_classes, 1)

    def forward(self, x):
        skips = []
        for i, level in enumerate(self.down):
            x = level(x if i == 0 else self.pool(x))
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(paddle.concat([skips.pop(), up(x)], axis=1))
        return self.classifier(x)


@register("unet")
def unet(**kw):
    return UNet(**layouts.UNET, **kw)
