"""DarkNet-53 (Redmon & Farhadi, YOLOv3): 52 conv layers + the classifier's linear layer."""
from __future__ import annotations

from oneflow import nn

from .. import layouts
from . import register
from .layers import FeatureClassifier, conv_bn_act


class DarkResidual(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(conv_bn_act(channels, channels // 2, 1, act="leaky_relu"),
                                  conv_bn_act(channels // 2, channels, 3, act="leaky_relu"))

    def forward(self, x):
        return x + self.body(x)


class DarkNet53(FeatureClassifier):
    def __init__(self, stem, stages, num_classes=1000):
        layers, cin = [conv_bn_act(3, stem, 3, act="leaky_relu")], stem
        for cout, repeats in stages:
            layers.append(conv_bn_act(cin, cout, 3, 2, act="leaky_relu"))
            layers += [DarkResidual(cout) for _ in range(repeats)]
            cin = cout
        super().__init__(layers, cin, num_classes)


@register("darknet53")
def darknet53(**kw):
    return DarkNet53(**layouts.DARKNET53, **kw)
