"""How much of a paddle cell's ORT difference is plain float32 rounding?

    .venv/bin/python tools/paddle_noise_floor.py CASE_DIR [CASE_DIR ...]

CASE_DIR is an exported paddle case (python -m zoo.export --framework paddle ...), or a
failing case's bundle (/.../bundles/<case>/, with the run's oneflow_cpu.npz). The
model is rebuilt exactly as the export built it, then run in float64 as the reference.
For each output it prints the max abs error of paddle's own float32 output and of ONNX
Runtime's against that reference, and the smallest atol (at rtol 1e-3) each would need.
When paddle float32 needs as much atol as ORT does, the exporter is not to blame: the
difference is the model's float32 noise floor, and a catalogue tolerance may say so.
For a bundle it also prints OneFlow's float32 output against the reference and against
ORT: a converter-gate miss is noise when OneFlow is no further from float64 than ORT is.
Imports paddle + onnxruntime only (no OneFlow), so it runs beside no other framework.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys

import numpy as np

RTOL = 1e-3
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root


def _min_atol(got: np.ndarray, ref: np.ndarray) -> float:
    return float(max(0.0, np.max(np.abs(got - ref) - RTOL * np.abs(ref))))


def noise_floor(case_dir: str) -> list:
    import onnxruntime as ort
    import paddle

    from zoo import catalogue
    from zoo.frameworks import paddle_exporter
    from zoo.inputs import make_inputs

    with open(os.path.join(case_dir, "meta.json")) as f:
        meta = json.load(f)
    meta = {**meta.get("export_meta", {}), **meta}  # a bundle nests the export's meta
    inputs = [np.load(os.path.join(case_dir, "inputs.npz"))[n] for n in meta["input_names"]]
    expected = np.load(os.path.join(case_dir, "expected.npz"))
    sess = ort.InferenceSession(os.path.join(case_dir, "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(meta["output_names"], dict(zip(meta["input_names"], inputs)))
    cell = catalogue.cell("paddle", meta["model"])
    model = paddle_exporter.build(cell.builder, cell.variant, meta["seed"], **cell.kwargs)
    # The same calibration zoo.export applies (batch of 2 from the next seed).
    calib_spec = dataclasses.replace(cell.input, shape=(2,) + tuple(cell.input.shape[1:]))
    model = paddle_exporter.calibrate(model, make_inputs(calib_spec, meta["seed"] + 1), meta["seed"])
    model.to(dtype="float64")
    with paddle.no_grad():
        ref = model(*[paddle.to_tensor(x.astype("float64")) for x in inputs])
    ref = [r.numpy() for r in (ref if isinstance(ref, (list, tuple)) else [ref])]
    of_path = os.path.join(case_dir, "oneflow_cpu.npz")
    oneflow = np.load(of_path) if os.path.exists(of_path) else None
    rows = []
    for name, ort_out, r in zip(meta["output_names"], got, ref):
        ours = expected[name]
        of = {} if oneflow is None else {
            "oneflow32_max_abs": float(np.abs(oneflow[name] - r).max()), "oneflow32_min_atol": _min_atol(oneflow[name], r),
            "oneflow_vs_ort_min_atol": _min_atol(oneflow[name], ort_out)}
        rows.append({"model": meta["model"], "output": name, "max_abs_ref": float(np.abs(r).max()),
                     "paddle32_max_abs": float(np.abs(ours - r).max()), "paddle32_min_atol": _min_atol(ours, r),
                     "ort_max_abs": float(np.abs(ort_out - r).max()), "ort_min_atol": _min_atol(ort_out, r),
                     "ort_vs_paddle32_min_atol": _min_atol(ort_out, ours), **of})
    return rows


if __name__ == "__main__":
    for case in sys.argv[1:]:
        for row in noise_floor(case):
            print(json.dumps({k: (float(f"{v:.3g}") if isinstance(v, float) else v) for k, v in row.items()}))
