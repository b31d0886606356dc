"""DarkNet-53 (Redmon & Farhadi, 2018), the YOLOv3 backbone with its ImageNet classifier head."""
from __future__ import annotations

from keras import layers

from .. import layouts
from . import register
from .layers import classifier, conv_bn, image_input, model


@register("darknet53")
def darknet53(input_shape=(256, 256, 3), classes: int = 1000):
    cfg = layouts.DARKNET53
    inputs = image_input(input_shape)
    x = conv_bn(inputs, cfg["stem"], 3, act="leaky_relu")
    for channels, blocks in cfg["stages"]:
        x = conv_bn(x, channels, 3, stride=2, act="leaky_relu")
        for _ in range(blocks):
            y = conv_bn(x, channels // 2, 1, act="leaky_relu")
            y = conv_bn(y, channels, 3, act="leaky_relu")
            x = layers.Add()([x, y])
    return model(inputs, classifier(x, classes), "darknet53")
