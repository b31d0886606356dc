"""How far are torch's own float32 outputs, and OneFlow's, from a float64 run of the model?

    .venv/bin/python tools/torch_noise_floor.py CASE_DIR

CASE_DIR is an exported torch case (python -m zoo.export --framework torch ...). The model
is rebuilt exactly as the export built it (seeded build + BN calibration) and run in float64
as the reference; a second process (no torch) converts model.onnx and runs it with OneFlow.
CASE_DIR may also be a failing case's bundle (/.../bundles/<case>/): its oneflow_cpu.npz and
ort.npz are used as they are, and ORT's distance from float64 is printed too (a converter-gate
miss is noise when OneFlow is no further from float64 than ORT is).
Prints the max abs error and the smallest atol at rtol 1e-3 each float32 result would need
against float64. When torch's own float32 output needs as much atol as OneFlow's, a parity
miss against torch is the reference's rounding, not a converter bug.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from _noise import stats  # tools/ is the script directory, so on sys.path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)




def _oneflow_outputs(case_dir: str, out_npz: str) -> None:
    code = ("import json, sys, numpy as np, oneflow as flow, converter\n"
            "d, out = sys.argv[1], sys.argv[2]\n"
            "meta = json.load(open(d + '/meta.json')); x = np.load(d + '/inputs.npz')\n"
            "m = converter.convert(d + '/model.onnx')\n"
            "y = m(*[flow.tensor(x[n]) for n in meta['input_names']])\n"
            "y = y if isinstance(y, tuple) else (y,)\n"
            "np.savez(out, *[t.numpy() for t in y])\n")
    from harness.versions import framework_env

    subprocess.run([sys.executable, "-c", code, case_dir, out_npz], check=True, cwd=ROOT,
                   env=framework_env("oneflow"), stderr=subprocess.DEVNULL)


def main(case_dir: str) -> int:
    import torch

    from zoo import catalogue
    from zoo.frameworks import torch_exporter as ex
    from zoo.inputs import make_inputs

    with open(os.path.join(case_dir, "meta.json")) as f:
        meta = json.load(f)
    meta = {**meta.get("export_meta", {}), **meta}  # a bundle nests the export's meta
    cell = catalogue.load().cell("torch", meta["model"])
    seed = meta["seed"]
    if cell.signature:   # a second-tier cell: built as zoo/signature_export.py builds it
        from zoo import signatures
        from zoo.frameworks import torch_signature as sig_ex

        net = sig_ex.build(cell.builder, cell.variant, seed, cell.signature.names, **cell.kwargs)
        net = sig_ex.calibrate(net, signatures.make_inputs(cell.signature, seed + 1, batch=2), seed)
    else:
        net = ex.build(cell.builder, cell.variant, seed, **cell.kwargs)
        calib = dataclasses.replace(cell.input, shape=(2,) + tuple(cell.input.shape[1:]))
        net = ex.calibrate(net, make_inputs(calib, seed + 1), seed)
    x = [np.load(os.path.join(case_dir, "inputs.npz"))[n] for n in meta["input_names"]]
    expected = np.load(os.path.join(case_dir, "expected.npz"))
    with torch.no_grad():
        # integer inputs (token ids, masks) stay integers; only floats go to float64
        y64 = net.double()(*[torch.from_numpy(a).double() if a.dtype.kind == "f" else torch.from_numpy(a)
                             for a in x])
    y64 = [t.numpy() for t in (y64 if isinstance(y64, (tuple, list)) else (y64,))]
    with tempfile.TemporaryDirectory() as tmp:
        bundle_of = os.path.join(case_dir, "oneflow_cpu.npz")
        if os.path.exists(bundle_of):
            of = np.load(bundle_of)
            of = {f"arr_{i}": of[name] for i, name in enumerate(meta["output_names"])}
            ort = np.load(os.path.join(case_dir, "ort.npz"))
        else:
            of_path = os.path.join(tmp, "oneflow.npz")
            _oneflow_outputs(case_dir, of_path)
            of, ort = np.load(of_path), None
        for i, (name, ref) in enumerate(zip(meta["output_names"], y64)):
            print(f"{meta['model']} {name}: max |y| {np.abs(ref).max():.3g}")
            print(f"  torch fp32   vs fp64: {stats(expected[name], ref)}")
            print(f"  OneFlow fp32 vs fp64: {stats(of[f'arr_{i}'], ref)}")
            print(f"  OneFlow vs torch fp32: {stats(of[f'arr_{i}'], expected[name].astype(np.float64))}")
            if ort is not None:
                print(f"  ORT fp32     vs fp64: {stats(ort[name], ref)}")
                print(f"  OneFlow vs ORT fp32:  {stats(of[f'arr_{i}'], ort[name].astype(np.float64))}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
