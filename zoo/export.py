"""Export one catalogue cell to ONNX in a process that imports only its source framework.

    python -m zoo.export --framework F --model M --opset N (--out DIR | --cache-dir DIR) [--seed S]

Writes model.onnx, inputs.npz (keys = ONNX graph input names), expected.npz (keys = ONNX
graph output names; the source framework's own outputs) and meta.json. With --cache-dir
the case directory is content-addressed (zoo/cache.py) and a re-run reuses it. The last
stdout line is JSON: {"ok": true, "dir": ..., "cached": bool} or
{"ok": false, "stage": "build"|"export", "error": ..., "traceback": ...} (exit code 1).
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
from .inputs import check_outputs, make_inputs

DEFAULT_SEED = 0
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
            files.append(os.path.join(ZOO_DIR, "models", "registry.py"))
        return files


EXPORTERS = {
    "torch": ExporterSpec("zoo.frameworks.torch_exporter", ("torch", "torchvision", "timm")),
    "tensorflow": ExporterSpec("zoo.frameworks.tensorflow_exporter", ("tensorflow", "keras", "tf2onnx"),
                               pure_python_protobuf=True),
    "paddle": ExporterSpec("zoo.frameworks.paddle_exporter", ("paddlepaddle", "paddle2onnx")),
    "oneflow": ExporterSpec("zoo.frameworks.oneflow_exporter", ("oneflow", "flowvision", "oneflow-onnx"),
                            extra_code=("oneflow_compat.py",)),
}
SOURCE_MODULES = ("torch", "tensorflow", "paddle", "oneflow")


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
        # tolerance/xfail change how a case is judged, not its files: no re-export for them.
        "entry": {k: v for k, v in cell.as_dict().items() if k not in ("xfail", "tolerance")},
    }


def _tolerances(cell) -> dict:
    return {dev: cell.tolerance(dev).as_dict() for dev in ("cpu", "cuda")}


def _graph_io(onnx_path: str):
    import onnx

    graph = onnx.load(onnx_path, load_external_data=False).graph
    init_names = {t.name for t in graph.initializer}
    return ([i.name for i in graph.input if i.name not in init_names], [o.name for o in graph.output])


def export_case(cell, opset: int, out_dir: str, seed: int = DEFAULT_SEED) -> dict:
    """Build, run and export ``cell`` into ``out_dir``; raise StageError on failure."""
    if cell.unavailable:
        raise StageError("build", ValueError(f"{cell.id} is unavailable: {cell.unavailable}"))
    spec = EXPORTERS[cell.framework]
    os.makedirs(out_dir, exist_ok=True)
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
    built = time.perf_counter()
    with _stage("export"):
        import onnx

        onnx_path = os.path.join(out_dir, "model.onnx")
        exporter.export(net, inputs, onnx_path, opset)
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
        "seconds": {"build": round(built - t0, 3), "export": round(done - built, 3)},
        # Proof of isolation (DESIGN §2): the frameworks this export process imported.
        "frameworks_in_process": sorted(m for m in SOURCE_MODULES if m in sys.modules),
        "tolerance": _tolerances(cell),
        "xfail": cell.xfail.as_dict() if cell.xfail else None,
        "marks": list(cell.marks),
    }
    with open(os.path.join(out_dir, "meta.json"), "w") as f:  # last: marks the case complete
        json.dump(meta, f, indent=2)
    return meta


def cached_export(cell, opset: int, cache_dir: str, seed: int = DEFAULT_SEED) -> tuple:
    """(case directory, cached?) — exports only when the content key misses."""
    with _stage("build"):  # e.g. the framework's exporter module is missing
        key = case_key(cell, opset, seed)
    name = cache.case_name(cell.framework, cell.model, opset, seed, cache.digest(key))
    hit = cache.lookup(cache_dir, name)
    if hit:
        return hit, True
    with cache.publishing(cache_dir, name) as slot:
        export_case(cell, opset, slot["tmp"], seed)
        with open(os.path.join(slot["tmp"], "cache_key.json"), "w") as f:
            json.dump(key, f, indent=2)
    return slot["dir"], False


def _set_protobuf_backend(framework: str) -> None:
    # Must happen before anything imports google.protobuf (onnx does).
    if EXPORTERS[framework].pure_python_protobuf:
        os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    else:
        os.environ.pop("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zoo.export", description=__doc__.split("\n")[1])
    ap.add_argument("--framework", required=True, choices=sorted(EXPORTERS))
    ap.add_argument("--model", required=True)
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="write the case here (no caching)")
    where.add_argument("--cache-dir", help="content-addressed cache root; reuse a matching case")
    ap.add_argument("--catalogue", default=catalogue.CATALOGUE_PATH, help="catalogue file (tests use edited copies)")
    args = ap.parse_args(argv)
    _set_protobuf_backend(args.framework)
    try:
        cell = catalogue.load(args.catalogue).cell(args.framework, args.model)
    except (KeyError, catalogue.CatalogueError) as e:
        print(json.dumps({"ok": False, "stage": "build", "error": str(e.args[0]), "traceback": ""}))
        return 2
    try:
        if args.cache_dir:
            out_dir, cached = cached_export(cell, args.opset, args.cache_dir, args.seed)
        else:
            export_case(cell, args.opset, args.out, args.seed)
            out_dir, cached = args.out, False
    except StageError as e:
        print(e.trace, file=sys.stderr)
        print(json.dumps({"ok": False, "stage": e.stage, "error": f"{type(e.error).__name__}: {e.error}",
                          "traceback": e.trace}))
        return 1
    print(json.dumps({"ok": True, "dir": os.path.abspath(out_dir), "cached": cached}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
