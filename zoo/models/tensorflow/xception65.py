"""Xception-65 (Chen et al., 2018): the deeper, aligned Xception of DeepLabv3+, as a classifier.

Entry flow (2 convs + 3 blocks), a 16-block middle flow and an exit flow: 65 conv layers.
Max pooling is replaced by strided separable convs; every separable conv is depthwise 3x3
+ BN + pointwise 1x1 + BN, preceded by ReLU inside the residual blocks.
"""
from __future__ import annotations

from keras import layers

from .. import layouts
from . import register
from .layers import activation, bn, classifier, conv, conv_bn, depthwise, image_input, model


def _separable(x, filters: int, stride: int = 1):
    x = bn(depthwise(x, 3, stride))
    return bn(conv(x, filters, 1))


def _block(x, widths, stride: int, start_with_relu: bool = True):
    y = x
    for i, filters in enumerate(widths):
        if start_with_relu or i > 0:
            y = activation(y, "relu")
        y = _separable(y, filters, stride if i == len(widths) - 1 else 1)
    identity = stride == 1 and x.shape[-1] == widths[-1]
    shortcut = x if identity else bn(conv(x, widths[-1], 1, stride))
    return layers.Add()([y, shortcut])


@register("xception65")
def xception65(input_shape=(299, 299, 3), classes: int = 1000):
    cfg = layouts.XCEPTION65
    inputs = image_input(input_shape)
    x = inputs
    for filters, stride in cfg["stem"]:
        x = conv_bn(x, filters, 3, stride=stride)
    for i, (widths, stride) in enumerate(cfg["blocks"]):
        x = _block(x, widths, stride, start_with_relu=i > 0)   # the first follows the stem's ReLU
    x = activation(x, "relu")
    for filters in cfg["exit_flow"]:
        x = activation(_separable(x, filters), "relu")
    return model(inputs, classifier(x, classes), "xception65")
