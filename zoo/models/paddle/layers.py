"""Building blocks shared by the paddle zoo models."""
from __future__ import annotations

import paddle
from paddle import nn

ACTIVATIONS = {
    "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.1), "swish": nn.Swish,
    "hardswish": nn.Hardswish, "gelu": nn.GELU, None: nn.Identity,
}


class ConvBNAct(nn.Sequential):
    """Conv (no bias) → BatchNorm → activation; 'same' padding for odd kernels."""

    def __init__(self, cin, cout, kernel=1, stride=1, groups=1, act="relu", dilation=1):
        super().__init__(
            nn.Conv2D(cin, cout, kernel, stride, padding=dilation * (kernel - 1) // 2,
                      dilation=dilation, groups=groups, bias_attr=False),
            nn.BatchNorm2D(cout),
            ACTIVATIONS[act](),
        )


class SqueezeExcite(nn.Layer):
    """Channel attention (Hu et al.): global pool → reduce → act → expand → gate."""

    def __init__(self, channels, reduced, act="relu", gate="sigmoid"):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.reduce = nn.Conv2D(channels, reduced, 1)
        self.act = ACTIVATIONS[act]()
        self.expand = nn.Conv2D(reduced, channels, 1)
        self.gate = nn.Hardsigmoid() if gate == "hardsigmoid" else nn.Sigmoid()

    def forward(self, x):
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class ClassifierHead(nn.Sequential):
    """Global average pool → flatten → (dropout) → linear logits, no softmax."""

    def __init__(self, channels, num_classes=1000, dropout=0.0):
        layers = [nn.AdaptiveAvgPool2D(1), nn.Flatten()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(channels, num_classes))
        super().__init__(*layers)


class FeatureClassifier(nn.Layer):
    """A stack of feature layers, then the classifier head: what most models here are.
    A subclass builds its layers and hands them over with the channels they end at."""

    def __init__(self, layers, channels, num_classes=1000, dropout=0.0):
        super().__init__()
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(channels, num_classes, dropout)

    def forward(self, x):
        return self.head(self.features(x))


def channel_shuffle(x, groups):
    n, c, h, w = x.shape
    x = paddle.reshape(x, [n, groups, c // groups, h, w])
    x = paddle.transpose(x, [0, 2, 1, 3, 4])
    return paddle.reshape(x, [n, c, h, w])
