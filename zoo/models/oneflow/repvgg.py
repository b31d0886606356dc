"""RepVGG-A0 (Ding et al. 2021) in its training-time form, as the other columns build it.

Each block is ReLU(BN(conv3x3) + BN(conv1x1) [+ BN(identity)]); the deploy form fuses that
into one 3x3 conv. The three branches are kept: they exercise three BatchNorms per block.
"""
from __future__ import annotations

from oneflow import nn

from . import register
from .layers import ClassifierHead, conv_bn_act

# A0: blocks per stage and width multipliers a=0.75 (stages 1-3), b=2.5 (last stage).
REPVGG_A0 = {"blocks": (2, 4, 14, 1), "multipliers": (0.75, 0.75, 0.75, 2.5)}


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


class RepVGG(nn.Module):
    def __init__(self, blocks, multipliers, num_classes=1000):
        super().__init__()
        cin = min(64, int(64 * multipliers[0]))
        layers = [RepVGGBlock(3, cin, 2)]
        for stage, (count, mult) in enumerate(zip(blocks, multipliers)):
            cout = int(64 * 2 ** stage * mult)
            for i in range(count):
                layers.append(RepVGGBlock(cin, cout, 2 if i == 0 else 1))
                cin = cout
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(cin, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


@register("repvgg_a0")
def repvgg_a0(**kw):
    return RepVGG(**REPVGG_A0, **kw)
