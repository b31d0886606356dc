"""OneFlow, the round trip: flowvision / zoo builders, BatchNorm randomisation, oneflow-onnx export.

``import oneflow`` needs OneFlow's CUDA 11 libraries even on CPU. The zoo must not import
``converter`` (which preloads them), and it need not: ``_oneflow_internal``'s RPATH is
``$ORIGIN/../nvidia/cublas/lib:$ORIGIN/../nvidia/cudnn/lib``, so the ``nvidia-*-cu11`` wheels
installed beside it in the same site-packages are found without LD_LIBRARY_PATH.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile

import numpy as np

from zoo import oneflow_compat
from zoo.frameworks import patches

oneflow_compat.apply()  # before flowvision's import: it needs the shims at import time

import oneflow as flow  # noqa: E402


def randomize_batchnorm(model: "flow.nn.Module", seed: int) -> None:
    """Give every BatchNorm non-trivial running stats and affine params (DESIGN §4)."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if not isinstance(m, flow.nn.modules.batchnorm._BatchNorm):
            continue
        n = m.num_features
        values = {}
        if m.track_running_stats and m.running_mean is not None:
            values["running_mean"] = rng.standard_normal(n) * 0.5
            values["running_var"] = rng.uniform(0.5, 2.0, n)
        if m.affine:
            values["weight"] = rng.uniform(0.25, 1.75, n)
            values["bias"] = rng.standard_normal(n) * 0.5
        with flow.no_grad():
            for name, value in values.items():
                getattr(m, name).copy_(flow.tensor(value.astype(np.float32)))


def build(builder: str, variant: str, seed: int, **kwargs) -> "flow.nn.Module":
    flow.manual_seed(seed)
    if builder == "flowvision":
        import flowvision
        from flowvision.models import ModelCreator

        if variant not in ModelCreator.model_list():
            raise ValueError(f"flowvision {flowvision.__version__} has no model {variant!r}")
        # pretrained=False: random weights, nothing downloaded.
        model = ModelCreator.create_model(variant, pretrained=False, **kwargs)
    elif builder == "zoo":
        from zoo.models.oneflow import create

        model = create(variant, **kwargs)
    else:
        raise ValueError(f"unknown OneFlow builder {builder!r} (known: flowvision, zoo)")
    randomize_batchnorm(model, seed)
    return model.eval()


def _tensors(out) -> list:
    """The model's output tensors. flowvision's googlenet/inception_v3 return (logits, None,
    ...) in eval mode — aux-head slots that only training fills — so None slots are dropped."""
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if o is not None]


def run(model, inputs: list) -> list:
    with flow.no_grad():
        out = model(*[flow.tensor(x) for x in inputs])
    return [o.numpy() for o in _tensors(out)]


class _ExportGraph(flow.nn.Graph):
    """oneflow-onnx reads the traced job of an nn.Graph, not an eager module."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def build(self, *xs):
        outs = _tensors(self.model(*xs))
        return outs[0] if len(outs) == 1 else tuple(outs)


def export(model, inputs: list, path: str, opset: int) -> None:
    # Export, not util.export_onnx_model: the latter imports onnxruntime (the export
    # process holds only the source framework + onnx) and stages weights in
    # /tmp/<UniqueStr>, a name only unique within one process, which it rmtree's first —
    # concurrent exports would delete each other's weights. We stage them privately.
    from oneflow_onnx.oneflow2onnx.flow2onnx import Export

    oneflow_compat.cheapen_weight_access()
    patches.apply("oneflow")  # the pinned oneflow-onnx's conversion bugs (zoo/frameworks/patches)
    graph = _ExportGraph(model)
    # Traced at the batch size we run: a dynamic batch would still leave a fixed Reshape.
    with flow.no_grad():
        graph(*[flow.tensor(x) for x in inputs])
    with tempfile.TemporaryDirectory(prefix="zoo-oneflow-") as tmp:
        weights = os.path.join(tmp, "weights")
        flow.save(graph.state_dict(), weights)
        # oneflow-onnx prints progress; keep stdout for the export CLI's JSON line.
        with contextlib.redirect_stdout(sys.stderr):
            Export(graph, weights, path, opset=opset)


def versions() -> dict:
    import importlib.metadata as md

    import flowvision

    return {"oneflow": flow.__version__, "flowvision": flowvision.__version__,
            "oneflow-onnx": md.version("oneflow-onnx")}
