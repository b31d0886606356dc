"""Export one catalogue model to ONNX in a process that imports only its source framework.

    python -m zoo.export --framework torch --model resnet18 --opset 13 --out DIR

Writes DIR/model.onnx, inputs.npz, expected.npz (the source framework's own outputs),
meta.json (versions, opset, seed, shapes, export seconds).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time

import numpy as np

from . import catalogue
from .inputs import check_outputs, seeded_input

EXPORTERS = {"torch": "zoo.frameworks.torch_exporter"}
DEFAULT_SEED = 0


def export_case(framework: str, model: str, opset: int, out_dir: str, seed: int = DEFAULT_SEED) -> dict:
    cell = catalogue.cell(framework, model)
    entry = {"architecture": cell.architecture, "input": cell.input.as_dict()}
    spec = {"builder": cell.builder, "variant": cell.variant}
    exporter = importlib.import_module(EXPORTERS[framework])
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    net = exporter.build(spec["builder"], spec["variant"], seed)
    built = time.perf_counter()
    inp = entry["input"]
    x = seeded_input(inp["shape"], seed, *inp["range"], dtype=inp["dtype"])
    expected = exporter.run(net, [x])
    names = [f"output_{i}" for i in range(len(expected))]
    check_outputs(expected, names)
    onnx_path = os.path.join(out_dir, "model.onnx")
    exporter.export(net, [x], onnx_path, opset)
    done = time.perf_counter()

    import onnx

    graph = onnx.load(onnx_path, load_external_data=False).graph
    init_names = {t.name for t in graph.initializer}
    in_names = [i.name for i in graph.input if i.name not in init_names]
    out_names = [o.name for o in graph.output]
    np.savez(os.path.join(out_dir, "inputs.npz"), **dict(zip(in_names, [x])))
    np.savez(os.path.join(out_dir, "expected.npz"), **dict(zip(out_names, expected)))
    meta = {
        "framework": framework, "model": model, "architecture": entry["architecture"],
        "opset": opset, "seed": seed, "input_names": in_names, "output_names": out_names,
        "input_shapes": [list(x.shape)], "output_shapes": [list(e.shape) for e in expected],
        "versions": {"python": platform.python_version(), "onnx": onnx.__version__, **exporter.versions()},
        "seconds": {"build": round(built - t0, 3), "export": round(done - built, 3)},
        # Proof of isolation (DESIGN §2): the frameworks this export process imported.
        "frameworks_in_process": sorted(m for m in ("torch", "tensorflow", "paddle", "oneflow")
                                        if m in sys.modules),
    }
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zoo.export", description=__doc__.split("\n")[1])
    ap.add_argument("--framework", required=True, choices=sorted(EXPORTERS))
    ap.add_argument("--model", required=True, choices=sorted(catalogue.load().entries))
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    meta = export_case(args.framework, args.model, args.opset, args.out, args.seed)
    print(json.dumps(meta["seconds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
