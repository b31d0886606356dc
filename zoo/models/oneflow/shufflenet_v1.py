"""ShuffleNet V1 (Zhang et al. 2018), groups g=3, width 1.0x (Table 1: 240/480/960)."""
from __future__ import annotations

import oneflow as flow
from flowvision.models.shufflenet_v2 import channel_shuffle
from oneflow import nn

from . import register
from .layers import ClassifierHead, conv_bn_act

STAGE_REPEATS = (4, 8, 4)
G3_CHANNELS = (24, 240, 480, 960)


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


class ShuffleNetV1(nn.Module):
    def __init__(self, groups=3, channels=G3_CHANNELS, num_classes=1000):
        super().__init__()
        layers = [conv_bn_act(3, channels[0], 3, 2), nn.MaxPool2d(3, 2, 1)]
        cin = channels[0]
        for stage, (repeats, cout) in enumerate(zip(STAGE_REPEATS, channels[1:])):
            for i in range(repeats):
                layers.append(ShuffleUnit(cin, cout, 2 if i == 0 else 1, groups,
                                          first_group_conv=not (stage == 0 and i == 0)))
                cin = cout
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(cin, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


@register("shufflenet_v1_g3_x1_0")
def shufflenet_v1_g3(**kw):
    return ShuffleNetV1(**kw)
