"""Guards for the zoo catalogue (zoo/catalogue.yaml) and the export cache.

Cheap and always run: schema strictness, coverage of the 27 architectures by every source
framework, the `python -m zoo list` rows. The publish/race tests of the cache are pure file
work. One test exports torch squeezenet1_1 at 64x64 into a cache holding the session's
224x224 export of that cell (changed input spec: miss; then a hit); one runs a broken OneFlow
cell for the build-stage error.
"""
import copy
import json
import re
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from zoo import catalogue
from zoo_export_checks import TORCH_SMOKE_GROUP, export_cell, run_export

CAT = catalogue.load()


def _doc():
    with open(catalogue.CATALOGUE_PATH) as f:
        return yaml.safe_load(f)


def _rejects(doc, *fragments):
    with pytest.raises(catalogue.CatalogueError) as info:
        catalogue.parse(doc, "broken.yaml")
    message = str(info.value)
    assert message.startswith("broken.yaml: ")
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- schema ----------------------------------------------------------------------------------

def test_unknown_keys_rejected_at_every_level():
    doc = _doc()
    doc["extra"] = 1
    _rejects(doc, "<top level>", "'extra'")
    doc = _doc()
    doc["models"]["resnet50"]["colour"] = "red"
    _rejects(doc, "models.resnet50", "'colour'")
    doc = _doc()
    doc["models"]["resnet50"]["frameworks"]["torch"]["weights"] = "imagenet"
    _rejects(doc, "models.resnet50.frameworks.torch", "'weights'")
    doc = _doc()
    doc["models"]["resnet50"]["frameworks"]["torch"]["input"] = {"shape": [1, 3, 8, 8], "colour": 1}
    _rejects(doc, "models.resnet50.frameworks.torch.input", "'colour'")
    doc = _doc()
    doc["models"]["resnet50"]["frameworks"]["mxnet"] = {"builder": "gluon", "variant": "resnet50"}
    _rejects(doc, "models.resnet50.frameworks", "'mxnet'")


def test_tolerance_and_xfail_need_a_reason():
    doc = _doc()
    doc["models"]["resnet50"]["frameworks"]["torch"]["tolerance"] = {"rtol": 1e-2, "atol": 1e-4}
    _rejects(doc, "models.resnet50.frameworks.torch.tolerance", "'reason'")
    doc["models"]["resnet50"]["frameworks"]["torch"]["tolerance"] = {"rtol": 1e-2, "atol": 1e-4, "reason": " "}
    _rejects(doc, "tolerance.reason", "non-empty")
    doc = _doc()
    doc["models"]["resnet50"]["frameworks"]["torch"]["xfail"] = {"stage": "export"}
    _rejects(doc, "models.resnet50.frameworks.torch.xfail", "'reason'")
    doc["models"]["resnet50"]["frameworks"]["torch"]["xfail"] = {"stage": "compile", "reason": "x"}
    _rejects(doc, "xfail.stage", "'compile'")


# The measured need a row was sized on, machine-readable (docs/design.md §4):
# "measured: atol 2.60e-5 at batch 1" — the smallest passing atol at the row's rtol, at that batch size.
MEASURED = re.compile(r"measured: atol (\d(?:\.\d+)?e-\d+) at batch (\d+)")
RESULTS_DIR = os.path.join(os.path.dirname(catalogue.CATALOGUE_PATH), "..", "reports", "results")


def measured_need(reason: str):
    """(atol, batch) the reason states, or None when it states none (or more than one)."""
    found = MEASURED.findall(reason)
    return (float(found[0][0]), int(found[0][1])) if len(found) == 1 else None


def row_batches(cell, tol) -> set:
    """The batch sizes a row judges: a batch-scoped converter row its batch; any other row the
    cell's own comparison (its input batch), and a converter row also each dynamic batch
    that no batch-scoped row of its device takes."""
    if tol.batch is not None:
        return {tol.batch}
    own = {cell.input.shape[0]}
    if tol.gate != "converter":
        return own
    scoped = {t.batch for t in cell.tolerances if t.gate == "converter" and t.device == tol.device and t.batch}
    return own | (set(cell.dynamic_batch) - scoped)


def committed_needs() -> dict:
    """(framework, model, gate, batch) -> the largest min passing atol the committed CPU results
    record for it, over every slice (opsets, modes). batch "own": the cell's own comparison, at
    its catalogue input's batch size (records do not name it)."""
    import glob

    needs: dict = {}
    for path in glob.glob(os.path.join(RESULTS_DIR, "*.jsonl")):
        for line in open(path):
            rec = json.loads(line)
            if rec.get("event") != "final" or rec["device"] != "cpu":
                continue
            gates = [("source", "own", rec.get("ort_vs_source")), ("converter", "own", rec.get("oneflow_vs_ort"))]
            gates += [("converter", int(b), g) for b, g in (rec.get("batches") or {}).items()]
            for gate, batch, g in gates:
                if g and g.get("min_atol") is not None:
                    key = (rec["framework"], rec["model"], gate, batch)
                    needs[key] = max(needs.get(key, 0.0), g["min_atol"])
    return needs


def tolerance_rule_violations(cells, needs) -> list:
    """Rows that break the 1.5x rule: no parseable measured need, a need the row does not
    cover or exceeds 1.5x, a batch the row does not judge, or (where the committed CPU results
    have the gate at that batch) more than 1.5x the committed need."""
    out = []
    for cell in cells:
        for tol in cell.tolerances:
            where = f"{cell.id} {tol.gate} row ({tol.device})"
            need = measured_need(tol.reason)
            if need is None:
                out.append(f"{where}: the reason states no 'measured: atol <x> at batch <n>'")
                continue
            atol, batch = need
            batches = row_batches(cell, tol)
            if batch not in batches:
                out.append(f"{where}: measured at batch {batch}, but the row judges batch {sorted(batches)}")
            if not atol <= tol.atol <= 1.5 * atol * (1 + 1e-9):
                out.append(f"{where}: atol {tol.atol:g} is not within [1, 1.5] x its measured need {atol:g}")
            if tol.device == "cuda":
                continue   # no CUDA results are committed yet
            for b in sorted(batches):
                found = [needs.get((cell.framework, cell.model, tol.gate, k))
                         for k in ([b, "own"] if b == cell.input.shape[0] else [b])]
                have = max((n for n in found if n is not None), default=None)
                if have is not None and tol.atol > 1.5 * have * (1 + 1e-9):
                    ratio = f"{tol.atol / have:.2f}x" if have > 0 else "more than 1.5x"
                    out.append(f"{where}: atol {tol.atol:g} is {ratio} the committed results' "
                               f"need at batch {b} ({have:.3g})")
    return out


def test_every_tolerance_row_is_within_1_5x_of_its_measured_need():
    """docs/design.md §4: an override is evidence, not a guess, and at most 1.5x the need it
    states and the need the committed results show, at every batch size it judges."""
    rows = [t for c in CAT.cells() for t in c.tolerances]
    assert rows, "the catalogue has no tolerance rows at all?"
    assert tolerance_rule_violations(CAT.cells(), committed_needs()) == []


def test_the_1_5x_rule_catches_loose_rows():
    import dataclasses

    cell = next(c for c in CAT.cells() if c.framework == "torch" and c.model == "shufflenet_v2_x1_0")
    (row,) = cell.tolerances
    needs = {("torch", "shufflenet_v2_x1_0", "converter", "own"): 1.9e-6,
             ("torch", "shufflenet_v2_x1_0", "converter", 1): 2.2e-6,
             ("torch", "shufflenet_v2_x1_0", "converter", 3): 1.26e-5}
    assert tolerance_rule_violations([cell], needs) == []
    # the same row for every batch size: 1.5e-5 at batch 1, which needs 2.2e-6
    unscoped = dataclasses.replace(cell, tolerances=(dataclasses.replace(row, batch=None),))
    assert "atol 1.5e-05 is 6.82x the committed results' need at batch 1 (2.2e-06)" in \
        " ".join(tolerance_rule_violations([unscoped], needs))
    for reason, message in (("needs about 1e-5", "states no 'measured: atol"),
                            ("measured: atol 9e-6 at batch 3", "not within [1, 1.5] x its measured need 9e-06"),
                            ("measured: atol 1.26e-5 at batch 2", "measured at batch 2, but the row judges batch [3]")):
        bad = dataclasses.replace(cell, tolerances=(dataclasses.replace(row, reason=reason),))
        assert message in " ".join(tolerance_rule_violations([bad], needs)), reason
    looser = {**needs, ("torch", "shufflenet_v2_x1_0", "converter", 3): 9e-6}
    assert "is 1.67x the committed results' need at batch 3" in " ".join(tolerance_rule_violations([cell], looser))


def test_xfail_rows_scope_opsets_and_tolerance_rows_their_gate():
    doc = _doc()
    cell = doc["models"]["resnet50"]["frameworks"]["torch"]
    cell["xfail"] = {"stage": "ort", "reason": "x", "opsets": [13, 99]}
    _rejects(doc, "models.resnet50.frameworks.torch.xfail.opsets", "99")
    cell["xfail"] = {"stage": "ort", "reason": "x", "opsets": []}
    _rejects(doc, "xfail.opsets", "non-empty")
    cell["xfail"] = [{"stage": "ort", "reason": "x", "opsets": [11, 13]}, {"stage": "export", "reason": "y"}]
    _rejects(doc, "xfail", "more than one xfail row applies at opset 11")
    cell["xfail"] = [{"stage": "export", "reason": "x", "opsets": [11]}, {"stage": "ort", "reason": "y", "opsets": [13]}]
    parsed = catalogue.parse(doc, "ok.yaml").cell("torch", "resnet50")
    assert [parsed.xfail_for(o) and parsed.xfail_for(o).stage for o in (11, 13, 17)] == ["export", "ort", None]
    cell.pop("xfail")
    cell["tolerance"] = {"rtol": 1e-3, "atol": 1e-4, "gate": "exporter", "reason": "1e-4 measured"}
    _rejects(doc, "tolerance.gate", "'exporter'")
    cell["tolerance"] = [{"rtol": 1e-3, "atol": 2e-5, "reason": "ORT needs 1.4e-5"},
                         {"rtol": 1e-3, "atol": 3e-5, "gate": "converter", "reason": "OneFlow vs ORT needs 2e-5"}]
    parsed = catalogue.parse(doc, "ok.yaml").cell("torch", "resnet50")
    assert parsed.tolerance("cpu").atol == 2e-5 and parsed.tolerance("cpu", "converter").atol == 3e-5


def test_extra_opsets_are_a_list_of_distinct_opsets_outside_the_export_key():
    doc = _doc()
    cell = doc["models"]["resnet50"]["frameworks"]["torch"]
    for bad, fragment in (([], "non-empty"), ([10, 99], "99"), ([10, 10], "listed twice"), (10, "10")):
        cell["extra_opsets"] = bad
        _rejects(doc, "models.resnet50.frameworks.torch.extra_opsets", fragment)
    cell["extra_opsets"] = [12, 10]
    parsed = catalogue.parse(doc, "ok.yaml").cell("torch", "resnet50")
    assert parsed.extra_opsets == (10, 12) and parsed.listing()["extra_opsets"] == [10, 12]
    # where a cell runs is not what it exports: as_dict() keys the export cache (zoo/export.py)
    assert parsed.as_dict() == catalogue.parse(_doc(), "ok.yaml").cell("torch", "resnet50").as_dict()


def test_values_are_checked():
    cases = [
        (("resnet50", "architecture"), "ResNet-50", "models.resnet50.architecture"),
        (("resnet50", "task"), "detection", "models.resnet50.task"),
        (("resnet50", "marks"), ["fast"], "models.resnet50.marks[0]"),
        (("vgg16", "architecture"), "ResNet", "one model id per architecture"),
    ]
    for (model, key), value, fragment in cases:
        doc = _doc()
        doc["models"][model][key] = value
        _rejects(doc, fragment)
    doc = _doc()
    doc["models"]["resnet50"]["frameworks"]["torch"]["builder"] = "keras"
    _rejects(doc, "frameworks.torch.builder", "'keras'")
    doc = _doc()
    doc["models"]["ResNet50"] = doc["models"].pop("resnet50")
    _rejects(doc, "models.ResNet50", "lowercase")
    doc = _doc()
    doc["models"]["resnet50"]["frameworks"]["torch"] = {"unavailable": "why", "builder": "timm"}
    _rejects(doc, "frameworks.torch", "'builder'")


def test_input_spec_merges_defaults_model_and_cell():
    doc = _doc()
    doc["models"]["resnet50"]["input"] = {"shape": [2, 3, 64, 64]}
    doc["models"]["resnet50"]["frameworks"]["torch"]["input"] = {"range": [0.0, 1.0]}
    cell = catalogue.parse(doc).cell("torch", "resnet50")
    assert cell.input == catalogue.InputSpec((2, 3, 64, 64), "NCHW", "float32", (0.0, 1.0))


def test_tolerance_per_device():
    doc = _doc()
    doc["models"]["resnet50"]["frameworks"]["torch"]["tolerance"] = [
        {"rtol": 1e-2, "atol": 1e-3, "device": "cuda", "reason": "cuDNN picks other algorithms"}]
    cell = catalogue.parse(doc).cell("torch", "resnet50")
    assert cell.tolerance("cuda").rtol == 1e-2
    assert cell.tolerance("cpu") == catalogue.DEFAULT_TOLERANCE


# --- the real catalogue ------------------------------------------------------------------------

def test_architectures_are_exactly_the_design_catalogue():
    """The first tier is the design's 27; the second tier's names are the catalogue's (issue 22)."""
    assert len(catalogue.ARCHITECTURES) == len(set(catalogue.ARCHITECTURES)) == 27
    assert not set(catalogue.ARCHITECTURES) & set(catalogue.SECOND_TIER_ARCHITECTURES)
    first = [a for a in CAT.architectures() if a in catalogue.ARCHITECTURES]
    assert sorted(first) == sorted(catalogue.ARCHITECTURES)
    assert sorted(set(CAT.architectures()) - set(first)) == sorted(catalogue.SECOND_TIER_ARCHITECTURES)


@pytest.mark.parametrize("framework", catalogue.SOURCE_FRAMEWORKS)
def test_every_architecture_has_a_cell_per_source_framework(framework):
    # The first tier is complete; the second tier has its PyTorch cells so far (issue 22 adds
    # the other columns, or their `unavailable` reasons).
    missing = [e.model for e in CAT.entries.values() if framework not in e.cells
               and (e.architecture in catalogue.ARCHITECTURES or framework == "torch")]
    assert not missing, f"no {framework} cell (nor an `unavailable` reason) for: {', '.join(missing)}"


def test_cells_filter_and_lookup():
    torch_cells = catalogue.cells(framework="torch")
    assert {c.model for c in torch_cells} == set(CAT.entries)
    assert [c.framework for c in catalogue.cells(model="inception_v3")][0] == "torch"
    assert catalogue.cell("torch", "inception_v3").input.shape == (1, 3, 299, 299)
    with pytest.raises(KeyError, match="no model 'resnet18'"):
        catalogue.cell("torch", "resnet18")


def test_zoo_list_json_has_one_row_per_cell():
    proc = subprocess.run([sys.executable, "-m", "zoo", "list", "--json"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == len(CAT.cells())
    assert {(r["framework"], r["model"]) for r in rows} == {(c.framework, c.model) for c in CAT.cells()}
    for key in ("architecture", "task", "builder", "variant", "marks", "tolerance", "xfail", "unavailable"):
        assert key in rows[0]


# --- export protocol and cache -----------------------------------------------------------------

SMALL = "squeezenet1_1"


def _small_catalogue(tmp_path, shape, framework="torch", builder="torchvision", variant="squeezenet1_1"):
    """The catalogue with one cell, ``SMALL``'s ``framework`` cell as in the real catalogue but
    for its input shape (and ``builder``/``variant``)."""
    doc = _doc()
    doc["models"] = {SMALL: copy.deepcopy(doc["models"][SMALL])}
    doc["models"][SMALL]["frameworks"] = {framework: {"builder": builder, "variant": variant,
                                                      "input": {"shape": shape}}}
    path = tmp_path / f"catalogue-{framework}-{'x'.join(map(str, shape))}-{variant}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.torch
@pytest.mark.xdist_group(TORCH_SMOKE_GROUP)
def test_cache_hit_then_invalidated_by_input_spec(tmp_path, zoo_cache_dir):
    # A cache holding the real catalogue's squeezenet1_1 (224x224): the session's export of
    # that cell (the torch column's smoke cell), copied.
    shared = export_cell("torch", SMALL, zoo_cache_dir)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    shutil.copytree(shared, cache_dir / os.path.basename(shared))

    # The same cell at 64x64 misses it: a new export, in its own entry.
    small = _small_catalogue(tmp_path, [1, 3, 64, 64])
    first = run_export("torch", SMALL, cache_dir=cache_dir, catalogue_path=small)
    assert first["ok"] and not first["cached"], first
    assert os.path.basename(first["dir"]) != os.path.basename(shared)
    keys = [json.loads(open(os.path.join(d, "cache_key.json")).read()) for d in (shared, first["dir"])]
    for key in keys:   # the input spec is the only difference between the two keys
        key["input"]["shape"] = key["entry"]["input"]["shape"] = None
    assert keys[0] == keys[1]
    meta = json.loads(open(os.path.join(first["dir"], "meta.json")).read())
    assert meta["frameworks_in_process"] == ["torch"]
    assert meta["shapes"][meta["input_names"][0]] == [1, 3, 64, 64]
    for key in ("architecture", "task", "opset", "seed", "versions", "seconds", "classifier", "tolerance"):
        assert key in meta

    again = run_export("torch", SMALL, cache_dir=cache_dir, catalogue_path=small)
    assert again["ok"] and again["cached"] and again["dir"] == first["dir"], again
    assert sorted(os.listdir(cache_dir)) == sorted({os.path.basename(shared), os.path.basename(first["dir"])})


@pytest.mark.oneflow   # zoo.export's build stage is framework-independent; OneFlow starts fastest (~3x torch)
def test_build_failure_is_reported_with_its_stage(tmp_path):
    broken = _small_catalogue(tmp_path, [1, 3, 64, 64], "oneflow", "flowvision", "no_such_flowvision_model")
    (tmp_path / "cache").mkdir()
    result = run_export("oneflow", SMALL, cache_dir=tmp_path / "cache", catalogue_path=broken)
    assert not result["ok"] and result["returncode"] == 1
    assert result["stage"] == "build"
    assert "no_such_flowvision_model" in result["error"]
    assert "Traceback" in result["traceback"]
    assert os.listdir(tmp_path / "cache") == []   # nothing published, nothing left behind


def test_unknown_model_is_a_clear_error():
    proc = subprocess.run([sys.executable, "-m", "zoo.export", "--framework", "torch", "--model", "resnet18",
                           "--out", "/nonexistent"], capture_output=True, text=True, timeout=120)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode != 0 and not result["ok"]
    assert "no model 'resnet18'" in result["error"]


def _fill(slot, marker):
    for name in ("model.onnx", "inputs.npz", "expected.npz", "meta.json"):
        with open(os.path.join(slot["tmp"], name), "w") as f:
            f.write(marker)


def test_cache_publish_is_atomic_and_the_first_writer_wins(tmp_path):
    from zoo import cache

    with cache.publishing(str(tmp_path), "case") as first:
        with cache.publishing(str(tmp_path), "case") as second:  # a concurrent worker, same case
            _fill(second, "second")
        assert not second["raced"]
        _fill(first, "first")
    assert first["raced"] and first["dir"] == second["dir"]
    assert open(os.path.join(first["dir"], "meta.json")).read() == "second"
    assert cache.lookup(str(tmp_path), "case") == first["dir"]
    assert os.listdir(tmp_path) == ["case"]  # no temporary directories left behind


def test_cache_failed_export_publishes_nothing(tmp_path):
    from zoo import cache

    with pytest.raises(RuntimeError):
        with cache.publishing(str(tmp_path), "case") as slot:
            _fill(slot, "half")
            raise RuntimeError("exporter crashed")
    assert os.listdir(tmp_path) == []
    assert cache.lookup(str(tmp_path), "case") is None


def test_a_batch_scoped_row_is_a_converter_row_at_a_dynamic_batch():
    doc = _doc()
    cell = doc["models"]["shufflenet_v2_x1_0"]["frameworks"]["torch"]
    row = dict(cell["tolerance"])
    cell["tolerance"] = {**row, "batch": 2}
    _rejects(doc, "tolerance.batch", "dynamic_batch sizes [1, 3], got batch 2")
    cell["tolerance"] = {k: v for k, v in {**row, "batch": 3}.items() if k != "gate"}
    _rejects(doc, "tolerance.batch", "got batch 3 (gate source)")
    cell["tolerance"] = {**row, "batch": 3}
    parsed = next(c for c in catalogue.parse(doc, "ok.yaml").cells()
                  if (c.framework, c.model) == ("torch", "shufflenet_v2_x1_0"))
    assert parsed.tolerance("cpu", "converter") == catalogue.DEFAULT_TOLERANCE   # its batch only
    assert [t.batch for t in parsed.tolerances] == [3]
