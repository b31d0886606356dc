"""GhostNet 1.0x (Han et al. 2020): ghost modules make half the features with cheap ops."""
from __future__ import annotations

import math

import paddle
from paddle import nn

from . import register
from .layers import ConvBNAct, SqueezeExcite, make_divisible

# Per bottleneck: (kernel, expansion width, out channels, SE ratio, stride) — paper Table 1.
GHOSTNET_CFG = (
    (3, 16, 16, 0, 1), (3, 48, 24, 0, 2), (3, 72, 24, 0, 1), (5, 72, 40, 0.25, 2),
    (5, 120, 40, 0.25, 1), (3, 240, 80, 0, 2), (3, 200, 80, 0, 1), (3, 184, 80, 0, 1),
    (3, 184, 80, 0, 1), (3, 480, 112, 0.25, 1), (3, 672, 112, 0.25, 1), (5, 672, 160, 0.25, 2),
    (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1),
)


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
    def __init__(self, cin, mid, cout, kernel, stride, se_ratio):
        super().__init__()
        layers = [GhostModule(cin, mid, relu=True)]
        if stride > 1:
            layers.append(ConvBNAct(mid, mid, kernel, stride, groups=mid, act=None))
        if se_ratio:
            layers.append(SqueezeExcite(mid, make_divisible(mid * se_ratio, 4), gate="hardsigmoid"))
        layers.append(GhostModule(mid, cout, relu=False))
        self.body = nn.Sequential(*layers)
        self.shortcut = (nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            ConvBNAct(cin, cin, kernel, stride, groups=cin, act=None),
            ConvBNAct(cin, cout, 1, act=None)))

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class GhostNet(nn.Layer):
    def __init__(self, width=1.0, dropout=0.2, num_classes=1000):
        super().__init__()
        cin = make_divisible(16 * width, 4)
        layers = [ConvBNAct(3, cin, 3, 2)]
        for kernel, exp, cout, se, stride in GHOSTNET_CFG:
            cout = make_divisible(cout * width, 4)
            layers.append(GhostBottleneck(cin, make_divisible(exp * width, 4), cout, kernel, stride, se))
            cin = cout
        last = make_divisible(960 * width, 4)
        layers.append(ConvBNAct(cin, last, 1))
        self.features = nn.Sequential(*layers)
        # The head widens to 1280 with a biased 1x1 conv after pooling, then classifies.
        self.head = nn.Sequential(nn.AdaptiveAvgPool2D(1), nn.Conv2D(last, 1280, 1), nn.ReLU(),
                                  nn.Flatten(), nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def forward(self, x):
        return self.head(self.features(x))


@register("ghostnet_x1_0")
def ghostnet(**kw):
    return GhostNet(width=1.0, **kw)
