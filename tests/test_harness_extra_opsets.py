"""A cell's extra opsets (zoo/catalogue.yaml `extra_opsets`, e.g. the seed's OneFlow2ONNX list
at opset 10): the matrix without --opset runs them beside 11/13/17; an explicit --opset of an
extra opset selects only the cells naming it; other opsets keep selecting every cell."""
import pytest

from harness import cases
from harness.matrix import build_parser, selected_cases
from zoo import catalogue

CELLS = (
    {"framework": "torch", "model": "alexnet", "architecture": "AlexNet"},
    {"framework": "oneflow", "model": "alexnet", "architecture": "AlexNet", "extra_opsets": [10]},
    {"framework": "oneflow", "model": "vgg16", "architecture": "VGG"},
)


def ids(selected):
    return [c.case_id for c in selected]


def test_the_matrix_default_adds_each_cells_extra_opsets():
    assert ids(cases.select(opsets=cases.MATRIX_OPSETS, cells=CELLS, with_extra=True)) == [
        "torch-alexnet-opset11-cpu", "torch-alexnet-opset13-cpu", "torch-alexnet-opset17-cpu",
        "oneflow-alexnet-opset11-cpu", "oneflow-alexnet-opset13-cpu", "oneflow-alexnet-opset17-cpu",
        "oneflow-alexnet-opset10-cpu",
        "oneflow-vgg16-opset11-cpu", "oneflow-vgg16-opset13-cpu", "oneflow-vgg16-opset17-cpu"]
    # an explicit opset list (and the pytest options' default, 13) adds none
    assert ids(cases.select(opsets=[13], cells=CELLS)) == [
        "torch-alexnet-opset13-cpu", "oneflow-alexnet-opset13-cpu", "oneflow-vgg16-opset13-cpu"]


def test_an_explicit_extra_opset_selects_only_the_cells_naming_it():
    assert ids(cases.select(opsets=[10], cells=CELLS)) == ["oneflow-alexnet-opset10-cpu"]
    assert ids(cases.select(opsets=[10, 13], frameworks=["oneflow"], cells=CELLS)) == [
        "oneflow-alexnet-opset10-cpu", "oneflow-alexnet-opset13-cpu", "oneflow-vgg16-opset13-cpu"]
    assert ids(cases.select(opsets=[10], frameworks=["torch"], cells=CELLS)) == []
    # an opset no cell names is an opset of every cell, as before
    assert len(cases.select(opsets=[12], cells=CELLS)) == 3
    assert [c["model"] for c in cases.cells_at(CELLS, 10)] == ["alexnet"]
    assert len(cases.cells_at(CELLS, 13)) == 3


def test_naming_a_matrix_opset_as_extra_is_an_error():
    bad = CELLS + ({"framework": "paddle", "model": "alexnet", "extra_opsets": [10, 13]},)
    with pytest.raises(cases.CatalogueError, match=r"paddle/alexnet: extra_opsets \[10, 13\] names a matrix opset"):
        cases.select(cells=bad)


def test_the_catalogue_runs_the_seeds_oneflow2onnx_list_at_opset_10():
    """Issue: AlexNet, MobileNetV2 and ResNet50 of the OneFlow column at the article's opset 10,
    read through `python -m zoo list --json` as the harness reads it."""
    cells = cases.load_cells()
    at10 = [(c.framework, c.model) for c in cases.select(opsets=[10], cells=cells)]
    assert at10 == [("oneflow", "alexnet"), ("oneflow", "resnet50"), ("oneflow", "mobilenet_v2")]
    default = cases.select(opsets=cases.MATRIX_OPSETS, cells=cells, with_extra=True)
    assert len(default) == 3 * len(cells) + 3
    assert sorted((c.model, c.opset) for c in default if c.model == "alexnet" and c.framework == "oneflow") == [
        ("alexnet", 10), ("alexnet", 11), ("alexnet", 13), ("alexnet", 17)]
    # the export cache key (zoo/export.py, from as_dict) does not change with the opsets a cell runs at
    assert "extra_opsets" not in catalogue.cell("oneflow", "alexnet").as_dict()
    assert catalogue.cell("oneflow", "alexnet").listing()["extra_opsets"] == [10]


def test_python_m_harness_matrix_selects_them():
    def selected(*argv):
        return sorted((c.model, c.opset) for c in selected_cases(build_parser().parse_args(list(argv))))

    assert selected("--framework", "oneflow", "--model", "alexnet") == [
        ("alexnet", 10), ("alexnet", 11), ("alexnet", 13), ("alexnet", 17)]
    assert selected("--model", "alexnet", "--opset", "10") == [("alexnet", 10)]
    assert selected("--framework", "torch", "--model", "alexnet") == [("alexnet", 11), ("alexnet", 13), ("alexnet", 17)]
    assert selected("--framework", "oneflow", "--model", "vgg", "--opset", "10") == []
