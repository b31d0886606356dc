"""RegNetX-400MF (Radosavovic et al. 2020): X blocks = ResNeXt bottlenecks with ratio 1.

Stage depths/widths come from the paper's quantised linear rule for 400MF
(w0=24, wa=24.48, wm=2.54, depth 22, group width 16).
"""
from __future__ import annotations

from paddle import nn

from . import register
from .layers import ClassifierHead, ConvBNAct

REGNETX_400MF = {"depths": (1, 2, 7, 12), "widths": (32, 64, 160, 384), "group_width": 16}


class XBlock(nn.Layer):
    def __init__(self, cin, cout, stride, group_width):
        super().__init__()
        self.body = nn.Sequential(
            ConvBNAct(cin, cout, 1),
            ConvBNAct(cout, cout, 3, stride, groups=cout // group_width),
            ConvBNAct(cout, cout, 1, act=None),
        )
        self.shortcut = (nn.Identity() if stride == 1 and cin == cout
                         else ConvBNAct(cin, cout, 1, stride, act=None))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class RegNet(nn.Layer):
    def __init__(self, depths, widths, group_width, stem_width=32, num_classes=1000):
        super().__init__()
        layers, cin = [ConvBNAct(3, stem_width, 3, 2)], stem_width
        for depth, width in zip(depths, widths):
            for i in range(depth):
                layers.append(XBlock(cin, width, 2 if i == 0 else 1, group_width))
                cin = width
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(cin, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


@register("regnetx_400mf")
def regnetx_400mf(**kw):
    return RegNet(**REGNETX_400MF, **kw)
