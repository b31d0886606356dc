"""RepVGG-A0 (Ding et al. 2021) in its training-time form, as the other columns build it.

Each block is ReLU(BN(conv3x3) + BN(conv1x1) [+ BN(identity)]); the deploy form fuses that
into one 3x3 conv. The three branches are kept: they exercise three BatchNorms per block.
"""
from __future__ import annotations

from oneflow import nn

from .. import layouts
from . import register
from .layers import FeatureClassifier, conv_bn_act


class RepVGGBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.dense = conv_bn_act(cin, cout, 3, stride, act=None)
        self.pointwise = conv_bn_act(cin, cout, 1, stride, act=None)
        self.identity = nn.BatchNorm2d(cout) if cin == cout and stride == 1 else None
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.dense(x) + self.pointwise(x)
        if self.identity is not None:
            y = y + self.identity(x)
        return self.relu(y)


class RepVGG(FeatureClassifier):
    def __init__(self, blocks, num_classes=1000):
        super().__init__([RepVGGBlock(cin, cout, stride) for cin, cout, stride in blocks], blocks[-1][1],
                         num_classes)


@register("repvgg_a0")
def repvgg_a0(**kw):
    return RepVGG(layouts.repvgg_blocks(layouts.REPVGG_A0), **kw)
