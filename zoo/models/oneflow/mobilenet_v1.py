"""MobileNetV1 (Howard et al. 2017, Table 1), width 1.0: a 3x3/2 stem and 13 depthwise
separable blocks (depthwise 3x3 + BN-ReLU, pointwise 1x1 + BN-ReLU), 4.2M parameters."""
from __future__ import annotations

from .. import layouts
from . import register
from .layers import FeatureClassifier, conv_bn_act


class MobileNetV1(FeatureClassifier):
    def __init__(self, stem, blocks, num_classes=1000):
        layers, cin = [conv_bn_act(3, stem, 3, 2)], stem
        for cout, stride in blocks:
            layers += [conv_bn_act(cin, cin, 3, stride, groups=cin), conv_bn_act(cin, cout, 1)]
            cin = cout
        super().__init__(layers, cin, num_classes)


@register("mobilenet_v1")
def mobilenet_v1(**kw):
    return MobileNetV1(**layouts.MOBILENET_V1, **kw)
