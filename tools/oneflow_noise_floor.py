"""Is a OneFlow cell's converter-gate miss float32 rounding? (OneFlow round trip)

    .venv/bin/python tools/oneflow_noise_floor.py BUNDLE

BUNDLE is a failing oneflow case's bundle (/.../bundles/<case>/: meta.json, inputs.npz,
expected.npz, ort.npz, oneflow_cpu.npz). The source model is rebuilt exactly as the export
built it (seeded build + BatchNorm randomisation), checked against expected.npz, and run in
float64 as the reference. Prints, per output, the max abs error and the smallest atol at
rtol 1e-3 that the source's own float32 output, ORT's and the converted model's need against
it: the miss is noise when the converted model is no further from float64 than ORT is.
Imports OneFlow only (the source framework is OneFlow; ORT's outputs are read from ort.npz).
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from _noise import stats  # tools/ is the script directory, so on sys.path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root




def main(bundle: str) -> int:
    from zoo import catalogue
    from zoo.frameworks import oneflow_exporter as ex

    flow = ex.flow
    with open(os.path.join(bundle, "meta.json")) as f:
        meta = json.load(f)
    meta = {**meta.get("export_meta", {}), **meta}  # a bundle nests the export's meta
    cell = catalogue.load().cell("oneflow", meta["model"])
    net = ex.build(cell.builder, cell.variant, meta["seed"], **cell.kwargs)
    x = [np.load(os.path.join(bundle, "inputs.npz"))[n] for n in meta["input_names"]]
    expected, ort = np.load(os.path.join(bundle, "expected.npz")), np.load(os.path.join(bundle, "ort.npz"))
    converted = np.load(os.path.join(bundle, "oneflow_cpu.npz"))
    y32 = ex.run(net, x)
    net = net.to(flow.float64)
    with flow.no_grad():
        y64 = ex._tensors(net(*[flow.tensor(a.astype(np.float64)) for a in x]))
    for name, r32, r in zip(meta["output_names"], y32, [t.numpy() for t in y64]):
        print(f"{meta['model']} {name}: max |y| {np.abs(r).max():.3g}; rebuilt fp32 vs expected.npz "
              f"max abs {np.abs(r32 - expected[name]).max():.3g} (0 = the exported weights)")
        print(f"  source fp32    vs fp64: {stats(expected[name], r)}")
        print(f"  ORT fp32       vs fp64: {stats(ort[name], r)}")
        print(f"  converted fp32 vs fp64: {stats(converted[name], r)}")
        print(f"  converted vs ORT fp32:  {stats(converted[name], ort[name].astype(np.float64))}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
