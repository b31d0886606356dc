"""The ONNX files the benchmarks measure, exported once into cache/bench/ by a torch-only process."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, "cache", "bench")


def torchvision_onnx(model: str = "resnet50", opset: int = 13, fold: bool = True) -> str:
    """Path of ``model`` exported from torchvision (random weights); exported on first use.

    ``fold=False`` keeps BatchNormalization nodes (torch's constant folding fuses them into
    the convolutions), which gives the same layer structure as a native OneFlow model.
    """
    path = os.path.join(CACHE, f"{model}-{opset}{'' if fold else '-nofold'}.onnx")
    if not os.path.exists(path):
        cmd = [sys.executable, os.path.join(ROOT, "benchmarks", "export_torchvision.py"), model, path,
               "--opset", str(opset)] + ([] if fold else ["--no-fold"])
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return path
