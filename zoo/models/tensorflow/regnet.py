"""RegNetX-400MF (Radosavovic et al., 2020), the design keras.applications dropped in Keras 3."""
from __future__ import annotations

from keras import layers

from .. import layouts
from . import register
from .layers import bn, classifier, conv, conv_bn, image_input, model


def _x_block(x, width: int, stride: int, group_width: int):
    y = conv_bn(x, width, 1)
    y = conv_bn(y, width, 3, stride, groups=width // group_width)
    y = conv_bn(y, width, 1, act=None)
    shortcut = x if stride == 1 and x.shape[-1] == width else bn(conv(x, width, 1, stride))
    return layers.ReLU()(layers.Add()([y, shortcut]))


@register("regnetx_400mf")
def regnetx_400mf(input_shape=(224, 224, 3), classes: int = 1000):
    cfg = layouts.REGNETX_400MF
    inputs = image_input(input_shape)
    x = conv_bn(inputs, cfg["stem"], 3, stride=2)
    for _, width, stride in layouts.regnet_blocks(cfg):
        x = _x_block(x, width, stride, cfg["group_width"])
    return model(inputs, classifier(x, classes), "regnetx_400mf")
