"""Catalogue architectures that keras.applications lacks, in Keras functional-API idiom (NHWC).

Each module registers its factories with `@register("<variant>")`; the catalogue's
`builder: zoo` cells name a variant here. Depths and widths come from ../layouts.py; every
factory takes `input_shape` (H, W, C) and returns a `keras.Model` that outputs logits
(classifiers) or per-pixel class scores (UNet), never softmax.
"""
from __future__ import annotations

from ..registry import ModelRegistry

_REGISTRY = ModelRegistry("tensorflow", __name__, (
    "classic", "resnet_family", "dpn", "darknet", "shufflenet", "ghostnet", "repvgg",
    "regnet", "xception65", "unet", "vit"))
register, names, create = _REGISTRY.register, _REGISTRY.names, _REGISTRY.create
