"""TensorFlow: keras.applications / zoo builders, BatchNorm randomisation, tf2onnx export.

The process must select protobuf's pure-Python backend before anything imports protobuf:
with protobuf 3.20.3's C++ backend `import tensorflow` segfaults (DESIGN §2, §7). The
export CLI sets PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python itself; importing this module
without it is refused with an ImportError instead of a crash.
"""
from __future__ import annotations

import contextlib
import os
import sys

_PROTOBUF_ENV = "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"


def _require_pure_python_protobuf() -> None:
    if os.environ.get(_PROTOBUF_ENV) != "python":
        raise ImportError(
            f"zoo.frameworks.tensorflow_exporter needs {_PROTOBUF_ENV}=python in the environment "
            "before the process starts: with protobuf's C++ backend `import tensorflow` segfaults "
            "(run it through `python -m zoo.export`, or use harness.versions.framework_env('tensorflow'))")
    if "google.protobuf" in sys.modules:
        from google.protobuf.internal import api_implementation

        if api_implementation.Type() != "python":
            raise ImportError(f"protobuf was already imported with its {api_implementation.Type()!r} "
                              "backend; TensorFlow needs the pure-Python one")


_require_pure_python_protobuf()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

INPUT_NAME = "input"


def randomize_batchnorm(model: "keras.Model", seed: int) -> None:
    """Give every BatchNormalization non-trivial moving stats and affine params (DESIGN §4).

    Same distributions as the PyTorch column, so both columns stress BN conversion alike.
    """
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        n = int(layer.moving_mean.shape[0])
        layer.moving_mean.assign(rng.standard_normal(n).astype("float32") * 0.5)
        layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype("float32"))
        if layer.gamma is not None:
            layer.gamma.assign(rng.uniform(0.25, 1.75, n).astype("float32"))
        if layer.beta is not None:
            layer.beta.assign(rng.standard_normal(n).astype("float32") * 0.5)


def _all_layers(model):
    """Layers of nested models too (keras.applications nest none, but our blocks may)."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def _keras_application(variant: str, **kwargs) -> "keras.Model":
    # Random weights, logits out: a softmax over random logits is a near-uniform vector
    # that hides conversion errors (DESIGN §7).
    factory = getattr(keras.applications, variant, None)
    if factory is None:
        raise ValueError(f"keras.applications has no model {variant!r}")
    return factory(weights=None, classifier_activation=None, **kwargs)


def build(builder: str, variant: str, seed: int, **kwargs) -> "keras.Model":
    keras.utils.set_random_seed(seed)  # seeds Keras' initialisers
    if builder == "keras":
        model = _keras_application(variant, **kwargs)
    elif builder == "zoo":
        from zoo.models import tensorflow as tf_models

        model = tf_models.create(variant, **kwargs)
    else:
        raise ValueError(f"unknown TensorFlow builder {builder!r}")
    randomize_batchnorm(model, seed)
    return model


def run(model, inputs: list) -> list:
    out = model([tf.constant(x) for x in inputs] if len(inputs) > 1 else tf.constant(inputs[0]),
                training=False)
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [np.asarray(o) for o in outs]


@contextlib.contextmanager
def _grouped_convs_traced_inline():
    """Trace grouped convolutions as the plain TF op they are, while exporting.

    TF has no CPU kernel for grouped Conv2D, so Keras 3 runs every conv whose input has more
    channels than its kernel inside `tf.function(jit_compile=True)`. tf2onnx cannot inline
    such XLA-compiled calls: they stay StatefulPartitionedCall nodes, which ONNX lacks
    (measured on shufflenet_v1: onnx.checker rejects the model). Export only traces
    the graph, never runs it, so it may use the very `tf.nn.convolution` Keras wraps;
    tf2onnx turns it into Conv(group=g). The reference outputs come from the unpatched model.
    """
    from keras.src.backend.config import standardize_data_format
    from keras.src.backend.tensorflow import nn as backend_nn

    xla_wrapped = backend_nn.conv

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        data_format = standardize_data_format(data_format)
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(), dilations=dilation_rate,
                                 data_format=backend_nn._convert_data_format(data_format, len(inputs.shape)))

    backend_nn.conv = conv
    try:
        yield
    finally:
        backend_nn.conv = xla_wrapped


def export(model, inputs: list, path: str, opset: int, prepared: "FrozenForExport" = None) -> None:
    import tf2onnx

    from zoo.frameworks import patches

    patches.apply("tensorflow")  # the pinned tf2onnx's missing handlers (zoo/frameworks/patches)
    if prepared is not None and prepared.frozen is not None:
        prepared.convert(path, opset)
        return

    # Keras 3 needs an explicit input_signature (DESIGN §7); batch fixed to the run's.
    names = [INPUT_NAME] if len(inputs) == 1 else [f"{INPUT_NAME}_{i}" for i in range(len(inputs))]
    signature = tuple(tf.TensorSpec(x.shape, tf.as_dtype(x.dtype), name=n) for x, n in zip(inputs, names))
    with _grouped_convs_traced_inline(), (prepared.capturing() if prepared else contextlib.nullcontext()):
        tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset, output_path=path)


class FrozenForExport:
    """Trace and freeze once, convert per opset (zoo.export's build once, export many).

    tf2onnx's from_keras traces the model, freezes it to a GraphDef, then hands that to its
    opset-specific converter (`_convert_common`). The first export records that hand-over;
    later opsets call the converter on the same frozen graph, so they skip tracing and
    freezing. tf2onnx names inserted nodes from a process-wide counter: it is rewound to its
    value at the hand-over, so every opset's file is byte-identical to a fresh from_keras.
    """

    def __init__(self):
        self.frozen = None       # (frozen GraphDef, the converter's other arguments, name counter)

    @contextlib.contextmanager
    def capturing(self):
        import tf2onnx.convert as convert
        from tf2onnx import utils

        original = convert._convert_common

        def recording(frozen_graph, **kwargs):
            self.frozen = (frozen_graph, {k: v for k, v in kwargs.items() if k not in ("opset", "output_path")},
                           utils.INTERNAL_NAME)
            return original(frozen_graph, **kwargs)

        convert._convert_common = recording
        try:
            yield
        finally:
            convert._convert_common = original

    def convert(self, path: str, opset: int) -> None:
        import tf2onnx.convert as convert
        from tf2onnx import utils

        frozen_graph, kwargs, utils.INTERNAL_NAME = self.frozen
        with tf.device("/cpu:0"):  # as from_keras does
            convert._convert_common(frozen_graph, opset=opset, output_path=path, **kwargs)


def prepare_export(model, inputs: list) -> FrozenForExport:
    return FrozenForExport()


def versions() -> dict:
    import tf2onnx

    return {"tensorflow": tf.__version__, "keras": keras.__version__, "tf2onnx": tf2onnx.__version__}
