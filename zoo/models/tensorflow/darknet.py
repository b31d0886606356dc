"""DarkNet-53 (Redmon & Farhadi, 2018), the YOLOv3 backbone with its ImageNet classifier head."""
from __future__ import annotations

from keras import layers

from . import register
from .layers import classifier, conv_bn, image_input, model

# (output channels, residual blocks) per stage; each stage starts with a 3x3/2 conv.
DARKNET53_STAGES = ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4))


@register("darknet53")
def darknet53(input_shape=(256, 256, 3), classes: int = 1000):
    inputs = image_input(input_shape)
    x = conv_bn(inputs, 32, 3, act="leaky_relu")
    for channels, blocks in DARKNET53_STAGES:
        x = conv_bn(x, channels, 3, stride=2, act="leaky_relu")
        for _ in range(blocks):
            y = conv_bn(x, channels // 2, 1, act="leaky_relu")
            y = conv_bn(y, channels, 3, act="leaky_relu")
            x = layers.Add()([x, y])
    return model(inputs, classifier(x, classes), "darknet53")
