"""ViT-B/16 (Dosovitskiy et al., 2021): 16x16 patches, 12 pre-norm encoder layers of width 768,
12 heads, MLP 3072, class token and learned position embeddings."""
from __future__ import annotations

import keras
from keras import layers, ops

from .. import layouts
from . import register
from .layers import image_input, model


class ClassTokenAndPosition(layers.Layer):
    """Prepends the learned class token and adds the learned position embeddings."""

    def build(self, input_shape):
        tokens, width = input_shape[1], input_shape[2]
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.class_token = self.add_weight(shape=(1, 1, width), initializer=init, name="class_token")
        self.position = self.add_weight(shape=(1, tokens + 1, width), initializer=init, name="position")

    def call(self, x):
        token = ops.broadcast_to(self.class_token, (ops.shape(x)[0], 1, x.shape[-1]))
        return ops.concatenate([token, x], axis=1) + self.position


def _encoder_layer(x, dim: int, heads: int, mlp: int, norm_eps: float):
    y = layers.LayerNormalization(epsilon=norm_eps)(x)
    y = layers.MultiHeadAttention(num_heads=heads, key_dim=dim // heads)(y, y)
    x = layers.Add()([x, y])
    y = layers.LayerNormalization(epsilon=norm_eps)(x)
    y = layers.Dense(mlp, activation="gelu")(y)
    y = layers.Dense(dim)(y)
    return layers.Add()([x, y])


@register("vit_b_16")
def vit_b_16(input_shape=(224, 224, 3), classes: int = 1000):
    cfg = layouts.VIT_B16
    inputs = image_input(input_shape)
    x = layers.Conv2D(cfg["dim"], cfg["patch"], strides=cfg["patch"])(inputs)   # patch embedding
    x = layers.Reshape((-1, cfg["dim"]))(x)
    x = ClassTokenAndPosition()(x)
    for _ in range(cfg["depth"]):
        x = _encoder_layer(x, cfg["dim"], cfg["heads"], cfg["mlp"], cfg["norm_eps"])
    x = layers.LayerNormalization(epsilon=cfg["norm_eps"])(x)
    return model(inputs, layers.Dense(classes)(x[:, 0]), "vit_b_16")
