"""Catalogue architectures that flowvision 0.2.2 lacks, written in oneflow.nn idiom (NCHW).

Each module registers its factories with `@register("<variant>")`; the catalogue's
`builder: zoo` cells name a variant here. Depths and widths come from ../layouts.py, shared
with the other columns' definitions of the same model id; flowvision's blocks are reused where
it has them (ConvBnAct, channel_shuffle).
"""
from __future__ import annotations

from ..registry import ModelRegistry

_REGISTRY = ModelRegistry("oneflow", __name__, (
    "resnet_v2", "mobilenet_v1", "shufflenet_v1", "xception", "dpn", "darknet", "repvgg", "unet"))
register, names, create = _REGISTRY.register, _REGISTRY.names, _REGISTRY.create
