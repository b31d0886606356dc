"""DarkNet-53 (Redmon & Farhadi, YOLOv3): 52 conv layers + the classifier's linear layer."""
from __future__ import annotations

from oneflow import nn

from . import register
from .layers import ClassifierHead, conv_bn_act

# (channels after the strided 3x3 conv, residual blocks) per stage — the paper's Table 1.
DARKNET53_STAGES = ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4))


class DarkResidual(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(conv_bn_act(channels, channels // 2, 1, act="leaky_relu"),
                                  conv_bn_act(channels // 2, channels, 3, act="leaky_relu"))

    def forward(self, x):
        return x + self.body(x)


class DarkNet53(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        layers, cin = [conv_bn_act(3, 32, 3, act="leaky_relu")], 32
        for cout, repeats in DARKNET53_STAGES:
            layers.append(conv_bn_act(cin, cout, 3, 2, act="leaky_relu"))
            layers += [DarkResidual(cout) for _ in range(repeats)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(cin, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


@register("darknet53")
def darknet53(**kw):
    return DarkNet53(**kw)
