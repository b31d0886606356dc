"""Process B of a case: ONNX Runtime, convert, run OneFlow, compare. No source framework.

    python -m harness.oneflow_side CASE_DIR [--device cpu] [--work-dir DIR]
                                   [--rtol R --atol A] [--converter-rtol R --converter-atol A]
                               [--classifier] [--divergence] [--native JSON] [--threads N]
                               [--latency-iters N] [--latency-warmup N] [--latency-budget S]

CASE_DIR holds what ``zoo.export`` wrote (model.onnx, inputs.npz, expected.npz, meta.json).
Stages (docs/design.md §2): ``ort`` (ORT vs the source framework: blames the exporter),
``convert``, ``run`` (writes oneflow_<device>.npz), ``latency`` (times it: harness/latency.py),
``parity`` (OneFlow vs ORT: blames the converter; OneFlow vs the source is recorded too). The converter runs even when ORT
disagrees with the source; the status then stays ``fail:ort`` and ``converter`` says whether
OneFlow matched ORT. The parent follows the stages through protocol lines (harness.procs); the
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

from zoo.vocabulary import DEFAULT_ATOL, DEFAULT_RTOL, DEVICES, MODES

from . import latency
from .parity import compare_outputs
from .procs import emit

SOURCE_FRAMEWORKS = ("torch", "tensorflow", "paddle", "tf2onnx", "paddle2onnx")
LATENCY_DEFAULTS = {"threads": latency.DEFAULT_THREADS, "warmup": latency.DEFAULT_WARMUP,
                    "iters": latency.DEFAULT_ITERS, "budget_s": latency.DEFAULT_BUDGET_S}
PLUGINS_ENV = "HARNESS_TEST_PLUGINS"


class StageFailed(Exception):
    def __init__(self, stage: str, error: str, tb: str = ""):
        super().__init__(error)
        self.stage, self.error, self.traceback = stage, error, tb


def warm() -> None:
    """Import what every case needs, once: a pooled worker calls this before its first case
    (harness/pool.py), so the cases after it skip OneFlow's import."""
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401

    import oneflow  # noqa: F401
    from converter import convert  # noqa: F401


def load_case(case_dir: str):
    with open(os.path.join(case_dir, "meta.json")) as f:
        meta = json.load(f)
    inputs = dict(np.load(os.path.join(case_dir, "inputs.npz")))
    expected = dict(np.load(os.path.join(case_dir, "expected.npz")))
    return meta, inputs, expected


def size_files(meta: dict) -> list:
    """The further sizes a signature case holds (zoo/signature_export.py): meta.json's
    ``sizes``, [{"dims", "inputs", "expected"}]. A repro bundle's meta.json is the record,
    whose ``sizes`` are the verdicts per size: there the export's meta is ``export_meta``."""
    sizes = (meta.get("export_meta") or meta).get("sizes")
    return [s for s in sizes if isinstance(s, dict) and "inputs" in s] if isinstance(sizes, list) else []


def ort_providers(device: str) -> list:
    import onnxruntime as ort

    if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def run_ort(model_path: str, inputs: dict, device: str = "cpu", threads: int = latency.DEFAULT_THREADS) -> dict:
    sess = latency.ort_session(model_path, ort_providers(device), threads)
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


def time_case(module, model_path: str, inputs: dict, expected: dict, device: str, graph: bool,
              native=None, settings=None) -> dict:
    """The record's ``latency`` block (harness/latency.py): the converted module (a compiled
    nn.Graph in graph mode), ONNX Runtime and, given ``native`` (a OneFlow-column cell's
    builder, variant, kwargs, seed), OneFlow's own module, interleaved on the case's inputs.
    A failure here is recorded in the block, not in the status: the gates decide that."""
    import oneflow as flow

    s = {**LATENCY_DEFAULTS, **(settings or {})}
    block = {"threads": {"oneflow": s["threads"], "ort": s["threads"]}, "warmup": s["warmup"],
             "iters_requested": s["iters"], "budget_s": s["budget_s"]}
    try:
        sess = latency.ort_session(model_path, ort_providers(device), s["threads"])
        feed = {i.name: inputs[i.name] for i in sess.get_inputs()}
        args = module_args(module, inputs, device)
        variants = {"oneflow": lambda: [o.numpy() for o in latency.outputs_of(module(*args))],
                    "ort": lambda: sess.run(None, feed)}
    except Exception as e:  # noqa: BLE001 - recorded, see above
        return {**block, "error": f"{type(e).__name__}: {e}"}
    if native:
        try:
            variants["native"] = native_variant(native, module, inputs, expected, device, graph, block)
        except Exception as e:  # noqa: BLE001 - the native side is the zoo's, not the converter's
            block["native_error"] = f"{type(e).__name__}: {e}"
    try:
        with flow.no_grad():
            times = latency.interleave(variants, s["warmup"], s["iters"], s["budget_s"])
    except Exception as e:  # noqa: BLE001
        return {**block, "error": f"{type(e).__name__}: {e}"}
    return {**block, **latency.summary(times)}


def native_variant(spec: dict, module, inputs: dict, expected: dict, device: str, graph: bool, block: dict):
    """A call running OneFlow's own module of the cell, once it has shown it is the model the
    export came from: its outputs equal the export's reference (expected.npz, which process A
    computed with it) at the default tolerance. Graph mode wraps it in nn.Graph and records
    its first call (the compile) as ``native_graph_compile_s``."""
    import oneflow as flow

    net = latency.native_module(spec, device)
    args = module_args(module, inputs, device)
    if graph:
        net = latency.as_graph(net)
        t = time.perf_counter()
        with flow.no_grad():
            [o.numpy() for o in latency.outputs_of(net(*args))]
        block["native_graph_compile_s"] = round(time.perf_counter() - t, 3)
    with flow.no_grad():
        outs = [o.numpy() for o in latency.outputs_of(net(*args))]
    rows = compare_outputs(outs, list(expected.values()), DEFAULT_RTOL, DEFAULT_ATOL)
    if not all(r.passed for r in rows):
        raise ValueError("OneFlow's own module, rebuilt here, does not reproduce the export's reference outputs "
                         f"({describe_failure([r.to_dict() for r in rows], DEFAULT_RTOL, DEFAULT_ATOL)})")
    return lambda: [o.numpy() for o in latency.outputs_of(net(*args))]


def parity_of(actual: dict, reference: dict, rtol: float, atol: float, classifier: bool) -> list:
    """Per-output rows (dicts), one per output name (expected.npz keys: the flattened order
    of zoo/signatures.py for a signature cell); a missing or extra output is a failing row, and
    so is an output whose dtype or shape differs from the reference's, and an integer output
    (labels, indices, counts) that is not exactly equal (both gates, docs/design.md §4)."""
    return [r.to_dict() for r in compare_outputs(actual, reference, rtol, atol, classifier, check_dtype=True,
                                                 exact_integers=True)]


def summarize(rows: list) -> dict:
    """Worst case over the outputs: the numbers a record carries."""
    top5 = [r["top5_agreement"] for r in rows if r.get("top5_agreement") is not None]
    return {"max_abs": max((r["max_abs"] for r in rows), default=None),
            "max_rel": max((r["max_rel"] for r in rows), default=None),
            "min_atol": max((r["min_atol"] for r in rows), default=None),
            "top5": min(top5) if top5 else None}


def gate(rows: list, rtol: float, atol: float) -> dict:
    """One comparison's verdict as a record carries it: worst numbers, tolerance, ok."""
    worst = summarize(rows)
    return {"max_abs": worst["max_abs"], "max_rel": worst["max_rel"], "min_atol": worst["min_atol"],
            "rtol": rtol, "atol": atol, "ok": all(r["passed"] for r in rows) and bool(rows)}


def batch_inputs(inputs: dict, batch: int) -> dict:
    """The case's inputs at another batch size: its samples repeated along axis 0, each copy
    with its own seeded perturbation so the rows differ (a batch-axis mix-up must show)."""
    rng = np.random.default_rng(batch)
    out = {}
    for name, x in inputs.items():
        rows = np.concatenate([x] * (-(-batch // x.shape[0])))[:batch]
        noise = rng.normal(0.0, 0.1 * (float(x.std()) or 1.0), rows.shape) if x.dtype.kind == "f" else 0
        out[name] = (rows + noise).astype(x.dtype)
    return out


def describe_failure(rows: list, rtol: float, atol: float) -> str:
    bad = [r for r in rows if not r["passed"]]
    parts = [r.get("error") or
             f"{r['name']}: max_abs {r['max_abs']:.3g}, max_rel {r['max_rel']:.3g}, needs atol "
             f"{r['min_atol']:.3g} at rtol {rtol:g} (allowed atol {atol:g})" for r in bad]
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


# What the record says about the converter on a case (docs/design.md §3).
CONVERTER_MATCHES, CONVERTER_DIFFERS, CONVERTER_UNTESTED = "matches ORT", "differs from ORT", "untested"


def check_case(case_dir: str, device: str = "cpu", work_dir: str | None = None, rtol: float = DEFAULT_RTOL,
               atol: float = DEFAULT_ATOL, classifier: bool = False, divergence: bool = False,
               converter_rtol: float = DEFAULT_RTOL, converter_atol: float = DEFAULT_ATOL, batches=(),
               mode: str = "eager", batch_tolerances=None, native=None, latency_settings=None) -> dict:
    """Two gates (docs/design.md §4): source vs ORT with (rtol, atol) blames the exporter;
    OneFlow vs ORT with the converter's own tolerance blames the converter. The converter
    runs whenever ORT produced outputs, even when ORT disagrees with the source. ``batches``
    (a model exported with a dynamic batch axis): the same converted module also runs at each
    of these batch sizes, against ORT, through the converter gate. ``mode="graph"`` runs the
    converted model as oneflow.nn.Graph (compiled for one input shape: one graph per batch size).
    ``batch_tolerances``: {batch: (rtol, atol)}, a converter tolerance of one batch size.
    Once the converted module ran, the ``latency`` stage times it (time_case; ``native``: the
    OneFlow column's cell, whose own module is timed beside it; ``latency_settings``: threads,
    warmup, iters, budget_s over LATENCY_DEFAULTS)."""
    import onnx
    import onnxruntime

    import oneflow as flow
    from converter import convert    # loads the handler registry before any test plugin patches it

    for name in filter(None, os.environ.get(PLUGINS_ENV, "").split(",")):
        importlib.import_module(name)
    settings = {**LATENCY_DEFAULTS, **(latency_settings or {})}
    latency.set_oneflow_threads(settings["threads"])    # before this case's first OneFlow op
    work_dir = work_dir or case_dir
    os.makedirs(work_dir, exist_ok=True)
    meta, inputs, expected = load_case(case_dir)
    model_path = os.path.join(case_dir, "model.onnx")
    graph = mode == "graph"
    result = {"case": case_dir, "device": device, "mode": mode, "status": "pass", "stage": None, "error": None,
              "traceback": None, "tolerance": {"rtol": rtol, "atol": atol},
              "converter_tolerance": {"rtol": converter_rtol, "atol": converter_atol},
              "converter": CONVERTER_UNTESTED,
              "versions": {"oneflow": flow.__version__, "onnx": onnx.__version__,
                           "onnxruntime": onnxruntime.__version__}}
    stages = Stages()
    exporter_failure = None
    try:
        ort_out = stages.run("ort", run_ort, model_path, inputs, device, settings["threads"])
        np.savez(os.path.join(work_dir, "ort.npz"), **ort_out)
        result["ort_parity"] = parity_of(ort_out, expected, rtol, atol, classifier)
        result["ort_vs_source"] = gate(result["ort_parity"], rtol, atol)
        result.update(summarize(result["ort_parity"]))
        if not result["ort_vs_source"]["ok"]:
            exporter_failure = StageFailed("ort", "ONNX Runtime disagrees with the source framework (exporter): "
                                           + describe_failure(result["ort_parity"], rtol, atol))
        try:
            module = stages.run("convert", convert, model_path, device=device, graph=graph)
            first_call = time.perf_counter()
            of_out = stages.run("run", run_module, module, inputs, device)
            first_call = round(time.perf_counter() - first_call, 3)
        except StageFailed as e:
            result["converter"] = f"fails at {e.stage}"
            raise exporter_failure or e
        np.savez(os.path.join(work_dir, f"oneflow_{device}.npz"), **of_out)
        result["latency"] = stages.run("latency", time_case, module, model_path, inputs, expected, device, graph,
                                       native, settings)
        if graph:   # the first call of a ConvertedGraph: host-read probe, trace, compile, one run
            result["latency"]["graph_compile_s"] = first_call

        def parity():
            result["oneflow_vs_ort_outputs"] = parity_of(of_out, ort_out, converter_rtol, converter_atol, classifier)
            result["oneflow_parity"] = parity_of(of_out, expected, rtol, atol, classifier)
            result["oneflow_vs_ort"] = gate(result["oneflow_vs_ort_outputs"], converter_rtol, converter_atol)
            result["oneflow_vs_source"] = gate(result["oneflow_parity"], rtol, atol)
            result.update(summarize(result["oneflow_parity"]))
            result["converter"] = CONVERTER_MATCHES if result["oneflow_vs_ort"]["ok"] else CONVERTER_DIFFERS
            if exporter_failure:
                raise exporter_failure
            if not result["oneflow_vs_ort"]["ok"]:
                if divergence:
                    result["divergence"] = locate_divergence(
                        model_path, inputs, convert(model_path, device=device) if graph else module, device,
                        converter_rtol, converter_atol)
                raise StageFailed("parity", "OneFlow disagrees with ONNX Runtime (converter): " + describe_failure(
                    result["oneflow_vs_ort_outputs"], converter_rtol, converter_atol))
            for b in batches:
                at_batch(b)
            for size in size_files(meta):
                at_size(size)

        def at_batch(b: int):
            feed = batch_inputs(inputs, b)
            reference = run_ort(model_path, feed, device, settings["threads"])
            try:
                actual = run_module(convert(model_path, device=device, graph=True) if graph else module, feed, device)
            except Exception as e:  # noqa: BLE001 - the module fails at this batch size
                raise StageFailed("run", f"at batch {b}: {type(e).__name__}: {e}", traceback.format_exc()) from e
            rtol_b, atol_b = (batch_tolerances or {}).get(b, (converter_rtol, converter_atol))
            rows = parity_of(actual, reference, rtol_b, atol_b, classifier)
            result.setdefault("batches", {})[str(b)] = gate(rows, rtol_b, atol_b)
            if not result["batches"][str(b)]["ok"]:
                result["converter"] = CONVERTER_DIFFERS
                raise StageFailed("parity", f"OneFlow disagrees with ONNX Runtime at batch {b} (converter): "
                                  + describe_failure(rows, rtol_b, atol_b))
        def at_size(size: dict):
            """A further size of a signature's named dims (zoo/signature_export.py): the same
            exported model (and, in graph mode, the same ConvertedGraph, which plans the new
            shape) on the inputs made there, through both gates."""
            label = ",".join(f"{name}={value}" for name, value in size["dims"].items())
            feed = dict(np.load(os.path.join(case_dir, size["inputs"])))
            source = dict(np.load(os.path.join(case_dir, size["expected"])))
            try:
                reference = run_ort(model_path, feed, device, settings["threads"])
            except Exception as e:  # noqa: BLE001 - the exported model does not run at this size
                raise StageFailed("ort", f"ONNX Runtime fails at {label}: {type(e).__name__}: {e}",
                                  traceback.format_exc()) from e
            src_rows = parity_of(reference, source, rtol, atol, classifier)
            entry = result.setdefault("sizes", {})[label] = {"dims": size["dims"],
                                                            "ort_vs_source": gate(src_rows, rtol, atol)}
            try:
                actual = run_module(module, feed, device)
            except Exception as e:  # noqa: BLE001 - the module fails at this size
                raise StageFailed("run", f"at {label}: {type(e).__name__}: {e}", traceback.format_exc()) from e
            rows = parity_of(actual, reference, converter_rtol, converter_atol, classifier)
            entry["oneflow_vs_ort"] = gate(rows, converter_rtol, converter_atol)
            if not entry["oneflow_vs_ort"]["ok"]:
                result["converter"] = CONVERTER_DIFFERS
            if not entry["ort_vs_source"]["ok"]:
                raise StageFailed("ort", f"ONNX Runtime disagrees with the source framework at {label} (exporter): "
                                  + describe_failure(src_rows, rtol, atol))
            if not entry["oneflow_vs_ort"]["ok"]:
                raise StageFailed("parity", f"OneFlow disagrees with ONNX Runtime at {label} (converter): "
                                  + describe_failure(rows, converter_rtol, converter_atol))
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


def parse_batch_tolerances(items) -> dict:
    """['3=0.001,1.5e-05'] -> {3: (0.001, 1.5e-05)}."""
    out = {}
    for item in items:
        batch, _, tol = item.partition("=")
        rtol, _, atol = tol.partition(",")
        out[int(batch)] = (float(rtol), float(atol))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.oneflow_side")
    ap.add_argument("case_dir")
    ap.add_argument("--device", default="cpu", choices=DEVICES)
    ap.add_argument("--work-dir", help="where ort.npz and oneflow_<device>.npz go (default: CASE_DIR)")
    ap.add_argument("--rtol", type=float, default=DEFAULT_RTOL, help="source vs ORT gate")
    ap.add_argument("--atol", type=float, default=DEFAULT_ATOL, help="source vs ORT gate")
    ap.add_argument("--converter-rtol", type=float, default=DEFAULT_RTOL, help="OneFlow vs ORT gate")
    ap.add_argument("--converter-atol", type=float, default=DEFAULT_ATOL, help="OneFlow vs ORT gate")
    ap.add_argument("--batches", default="", help="comma-separated batch sizes to also run (dynamic-batch models)")
    ap.add_argument("--batch-tolerance", action="append", default=[], metavar="B=RTOL,ATOL",
                    help="the converter gate's tolerance at batch size B (repeatable; default: the converter's)")
    ap.add_argument("--mode", default="eager", choices=MODES,
                    help="run the converted model eagerly or as oneflow.nn.Graph")
    ap.add_argument("--classifier", action="store_true", help="report top-5 agreement")
    ap.add_argument("--divergence", action="store_true", help="on a parity failure, find the first divergent node")
    ap.add_argument("--native", metavar="JSON", type=json.loads,
                    help='OneFlow column: {"builder", "variant", "kwargs", "seed"} of the cell, whose own module '
                         "is timed beside the converted one")
    ap.add_argument("--threads", type=int, default=latency.DEFAULT_THREADS,
                    help="intra-op threads of OneFlow and ONNX Runtime (default %(default)s)")
    ap.add_argument("--latency-iters", type=int, default=latency.DEFAULT_ITERS,
                    help="timed interleaved rounds, at most (default %(default)s; fewer when a round is slow)")
    ap.add_argument("--latency-warmup", type=int, default=latency.DEFAULT_WARMUP, help="untimed rounds first")
    ap.add_argument("--latency-budget", type=float, default=latency.DEFAULT_BUDGET_S,
                    help="seconds of timed rounds a case may take (default %(default)s)")
    args = ap.parse_args(argv)
    # Python stacks into stderr (hence the bundle) on a crash, and on SIGUSR1, which the
    # parent sends before killing a stage that overran its timeout.
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    emit({"event": "stage", "stage": "startup"})
    try:
        result = check_case(args.case_dir, args.device, args.work_dir, args.rtol, args.atol,
                            args.classifier, args.divergence, args.converter_rtol, args.converter_atol,
                            tuple(int(b) for b in args.batches.split(",") if b), args.mode,
                            parse_batch_tolerances(args.batch_tolerance), args.native,
                            {"threads": args.threads, "iters": args.latency_iters, "warmup": args.latency_warmup,
                             "budget_s": args.latency_budget})
    except Exception as e:  # noqa: BLE001 - outside any stage: the plumbing, not the model
        result = {"case": args.case_dir, "device": args.device, "status": "infra", "stage": None,
                  "error": f"OneFlow side: {type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    emit({"event": "done", **result})
    print(json.dumps(result, default=str))
    return 0 if result["status"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
