"""Export a catalogue cell with a typed signature (`inputs:`, zoo/signatures.py) — the zoo's
second tier — in a process that imports only its source framework.

    python -m zoo.signature_export --framework F --model M --opset N [--opset N2 ...] (--out DIR | --cache-dir DIR) [--seed S]

The command line, the files (model.onnx, inputs.npz keyed by the ONNX input names,
expected.npz keyed by the output names, meta.json), the protocol lines and the last JSON line
are zoo.export's (zoo/export.py, whose case writer this module reuses); the harness runs this
module for a cell whose `python -m zoo list --json` row names it (``export_module``). What
differs is the build: several typed inputs made by zoo/signatures.py, and the framework's
signature exporter (``SIGNATURE_EXPORTERS``: the model wrapped so that its outputs are
flattened in the documented order).

Why a module of its own: zoo/export.py and zoo/inputs.py key the export cache of every cell
(docs/design.md §6), so the second tier lives beside them, not in them, and the first tier's
cached exports stay valid. A signature cell's key is zoo.export's key of that cell plus this
module, zoo/signatures.py, the framework's signature exporter and the versions of the model
libraries it uses (``case_key``).

Named dynamic dims (an input's ``axes``) are exported as symbolic dims; for each of the
signature's further ``sizes`` the case also holds ``inputs_size<k>.npz`` and the source's
outputs there, ``expected_size<k>.npz``, listed in meta.json's ``sizes``; process B runs the
same exported model on them (harness/oneflow_side.py).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from dataclasses import dataclass, field

from . import cache, catalogue, export, signatures
from .export import Built, StageError, _stage
from .inputs import check_outputs
from .vocabulary import DEFAULT_SEED

SIGNATURE_EXPORTERS = {
    # framework -> (module, model-library distributions that key the cache, zoo files it reads)
    "torch": ("zoo.frameworks.torch_signature", ("transformers",), ("frameworks/torch_signature.py",)),
}
CODE = ("signatures.py", "signature_export.py")


@dataclass
class SignatureBuilt(Built):
    """A build and its reference, plus (dims, inputs, source outputs) at each further size."""
    sizes: list = field(default_factory=list)


def case_key(cell, opset: int, seed: int) -> dict:
    """zoo.export's key of the cell (its exporter's versions and code, the catalogue row, the
    opset, the seed, the exporter patches) plus what only signature cells read."""
    if cell.signature is None:
        raise ValueError(f"{cell.id} has no typed signature: zoo.export exports it")
    module, dists, files = SIGNATURE_EXPORTERS[cell.framework]
    key = export.case_key(cell, opset, seed)
    key["signature"] = {
        "versions": {d: export._installed_version(d) for d in dists},
        "code": cache.hash_files(os.path.join(export.ZOO_DIR, f) for f in CODE + files),
    }
    return key


def build_cell(cell, seed: int = DEFAULT_SEED) -> SignatureBuilt:
    """Build ``cell`` and run it once on its typed inputs (its reference); raise StageError("build")."""
    if cell.unavailable:
        raise StageError("build", ValueError(f"{cell.id} is unavailable: {cell.unavailable}"))
    t0 = time.perf_counter()
    with _stage("build"):
        exporter = importlib.import_module(SIGNATURE_EXPORTERS[cell.framework][0])
        net = exporter.build(cell.builder, cell.variant, seed, cell.signature.names, **cell.kwargs)
        # BatchNorm statistics from a separate seeded batch of two (docs/design.md §4)
        net = exporter.calibrate(net, signatures.make_inputs(cell.signature, seed + 1, batch=2), seed)
        inputs = signatures.make_inputs(cell.signature, seed)
        expected = exporter.run(net, inputs)
        check_outputs(expected, [f"output {i}" for i in range(len(expected))])
        if isinstance(cell.outputs, int) and len(expected) != cell.outputs:
            raise ValueError(f"{cell.id}: the catalogue expects {cell.outputs} outputs, the model gave {len(expected)}")
        # the inputs and the source's outputs at each further size of the named dims
        sizes = []
        for binding in cell.signature.sizes:
            x = signatures.make_inputs(cell.signature, seed, dims=binding)
            y = exporter.run(net, x)
            check_outputs(y, [f"output {i} at {binding}" for i in range(len(y))])
            sizes.append((binding, x, y))
        prepared = exporter.prepare_export(net, inputs, cell.signature.dynamic_axes())
    return SignatureBuilt(exporter, net, inputs, expected, round(time.perf_counter() - t0, 3), prepared=prepared,
                          sizes=sizes)


def export_signature_case(cell, opset: int, out_dir: str, seed: int, built: Built) -> dict:
    """zoo.export's case (export.export_case) and, for each further size of the named dims,
    ``inputs_size<k>.npz`` and ``expected_size<k>.npz`` (keyed by the graph's input and output
    names), listed in meta.json's ``sizes`` as {"dims", "inputs", "expected"}."""
    meta = export.export_case(cell, opset, out_dir, seed, built)
    if built.sizes:
        import numpy as np

        meta["sizes"] = []
        for k, (binding, x, y) in enumerate(built.sizes, start=1):
            files = {"dims": dict(binding), "inputs": f"inputs_size{k}.npz", "expected": f"expected_size{k}.npz"}
            np.savez(os.path.join(out_dir, files["inputs"]), **dict(zip(meta["input_names"], x)))
            np.savez(os.path.join(out_dir, files["expected"]), **dict(zip(meta["output_names"], y)))
            meta["sizes"].append(files)
        with open(os.path.join(out_dir, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)
    return meta


def cached_export(cell, opset: int, cache_dir: str, seed: int, built: Built) -> tuple:
    """(case directory, cached?) — exports only when the content key misses."""
    key = case_key(cell, opset, seed)
    name = cache.case_name(cell.framework, cell.model, opset, seed, cache.digest(key))
    hit = cache.lookup(cache_dir, name)
    if hit:
        return hit, True
    with cache.publishing(cache_dir, name) as slot:
        export_signature_case(cell, opset, slot["tmp"], seed, built)
        with open(os.path.join(slot["tmp"], "cache_key.json"), "w") as f:
            json.dump(key, f, indent=2)
    return slot["dir"], False


class _LazyBuild:
    """One build for every opset of the process, made only when some opset misses the cache;
    a build error fails every remaining opset without building again (as zoo.export)."""

    def __init__(self, cell, seed: int):
        self.cell, self.seed, self.built, self.error = cell, seed, None, None

    def get(self) -> Built:
        if self.error:
            raise self.error
        if self.built is None:
            try:
                self.built = build_cell(self.cell, self.seed)
            except StageError as e:
                self.error = e
                raise
            export._protocol({"event": "built", "seconds": self.built.seconds})
        return self.built


def export_many(cell, opsets, seed: int = DEFAULT_SEED, cache_dir: str = None, out: str = None,
                report=lambda answer: None) -> list:
    """zoo.export.export_many for a signature cell: one answer per opset, as soon as known."""
    answers, build = [], _LazyBuild(cell, seed)
    for opset in opsets:
        export._protocol({"event": "stage", "stage": "export", "opset": opset})  # a fresh time budget
        try:
            if build.error:
                raise build.error
            if cache_dir:
                with _stage("build"):  # e.g. the framework's signature exporter is missing
                    key = case_key(cell, opset, seed)
                hit = cache.lookup(cache_dir, cache.case_name(cell.framework, cell.model, opset, seed,
                                                              cache.digest(key)))
                if hit:
                    answers.append(export._answered({"ok": True, "dir": os.path.abspath(hit), "cached": True},
                                                    opset, report))
                    continue
                out_dir, cached = cached_export(cell, opset, cache_dir, seed, build.get())
            else:
                out_dir, cached = (out if len(opsets) == 1 else os.path.join(out, f"opset{opset}")), False
                export_signature_case(cell, opset, out_dir, seed, build.get())
            answer = {"ok": True, "dir": os.path.abspath(out_dir), "cached": cached}
        except StageError as e:
            print(e.trace, file=sys.stderr)
            answer = {"ok": False, "stage": e.stage, "error": f"{type(e.error).__name__}: {e.error}",
                      "traceback": e.trace}
        answers.append(export._answered(answer, opset, report))
    return answers


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zoo.signature_export", description=__doc__.split("\n")[0])
    ap.add_argument("--framework", required=True, choices=sorted(SIGNATURE_EXPORTERS))
    ap.add_argument("--model", required=True)
    ap.add_argument("--opset", type=int, action="append", default=[],
                    help="ONNX opset (repeatable: one build, every opset; default 13)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="write the case here (no caching)")
    where.add_argument("--cache-dir", help="content-addressed cache root; reuse a matching case")
    ap.add_argument("--catalogue", default=catalogue.CATALOGUE_PATH, help="catalogue file (tests use edited copies)")
    ap.add_argument("--no-exporter-patches", action="store_true",
                    help="export with the stock exporters (zoo/frameworks/patches not applied)")
    args = ap.parse_args(argv)
    if args.no_exporter_patches:
        os.environ[export.patches.ENV] = "0"
    export._set_protobuf_backend(args.framework)
    opsets = list(dict.fromkeys(args.opset or [13]))
    try:
        cell = catalogue.load(args.catalogue).cell(args.framework, args.model)
        if cell.signature is None:
            raise KeyError(f"{cell.id} has no typed signature: export it with python -m zoo.export")
    except (KeyError, catalogue.CatalogueError) as e:
        print(json.dumps({"ok": False, "stage": "build", "error": str(e.args[0]), "traceback": ""}))
        return 2
    answers = export_many(cell, opsets, args.seed, args.cache_dir, args.out,
                          report=lambda a: export._protocol({"event": "export", **a}))
    ok = all(a["ok"] for a in answers)
    if len(answers) == 1:
        print(json.dumps({k: v for k, v in answers[0].items() if k != "opset"}))
    else:
        print(json.dumps({"ok": ok, "results": [{k: v for k, v in a.items() if k != "traceback"}
                                                for a in answers]}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
