"""Process B of a case: ONNX Runtime, convert, run OneFlow, compare. No source framework.

    python -m harness.oneflow_side CASE_DIR [--device cpu] [--work-dir DIR]
                                   [--rtol R --atol A] [--classifier] [--divergence]

CASE_DIR holds what ``zoo.export`` wrote (model.onnx, inputs.npz, expected.npz, meta.json).
Stages (DESIGN §2): ``ort`` (ORT vs the source framework: blames the exporter), ``convert``,
``run`` (writes oneflow_<device>.npz), ``parity`` (OneFlow vs the source framework: blames
the converter). The parent follows the stages through protocol lines (harness.procs); the
last stdout line is the result as plain JSON. Exit 0 on pass.

HARNESS_TEST_PLUGINS (comma-separated module names) is imported after the converter; tests
use it to register deliberately broken handlers inside this process only.
"""
from __future__ import annotations

import argparse
import faulthandler
import importlib
import json
import os
import signal
import sys
import time
import traceback

import numpy as np

from .parity import DEFAULT_ATOL, DEFAULT_RTOL, compare
from .procs import emit

SOURCE_FRAMEWORKS = ("torch", "tensorflow", "paddle", "tf2onnx", "paddle2onnx")
PLUGINS_ENV = "HARNESS_TEST_PLUGINS"


class StageFailed(Exception):
    def __init__(self, stage: str, error: str, tb: str = ""):
        super().__init__(error)
        self.stage, self.error, self.traceback = stage, error, tb


def load_case(case_dir: str):
    with open(os.path.join(case_dir, "meta.json")) as f:
        meta = json.load(f)
    inputs = dict(np.load(os.path.join(case_dir, "inputs.npz")))
    expected = dict(np.load(os.path.join(case_dir, "expected.npz")))
    return meta, inputs, expected


def ort_providers(device: str) -> list:
    import onnxruntime as ort

    if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def run_ort(model_path: str, inputs: dict, device: str = "cpu") -> dict:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(model_path, opts, providers=ort_providers(device))
    names = [o.name for o in sess.get_outputs()]
    feed = {i.name: inputs[i.name] for i in sess.get_inputs()}
    return dict(zip(names, sess.run(names, feed)))


def module_args(module, inputs: dict, device: str) -> list:
    import oneflow as flow

    missing = [n for n in module.input_names if n not in inputs]
    if missing:
        raise KeyError(f"inputs.npz lacks graph input(s) {missing} (has {sorted(inputs)})")
    return [flow.tensor(inputs[n]).to(device) for n in module.input_names]


def run_module(module, inputs: dict, device: str) -> dict:
    import oneflow as flow

    with flow.no_grad():
        out = module(*module_args(module, inputs, device))
    outs = out if isinstance(out, tuple) else (out,)
    return {n: o.numpy() for n, o in zip(module.output_names, outs)}


def parity_of(actual: dict, expected: dict, rtol: float, atol: float, classifier: bool) -> list:
    rows = []
    for name, ref in expected.items():
        if name not in actual:
            rows.append({"name": name, "shape_ok": False, "passed": False, "max_abs": float("inf"),
                         "max_rel": float("inf"), "min_atol": float("inf"), "top5_agreement": None,
                         "error": f"no output named {name!r} (has {sorted(actual)})"})
            continue
        rows.append(compare(name, actual[name], ref, rtol, atol, classifier).to_dict())
    return rows


def summarize(rows: list) -> dict:
    """Worst case over the outputs: the numbers a record carries."""
    top5 = [r["top5_agreement"] for r in rows if r.get("top5_agreement") is not None]
    return {"max_abs": max((r["max_abs"] for r in rows), default=None),
            "max_rel": max((r["max_rel"] for r in rows), default=None),
            "min_atol": max((r["min_atol"] for r in rows), default=None),
            "top5": min(top5) if top5 else None}


def describe_failure(rows: list, rtol: float, atol: float) -> str:
    bad = [r for r in rows if not r["passed"]]
    parts = [r.get("error") or (f"{r['name']}: shape mismatch" if not r["shape_ok"] else
             f"{r['name']}: max_abs {r['max_abs']:.3g}, max_rel {r['max_rel']:.3g}, needs atol "
             f"{r['min_atol']:.3g} at rtol {rtol:g} (allowed atol {atol:g})") for r in bad]
    return "; ".join(parts)


class Stages:
    """Runs the stages in order, timing each and turning an exception into StageFailed."""

    def __init__(self):
        self.seconds: dict = {}

    def run(self, stage: str, fn, *args, **kwargs):
        emit({"event": "stage", "stage": stage})
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        except StageFailed:
            raise
        except Exception as e:  # noqa: BLE001 - every error becomes this stage's failure
            raise StageFailed(stage, f"{type(e).__name__}: {e}", traceback.format_exc()) from e
        finally:
            self.seconds[stage] = round(time.perf_counter() - t, 3)


def check_case(case_dir: str, device: str = "cpu", work_dir: str | None = None, rtol: float = DEFAULT_RTOL,
               atol: float = DEFAULT_ATOL, classifier: bool = False, divergence: bool = False) -> dict:
    import converter
    import onnx
    import onnxruntime

    import oneflow as flow

    for name in filter(None, os.environ.get(PLUGINS_ENV, "").split(",")):
        importlib.import_module(name)
    work_dir = work_dir or case_dir
    os.makedirs(work_dir, exist_ok=True)
    meta, inputs, expected = load_case(case_dir)
    model_path = os.path.join(case_dir, "model.onnx")
    result = {"case": case_dir, "device": device, "status": "pass", "stage": None, "error": None,
              "traceback": None, "tolerance": {"rtol": rtol, "atol": atol},
              "versions": {"oneflow": flow.__version__, "onnx": onnx.__version__,
                           "onnxruntime": onnxruntime.__version__}}
    stages = Stages()
    try:
        ort_out = stages.run("ort", run_ort, model_path, inputs, device)
        np.savez(os.path.join(work_dir, "ort.npz"), **ort_out)
        result["ort_parity"] = parity_of(ort_out, expected, rtol, atol, classifier)
        if not all(r["passed"] for r in result["ort_parity"]):
            result.update(summarize(result["ort_parity"]))
            raise StageFailed("ort", "ONNX Runtime disagrees with the source framework (exporter): "
                              + describe_failure(result["ort_parity"], rtol, atol))
        module = stages.run("convert", converter.convert, model_path, device=device)
        of_out = stages.run("run", run_module, module, inputs, device)
        np.savez(os.path.join(work_dir, f"oneflow_{device}.npz"), **of_out)

        def parity():
            result["oneflow_parity"] = parity_of(of_out, expected, rtol, atol, classifier)
            result["oneflow_vs_ort"] = parity_of(of_out, ort_out, rtol, atol, classifier)
            result.update(summarize(result["oneflow_parity"]))
            if not all(r["passed"] for r in result["oneflow_parity"]):
                if divergence:
                    result["divergence"] = locate_divergence(model_path, inputs, module, device, rtol, atol)
                raise StageFailed("parity", "OneFlow disagrees with the source framework: "
                                  + describe_failure(result["oneflow_parity"], rtol, atol))
        stages.run("parity", parity)
    except StageFailed as e:
        result.update(status=f"fail:{e.stage}", stage=e.stage, error=e.error, traceback=e.traceback or None)
    result["seconds"] = stages.seconds
    result["source_frameworks_imported"] = sorted(m for m in SOURCE_FRAMEWORKS if m in sys.modules)
    return result


def locate_divergence(model_path: str, inputs: dict, module, device: str, rtol: float, atol: float):
    import oneflow as flow
    import onnx

    from .divergence import first_divergence, ort_intermediates

    model = onnx.load(model_path)
    reference = ort_intermediates(model, inputs, ort_providers(device))
    with flow.no_grad():
        env = module.run(*module_args(module, inputs, device), keep=True)
    actual = {k: (v.numpy() if isinstance(v, flow.Tensor) else np.asarray(v)) for k, v in env.items()}
    return first_divergence(model, reference, actual, rtol, atol)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.oneflow_side")
    ap.add_argument("case_dir")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--work-dir", help="where ort.npz and oneflow_<device>.npz go (default: CASE_DIR)")
    ap.add_argument("--rtol", type=float, default=DEFAULT_RTOL)
    ap.add_argument("--atol", type=float, default=DEFAULT_ATOL)
    ap.add_argument("--classifier", action="store_true", help="report top-5 agreement")
    ap.add_argument("--divergence", action="store_true", help="on a parity failure, find the first divergent node")
    args = ap.parse_args(argv)
    # Python stacks into stderr (hence the bundle) on a crash, and on SIGUSR1, which the
    # parent sends before killing a stage that overran its timeout.
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    emit({"event": "stage", "stage": "startup"})
    try:
        result = check_case(args.case_dir, args.device, args.work_dir, args.rtol, args.atol,
                            args.classifier, args.divergence)
    except Exception as e:  # noqa: BLE001 - outside any stage: the plumbing, not the model
        result = {"case": args.case_dir, "device": args.device, "status": "infra", "stage": None,
                  "error": f"OneFlow side: {type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    emit({"event": "done", **result})
    print(json.dumps(result, default=str))
    return 0 if result["status"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
