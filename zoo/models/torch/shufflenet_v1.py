"""ShuffleNet V1 (Zhang et al., 2018, "ShuffleNet: An Extremely Efficient CNN for Mobile Devices").

Table 1 of the paper: stem 3x3/2 conv (24) + 3x3/2 max pool; stages 2-4 repeat [4, 8, 4]
units; for groups g=3 at width 1.0x the stage outputs are 240, 480, 960. The first unit of
each stage has stride 2 and concatenates an average-pooled shortcut; the first pointwise
conv of stage 2 is not grouped (its input has only 24 channels).
"""
from __future__ import annotations

import torch
from torch import nn

from .. import layouts
from . import register


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout))


class ShuffleUnit(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, groups: int, group_first_conv: bool = True):
        super().__init__()
        self.stride, self.groups = stride, groups
        branch_out = cout - cin if stride == 2 else cout  # stride 2 concatenates the shortcut
        mid = cout // 4                                   # bottleneck = 1/4 of the unit's output
        self.compress = conv_bn(cin, mid, 1, groups=groups if group_first_conv else 1)
        self.first_groups = groups if group_first_conv else 1
        self.depthwise = conv_bn(mid, mid, 3, stride, groups=mid)
        self.expand = conv_bn(mid, branch_out, 1, groups=groups)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.compress(x))
        if self.first_groups > 1:
            y = channel_shuffle(y, self.first_groups)
        y = self.expand(self.depthwise(y))
        if self.shortcut is not None:
            return self.relu(torch.cat([self.shortcut(x), y], dim=1))
        return self.relu(x + y)


class ShuffleNetV1(nn.Module):
    def __init__(self, groups: int, stem: int, units: tuple, num_classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, stem, 3, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        self.stages = nn.Sequential(*(ShuffleUnit(cin, cout, stride, groups, grouped)
                                      for cin, cout, stride, grouped in units))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(units[-1][1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stages(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


@register("shufflenet_v1_g3_x1_0")
def shufflenet_v1_g3_x1_0(num_classes: int = 1000) -> ShuffleNetV1:
    layout = layouts.SHUFFLENET_V1
    return ShuffleNetV1(3, layout["stem"], layouts.shufflenet_v1_units(layout, 3), num_classes)
