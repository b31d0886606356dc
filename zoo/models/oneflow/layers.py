"""Building blocks shared by the OneFlow zoo models."""
from __future__ import annotations

from flowvision.layers.blocks.conv_bn_act import ConvBnAct
from oneflow import nn

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda inplace=False: nn.LeakyReLU(0.1, inplace=inplace),
               None: None}


def conv_bn_act(cin, cout, kernel=1, stride=1, groups=1, act="relu", dilation=1):
    """Conv (no bias) → BatchNorm → activation, 'same' padding for odd kernels (flowvision's
    ConvBnAct). Not in place: the exported graph then has no aliasing."""
    return ConvBnAct(cin, cout, act_layer=ACTIVATIONS[act], inplace=False, kernel_size=kernel,
                     stride=stride, padding=dilation * (kernel - 1) // 2, dilation=dilation,
                     groups=groups)


class ClassifierHead(nn.Sequential):
    """Global average pool → flatten → linear logits, no softmax."""

    def __init__(self, channels, num_classes=1000):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


class FeatureClassifier(nn.Module):
    """A stack of feature layers, then the classifier head: what most models here are.
    A subclass builds its layers and hands them over with the channels they end at."""

    def __init__(self, layers, channels, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(channels, num_classes)

    def forward(self, x):
        return self.head(self.features(x))
