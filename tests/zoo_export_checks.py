"""Shared by the zoo column tests: export a cell in its own process, check it with ONNX Runtime.

    case = export_cell("torch", "resnet50", cache_dir)      # subprocess: python -m zoo.export
    assert_matches_ort(case)                                # onnx.checker + ORT vs source outputs

The export cache is the root conftest's `zoo_cache_dir` fixture ($ZOO_CACHE_DIR when set,
else one per session): tests in one xdist group share its exports.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from harness.parity import compare
from harness.versions import framework_env
from zoo import catalogue

EXPORT_TIMEOUT = 1800  # vgg16/vit_b_16 on a loaded 2-core machine
# The xdist group of the tests reading the session's torch squeezenet1_1 opset-13 export
# (pyproject: --dist loadgroup): one worker, so one export. The root conftest puts the
# harness smoke case (that cell) in it under the same name.
TORCH_SMOKE_GROUP = "torch-squeezenet1_1-export"


def column_params(framework: str, smoke: tuple, smoke_group: str = None) -> list:
    """One pytest param per catalogue cell of ``framework`` (model id as the value).

    Only the ``smoke`` cells run in the default suite (in xdist group ``smoke_group`` if
    given); the rest are marked slow (the full column is what `make matrix` runs anyway).
    Exporter-side xfails are strict xfails; unavailable cells are left out.
    """
    params = []
    for cell in catalogue.cells(framework=framework):
        if cell.unavailable:
            continue
        marks = [getattr(pytest.mark, framework)] + [getattr(pytest.mark, m) for m in cell.marks]
        if cell.model not in smoke:
            marks.append(pytest.mark.slow)
        elif smoke_group:
            marks.append(pytest.mark.xdist_group(smoke_group))
        if cell.xfail and cell.xfail.stage in ("build", "export", "ort"):
            marks.append(pytest.mark.xfail(reason=cell.xfail.reason, strict=True))
        params.append(pytest.param(cell.model, marks=marks, id=cell.model))
    return params


def run_export(framework: str, model: str, *, cache_dir=None, out=None, opset: int = 13,
               seed: int = 0, catalogue_path=None) -> dict:
    """Run the cell's export CLI (zoo.export, or zoo.signature_export for a cell with typed
    inputs); return its last-line JSON plus the process's stderr."""
    try:
        cat = catalogue.load(str(catalogue_path)) if catalogue_path else None
        module = (cat.cell(framework, model) if cat else catalogue.cell(framework, model)).export_module
    except KeyError:
        module = "zoo.export"   # no such cell: zoo.export says so
    args = [sys.executable, "-m", module, "--framework", framework, "--model", model,
            "--opset", str(opset), "--seed", str(seed)]
    args += ["--cache-dir", str(cache_dir)] if cache_dir else ["--out", str(out)]
    if catalogue_path:
        args += ["--catalogue", str(catalogue_path)]
    proc = subprocess.run(args, capture_output=True, text=True, env=framework_env(framework),
                          timeout=EXPORT_TIMEOUT)
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no output from zoo.export (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1])
    result["returncode"], result["stderr"] = proc.returncode, proc.stderr
    return result


def export_cell(framework: str, model: str, cache_dir, opset: int = 13) -> str:
    result = run_export(framework, model, cache_dir=cache_dir, opset=opset)
    assert result["ok"], f"{framework}-{model} failed at {result['stage']}: {result['error']}\n{result['traceback'][-3000:]}"
    return result["dir"]


def assert_matches_ort(case_dir: str, device: str = "cpu") -> list:
    """onnx.checker passes and ORT's outputs match the source framework's within the cell's tolerance."""
    import onnx
    import onnxruntime as ort

    path = os.path.join(case_dir, "model.onnx")
    onnx.checker.check_model(path)
    with open(os.path.join(case_dir, "meta.json")) as f:
        meta = json.load(f)
    inputs = dict(np.load(os.path.join(case_dir, "inputs.npz")))
    expected = dict(np.load(os.path.join(case_dir, "expected.npz")))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    got = dict(zip(meta["output_names"], sess.run(meta["output_names"], inputs)))
    # The catalogue's tolerance, not meta.json's: a cached case keeps the one of its export time.
    tol = catalogue.cell(meta["framework"], meta["model"]).tolerance(device)
    results = [compare(name, got[name], expected[name], tol.rtol, tol.atol, meta["classifier"])
               for name in meta["output_names"]]
    bad = [r.to_dict() for r in results if not r.passed]
    assert not bad, f"ORT differs from {meta['framework']} beyond rtol={tol.rtol} atol={tol.atol}: {bad}"
    return results
