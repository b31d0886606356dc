"""AlexNet, GoogLeNet (Inception v1) and SqueezeNet 1.1."""
from __future__ import annotations

from keras import layers

from .. import layouts
from . import register
from .layers import conv_bn, image_input, max_pool, model


@register("alexnet")
def alexnet(input_shape=(224, 224, 3), classes: int = 1000):
    """Krizhevsky et al. (2012), single-tower widths 64-192-384-256-256 (as torchvision's)."""
    inputs = image_input(input_shape)
    x = layers.ZeroPadding2D(2)(inputs)
    x = layers.Conv2D(64, 11, strides=4, activation="relu")(x)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = layers.Conv2D(192, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(3, strides=2)(x)
    for filters in (384, 256, 256):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(3, strides=2)(x)            # 6x6x256 at 224 input
    x = layers.Flatten()(x)
    for _ in range(2):
        x = layers.Dropout(0.5)(x)
        x = layers.Dense(4096, activation="relu")(x)
    return model(inputs, layers.Dense(classes)(x), "alexnet")


def _inception(x, c1, r3, c3, r5, c5, pool_proj):
    b1 = conv_bn(x, c1, 1)
    b3 = conv_bn(conv_bn(x, r3, 1), c3, 3)
    b5 = conv_bn(conv_bn(x, r5, 1), c5, 5)
    bp = conv_bn(layers.MaxPooling2D(3, strides=1, padding="same")(x), pool_proj, 1)
    return layers.Concatenate()([b1, b3, b5, bp])


@register("googlenet")
def googlenet(input_shape=(224, 224, 3), classes: int = 1000):
    """Inception v1 with BatchNorm after every conv (the form torchvision and most zoos use);
    the auxiliary heads only exist in training, so inference has none."""
    inputs = image_input(input_shape)
    x = conv_bn(inputs, 64, 7, stride=2)
    x = max_pool(x)
    x = conv_bn(x, 64, 1)
    x = conv_bn(x, 192, 3)
    x = max_pool(x)
    for spec in layouts.GOOGLENET_MODULES:
        x = max_pool(x) if spec is None else _inception(x, *spec)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.4)(x)
    return model(inputs, layers.Dense(classes)(x), "googlenet")


# Without BatchNorm, Keras' default Glorot init shrinks the signal over 18 ReLU convs until
# the logits are ~1e-4; He-normal keeps it at unit scale so parity checks mean something.
_HE = "he_normal"


def _fire(x, squeeze, expand1x1, expand3x3):
    s = layers.Conv2D(squeeze, 1, activation="relu", kernel_initializer=_HE)(x)
    e1 = layers.Conv2D(expand1x1, 1, activation="relu", kernel_initializer=_HE)(s)
    e3 = layers.Conv2D(expand3x3, 3, padding="same", activation="relu", kernel_initializer=_HE)(s)
    return layers.Concatenate()([e1, e3])


@register("squeezenet1_1")
def squeezenet1_1(input_shape=(224, 224, 3), classes: int = 1000):
    """SqueezeNet v1.1 (Iandola et al., 2016; the 2.4x cheaper revision of the reference repo)."""
    inputs = image_input(input_shape)
    x = layers.Conv2D(64, 3, strides=2, activation="relu", kernel_initializer=_HE)(inputs)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = _fire(x, 16, 64, 64)
    x = _fire(x, 16, 64, 64)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = _fire(x, 32, 128, 128)
    x = _fire(x, 32, 128, 128)
    x = layers.MaxPooling2D(3, strides=2)(x)
    for squeeze, expand in ((48, 192), (48, 192), (64, 256), (64, 256)):
        x = _fire(x, squeeze, expand, expand)
    x = layers.Dropout(0.5)(x)
    x = layers.Conv2D(classes, 1, activation="relu", kernel_initializer=_HE)(x)  # the paper's conv10 classifier
    return model(inputs, layers.GlobalAveragePooling2D()(x), "squeezenet1_1")
