"""The TensorFlow column of the zoo: every tensorflow cell exports at opset 13 through tf2onnx
and ONNX Runtime matches Keras' own outputs (onnx.checker included), plus the exporter's
own guarantees.

TensorFlow never runs inside the pytest process: it needs protobuf's pure-Python backend and
segfaults beside OneFlow (docs/design.md §2), so every check that imports it runs in a child process.
`import tensorflow` alone takes 20-40 s on a loaded 2-core machine, so the default suite starts
one: it runs the export CLI's main (zoo.export) for the smoke cell, then the exporter's checks
(the tests reading it are one xdist group, so that process runs once per session).

Cost, measured on the shared 2-core machine under load (load average 6-15): the smoke cell
(squeezenet1_1; mobilenet_v2 before it moved to -m slow) ~50 s on a cold cache; the exporter
checks 1.5-2 min. The full column
(`-m slow`) took 51 min cold, exporting one cell after another (tf2onnx is slow: vgg16 189 s,
se_resnet50 175 s, xception65 128 s), and 7 min with ZOO_CACHE_DIR warm, of which 4 min is
vit_b_16's export that fails as expected (a failed export is not cached).
"""
import json
import os
import subprocess
import sys

import pytest

from harness.versions import framework_env
from zoo import catalogue
from zoo_export_checks import column_params, assert_matches_ort, export_cell

pytestmark = pytest.mark.tensorflow
# The tests reading the module's TensorFlow process (exporter_facts) share one xdist worker;
# the slow cells export in their own processes and load-balance.
TF_PROCESS_GROUP = "tensorflow-process"
in_tf_process = pytest.mark.xdist_group(TF_PROCESS_GROUP)

# One keras.applications model and one of ours: quick, and they cover both builders.
SMOKE = ("squeezenet1_1",)   # mobilenet_v2 runs with the rest of the column (-m slow)

# Published parameter counts (millions, trainable weights only) of the zoo definitions: a
# stand-in under a real name cannot hit these. Sources: each paper's table or its reference
# implementation (GoogLeNet: the paper's 5x5 branch, 7.0M; torchvision's 3x3 one has 6.6M).
PAPER_PARAMS_M = {
    "alexnet": 61.1, "googlenet": 7.0, "squeezenet1_1": 1.2, "resnext50_32x4d": 25.0,
    "se_resnet50": 28.1, "se_resnext50_32x4d": 27.6, "res2net50_26w_4s": 25.7, "dpn68": 12.6,
    "darknet53": 41.6, "shufflenet_v1_g3_x1_0": 1.9, "shufflenet_v2_x1_0": 2.3,
    "ghostnet_1_0": 5.2, "repvgg_a0": 9.1, "regnetx_400mf": 5.2, "xception65": 39.9,
    "unet": 31.0, "vit_b_16": 86.6,
}
BIG_DEFINITIONS = {"alexnet", "vit_b_16", "unet", "xception65", "darknet53", "se_resnet50",
                   "se_resnext50_32x4d", "resnext50_32x4d", "res2net50_26w_4s", "dpn68"}
PROBE_TIMEOUT = 1200


@pytest.mark.parametrize("model", column_params("tensorflow", SMOKE, TF_PROCESS_GROUP))
def test_tensorflow_cell_exports_and_matches_ort(model, zoo_cache_dir, request):
    if model in SMOKE:   # exported by the module's TensorFlow process, through zoo.export's main
        answer = request.getfixturevalue("exporter_facts")["exports"][model]
        assert answer["ok"], f"tensorflow-{model} failed at {answer['stage']}: {answer['error']}\n{answer['traceback'][-3000:]}"
        case = answer["dir"]
    else:
        case = export_cell("tensorflow", model, zoo_cache_dir, opset=13)
    with open(os.path.join(case, "meta.json")) as f:
        meta = json.load(f)
    assert meta["frameworks_in_process"] == ["tensorflow"]     # docs/design.md §2 isolation
    assert meta["input_spec"]["layout"] == "NHWC"
    assert_matches_ort(case)


def _in_tensorflow_process(code: str) -> dict:
    """Run ``code`` in a fresh interpreter set up for TensorFlow; it prints one JSON line last."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=framework_env("tensorflow"), timeout=PROBE_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


_PARAM_COUNT_CODE = """
def trainable_params_m(variants):
    counts = {}
    for variant in variants:
        model = te.build("zoo", variant, seed=0)
        counts[variant] = sum(int(w.numpy().size) for w in model.trainable_weights) / 1e6
        keras.backend.clear_session()
    return counts
"""

_EXPORTER_PROBE = """
import contextlib, io, json
from zoo import export as zoo_export

exports = {}
for model in %r:   # first, as in a fresh export process: `python -m zoo.export` runs this main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        zoo_export.main(["--framework", "tensorflow", "--model", model, "--opset", "13", "--cache-dir", %r])
    exports[model] = json.loads(out.getvalue().strip().splitlines()[-1])

import numpy as np, keras
from zoo.frameworks import tensorflow_exporter as te
from zoo.models import tensorflow as tf_models
""" + _PARAM_COUNT_CODE + """
facts = {"exports": exports, "registered": tf_models.names(), "params_m": trainable_params_m(%r)}

def bn_state(model):
    return [[v.numpy().copy() for v in (l.moving_mean, l.moving_variance, l.gamma, l.beta)]
            for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]

first = bn_state(te.build("zoo", "shufflenet_v2_x1_0", seed=0))
again = bn_state(te.build("zoo", "shufflenet_v2_x1_0", seed=0))
other = bn_state(te.build("zoo", "shufflenet_v2_x1_0", seed=1))
facts["bn_layers"] = len(first)
facts["bn_all_randomized"] = all(
    not np.allclose(m, 0) and not np.allclose(v, 1) and not np.allclose(g, 1) and not np.allclose(b, 0)
    for m, v, g, b in first)
facts["bn_same_seed_same"] = all(np.array_equal(a, b) for x, y in zip(first, again) for a, b in zip(x, y))
facts["bn_other_seed_differs"] = not all(np.array_equal(a, b) for x, y in zip(first, other) for a, b in zip(x, y))

head = te.build("keras", "MobileNetV2", seed=0).layers[-1]
facts["keras_head_activation"] = head.activation.__name__

errors = {}
for builder, variant in (("keras", "ResNet51"), ("zoo", "resnet51"), ("torchvision", "resnet50")):
    try:
        te.build(builder, variant, seed=0)
        errors[builder] = None
    except Exception as e:
        errors[builder] = f"{type(e).__name__}: {e}"
facts["errors"] = errors
print(json.dumps(facts))
"""


_BIG_PARAMS_PROBE = """
import json, keras
from zoo.frameworks import tensorflow_exporter as te
""" + _PARAM_COUNT_CODE + """
print(json.dumps(trainable_params_m(%r)))
"""


@pytest.fixture(scope="module")
def exporter_facts(zoo_cache_dir):
    """One TensorFlow process: the smoke cells' exports, the exporter's checks and the small
    definitions' sizes."""
    small = sorted(set(PAPER_PARAMS_M) - BIG_DEFINITIONS)
    return _in_tensorflow_process(_EXPORTER_PROBE % (list(SMOKE), str(zoo_cache_dir), small))


@pytest.fixture(scope="module")
def big_definition_params():
    return _in_tensorflow_process(_BIG_PARAMS_PROBE % (sorted(BIG_DEFINITIONS),))


@in_tf_process
def test_every_zoo_variant_in_the_catalogue_is_registered(exporter_facts):
    wanted = {c.variant for c in catalogue.cells(framework="tensorflow") if c.builder == "zoo"}
    registered = set(exporter_facts["registered"])
    assert wanted <= registered, wanted - registered
    assert set(PAPER_PARAMS_M) == registered


@in_tf_process
def test_every_batchnorm_is_randomized_and_seeded(exporter_facts):
    assert exporter_facts["bn_layers"] > 50
    assert exporter_facts["bn_all_randomized"]
    assert exporter_facts["bn_same_seed_same"]
    assert exporter_facts["bn_other_seed_differs"]


@in_tf_process
def test_keras_applications_classifier_has_no_softmax(exporter_facts):
    assert exporter_facts["keras_head_activation"] == "linear"


@in_tf_process
def test_unknown_variants_are_clear_errors(exporter_facts):
    errors = exporter_facts["errors"]
    assert errors["keras"] == "ValueError: keras.applications has no model 'ResNet51'"
    assert errors["zoo"].startswith("KeyError: \"no tensorflow zoo model 'resnet51'")
    assert errors["torchvision"] == "ValueError: unknown TensorFlow builder 'torchvision'"


@in_tf_process
@pytest.mark.parametrize("variant", sorted(set(PAPER_PARAMS_M) - BIG_DEFINITIONS))
def test_zoo_definition_has_the_papers_parameter_count(variant, exporter_facts):
    assert exporter_facts["params_m"][variant] == pytest.approx(PAPER_PARAMS_M[variant], abs=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(BIG_DEFINITIONS))
def test_big_zoo_definition_has_the_papers_parameter_count(variant, big_definition_params):
    assert big_definition_params[variant] == pytest.approx(PAPER_PARAMS_M[variant], abs=0.1)


def test_exporter_refuses_to_load_without_pure_python_protobuf():
    env = framework_env("tensorflow")
    env.pop("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION")
    proc = subprocess.run([sys.executable, "-c", "import zoo.frameworks.tensorflow_exporter"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])   # an error, not a segfault
    assert "ImportError" in proc.stderr
    assert "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python" in proc.stderr
