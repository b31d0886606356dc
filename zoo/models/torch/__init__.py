"""PyTorch definitions of catalogue models that neither torchvision nor timm provides.

Each module registers its factories with `@register("<variant>")`; the catalogue's
`builder: zoo` cells name a variant here.
"""
from __future__ import annotations

from ..registry import ModelRegistry

_REGISTRY = ModelRegistry("torch", __name__, ("shufflenet_v1", "unet"))
register, names, create = _REGISTRY.register, _REGISTRY.names, _REGISTRY.create
