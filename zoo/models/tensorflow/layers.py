"""Building blocks shared by the TensorFlow zoo models (Keras functional API, NHWC)."""
from __future__ import annotations

import keras
from keras import layers, ops

# PyTorch's default; the papers' reference code (and the other zoo columns) use it.
BN_EPSILON = 1e-5


def pad_for(kernel: int, stride: int, dilation: int = 1):
    """Padding mode for a centred kernel.

    TF's 'same' pads bottom/right only when the stride is 2, which shifts every sampled
    pixel by one against the papers' symmetric k//2 padding; branches that are added or
    concatenated (RepVGG, ShuffleNet) would then disagree. So stride > 1 pads explicitly.
    """
    if stride == 1:
        return None
    return (dilation * (kernel - 1)) // 2


def conv(x, filters: int, kernel: int, stride: int = 1, groups: int = 1, use_bias: bool = False,
         dilation: int = 1):
    pad = pad_for(kernel, stride, dilation)
    if pad:
        x = layers.ZeroPadding2D(pad)(x)
    return layers.Conv2D(filters, kernel, strides=stride, padding="same" if pad is None else "valid",
                         groups=groups, use_bias=use_bias, dilation_rate=dilation)(x)


def depthwise(x, kernel: int, stride: int = 1, use_bias: bool = False, dilation: int = 1):
    pad = pad_for(kernel, stride, dilation)
    if pad:
        x = layers.ZeroPadding2D(pad)(x)
    return layers.DepthwiseConv2D(kernel, strides=stride, padding="same" if pad is None else "valid",
                                  use_bias=use_bias, dilation_rate=dilation)(x)


def bn(x):
    return layers.BatchNormalization(epsilon=BN_EPSILON)(x)


def activation(x, name: str | None):
    if name is None:
        return x
    if name == "leaky_relu":        # DarkNet's slope
        return layers.LeakyReLU(negative_slope=0.1)(x)
    return layers.Activation(name)(x)


def conv_bn(x, filters: int, kernel: int, stride: int = 1, groups: int = 1, act: str | None = "relu",
            dilation: int = 1):
    return activation(bn(conv(x, filters, kernel, stride, groups, dilation=dilation)), act)


def depthwise_bn(x, kernel: int, stride: int = 1, act: str | None = None):
    return activation(bn(depthwise(x, kernel, stride)), act)


def avg_pool(x, size: int, stride: int):
    """Average pool with symmetric zero padding (padding counted, as in PyTorch's default)."""
    pad = (size - 1) // 2
    if pad:
        x = layers.ZeroPadding2D(pad)(x)
    return layers.AveragePooling2D(size, strides=stride, padding="valid")(x)


def max_pool(x, size: int = 3, stride: int = 2):
    return layers.MaxPooling2D(size, strides=stride, padding="same")(x)


def squeeze_excite(x, reduced: int, gate: str = "sigmoid"):
    """Squeeze-and-Excitation (Hu et al., 2018): channel gate from globally pooled features."""
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = layers.Conv2D(reduced, 1, activation="relu")(s)
    s = layers.Conv2D(channels, 1, activation=gate)(s)
    return layers.Multiply()([x, s])


def channel_shuffle(x, groups: int):
    """ShuffleNet's channel shuffle: (H, W, g, C/g) -> transpose -> (H, W, C)."""
    h, w, c = x.shape[1:]
    x = layers.Reshape((h, w, groups, c // groups))(x)
    x = layers.Permute((1, 2, 4, 3))(x)
    return layers.Reshape((h, w, c))(x)


def split_channels(x, sections):
    """Split the channel axis into `sections` (a count or a list of sizes)."""
    if isinstance(sections, int):
        return ops.split(x, sections, axis=-1)
    bounds, total = [], 0
    for size in sections[:-1]:
        total += size
        bounds.append(total)
    return ops.split(x, bounds, axis=-1)


def classifier(x, classes: int, dropout: float = 0.0):
    x = layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return layers.Dense(classes)(x)


def model(inputs, outputs, name: str) -> keras.Model:
    return keras.Model(inputs, outputs, name=name)


def image_input(input_shape):
    # batch fixed at 1: the exporter exports at the batch it runs (DESIGN §7).
    return keras.Input(shape=tuple(input_shape), batch_size=1, name="input")
