"""The model catalogue. (Vertical slice: one entry; the zoo issue widens it.)"""
from __future__ import annotations

CATALOGUE = {
    "resnet18": {
        "architecture": "ResNet",
        "input": {"shape": [1, 3, 224, 224], "layout": "NCHW", "dtype": "float32", "range": [-1.0, 1.0]},
        "frameworks": {"torch": {"builder": "torchvision", "variant": "resnet18"}},
    },
}
