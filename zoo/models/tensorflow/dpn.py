"""DPN-68 (Chen et al., 2017): dual path blocks joining a residual and a densely growing path."""
from __future__ import annotations

from keras import layers

from .. import layouts
from . import register
from .layers import activation, bn, conv, conv_bn, image_input, max_pool, model, split_channels


def _bn_act_conv(x, filters: int, kernel: int, stride: int = 1, groups: int = 1):
    """DPN's pre-activation unit: BN -> ReLU -> conv."""
    return conv(activation(bn(x), "relu"), filters, kernel, stride, groups)


def _dual_path_block(residual, dense, r: int, bw: int, inc: int, groups: int, kind: str):
    """kind: 'proj' (first block of stage 1), 'down' (first block of later stages), 'normal'."""
    x = layers.Concatenate()([residual, dense]) if dense is not None else residual
    stride = 2 if kind == "down" else 1
    if kind != "normal":
        proj = _bn_act_conv(x, bw + 2 * inc, 1, stride)
        residual, dense = split_channels(proj, [bw, 2 * inc])
    y = _bn_act_conv(x, r, 1)
    y = _bn_act_conv(y, r, 3, stride, groups)
    y = _bn_act_conv(y, bw + inc, 1)
    y_res, y_dense = split_channels(y, [bw, inc])
    return layers.Add()([residual, y_res]), layers.Concatenate()([dense, y_dense])


@register("dpn68")
def dpn68(input_shape=(224, 224, 3), classes: int = 1000):
    cfg = layouts.DPN68
    inputs = image_input(input_shape)
    residual, dense = max_pool(conv_bn(inputs, cfg["init"], 3, stride=2)), None
    for _, r, bw, inc, kind, _ in layouts.dpn_blocks(cfg):
        residual, dense = _dual_path_block(residual, dense, r, bw, inc, cfg["groups"], kind)
    x = activation(bn(layers.Concatenate()([residual, dense])), "relu")
    x = layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = layers.Conv2D(classes, 1, use_bias=True)(x)       # DPN's classifier is a 1x1 conv
    return model(inputs, layers.Flatten()(x), "dpn68")
