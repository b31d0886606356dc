"""EfficientNet-B0 (Tan & Le 2019): MBConv blocks with squeeze-excite and swish."""
from __future__ import annotations

from paddle import nn

from .. import layouts
from . import register
from .layers import ConvBNAct, FeatureClassifier, SqueezeExcite


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


class EfficientNet(FeatureClassifier):
    def __init__(self, stem, stages, head, dropout, num_classes=1000):
        layers, cin = [ConvBNAct(3, stem, 3, 2, act="swish")], stem
        for expand, kernel, stride, cout, repeats in stages:
            for i in range(repeats):
                layers.append(MBConv(cin, cout, expand, kernel, stride if i == 0 else 1))
                cin = cout
        layers.append(ConvBNAct(cin, head, 1, act="swish"))
        super().__init__(layers, head, num_classes, dropout)


@register("efficientnet_b0")
def efficientnet_b0(**kw):
    return EfficientNet(**layouts.EFFICIENTNET_B0, **kw)
