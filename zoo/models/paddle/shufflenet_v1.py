"""ShuffleNet V1 (Zhang et al. 2018), groups g=3, width 1.0x (Table 1: 240/480/960)."""
from __future__ import annotations

import paddle
from paddle import nn

from .. import layouts
from . import register
from .layers import ConvBNAct, FeatureClassifier, channel_shuffle


class ShuffleUnit(nn.Layer):
    def __init__(self, cin, cout, stride, groups, first_group_conv=True):
        super().__init__()
        mid = cout // 4
        # A stride-2 unit concatenates the pooled input, so its branch only adds cout - cin.
        branch_out = cout - cin if stride == 2 else cout
        self.groups = groups
        # The paper skips grouping the first 1x1 of stage 2: its 24 input channels are too few.
        self.reduce = ConvBNAct(cin, mid, 1, groups=groups if first_group_conv else 1)
        self.depthwise = ConvBNAct(mid, mid, 3, stride, groups=mid, act=None)
        self.expand = ConvBNAct(mid, branch_out, 1, groups=groups, act=None)
        self.pool = nn.AvgPool2D(3, 2, 1, exclusive=False) if stride == 2 else None
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.expand(self.depthwise(channel_shuffle(self.reduce(x), self.groups)))
        if self.pool is None:
            return self.relu(x + y)
        return self.relu(paddle.concat([self.pool(x), y], axis=1))


class ShuffleNetV1(FeatureClassifier):
    def __init__(self, groups, stem, units, num_classes=1000):
        layers = [ConvBNAct(3, stem, 3, 2), nn.MaxPool2D(3, 2, 1)]
        layers += [ShuffleUnit(cin, cout, stride, groups, grouped) for cin, cout, stride, grouped in units]
        super().__init__(layers, units[-1][1], num_classes)


@register("shufflenet_v1_g3_x1_0")
def shufflenet_v1_g3(**kw):
    layout = layouts.SHUFFLENET_V1
    return ShuffleNetV1(3, layout["stem"], layouts.shufflenet_v1_units(layout, 3), **kw)
