"""PyTorch definitions of catalogue models that neither torchvision nor timm provides.

Catalogue cells reach them with ``builder: zoo, variant: <registered name>``.
"""
from __future__ import annotations

import importlib

# registered name -> (module in this package, factory function)
MODELS = {
    "shufflenet_v1_g3_x1_0": ("shufflenet_v1", "shufflenet_v1_g3_x1_0"),
    "unet": ("unet", "unet"),
}


def create(name: str, **kwargs):
    if name not in MODELS:
        raise ValueError(f"no PyTorch zoo model {name!r} (known: {', '.join(sorted(MODELS))})")
    module, factory = MODELS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), factory)(**kwargs)
