"""Catalogue architectures that paddle.vision.models lacks, written in paddle.nn idiom.

Each module registers its factories with `@register("<variant>")`; the catalogue's
`builder: zoo` cells name a variant here. Layer counts and widths follow the papers.
"""
from __future__ import annotations

import importlib

_MODULES = ("resnet_variants", "regnet", "efficientnet", "shufflenet_v1", "xception", "dpn",
            "darknet", "ghostnet", "repvgg", "unet", "vit")
_REGISTRY: dict = {}


def register(name: str):
    def add(factory):
        if name in _REGISTRY:
            raise ValueError(f"paddle zoo model {name!r} registered twice")
        _REGISTRY[name] = factory
        return factory
    return add


def _load_all() -> None:
    for module in _MODULES:
        importlib.import_module(f"{__name__}.{module}")


def names() -> list:
    _load_all()
    return sorted(_REGISTRY)


def create(name: str, **kwargs):
    _load_all()
    if name not in _REGISTRY:
        raise KeyError(f"no paddle zoo model {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kwargs)
