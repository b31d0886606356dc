"""The PyTorch column: every torch cell exports at opset 13, passes onnx.checker and matches
ONNX Runtime within its tolerance.

Each case runs `python -m zoo.export` in its own process (~10-40 s on a loaded 2-core
machine; vgg16 and vit_b_16 more). Only the SMOKE cell runs by default; `-m slow` runs the
rest. Its export lands in the session's cache, where the harness smoke case, the xdist-records,
vertical-slice and catalogue cache tests read it (one xdist group). Set ZOO_CACHE_DIR to reuse
exports across runs.
"""
import pytest

from zoo_export_checks import TORCH_SMOKE_GROUP, assert_matches_ort, column_params, export_cell

# One torchvision model: the torchvision builder and torch.onnx's export path. mobilenet_v2
# (depthwise convs) runs with the rest under -m slow: grouped Conv conversion is covered in
# make test by tests/test_ops_layers.py and the claimed light/shufflenet conformance case.
SMOKE = ("squeezenet1_1",)


@pytest.mark.parametrize("model", column_params("torch", SMOKE, TORCH_SMOKE_GROUP))
def test_torch_cell_exports_and_matches_ort(model, zoo_cache_dir):
    case_dir = export_cell("torch", model, zoo_cache_dir)
    assert_matches_ort(case_dir)
