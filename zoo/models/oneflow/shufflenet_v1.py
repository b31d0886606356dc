"""ShuffleNet V1 (Zhang et al. 2018), groups g=3, width 1.0x (Table 1: 240/480/960)."""
from __future__ import annotations

import oneflow as flow
from flowvision.models.shufflenet_v2 import channel_shuffle
from oneflow import nn

from .. import layouts
from . import register
from .layers import FeatureClassifier, conv_bn_act


class ShuffleUnit(nn.Module):
    def __init__(self, cin, cout, stride, groups, first_group_conv=True):
        super().__init__()
        mid = cout // 4
        # A stride-2 unit concatenates the pooled input, so its branch only adds cout - cin.
        branch_out = cout - cin if stride == 2 else cout
        self.groups = groups
        # The paper leaves stage 2's first 1x1 ungrouped: its 24 input channels are too few.
        self.reduce = conv_bn_act(cin, mid, 1, groups=groups if first_group_conv else 1)
        self.depthwise = conv_bn_act(mid, mid, 3, stride, groups=mid, act=None)
        self.expand = conv_bn_act(mid, branch_out, 1, groups=groups, act=None)
        self.pool = nn.AvgPool2d(3, 2, 1, count_include_pad=True) if stride == 2 else None
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.expand(self.depthwise(channel_shuffle(self.reduce(x), self.groups)))
        if self.pool is None:
            return self.relu(x + y)
        return self.relu(flow.cat([self.pool(x), y], dim=1))


class ShuffleNetV1(FeatureClassifier):
    def __init__(self, groups, stem, units, num_classes=1000):
        layers = [conv_bn_act(3, stem, 3, 2), nn.MaxPool2d(3, 2, 1)]
        layers += [ShuffleUnit(cin, cout, stride, groups, grouped) for cin, cout, stride, grouped in units]
        super().__init__(layers, units[-1][1], num_classes)


@register("shufflenet_v1_g3_x1_0")
def shufflenet_v1_g3(**kw):
    layout = layouts.SHUFFLENET_V1
    return ShuffleNetV1(3, layout["stem"], layouts.shufflenet_v1_units(layout, 3), **kw)
