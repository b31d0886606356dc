"""RepVGG-A0 (Ding et al., 2021) in its training-time form, evaluated in inference mode.

Each block sums a 3x3 conv+BN, a 1x1 conv+BN and (when shapes allow) a BN-only identity
branch, then applies ReLU; this is the form before structural re-parameterisation, so
the exported graph keeps all three branches and their BatchNorms.
"""
from __future__ import annotations

from keras import layers

from .. import layouts
from . import register
from .layers import bn, classifier, conv_bn, image_input, model


def _repvgg_block(x, channels: int, stride: int):
    branches = [conv_bn(x, channels, 3, stride, act=None), conv_bn(x, channels, 1, stride, act=None)]
    if stride == 1 and x.shape[-1] == channels:
        branches.append(bn(x))
    return layers.ReLU()(layers.Add()(branches))


@register("repvgg_a0")
def repvgg_a0(input_shape=(224, 224, 3), classes: int = 1000):
    inputs = x = image_input(input_shape)
    for _, channels, stride in layouts.repvgg_blocks(layouts.REPVGG_A0):
        x = _repvgg_block(x, channels, stride)
    return model(inputs, classifier(x, classes), "repvgg_a0")
