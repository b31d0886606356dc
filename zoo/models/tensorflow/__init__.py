"""Catalogue architectures that keras.applications lacks, in Keras functional-API idiom (NHWC).

Each module registers its factories with `@register("<variant>")`; the catalogue's
`builder: zoo` cells name a variant here. Depths and widths follow the papers; every
factory takes `input_shape` (H, W, C) and returns a `keras.Model` that outputs logits
(classifiers) or per-pixel class scores (UNet), never softmax.
"""
from __future__ import annotations

import importlib

_MODULES = ("classic", "resnet_family", "dpn", "darknet", "shufflenet", "ghostnet", "repvgg",
            "regnet", "xception65", "unet", "vit")
_REGISTRY: dict = {}


def register(name: str):
    def add(factory):
        if name in _REGISTRY:
            raise ValueError(f"tensorflow zoo model {name!r} registered twice")
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
        raise KeyError(f"no tensorflow zoo model {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kwargs)
