"""ResNetV2-50 (He et al. 2016, identity mappings): pre-activation bottlenecks, BN-ReLU
before every conv; ResNet-50 layout [3, 4, 6, 3], stride in each stage's first unit."""
from __future__ import annotations

from oneflow import nn

from .. import layouts
from . import register
from .layers import ClassifierHead


def _bn_relu_conv(cin, cout, kernel, stride=1):
    return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(),
                         nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False))


class PreActBottleneck(nn.Module):
    def __init__(self, cin, planes, stride, expansion):
        super().__init__()
        cout = planes * expansion
        self.preact = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU())
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.conv2 = _bn_relu_conv(planes, planes, 3, stride)
        self.conv3 = _bn_relu_conv(planes, cout, 1)
        # The projection reads the pre-activated input, as in the paper's full pre-activation.
        self.projection = (nn.Conv2d(cin, cout, 1, stride, bias=False)
                           if stride != 1 or cin != cout else None)

    def forward(self, x):
        pre = self.preact(x)
        shortcut = x if self.projection is None else self.projection(pre)
        return self.conv3(self.conv2(self.conv1(pre))) + shortcut


class ResNetV2(nn.Module):
    def __init__(self, stem, units, expansion, num_classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 7, 2, 3, bias=False), nn.MaxPool2d(3, 2, 1))
        self.blocks = nn.Sequential(*(PreActBottleneck(cin, planes, stride, expansion)
                                      for cin, planes, stride, _ in units))
        cin = units[-1][1] * expansion
        # The last unit leaves its output un-activated: the net ends with that BN-ReLU.
        self.final = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU())
        self.head = ClassifierHead(cin, num_classes)

    def forward(self, x):
        return self.head(self.final(self.blocks(self.stem(x))))


@register("resnet50_v2")
def resnet50_v2(**kw):
    layout = layouts.RESNET50
    return ResNetV2(layout["stem"], layouts.resnet_units(layout), layout["expansion"], **kw)
