"""The PyTorch column: every torch cell exports at opset 13, passes onnx.checker and matches
ONNX Runtime within its tolerance.

Each case runs `python -m zoo.export` in its own process (~10-40 s on a loaded 2-core
machine; vgg16 and vit_b_16 more, marked slow/big). Set ZOO_CACHE_DIR to reuse exports
across runs. Deselect the column with `-m "not torch"`, the heavy cells with `-m "not slow"`.
"""
import pytest

from zoo import catalogue
from zoo_export_checks import assert_matches_ort, export_cell, zoo_cache_dir  # noqa: F401 (fixture)

MARKS = {"slow": pytest.mark.slow, "big": pytest.mark.slow}


def _params():
    for cell in catalogue.cells(framework="torch"):
        marks = [pytest.mark.torch] + [MARKS[m] for m in cell.marks]
        if cell.xfail and cell.xfail.stage in ("build", "export", "ort"):
            marks.append(pytest.mark.xfail(reason=cell.xfail.reason, strict=True))
        if cell.unavailable:
            marks.append(pytest.mark.skip(reason=f"unavailable: {cell.unavailable}"))
        yield pytest.param(cell.model, marks=marks, id=cell.model)


@pytest.mark.parametrize("model", list(_params()))
def test_torch_cell_exports_and_matches_ort(model, zoo_cache_dir):  # noqa: F811
    case_dir = export_cell("torch", model, zoo_cache_dir)
    assert_matches_ort(case_dir)
