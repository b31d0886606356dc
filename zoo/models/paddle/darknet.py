"""DarkNet-53 (Redmon & Farhadi, YOLOv3): 52 conv layers + the classifier's linear layer."""
from __future__ import annotations

from paddle import nn

from .. import layouts
from . import register
from .layers import ConvBNAct, FeatureClassifier


class DarkResidual(nn.Layer):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(ConvBNAct(channels, channels // 2, 1, act="leaky_relu"),
                                  ConvBNAct(channels // 2, channels, 3, act="leaky_relu"))

    def forward(self, x):
        return x + self.body(x)


class DarkNet53(FeatureClassifier):
    def __init__(self, stem, stages, num_classes=1000):
        layers, cin = [ConvBNAct(3, stem, 3, act="leaky_relu")], stem
        for cout, repeats in stages:
            layers.append(ConvBNAct(cin, cout, 3, 2, act="leaky_relu"))
            layers += [DarkResidual(cout) for _ in range(repeats)]
            cin = cout
        super().__init__(layers, cin, num_classes)


@register("darknet53")
def darknet53(**kw):
    return DarkNet53(**layouts.DARKNET53, **kw)
