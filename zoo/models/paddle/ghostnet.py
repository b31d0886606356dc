"""GhostNet 1.0x (Han et al. 2020): ghost modules make half the features with cheap ops."""
from __future__ import annotations

import math

import paddle
from paddle import nn

from .. import layouts
from ..layouts import make_divisible
from . import register
from .layers import ConvBNAct, SqueezeExcite


class GhostModule(nn.Layer):
    """A 1x1 conv makes ceil(out/2) 'intrinsic' maps; a depthwise 3x3 makes the ghosts."""

    def __init__(self, cin, cout, relu=True, ratio=2):
        super().__init__()
        self.cout = cout
        intrinsic = math.ceil(cout / ratio)
        act = "relu" if relu else None
        self.primary = ConvBNAct(cin, intrinsic, 1, act=act)
        self.cheap = ConvBNAct(intrinsic, intrinsic * (ratio - 1), 3, groups=intrinsic, act=act)

    def forward(self, x):
        y = self.primary(x)
        return paddle.concat([y, self.cheap(y)], axis=1)[:, :self.cout]


class GhostBottleneck(nn.Layer):
    def __init__(self, cin, mid, cout, kernel, stride, se_ratio, divisor):
        super().__init__()
        layers = [GhostModule(cin, mid, relu=True)]
        if stride > 1:
            layers.append(ConvBNAct(mid, mid, kernel, stride, groups=mid, act=None))
        if se_ratio:
            layers.append(SqueezeExcite(mid, make_divisible(mid * se_ratio, divisor), gate="hardsigmoid"))
        layers.append(GhostModule(mid, cout, relu=False))
        self.body = nn.Sequential(*layers)
        self.shortcut = (nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            ConvBNAct(cin, cin, kernel, stride, groups=cin, act=None),
            ConvBNAct(cin, cout, 1, act=None)))

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class GhostNet(nn.Layer):
    def __init__(self, layout, width=1.0, num_classes=1000):
        super().__init__()
        blocks, divisor, head = layouts.ghostnet_blocks(layout, width), layout["divisor"], layout["head"]
        layers = [ConvBNAct(3, blocks[0][0], 3, 2)]
        layers += [GhostBottleneck(cin, mid, cout, kernel, stride, se, divisor)
                   for cin, kernel, mid, cout, se, stride in blocks]
        last = make_divisible(layout["last"] * width, divisor)
        layers.append(ConvBNAct(blocks[-1][3], last, 1))
        self.features = nn.Sequential(*layers)
        # The head widens with a biased 1x1 conv after pooling, then classifies.
        self.head = nn.Sequential(nn.AdaptiveAvgPool2D(1), nn.Conv2D(last, head, 1), nn.ReLU(),
                                  nn.Flatten(), nn.Dropout(layout["dropout"]), nn.Linear(head, num_classes))

    def forward(self, x):
        return self.head(self.features(x))


@register("ghostnet_x1_0")
def ghostnet(**kw):
    return GhostNet(layouts.GHOSTNET, width=1.0, **kw)
