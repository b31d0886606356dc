"""Typed signatures (the zoo's second tier, zoo/signatures.py): the catalogue schema of
`inputs:`, the seeded inputs made from it, the documented flat output order, integer outputs
compared exactly, and the export cache keys (a signature cell is keyed by zoo.signature_export;
the first tier's keys do not read any of it). No framework is imported; < 2 s."""
import copy
import os

import numpy as np
import pytest
import yaml

from converter.numerics import compare_output, compare_outputs
from harness import cases
from harness.export_stage import export_command
from harness.oneflow_side import parity_of
from harness.runner import output_rows
from zoo import catalogue, export, signature_export, signatures

BERT_INPUTS = [
    {"name": "input_ids", "kind": "ids", "shape": [2, 16], "vocab": 100, "padded_by": "attention_mask"},
    {"name": "attention_mask", "kind": "mask", "shape": [2, 16], "padding": [0, 5]},
    {"name": "token_type_ids", "kind": "segments", "shape": [2, 16]},
]


def _doc(inputs=None, framework="torch", builder="transformers", **cell):
    with open(catalogue.CATALOGUE_PATH) as f:
        doc = yaml.safe_load(f)
    node = {"builder": builder, "variant": "BertModel", "kwargs": {"hidden_size": 32}, **cell}
    if inputs is not None:
        node["inputs"] = copy.deepcopy(inputs)
    doc["models"] = {"bert_tiny": {"architecture": "BERT", "task": "text-encoder", "frameworks": {framework: node}}}
    return doc


def _cell(inputs=BERT_INPUTS, **cell):
    return catalogue.parse(_doc(inputs, **cell), "sig.yaml").cell("torch", "bert_tiny")


def _rejects(doc, *fragments):
    with pytest.raises(catalogue.CatalogueError) as info:
        catalogue.parse(doc, "sig.yaml")
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


# --- schema ----------------------------------------------------------------------------------

def test_a_signature_cell_parses_with_defaults_and_names_its_export_module():
    cell = _cell(outputs=["last_hidden_state", "pooler_output"])
    sig = cell.signature
    assert sig.names == ["input_ids", "attention_mask", "token_type_ids"]
    assert [i.dtype for i in sig.inputs] == ["int64"] * 3
    assert sig.inputs[1].padding == (0, 5) and cell.input is sig and sig.shape == (2, 16)
    assert cell.as_dict()["input"] == {"inputs": [
        {**BERT_INPUTS[0], "dtype": "int64"}, {**BERT_INPUTS[1], "dtype": "int64"}, {**BERT_INPUTS[2], "dtype": "int64"}]}
    row = cell.listing()
    assert row["export_module"] == "zoo.signature_export" and row["tier"] == 2
    assert "export_module" not in cell.as_dict()     # the listing's, not the export key's


def test_first_tier_rows_are_unchanged_by_the_schema():
    cat = catalogue.load()
    resnet = cat.cell("torch", "resnet50")
    assert resnet.signature is None and resnet.export_module == "zoo.export" and resnet.tier == 1
    assert "export_module" not in resnet.listing() and "inputs" not in resnet.as_dict()["input"]


@pytest.mark.parametrize("edit, fragments", [
    (lambda i: i[0].update(colour=1), ("inputs[0]", "'colour'")),
    (lambda i: i[0].update(kind="text"), ("inputs[0].kind", "'text'")),
    (lambda i: i[0].pop("vocab"), ("inputs[0]", "'vocab'")),
    (lambda i: i[0].update(vocab=1), ("inputs[0].vocab", ">= 2")),
    (lambda i: i[0].update(pad_id=100), ("inputs[0].pad_id", "outside the vocabulary")),
    (lambda i: i[0].update(dtype="float32"), ("inputs[0].dtype", "'float32'")),
    (lambda i: i[0].update(padding=[1, 1]), ("inputs[0]", "'padding'")),       # not a key of ids
    (lambda i: i[1].update(padding=[0]), ("inputs[1].padding", "one count of trailing zeros per row")),
    (lambda i: i[1].update(padding=[0, 16]), ("inputs[1].padding", "no row is all padding")),
    (lambda i: i[1].update(shape=[2, 4, 4]), ("inputs[1].shape", "[batch, sequence]")),
    (lambda i: i[0].update(padded_by="token_type_ids"), ("inputs[0].padded_by", "not a mask input")),
    (lambda i: i[2].update(shape=[3, 16]), ("sig.yaml: models.bert_tiny.frameworks.torch.inputs", "batch size")),
    (lambda i: i[2].update(name="input_ids"), ("inputs", "input names repeat")),
    (lambda i: i[2].update(name="token type"), ("inputs[2].name", "not an input name")),
    (lambda i: i[2].update(split=17), ("inputs[2].split", "past the sequence length")),
])
def test_typed_inputs_are_checked(edit, fragments):
    inputs = copy.deepcopy(BERT_INPUTS)
    edit(inputs)
    _rejects(_doc(inputs), *fragments)


def test_a_signature_is_one_or_the_other_and_torch_only_so_far():
    _rejects(_doc(BERT_INPUTS, input={"shape": [1, 3, 8, 8]}), "no `input`")
    _rejects(_doc([]), "non-empty list of typed inputs")
    _rejects(_doc(None), "frameworks.torch.builder", "transformers models take typed `inputs`")
    _rejects(_doc(BERT_INPUTS, framework="paddle", builder="paddle.vision"), "paddle exporter", "no typed signature")
    image = [{"name": "image", "kind": "float", "shape": [1, 3, 8, 8], "range": [1.0, -1.0]}]
    _rejects(_doc(image, builder="torchvision"), "inputs[0].range", "low < high")


# --- inputs ----------------------------------------------------------------------------------

def test_inputs_are_typed_seeded_and_padded():
    sig = _cell().signature
    ids, mask, types = signatures.make_inputs(sig, seed=0)
    assert [a.dtype for a in (ids, mask, types)] == [np.int64] * 3
    assert mask.tolist() == [[1] * 16, [1] * 11 + [0] * 5]
    assert types.tolist() == [[0] * 8 + [1] * 8] * 2
    assert (ids[mask == 0] == 0).all() and (ids[mask == 1] >= 1).all() and (ids < 100).all()
    assert len(np.unique(ids)) > 5                                    # not constant
    again = signatures.make_inputs(sig, seed=0)
    assert all((a == b).all() for a, b in zip(again, (ids, mask, types)))
    assert not (signatures.make_inputs(sig, seed=1)[0] == ids).all()


def test_an_input_added_at_the_end_leaves_the_others_alone():
    two = catalogue.parse(_doc(BERT_INPUTS[:2]), "sig.yaml").cell("torch", "bert_tiny").signature
    three = _cell().signature
    for a, b in zip(signatures.make_inputs(two, 3), signatures.make_inputs(three, 3)):
        assert (a == b).all()


def test_a_calibration_batch_repeats_the_padding_and_floats_keep_their_range():
    sig = _cell().signature
    _, mask, _ = signatures.make_inputs(sig, seed=1, batch=3)
    assert mask.shape == (3, 16) and mask.sum(axis=1).tolist() == [16, 11, 16]
    image = signatures.Signature((signatures.TypedInput("image", "float", (1, 3, 4, 4), "float32", (0.0, 2.0)),))
    (x,) = signatures.make_inputs(image, seed=0)
    assert x.dtype == np.float32 and x.shape == (1, 3, 4, 4) and 0.0 <= x.min() and x.max() < 2.0


# --- named dynamic dims ----------------------------------------------------------------------

def _with_axes(inputs=BERT_INPUTS):
    out = copy.deepcopy(inputs)
    for item in out:
        item["axes"] = ["batch", "sequence"]
    return out


def test_named_dims_are_dynamic_axes_and_sizes_remake_the_inputs_there():
    cell = _cell(_with_axes(), sizes=[{"batch": 3, "sequence": 9}])
    sig = cell.signature
    assert sig.dims() == {"batch": 2, "sequence": 16} and sig.sizes == ({"batch": 3, "sequence": 9},)
    assert sig.dynamic_axes()["attention_mask"] == {0: "batch", 1: "sequence"}
    assert cell.as_dict()["input"]["sizes"] == [{"batch": 3, "sequence": 9}]
    ids, mask, types = signatures.make_inputs(sig, seed=0, dims={"batch": 3, "sequence": 9})
    assert ids.shape == mask.shape == types.shape == (3, 9)
    assert mask.tolist() == [[1] * 9, [1] * 4 + [0] * 5, [1] * 9]    # padding repeats over the rows
    assert (ids[mask == 0] == 0).all() and types.tolist()[0] == [0] * 4 + [1] * 5
    short = signatures.make_inputs(sig, seed=0, dims={"sequence": 4})[1]
    assert short.tolist() == [[1] * 4, [1, 0, 0, 0]]                   # never a row of padding only
    # a signature without sizes keys exactly as before: no "sizes" entry
    assert "sizes" not in _cell(_with_axes()).as_dict()["input"]


@pytest.mark.parametrize("edit, sizes, fragments", [
    (lambda i: i[0].update(axes=["batch"]), None, ("inputs[0].axes", "a dim name or null per dim")),
    (lambda i: i[0].update(axes=[None, None]), None, ("inputs[0].axes", "at least one name")),
    (lambda i: i[2].update(axes=["batch", "batch"]), None, ("inputs[2].axes", "dim 'batch' is 2")),
    (lambda i: None, [{"time": 3}], ("sizes[0]", "'time'")),
    (lambda i: None, [{"batch": 0}], ("sizes[0].batch", ">= 1")),
    (lambda i: None, [{"batch": 2, "sequence": 16}], ("sizes[0]", "repeats a size")),
    (lambda i: None, [], ("sizes", "non-empty list")),
])
def test_named_dims_and_sizes_are_checked(edit, sizes, fragments):
    inputs = _with_axes()
    edit(inputs)
    _rejects(_doc(inputs, **({} if sizes is None else {"sizes": sizes})), *fragments)


def test_sizes_need_typed_inputs():
    with open(catalogue.CATALOGUE_PATH) as f:
        doc = yaml.safe_load(f)
    doc["models"]["resnet50"]["frameworks"]["torch"]["sizes"] = [{"batch": 2}]
    _rejects(doc, "models.resnet50.frameworks.torch.sizes", "typed `inputs`")


# --- outputs ---------------------------------------------------------------------------------

def test_outputs_flatten_depth_first_and_are_named_by_their_path():
    out = {"last_hidden_state": 1, "pooler_output": None, "hidden": (2, [3, None]), "extra": {"a": 4}}
    assert signatures.flatten(out) == [("last_hidden_state", 1), ("hidden.0", 2), ("hidden.1.0", 3), ("extra.a", 4)]
    assert signatures.flatten((5, 6)) == [("output_0", 5), ("output_1", 6)]
    assert signatures.flatten(7) == [("output_0", 7)]


def test_integer_outputs_compare_exactly_in_the_harness_gates():
    ref = np.array([1000, 2, 3], dtype=np.int64)
    off_by_one = np.array([1001, 2, 3], dtype=np.int64)
    # the float rule would accept 1001 for 1000 at rtol 1e-3; integers are labels and indices
    assert compare_output("labels", off_by_one, ref).passed
    row = compare_output("labels", off_by_one, ref, atol=10.0, exact_integers=True)
    assert not row.passed and row.max_abs == 1.0 and row.min_atol == float("inf")
    assert "1 of 3 integer elements differ" in row.error
    assert compare_output("labels", ref.copy(), ref, exact_integers=True).passed
    rows = parity_of({"labels": off_by_one, "scores": np.ones(3, np.float32)},
                     {"labels": ref, "scores": np.ones(3, np.float32)}, 1e-3, 1e-5, False)
    assert [(r["name"], r["passed"]) for r in rows] == [("labels", False), ("scores", True)]


def test_several_outputs_are_compared_one_by_one_and_recorded_by_name():
    ref = {"last_hidden_state": np.zeros((2, 3), np.float32), "pooler_output": np.ones(2, np.float32)}
    act = {"last_hidden_state": np.zeros((2, 3), np.float32), "pooler_output": np.ones(2, np.float32) + 1e-2}
    rows = [r.to_dict() for r in compare_outputs(act, ref, check_dtype=True, exact_integers=True)]
    assert [(r["name"], r["passed"]) for r in rows] == [("last_hidden_state", True), ("pooler_output", False)]
    recorded = output_rows({"ort_parity": rows[:1], "oneflow_vs_ort_outputs": rows})
    assert recorded["last_hidden_state"]["ort_vs_source"]["ok"] and "ort_vs_source" not in recorded["pooler_output"]
    assert recorded["pooler_output"]["oneflow_vs_ort"]["ok"] is False


# --- export keys and the harness's command ---------------------------------------------------

def test_signature_keys_extend_the_export_key_and_the_first_tier_reads_none_of_it():
    cell = _cell()
    key = signature_export.case_key(cell, 13, 0)
    base = export.case_key(cell, 13, 0)
    assert {k: v for k, v in key.items() if k != "signature"} == base
    assert set(key["signature"]) == {"versions", "code"} and "transformers" in key["signature"]["versions"]
    # the first tier's keys hash zoo.export's files only: nothing of the second tier
    first = catalogue.load().cell("torch", "resnet50")
    files = {os.path.basename(f) for f in export.EXPORTERS["torch"].code_files(first.builder, first.framework)}
    assert files == {"torch_exporter.py", "export.py", "inputs.py"}
    assert "signature" not in export.case_key(first, 13, 0)
    with pytest.raises(ValueError, match="no typed signature"):
        signature_export.case_key(first, 13, 0)


def test_the_harness_exports_a_signature_cell_with_its_module(tmp_path):
    row = _cell().listing()
    case = cases.case_from_cell(row, 13, "cpu")
    assert case.export_module == "zoo.signature_export" and not case.classifier
    assert export_command(case, str(tmp_path))[1:3] == ["-m", "zoo.signature_export"]
    first = cases.case_from_cell(catalogue.load().cell("torch", "resnet50").listing(), 13, "cpu")
    assert export_command(first, str(tmp_path))[1:3] == ["-m", "zoo.export"]


# --- one real export (PyTorch + transformers, ~20 s) -----------------------------------------

@pytest.mark.torch
def test_bert_exports_its_typed_signature_in_a_torch_only_process(zoo_cache_dir):
    """python -m zoo.signature_export: the ONNX graph takes the catalogue's named int64 inputs
    and gives the outputs by path; transformers brought no other framework into the process
    (it imports TensorFlow when it finds it); ORT matches the source."""
    import json

    from zoo_export_checks import assert_matches_ort, export_cell

    case_dir = export_cell("torch", "bert_tiny", zoo_cache_dir)
    with open(os.path.join(case_dir, "meta.json")) as f:
        meta = json.load(f)
    assert meta["input_names"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert meta["output_names"] == ["last_hidden_state", "pooler_output"]
    assert meta["frameworks_in_process"] == ["torch"] and meta["versions"]["transformers"]
    inputs = np.load(os.path.join(case_dir, "inputs.npz"))
    assert {inputs[n].dtype for n in meta["input_names"]} == {np.dtype("int64")}
    assert inputs["attention_mask"].sum(axis=1).tolist() == [16, 11]
    assert len(assert_matches_ort(case_dir)) == 2


def test_a_case_and_its_bundle_name_the_same_size_files():
    from harness.oneflow_side import size_files

    files = [{"dims": {"batch": 3}, "inputs": "inputs_size1.npz", "expected": "expected_size1.npz"}]
    assert size_files({"sizes": files}) == files                      # the case's meta.json
    record = {"sizes": {"batch=3": {"dims": {"batch": 3}}}, "export_meta": {"sizes": files}}
    assert size_files(record) == files                                # a bundle's meta.json: the record
    assert size_files({}) == [] and size_files({"sizes": {"batch=3": {}}}) == []
