"""ViT-B/16 (Dosovitskiy et al. 2021): 16x16 patches, 12 pre-norm layers, width 768."""
from __future__ import annotations

import paddle
from paddle import nn

from .. import layouts
from . import register


class Attention(nn.Layer):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).reshape([b, n, 3, self.heads, self.head_dim]).transpose([2, 0, 3, 1, 4])
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = nn.functional.softmax(paddle.matmul(q, k, transpose_y=True) * self.scale, axis=-1)
        return self.proj(paddle.matmul(attn, v).transpose([0, 2, 1, 3]).reshape([b, n, d]))


class EncoderLayer(nn.Layer):
    def __init__(self, dim, heads, mlp, norm_eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, epsilon=norm_eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, epsilon=norm_eps)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Layer):
    def __init__(self, patch, dim, depth, heads, mlp, norm_eps, image_size=224, num_classes=1000):
        super().__init__()
        tokens = (image_size // patch) ** 2 + 1
        self.patch_embed = nn.Conv2D(3, dim, patch, patch)
        init = nn.initializer.TruncatedNormal(std=0.02)
        self.cls_token = self.create_parameter([1, 1, dim], default_initializer=init)
        self.pos_embed = self.create_parameter([1, tokens, dim], default_initializer=init)
        self.encoder = nn.Sequential(*[EncoderLayer(dim, heads, mlp, norm_eps) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, epsilon=norm_eps)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose([0, 2, 1])
        cls = self.cls_token.expand([x.shape[0], -1, -1])
        x = self.encoder(paddle.concat([cls, x], axis=1) + self.pos_embed)
        return self.head(self.norm(x)[:, 0])


@register("vit_b_16")
def vit_b_16(**kw):
    return VisionTransformer(**layouts.VIT_B16, **kw)
