"""RegNetX-400MF (Radosavovic et al. 2020): X blocks = ResNeXt bottlenecks with ratio 1.

Stage depths/widths come from the paper's quantised linear rule for 400MF
(w0=24, wa=24.48, wm=2.54, depth 22, group width 16).
"""
from __future__ import annotations

from paddle import nn

from .. import layouts
from . import register
from .layers import ConvBNAct, FeatureClassifier


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


class RegNet(FeatureClassifier):
    def __init__(self, stem, blocks, group_width, num_classes=1000):
        layers = [ConvBNAct(3, stem, 3, 2)]
        layers += [XBlock(cin, cout, stride, group_width) for cin, cout, stride in blocks]
        super().__init__(layers, blocks[-1][1], num_classes)


@register("regnetx_400mf")
def regnetx_400mf(**kw):
    layout = layouts.REGNETX_400MF
    return RegNet(layout["stem"], layouts.regnet_blocks(layout), layout["group_width"], **kw)
