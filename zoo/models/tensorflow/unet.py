"""U-Net (Ronneberger et al., 2015): the classic encoder-decoder for segmentation.

Double 3x3 convs at widths 64-128-256-512-1024 with 2x2 max-pool downsampling, 2x2
up-convolutions halving the width, skip connections concatenated, a 1x1 conv to the class
maps. As in the other zoo columns the 3x3 convs are padded (output size = input size), and
weights use the paper's He-normal initialisation so 23 layers do not shrink the signal away.
"""
from __future__ import annotations

from keras import layers

from .. import layouts
from . import register
from .layers import image_input, model


def _double_conv(x, filters: int):
    for _ in range(2):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal")(x)
    return x


@register("unet")
def unet(input_shape=(256, 256, 3), classes: int = 2):
    widths = layouts.UNET["widths"]
    inputs = image_input(input_shape)
    skips, x = [], inputs
    for i, filters in enumerate(widths):
        x = _double_conv(x if i == 0 else layers.MaxPooling2D(2)(x), filters)
        skips.append(x)
    for filters, skip in zip(reversed(widths[:-1]), reversed(skips[:-1])):
        up = layers.Conv2DTranspose(filters, 2, strides=2, kernel_initializer="he_normal")(x)
        x = _double_conv(layers.Concatenate()([skip, up]), filters)
    return model(inputs, layers.Conv2D(classes, 1)(x), "unet")
