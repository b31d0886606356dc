"""The OneFlow column of the zoo (the round trip's first half): every flowvision cell exports
through oneflow.nn.Graph + oneflow-onnx at opset 13, passes onnx.checker, and ONNX Runtime
matches OneFlow's own outputs; plus the exporter's own guarantees.

Cost (2-core machine, loaded): the smoke cell (squeezenet1_1) ~25 s on a cold cache; the
exporter checks ~50 s; the parameter counts of our definitions ~10 s (~30 s more with
`-m slow`); the full column (`-m slow`, 27 exports) ~25 min cold with -n 2
(oneflow-onnx takes 10 s to 4 min per model), seconds with ZOO_CACHE_DIR on a warm cache.
"""
import subprocess
import sys

import numpy as np
import pytest

from harness.versions import framework_env
from zoo import catalogue
from zoo_export_checks import column_params, assert_matches_ort, export_cell

pytestmark = pytest.mark.oneflow

SMOKE = ("squeezenet1_1",)  # small, and quick to export: alexnet takes 15-80 s for its 61M weights

# Published parameter counts (millions) of our definitions of what flowvision lacks
# (zoo/models/oneflow): a stand-in under a real name cannot hit these. Sources: each paper's
# table (MobileNetV1 4.2M, ShuffleNetV1 g=3 1.9M, Xception 22.9M, DPN-68 12.6M, RepVGG-A0 9.1M, ...);
# Xception-65 39.9M as timm's xception65 and our TensorFlow definition count it.
PAPER_PARAMS_M = {
    "resnet50_v2": 25.6, "mobilenet_v1": 4.2, "shufflenet_v1_g3_x1_0": 1.9, "xception": 22.9,
    "xception65": 39.9, "dpn68": 12.6, "darknet53": 41.6, "repvgg_a0": 9.1, "unet": 31.0,
}
BIG_DEFINITIONS = {"unet", "xception65", "darknet53"}


@pytest.mark.parametrize("model", column_params("oneflow", SMOKE))
def test_oneflow_cell_exports_and_matches_ort(model, zoo_cache_dir):
    case = export_cell("oneflow", model, zoo_cache_dir, opset=13)
    assert_matches_ort(case)


def test_every_flowvision_variant_in_the_catalogue_exists():
    from zoo.frameworks import oneflow_exporter  # noqa: F401 (applies the import shims)
    from flowvision.models import ModelCreator

    known = set(ModelCreator.model_list())
    wanted = {c.variant for c in catalogue.cells(framework="oneflow") if c.builder == "flowvision"}
    assert wanted and wanted <= known, wanted - known


def test_every_zoo_variant_in_the_catalogue_is_registered():
    from zoo.frameworks import oneflow_exporter  # noqa: F401 (applies the import shims)
    from zoo.models.oneflow import names

    wanted = {c.variant for c in catalogue.cells(framework="oneflow") if c.builder == "zoo"}
    assert wanted == set(names()) == set(PAPER_PARAMS_M)
    assert not [c.id for c in catalogue.cells(framework="oneflow") if c.unavailable]


@pytest.mark.parametrize("variant", [
    pytest.param(v, marks=[pytest.mark.slow] if v in BIG_DEFINITIONS else [], id=v)
    for v in sorted(PAPER_PARAMS_M)])
def test_zoo_definition_has_the_papers_parameter_count(variant):
    from zoo.frameworks import oneflow_exporter  # noqa: F401 (applies the import shims)
    from zoo.models.oneflow import create

    params = sum(int(np.prod(p.shape)) for p in create(variant).parameters()) / 1e6
    assert params == pytest.approx(PAPER_PARAMS_M[variant], abs=0.1)


def test_zoo_models_match_the_other_columns_outputs():
    """Same model id, same input, same output shape as the catalogue's other columns build."""
    import oneflow as flow
    from zoo.frameworks import oneflow_exporter

    for model, classes in (("shufflenet_v1", 1000), ("mobilenet_v1", 1000)):
        cell = catalogue.cell("oneflow", model)
        net = oneflow_exporter.build(cell.builder, cell.variant, seed=0)
        assert not net.training
        with flow.no_grad():
            y = net(flow.zeros(*cell.input.shape))
        assert tuple(y.shape) == (1, classes)


def test_every_batchnorm_is_randomized_seeded_and_model_is_in_eval_mode():
    import oneflow as flow
    from zoo.frameworks import oneflow_exporter

    model = oneflow_exporter.build("flowvision", "squeezenet1_1", seed=0)
    assert not model.training
    # squeezenet has no BatchNorm: check one that does, small enough to build quickly.
    model = oneflow_exporter.build("flowvision", "mobilenet_v2", seed=0)
    bns = [m for m in model.modules() if isinstance(m, flow.nn.BatchNorm2d)]
    assert bns and not model.training
    for bn in bns:
        assert not np.allclose(bn.running_mean.numpy(), 0) and not np.allclose(bn.running_var.numpy(), 1)
        assert not np.allclose(bn.weight.numpy(), 1) and not np.allclose(bn.bias.numpy(), 0)
    again = oneflow_exporter.build("flowvision", "mobilenet_v2", seed=0).state_dict()
    other = oneflow_exporter.build("flowvision", "mobilenet_v2", seed=1).state_dict()
    first = model.state_dict()
    assert all(np.array_equal(v.numpy(), first[k].numpy()) for k, v in again.items())
    assert not all(np.array_equal(v.numpy(), first[k].numpy()) for k, v in other.items())


def test_unknown_builder_and_variant_are_clear_errors():
    from zoo.frameworks import oneflow_exporter

    with pytest.raises(ValueError, match="unknown OneFlow builder 'timm'"):
        oneflow_exporter.build("timm", "resnet50", seed=0)
    with pytest.raises(ValueError, match="flowvision 0.2.2 has no model 'resnet51'"):
        oneflow_exporter.build("flowvision", "resnet51", seed=0)


# Exports squeezenet1_1 twice in one fresh process: first "plain" (oneflow-onnx's weight
# access as it is: cheapen_weight_access replaced by a no-op), then with the real one, which
# wraps oneflow-onnx's Graph for every later export.
_EXPORT = """
import sys, numpy as np
from zoo import oneflow_compat
from zoo.frameworks import oneflow_exporter
from oneflow_onnx.onnx_wrapper import Graph
cheapen = oneflow_compat.cheapen_weight_access
x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 224, 224)).astype("float32")
for path, access, cheapened in ((sys.argv[1], lambda: None, False), (sys.argv[2], cheapen, True)):
    oneflow_compat.cheapen_weight_access = access
    model = oneflow_exporter.build("flowvision", "squeezenet1_1", seed=0)
    oneflow_exporter.export(model, [x], path, 13)
    assert hasattr(Graph.get_saved_tensor, "__wrapped__") == cheapened, path
"""


def _canonical(path) -> bytes:
    """The model with every tensor renamed by first use and node names cleared: oneflow-onnx's
    generated names (const_fold_opt<N>) come from a counter that differs run to run."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    names = {}

    def rename(name):
        return names.setdefault(name, f"t{len(names)}") if name else ""

    for value in graph.input:
        value.name = rename(value.name)
    for node in graph.node:
        node.name = ""
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
    for value in list(graph.output) + list(graph.value_info):
        value.name = rename(value.name)
    for tensor in graph.initializer:
        tensor.name = rename(tensor.name)
    graph.initializer.sort(key=lambda t: t.name)
    return model.SerializeToString()


def test_cheapened_weight_access_exports_the_same_model(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _EXPORT, str(tmp_path / "plain.onnx"), str(tmp_path / "cheap.onnx")],
                          capture_output=True, text=True, env=framework_env("oneflow"), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _canonical(tmp_path / "plain.onnx") == _canonical(tmp_path / "cheap.onnx")
