"""Catalogue architectures that paddle.vision.models lacks, written in paddle.nn idiom.

Each module registers its factories with `@register("<variant>")`; the catalogue's
`builder: zoo` cells name a variant here. Layer counts and widths come from ../layouts.py.
"""
from __future__ import annotations

from ..registry import ModelRegistry

_REGISTRY = ModelRegistry("paddle", __name__, (
    "resnet_variants", "regnet", "efficientnet", "shufflenet_v1", "xception", "dpn",
    "darknet", "ghostnet", "repvgg", "unet", "vit"))
register, names, create = _REGISTRY.register, _REGISTRY.names, _REGISTRY.create
