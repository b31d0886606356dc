"""MobileNetV1 (Howard et al. 2017, Table 1), width 1.0: a 3x3/2 stem and 13 depthwise
separable blocks (depthwise 3x3 + BN-ReLU, pointwise 1x1 + BN-ReLU), 4.2M parameters."""
from __future__ import annotations

from oneflow import nn

from . import register
from .layers import ClassifierHead, conv_bn_act

# (pointwise output channels, depthwise stride) of the 13 separable blocks.
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


class MobileNetV1(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        layers, cin = [conv_bn_act(3, 32, 3, 2)], 32
        for cout, stride in BLOCKS:
            layers += [conv_bn_act(cin, cin, 3, stride, groups=cin), conv_bn_act(cin, cout, 1)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(cin, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


@register("mobilenet_v1")
def mobilenet_v1(**kw):
    return MobileNetV1(**kw)
