"""EfficientNet-B0 (Tan & Le 2019): MBConv blocks with squeeze-excite and swish."""
from __future__ import annotations

from paddle import nn

from . import register
from .layers import ClassifierHead, ConvBNAct, SqueezeExcite

# (expand ratio, kernel, first stride, out channels, repeats) — the paper's Table 1 for B0.
B0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
             (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


class MBConv(nn.Layer):
    def __init__(self, cin, cout, expand, kernel, stride, se_ratio=0.25):
        super().__init__()
        mid = cin * expand
        self.body = nn.Sequential(
            ConvBNAct(cin, mid, 1, act="swish") if expand != 1 else nn.Identity(),
            ConvBNAct(mid, mid, kernel, stride, groups=mid, act="swish"),
            # SE width is a fraction of the block's *input* channels, as in the reference.
            SqueezeExcite(mid, max(1, int(cin * se_ratio)), act="swish"),
            ConvBNAct(mid, cout, 1, act=None),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class EfficientNet(nn.Layer):
    def __init__(self, stages=B0_STAGES, stem=32, head=1280, dropout=0.2, num_classes=1000):
        super().__init__()
        layers, cin = [ConvBNAct(3, stem, 3, 2, act="swish")], stem
        for expand, kernel, stride, cout, repeats in stages:
            for i in range(repeats):
                layers.append(MBConv(cin, cout, expand, kernel, stride if i == 0 else 1))
                cin = cout
        layers.append(ConvBNAct(cin, head, 1, act="swish"))
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(head, num_classes, dropout)

    def forward(self, x):
        return self.head(self.features(x))


@register("efficientnet_b0")
def efficientnet_b0(**kw):
    return EfficientNet(**kw)
