"""PaddlePaddle: paddle.vision / zoo builders, BatchNorm randomisation, paddle2onnx export.

Export goes model → `paddle.jit.save` once per built model (PIR: `<prefix>.json` + `<prefix>.pdiparams`) →
paddle2onnx. paddle2onnx turns Python errors into `sys.exit(-1)` after printing them and
its C++ core can abort, so the conversion runs in a child process (`python -m
zoo.frameworks.paddle_exporter PREFIX OUT OPSET`): any failure there comes back as a
`PaddleExportError` carrying the exporter's own message instead of killing the caller.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import paddle

# paddle2onnx names graph outputs fetch_name_<i>; models whose outputs mean different things
# get real names (paddle.vision GoogLeNet returns its two auxiliary heads even in eval mode).
OUTPUT_NAMES = {"GoogLeNet": ("logits", "aux1_logits", "aux2_logits")}
_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
# Paddle2ONNX's log lines that carry the reason of a failed conversion.
_ERROR_MARKERS = ("[ERROR]", "Error", "error", "not supported", "Oops", "Traceback")


class PaddleExportError(RuntimeError):
    """paddle.jit.save or paddle2onnx failed; the message holds the exporter's own text."""


def _batchnorm_types() -> tuple:
    # paddle.vision mixes the 2.x BatchNorm2D family with the legacy nn.BatchNorm (densenet).
    return (paddle.nn.layer.norm._BatchNormBase, paddle.nn.BatchNorm)


def randomize_batchnorm(model: "paddle.nn.Layer", seed: int) -> None:
    """Give every BatchNorm non-trivial running stats and affine params (DESIGN §4)."""
    rng = np.random.default_rng(seed)
    for layer in model.sublayers(include_self=True):
        if not isinstance(layer, _batchnorm_types()):
            continue
        n = layer._mean.shape[0]
        layer._mean.set_value((rng.standard_normal(n) * 0.5).astype("float32"))
        layer._variance.set_value((rng.uniform(0.5, 2.0, n)).astype("float32"))
        if layer.weight is not None:
            layer.weight.set_value(rng.uniform(0.25, 1.75, n).astype("float32"))
        if layer.bias is not None:
            layer.bias.set_value((rng.standard_normal(n) * 0.5).astype("float32"))


def calibrate(model: "paddle.nn.Layer", inputs: list, seed: int) -> "paddle.nn.Layer":
    """Running stats measured on a seeded calibration batch, then jittered (seeded).

    Blindly drawn stats let activations grow block by block (se_resnet50 logits ~400,
    res2net50 ~7e5), until float32 rounding in paddle itself exceeds the default atol.
    Measured stats keep each BN output at the scale its random affine params give it;
    the jitter keeps them from being the exact batch statistics.
    """
    bns = [m for m in model.sublayers(include_self=True) if isinstance(m, _batchnorm_types())]
    if not bns:
        return model
    momenta = [bn._momentum for bn in bns]
    for bn in bns:
        bn._momentum = 0.0  # running = 0 * running + 1 * batch: one batch sets the stats
    model.train()
    with paddle.no_grad():
        model(*[paddle.to_tensor(x) for x in inputs])
    rng = np.random.default_rng(seed)
    for bn, momentum in zip(bns, momenta):
        bn._momentum = momentum
        n = bn._mean.shape[0]
        std = np.sqrt(bn._variance.numpy())
        bn._mean.set_value((bn._mean.numpy() + rng.standard_normal(n) * 0.1 * std).astype("float32"))
        bn._variance.set_value((bn._variance.numpy() * rng.uniform(0.8, 1.25, n)).astype("float32"))
    model.eval()
    return model


def build(builder: str, variant: str, seed: int, **kwargs) -> "paddle.nn.Layer":
    paddle.seed(seed)
    if builder == "paddle.vision":
        import paddle.vision.models as vision_models

        factory = getattr(vision_models, variant, None)
        if factory is None:
            raise ValueError(f"paddle.vision.models has no model {variant!r}")
        model = factory(pretrained=False, **kwargs)
    elif builder == "zoo":
        from zoo.models.paddle import create

        model = create(variant, **kwargs)
    else:
        raise ValueError(f"unknown PaddlePaddle builder {builder!r} (paddle.vision | zoo)")
    randomize_batchnorm(model, seed)
    model.eval()
    return model


def run(model, inputs: list) -> list:
    with paddle.no_grad():
        out = model(*[paddle.to_tensor(x) for x in inputs])
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [o.numpy() for o in outs]


class SavedForExport:
    """One `paddle.jit.save` per built model, shared by every opset's paddle2onnx run (the
    dy2static trace and the parameter file do not depend on the opset). The directory lives
    as long as this object."""

    def __init__(self, model, inputs: list):
        specs = [paddle.static.InputSpec(list(x.shape), str(x.dtype), f"input_{i}")
                 for i, x in enumerate(inputs)]
        self._dir = tempfile.TemporaryDirectory(prefix="paddle_export_")
        self.prefix = os.path.join(self._dir.name, "model")
        self.output_names = OUTPUT_NAMES.get(type(model).__name__)
        try:
            paddle.jit.save(model, self.prefix, input_spec=specs)
        except Exception as e:  # dy2static errors are long; keep type + message
            self._dir.cleanup()
            raise PaddleExportError(f"paddle.jit.save failed: {type(e).__name__}: {e}") from e


def prepare_export(model, inputs: list) -> SavedForExport:
    return SavedForExport(model, inputs)


def export(model, inputs: list, path: str, opset: int, prepared: SavedForExport = None) -> None:
    saved = prepared or SavedForExport(model, inputs)
    _paddle2onnx_in_child(saved.prefix, path, opset)
    _post_export_patches(saved.prefix + ".json", path)
    if saved.output_names:
        _rename_outputs(path, saved.output_names)


def _post_export_patches(program_json: str, path: str) -> None:
    """paddle2onnx is C++: its fixes (zoo/frameworks/patches) rewrite the exported graph."""
    from zoo.frameworks import patches
    from zoo.frameworks.patches import paddle2onnx as fixes

    patches.apply("paddle")
    for fix in fixes.POST_EXPORT:
        fix(program_json, path)


def _rename_outputs(path: str, names: tuple) -> None:
    import onnx

    proto = onnx.load(path)
    if len(proto.graph.output) != len(names):
        raise PaddleExportError(f"expected {len(names)} outputs {names}, paddle2onnx wrote "
                                f"{[o.name for o in proto.graph.output]}")
    renamed = {o.name: new for o, new in zip(proto.graph.output, names)}
    for node in proto.graph.node:
        for i, name in enumerate(node.output):
            node.output[i] = renamed.get(name, name)
        for i, name in enumerate(node.input):
            node.input[i] = renamed.get(name, name)
    for out in proto.graph.output:
        out.name = renamed[out.name]
    onnx.save(proto, path)


def _paddle2onnx_in_child(prefix: str, path: str, opset: int) -> None:
    cmd = [sys.executable, "-m", "zoo.frameworks.paddle_exporter", prefix, path, str(opset)]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not os.path.exists(path):
        log = _ANSI_COLOUR.sub("", proc.stdout + proc.stderr).splitlines()
        reasons = [line.strip() for line in log if any(m in line for m in _ERROR_MARKERS)
                   and "Warning" not in line]
        detail = "\n".join(reasons[-8:] or log[-8:])
        raise PaddleExportError(f"paddle2onnx (opset {opset}) failed with exit code "
                                f"{proc.returncode}:\n{detail}")


def _convert_saved(prefix: str, path: str, opset: int) -> None:
    """Child-process body: the PIR program + params → ONNX file."""
    import paddle2onnx

    # optimize_tool="none": the default Polygraphy path pip-installs packages at run time.
    paddle2onnx.export(prefix + ".json", prefix + ".pdiparams", save_file=path,
                       opset_version=opset, auto_upgrade_opset=False, optimize_tool="none")


def versions() -> dict:
    import paddle2onnx

    return {"paddle": paddle.__version__, "paddle2onnx": paddle2onnx.__version__}


if __name__ == "__main__":
    _convert_saved(sys.argv[1], sys.argv[2], int(sys.argv[3]))
