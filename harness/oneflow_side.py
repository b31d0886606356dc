"""Process B of a case: ONNX Runtime, convert, run OneFlow, compare. No source framework.

    python -m harness.oneflow_side CASE_DIR [--device cpu] [--json]

CASE_DIR holds what ``zoo.export`` wrote. Prints (or returns) a dict with the parity of
ORT and of OneFlow against the source framework's outputs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from .parity import DEFAULT_ATOL, DEFAULT_RTOL, compare


def load_case(case_dir: str):
    with open(os.path.join(case_dir, "meta.json")) as f:
        meta = json.load(f)
    inputs = dict(np.load(os.path.join(case_dir, "inputs.npz")))
    expected = dict(np.load(os.path.join(case_dir, "expected.npz")))
    return meta, inputs, expected


def run_ort(model_path: str, inputs: dict) -> dict:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, inputs)))


def run_oneflow(model_path: str, inputs: dict, input_names: list, device: str = "cpu") -> dict:
    import oneflow as flow

    import converter

    module = converter.convert(model_path, device=device)
    args = [flow.tensor(inputs[n]).to(device) for n in input_names]
    with flow.no_grad():
        out = module(*args)
    outs = out if isinstance(out, tuple) else (out,)
    return {n: o.numpy() for n, o in zip(module.output_names, outs)}


def check_case(case_dir: str, device: str = "cpu", rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL) -> dict:
    meta, inputs, expected = load_case(case_dir)
    model_path = os.path.join(case_dir, "model.onnx")
    result = {"case": case_dir, "device": device, "seconds": {}}
    t = time.perf_counter()
    ort_out = run_ort(model_path, inputs)
    result["seconds"]["ort"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    of_out = run_oneflow(model_path, inputs, meta["input_names"], device)
    result["seconds"]["convert_run"] = round(time.perf_counter() - t, 3)
    result["ort_parity"] = [compare(n, ort_out[n], expected[n], rtol, atol).to_dict() for n in expected]
    result["oneflow_parity"] = [compare(n, of_out[n], expected[n], rtol, atol).to_dict() for n in expected]
    result["oneflow_vs_ort"] = [compare(n, of_out[n], ort_out[n], rtol, atol).to_dict() for n in expected]
    result["passed"] = all(p["passed"] for k in ("ort_parity", "oneflow_parity", "oneflow_vs_ort")
                           for p in result[k])
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.oneflow_side")
    ap.add_argument("case_dir")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args(argv)
    result = check_case(args.case_dir, args.device)
    result["source_frameworks_imported"] = sorted(
        m for m in ("torch", "tensorflow", "paddle") if m in sys.modules)
    print(json.dumps(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
