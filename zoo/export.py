"""Export one catalogue cell to ONNX in a process that imports only its source framework.

    python -m zoo.export --framework F --model M --opset N [--opset N2 ...] (--out DIR | --cache-dir DIR) [--seed S]
    python -m zoo.export --cache-key      # the key of the whole export cache (CI caches)

Writes model.onnx, inputs.npz (keys = ONNX graph input names), expected.npz (keys = ONNX
graph output names; the source framework's own outputs) and meta.json. With --cache-dir
the case directory is content-addressed (zoo/cache.py) and a re-run reuses it.

Build once, export many: with several --opset the model is built, and its reference
computed, once; every opset is exported from the same weights and inputs into its own case
directory (its own cache entry; a hit exports nothing). Each opset's answer is a protocol
line as soon as it is known (``@@harness {"event": "export", "opset": N, ...}``, the
harness's child protocol, harness/procs.py), preceded by a ``stage`` event that restarts the
harness's export clock, so each opset has its own time budget and a crash is blamed on the
opset in flight. The last stdout line is JSON: with one opset {"ok": true, "dir": ...,
"cached": bool} or {"ok": false, "stage": "build"|"export", "error": ..., "traceback": ...};
with several {"ok": all ok, "results": [the answers without tracebacks]}. Exit code 1 when
an opset failed. With --out and several opsets, opset N goes to DIR/opsetN.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import importlib
import importlib.metadata
import json
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass

import numpy as np

from . import cache, catalogue
from .frameworks import patches
from .inputs import check_outputs, make_inputs
from .vocabulary import DEFAULT_SEED, DEVICES, FRAMEWORKS

ZOO_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class ExporterSpec:
    module: str                  # build / run / export / versions (zoo/frameworks/torch_exporter.py)
    distributions: tuple         # installed packages whose versions key the cache
    extra_code: tuple = ()       # zoo files besides the module and its model definitions
    pure_python_protobuf: bool = False  # DESIGN §7: TensorFlow segfaults on protobuf's C++ backend

    def code_files(self, builder: str, framework: str) -> list:
        files = [os.path.join(ZOO_DIR, *self.module.split(".")[1:]) + ".py"]
        files += [os.path.join(ZOO_DIR, f) for f in self.extra_code]
        files += [os.path.join(ZOO_DIR, f) for f in ("export.py", "inputs.py")]
        if builder == "zoo":
            files += glob.glob(os.path.join(ZOO_DIR, "models", framework, "**", "*.py"), recursive=True)
            # the registry and the layouts every framework's zoo builders read
            files += [os.path.join(ZOO_DIR, "models", f) for f in ("registry.py", "layouts.py")]
        return files


EXPORTERS = {
    "torch": ExporterSpec("zoo.frameworks.torch_exporter", ("torch", "torchvision", "timm")),
    "tensorflow": ExporterSpec("zoo.frameworks.tensorflow_exporter", ("tensorflow", "keras", "tf2onnx"),
                               extra_code=("frameworks/patches/__init__.py", "frameworks/patches/tf2onnx.py"),
                               pure_python_protobuf=True),
    "paddle": ExporterSpec("zoo.frameworks.paddle_exporter", ("paddlepaddle", "paddle2onnx"),
                           extra_code=("frameworks/patches/__init__.py", "frameworks/patches/paddle2onnx.py")),
    "oneflow": ExporterSpec("zoo.frameworks.oneflow_exporter", ("oneflow", "flowvision", "oneflow-onnx"),
                            extra_code=("oneflow_compat.py", "frameworks/patches/__init__.py",
                                        "frameworks/patches/oneflow_onnx.py")),
}


class StageError(Exception):
    """A failure attributed to one stage of the export (build or export)."""

    def __init__(self, stage: str, error: BaseException):
        super().__init__(f"{stage}: {type(error).__name__}: {error}")
        self.stage, self.error = stage, error
        self.trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))


@contextlib.contextmanager
def _stage(name: str):
    try:
        # Exporters print progress; stdout's last line is reserved for our JSON.
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except (Exception, SystemExit) as e:  # paddle2onnx calls sys.exit on conversion errors
        raise StageError(name, e) from e


def _installed_version(dist: str):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def case_key(cell, opset: int, seed: int) -> dict:
    """Everything that determines a case's files; read without importing the framework."""
    spec = EXPORTERS[cell.framework]
    return {
        "framework": cell.framework, "model": cell.model, "opset": opset, "seed": seed,
        "input": cell.input.as_dict(),
        "versions": {d: _installed_version(d) for d in spec.distributions + ("onnx", "numpy")},
        "code": cache.hash_files(spec.code_files(cell.builder, cell.framework)),
        # patched and stock exports of the same cell are different files (--no-exporter-patches)
        "exporter_patches": [p.name for p in patches.selected(cell.framework)],
        # tolerance/xfail change how a case is judged, not its files: no re-export for them.
        "entry": {k: v for k, v in cell.as_dict().items() if k not in ("xfail", "tolerance")},
    }


def _tolerances(cell) -> dict:
    return {dev: cell.tolerance(dev).as_dict() for dev in DEVICES}


def _graph_io(onnx_path: str):
    import onnx

    graph = onnx.load(onnx_path, load_external_data=False).graph
    init_names = {t.name for t in graph.initializer}
    return ([i.name for i in graph.input if i.name not in init_names], [o.name for o in graph.output])


@dataclass
class Built:
    """A built model, its inputs and the source framework's reference outputs: what every
    opset of one (framework, model) shares."""
    exporter: object
    net: object
    inputs: list
    expected: list
    seconds: float
    prepared: object = None      # the exporter's per-model export preparation (prepare_export)
    exports: int = 0             # opsets exported from it so far


def build_cell(cell, seed: int = DEFAULT_SEED) -> Built:
    """Build ``cell`` and run it once (its reference); raise StageError("build")."""
    if cell.unavailable:
        raise StageError("build", ValueError(f"{cell.id} is unavailable: {cell.unavailable}"))
    spec = EXPORTERS[cell.framework]
    t0 = time.perf_counter()
    with _stage("build"):
        exporter = importlib.import_module(spec.module)
        net = exporter.build(cell.builder, cell.variant, seed, **cell.kwargs)
        if hasattr(exporter, "calibrate"):  # optional: BN stats measured on another seeded batch
            calib_spec = dataclasses.replace(cell.input, shape=(2,) + tuple(cell.input.shape[1:]))
            net = exporter.calibrate(net, make_inputs(calib_spec, seed + 1), seed)
        inputs = make_inputs(cell.input, seed)
        expected = exporter.run(net, inputs)
        check_outputs(expected, [f"output {i}" for i in range(len(expected))])
        if isinstance(cell.outputs, int) and len(expected) != cell.outputs:
            raise ValueError(f"{cell.id}: the catalogue expects {cell.outputs} outputs, the model gave {len(expected)}")
    return Built(exporter, net, inputs, expected, round(time.perf_counter() - t0, 3))


def export_case(cell, opset: int, out_dir: str, seed: int = DEFAULT_SEED, built: Built = None) -> dict:
    """Export ``cell`` at ``opset`` into ``out_dir`` (building it unless ``built`` is given);
    raise StageError on failure."""
    built = built or build_cell(cell, seed)
    exporter, net, inputs, expected = built.exporter, built.net, built.inputs, built.expected
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    with _stage("export"):
        import onnx

        del patches._fired[:]  # which patches fired is per exported graph, not per process
        onnx_path = os.path.join(out_dir, "model.onnx")
        prepare = getattr(exporter, "prepare_export", None)  # e.g. TensorFlow: trace + freeze once
        if prepare is None:
            # dynamic_batch only where the catalogue asks (it allows it only for exporters that take it)
            exporter.export(net, inputs, onnx_path, opset, **({"dynamic_batch": True} if cell.dynamic_batch else {}))
        else:
            if built.prepared is None:
                built.prepared = prepare(net, inputs)
            exporter.export(net, inputs, onnx_path, opset, prepared=built.prepared)
        onnx.checker.check_model(onnx_path)
        in_names, out_names = _graph_io(onnx_path)
        if len(in_names) != len(inputs):
            raise ValueError(f"{cell.id}: ONNX graph has inputs {in_names}, the model takes {len(inputs)}")
        if len(out_names) != len(expected):
            raise ValueError(f"{cell.id}: ONNX graph has outputs {out_names}, the model gave {len(expected)}")
        if isinstance(cell.outputs, tuple) and list(cell.outputs) != out_names:
            raise ValueError(f"{cell.id}: ONNX graph outputs {out_names} != catalogue outputs {list(cell.outputs)}")
        np.savez(os.path.join(out_dir, "inputs.npz"), **dict(zip(in_names, inputs)))
        np.savez(os.path.join(out_dir, "expected.npz"), **dict(zip(out_names, expected)))
        versions = {"python": platform.python_version(), "onnx": onnx.__version__, **exporter.versions()}
    done = time.perf_counter()
    reused = built.exports > 0
    built.exports += 1
    meta = {
        "framework": cell.framework, "model": cell.model, "architecture": cell.architecture,
        "task": cell.task, "classifier": cell.classifier, "builder": cell.builder, "variant": cell.variant,
        "opset": opset, "seed": seed, "input_spec": cell.input.as_dict(),
        "input_names": in_names, "output_names": out_names,
        "shapes": {**{n: list(x.shape) for n, x in zip(in_names, inputs)},
                   **{n: list(np.shape(y)) for n, y in zip(out_names, expected)}},
        "input_shapes": [list(x.shape) for x in inputs],
        "output_shapes": [list(np.shape(y)) for y in expected],
        "versions": versions,
        # build: paid by the first opset exported from this build only (build once, export many)
        "seconds": {"build": 0.0 if reused else built.seconds, "export": round(done - t0, 3)},
        "build_reused": reused,
        # Proof of isolation (DESIGN §2): the frameworks this export process imported.
        "frameworks_in_process": sorted(m for m in FRAMEWORKS if m in sys.modules),
        # the exporter patches that changed this graph (zoo/frameworks/patches)
        "exporter_patches": patches.fired(),
        "tolerance": _tolerances(cell),
        "xfail": cell.xfail.as_dict() if cell.xfail else None,
        "marks": list(cell.marks),
    }
    with open(os.path.join(out_dir, "meta.json"), "w") as f:  # last: marks the case complete
        json.dump(meta, f, indent=2)
    return meta


def _cache_slot(cell, opset: int, cache_dir: str, seed: int) -> tuple:
    with _stage("build"):  # e.g. the framework's exporter module is missing
        key = case_key(cell, opset, seed)
    return key, cache.case_name(cell.framework, cell.model, opset, seed, cache.digest(key))


def cached_export(cell, opset: int, cache_dir: str, seed: int = DEFAULT_SEED, built: Built = None) -> tuple:
    """(case directory, cached?) — exports only when the content key misses."""
    key, name = _cache_slot(cell, opset, cache_dir, seed)
    hit = cache.lookup(cache_dir, name)
    if hit:
        return hit, True
    with cache.publishing(cache_dir, name) as slot:
        export_case(cell, opset, slot["tmp"], seed, built)
        with open(os.path.join(slot["tmp"], "cache_key.json"), "w") as f:
            json.dump(key, f, indent=2)
    return slot["dir"], False


def export_many(cell, opsets, seed: int = DEFAULT_SEED, cache_dir: str = None, out: str = None,
                report=lambda answer: None) -> list:
    """Export ``cell`` at every opset from one build (built only if some opset misses the
    cache); one answer dict per opset, each also passed to ``report`` as soon as it is known."""
    answers, built, build_error = [], None, None
    for opset in opsets:
        _protocol({"event": "stage", "stage": "export", "opset": opset})  # a fresh time budget
        try:
            if build_error:
                raise build_error
            if cache_dir:
                _, name = _cache_slot(cell, opset, cache_dir, seed)
                hit = cache.lookup(cache_dir, name)
                if hit:
                    answer = {"ok": True, "dir": os.path.abspath(hit), "cached": True}
                    answers.append(_answered(answer, opset, report))
                    continue
            if built is None:
                try:
                    built = build_cell(cell, seed)
                    _protocol({"event": "built", "seconds": built.seconds})  # one build per process
                except StageError as e:
                    build_error = e  # every remaining opset fails at build, without rebuilding
                    raise
            if cache_dir:
                out_dir, cached = cached_export(cell, opset, cache_dir, seed, built)
            else:
                out_dir, cached = (out if len(opsets) == 1 else os.path.join(out, f"opset{opset}")), False
                export_case(cell, opset, out_dir, seed, built)
            answer = {"ok": True, "dir": os.path.abspath(out_dir), "cached": cached}
        except StageError as e:
            print(e.trace, file=sys.stderr)
            answer = {"ok": False, "stage": e.stage, "error": f"{type(e.error).__name__}: {e.error}",
                      "traceback": e.trace}
        answers.append(_answered(answer, opset, report))
    return answers


def _answered(answer: dict, opset: int, report) -> dict:
    answer["opset"] = opset
    report(answer)
    return answer


def _protocol(event: dict) -> None:
    # harness/procs.py's child protocol; the harness restarts a stage clock on "stage" events
    print("@@harness " + json.dumps(event), flush=True)


def export_cache_key() -> str:
    """One key for the whole export cache: every exporter's installed versions and the zoo's
    code and catalogue. CI caches key on it (a miss there only costs a cold export)."""
    dists = sorted({d for spec in EXPORTERS.values() for d in spec.distributions} | {"onnx", "numpy"})
    code = glob.glob(os.path.join(ZOO_DIR, "**", "*.py"), recursive=True)
    code += glob.glob(os.path.join(ZOO_DIR, "*.yaml"))
    material = {"versions": {d: _installed_version(d) for d in dists}, "code": cache.hash_files(code),
                "python": platform.python_version()}
    return "zoo-export-" + cache.digest(material)[:20]


def _set_protobuf_backend(framework: str) -> None:
    # Must happen before anything imports google.protobuf (onnx does).
    if EXPORTERS[framework].pure_python_protobuf:
        os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    else:
        os.environ.pop("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zoo.export", description=__doc__.split("\n")[1])
    ap.add_argument("--cache-key", action="store_true", help="print the whole export cache's key and exit")
    ap.add_argument("--framework", choices=sorted(EXPORTERS))
    ap.add_argument("--model")
    ap.add_argument("--opset", type=int, action="append", default=[],
                    help="ONNX opset (repeatable: one build, every opset; default 13)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--out", help="write the case here (no caching)")
    where.add_argument("--cache-dir", help="content-addressed cache root; reuse a matching case")
    ap.add_argument("--catalogue", default=catalogue.CATALOGUE_PATH, help="catalogue file (tests use edited copies)")
    ap.add_argument("--no-exporter-patches", action="store_true",
                    help="export with the stock exporters (zoo/frameworks/patches not applied)")
    args = ap.parse_args(argv)
    if args.cache_key:
        print(export_cache_key())
        return 0
    if not (args.framework and args.model and (args.out or args.cache_dir)):
        ap.error("--framework, --model and one of --out / --cache-dir are required")
    if args.no_exporter_patches:
        os.environ[patches.ENV] = "0"
    _set_protobuf_backend(args.framework)
    opsets = list(dict.fromkeys(args.opset or [13]))
    try:
        cell = catalogue.load(args.catalogue).cell(args.framework, args.model)
    except (KeyError, catalogue.CatalogueError) as e:
        print(json.dumps({"ok": False, "stage": "build", "error": str(e.args[0]), "traceback": ""}))
        return 2
    answers = export_many(cell, opsets, args.seed, args.cache_dir, args.out,
                          report=lambda a: _protocol({"event": "export", **a}))
    ok = all(a["ok"] for a in answers)
    if len(answers) == 1:
        print(json.dumps({k: v for k, v in answers[0].items() if k != "opset"}))
    else:
        print(json.dumps({"ok": ok, "results": [{k: v for k, v in a.items() if k != "traceback"}
                                                for a in answers]}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
