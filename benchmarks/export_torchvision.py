"""Export a torchvision classifier to ONNX in a process that imports only torch.

    python benchmarks/export_torchvision.py resnet50 OUT.onnx [--opset 13]

Used by the benchmarks until the zoo catalogue carries the model (then prefer
``python -m zoo.export``). Random weights: benchmarks measure speed and memory, not accuracy.
"""
from __future__ import annotations

import argparse
import os


def export(model_name: str, path: str, opset: int, fold: bool = True) -> None:
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, model_name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.onnx.export(model, (x,), path, opset_version=opset, dynamo=False,
                      input_names=["input_0"], do_constant_folding=fold)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--no-fold", action="store_true",
                    help="export without constant folding (keeps BatchNormalization nodes)")
    args = ap.parse_args()
    export(args.model, args.out, args.opset, fold=not args.no_fold)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
