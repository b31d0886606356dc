"""The PaddlePaddle column of the zoo: every paddle cell exports at opset 13 and ONNX Runtime
matches paddle's own outputs (onnx.checker included), plus the exporter's own guarantees.

Cost, measured on the shared 2-core machine (load ~15): the smoke cell (squeezenet1_1)
20-50 s on a cold cache; the exporter/definition checks ~1.5 min; the
full column (`-m slow`) ~21 min cold (27 exports, 20-70 s each), and the whole file runs in
~2 min with `-n 2` when ZOO_CACHE_DIR points at a warm cache.
"""
import numpy as np
import pytest

from zoo import catalogue
from zoo_export_checks import column_params, assert_matches_ort, export_cell

pytestmark = pytest.mark.paddle
# The checks that import paddle into the pytest process share one xdist worker: one import.
in_paddle_worker = pytest.mark.xdist_group("paddle-in-process")

# One paddle.vision model: the export path (paddle.jit.save + paddle2onnx) is the same for
# every builder. shufflenet_v1 (one of ours) runs with the rest under -m slow; the zoo builder
# is covered in make test by test_every_batchnorm_is_randomized_and_model_is_in_eval_mode
# (paddle_exporter.build("zoo", ...)) and the definitions' parameter counts.
SMOKE = ("squeezenet1_1",)

# Published parameter counts (millions) of the zoo definitions: a stand-in under a real name
# cannot hit these. Sources: each paper's table (RegNetX-400MF 5.2M, DPN-68 12.6M, ...).
PAPER_PARAMS_M = {
    "resnet50_v2": 25.6, "se_resnet50": 28.1, "se_resnext50_32x4d": 27.6, "res2net50_26w_4s": 25.7,
    "regnetx_400mf": 5.2, "efficientnet_b0": 5.3, "shufflenet_v1_g3_x1_0": 1.9, "xception": 22.9,
    "xception65": 40.1, "dpn68": 12.6, "darknet53": 41.6, "ghostnet_x1_0": 5.2, "repvgg_a0": 9.1,
    "unet": 31.0, "vit_b_16": 86.6,
}
BIG_DEFINITIONS = {"vit_b_16", "unet", "xception65", "darknet53"}


@pytest.mark.parametrize("model", column_params("paddle", SMOKE))
def test_paddle_cell_exports_and_matches_ort(model, zoo_cache_dir):
    case = export_cell("paddle", model, zoo_cache_dir, opset=13)
    assert_matches_ort(case)


@in_paddle_worker
def test_every_zoo_variant_in_the_catalogue_is_registered():
    from zoo.models.paddle import names

    wanted = {c.variant for c in catalogue.cells(framework="paddle") if c.builder == "zoo"}
    assert wanted <= set(names()), wanted - set(names())
    assert set(PAPER_PARAMS_M) == set(names())


@in_paddle_worker
@pytest.mark.parametrize("variant", [
    pytest.param(v, marks=[pytest.mark.slow] if v in BIG_DEFINITIONS else [], id=v)
    for v in sorted(PAPER_PARAMS_M)])
def test_zoo_definition_has_the_papers_parameter_count(variant):
    from zoo.models.paddle import create

    model = create(variant)
    params = sum(int(np.prod(p.shape)) for p in model.parameters()) / 1e6
    assert params == pytest.approx(PAPER_PARAMS_M[variant], abs=0.1)


@in_paddle_worker
def test_every_batchnorm_is_randomized_and_model_is_in_eval_mode():
    import paddle
    from zoo.frameworks import paddle_exporter

    # densenet uses the legacy nn.BatchNorm, the rest of paddle.vision nn.BatchNorm2D.
    for builder, variant in (("paddle.vision", "densenet121"), ("zoo", "ghostnet_x1_0")):
        model = paddle_exporter.build(builder, variant, seed=0)
        bns = [m for m in model.sublayers() if isinstance(m, paddle_exporter._batchnorm_types())]
        assert bns and not model.training
        for bn in bns:
            assert not np.allclose(bn._mean.numpy(), 0) and not np.allclose(bn._variance.numpy(), 1)
            assert not np.allclose(bn.weight.numpy(), 1) and not np.allclose(bn.bias.numpy(), 0)
    # Seeded: the same seed rebuilds the same weights, another seed does not.
    first, again, other = (paddle_exporter.build("zoo", "ghostnet_x1_0", seed=s).state_dict() for s in (0, 0, 1))
    assert all(np.array_equal(v.numpy(), first[k].numpy()) for k, v in again.items())
    assert not all(np.array_equal(v.numpy(), first[k].numpy()) for k, v in other.items())


@in_paddle_worker
def test_calibrate_measures_bn_stats_and_tames_activation_growth():
    import dataclasses

    from zoo.frameworks import paddle_exporter
    from zoo.inputs import make_inputs

    cell = catalogue.cell("paddle", "se_resnet50")
    x = make_inputs(cell.input, seed=0)
    model = paddle_exporter.build(cell.builder, cell.variant, seed=0)
    blind = np.abs(paddle_exporter.run(model, x)[0]).max()
    bns = [m for m in model.sublayers() if isinstance(m, paddle_exporter._batchnorm_types())]
    blind_means = [bn._mean.numpy().copy() for bn in bns]
    batch = make_inputs(dataclasses.replace(cell.input, shape=(2, 3, 224, 224)), seed=1)
    model = paddle_exporter.calibrate(model, batch, seed=0)
    assert not model.training and all(bn._momentum == 0.9 for bn in bns)
    assert all(not np.allclose(m, bn._mean.numpy()) for m, bn in zip(blind_means, bns))
    # Blind stats let 16 residual blocks compound (logits ~400); measured ones do not.
    assert blind > 100 and np.abs(paddle_exporter.run(model, x)[0]).max() < 20


@in_paddle_worker
def test_unknown_variants_are_clear_errors():
    from zoo.frameworks import paddle_exporter

    with pytest.raises(ValueError, match="paddle.vision.models has no model 'resnet51'"):
        paddle_exporter.build("paddle.vision", "resnet51", seed=0)
    with pytest.raises(KeyError, match="no paddle zoo model 'resnet51'"):
        paddle_exporter.build("zoo", "resnet51", seed=0)
    with pytest.raises(ValueError, match="unknown PaddlePaddle builder 'keras'"):
        paddle_exporter.build("keras", "resnet50", seed=0)


@in_paddle_worker
def test_paddle2onnx_failure_becomes_a_typed_error(tmp_path):
    # A program paddle2onnx cannot read: its child process fails, we raise with its message.
    from zoo.frameworks import paddle_exporter

    prefix = tmp_path / "model"
    (tmp_path / "model.json").write_text("{not a program")
    (tmp_path / "model.pdiparams").write_bytes(b"")
    with pytest.raises(paddle_exporter.PaddleExportError, match="paddle2onnx .opset 13. failed") as info:
        paddle_exporter._paddle2onnx_in_child(str(prefix), str(tmp_path / "out.onnx"), 13)
    assert "Failed to convert PaddlePaddle model" in str(info.value)   # paddle2onnx's own words
    assert "\x1b[" not in str(info.value)
    assert not (tmp_path / "out.onnx").exists()
