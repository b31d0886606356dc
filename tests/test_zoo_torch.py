"""The PyTorch column: every torch cell exports at opset 13, passes onnx.checker and matches
ONNX Runtime within its tolerance.

Each case runs `python -m zoo.export` in its own process (~10-40 s on a loaded 2-core
machine; vgg16 and vit_b_16 more). Only the SMOKE cells run by default; `-m slow` runs the
rest. Set ZOO_CACHE_DIR to reuse exports across runs.
"""
import pytest

from zoo_export_checks import column_params, assert_matches_ort, export_cell, zoo_cache_dir  # noqa: F401 (fixture)

# One torchvision model and one with depthwise convs: quick; the rest run with -m slow.
SMOKE = ("squeezenet1_1", "mobilenet_v2")


@pytest.mark.parametrize("model", column_params("torch", SMOKE))
def test_torch_cell_exports_and_matches_ort(model, zoo_cache_dir):  # noqa: F811
    case_dir = export_cell("torch", model, zoo_cache_dir)
    assert_matches_ort(case_dir)
