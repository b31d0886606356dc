"""Test models written by ONNX Runtime's own tools, for tests/test_contrib_ops.py.

    python tests/contrib_models.py OUTDIR        # writes OUTDIR/<name>.onnx (+ <name>.npz inputs)

Each model starts as a tiny float graph built with onnx.helper and is passed through the tool
that writes ``com.microsoft`` operators into real models:

* ``onnxruntime.quantization.quantize_static`` (QOperator format, a calibration reader) and
  ``quantize_dynamic``: QLinearAdd/Mul/Sigmoid/LeakyRelu/Concat/AveragePool/GlobalAveragePool/
  Softmax, QGemm, DynamicQuantizeLSTM;
* ONNX Runtime's graph optimizer saving its result (``SessionOptions.optimized_model_filepath``,
  the way ``optimize_model(opt_level>0)`` uses it): DynamicQuantizeMatMul, MatMulIntegerToFloat,
  FusedConv, FusedMatMul, Gelu, BiasGelu;
* ``onnxruntime.transformers.optimizer.optimize_model`` (model_type bert / gpt2 / ...):
  EmbedLayerNormalization, Attention, SkipLayerNormalization, FastGelu, ...

Ops no tool writes on CPU for such graphs are built as single nodes with onnx.helper (MODELS
says which). Runs in its own process: ONNX Runtime's tools import torch when it is installed,
which they do not need here and which the OneFlow test process should not carry.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
MS = "com.microsoft"


def _init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def _model(nodes, inputs, outputs, inits, opset=OPSET, ms=False):
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(MS, 1)] if ms else [])
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = 8
    return model


def _vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


class _Reader:
    """quantize_static's calibration data: a few seeded batches."""

    def __init__(self, name, batches):
        self.items = iter([{name: b} for b in batches])

    def get_next(self):
        return next(self.items, None)


# --- quantize_static, QOperator ---------------------------------------------------------------
def qoperator_cnn(out_dir):
    """Conv -> Sigmoid, LeakyRelu, Add, Mul, Concat, AveragePool, GlobalAveragePool, Reshape, Gemm,
    Softmax, quantized by quantize_static(QOperator, uint8 activations, int8 weights). Every
    op's result is a graph output, so a mismatch points at its op."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
    b = rng.standard_normal(4).astype(np.float32) * 0.1
    gw = rng.standard_normal((8, 5)).astype(np.float32) * 0.5
    gb = rng.standard_normal(5).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["conv"], ["sig"]),
        helper.make_node("LeakyRelu", ["conv"], ["leaky"], alpha=0.1),
        helper.make_node("Add", ["sig", "leaky"], ["add"]),
        helper.make_node("Mul", ["add", "conv"], ["mul"]),
        helper.make_node("Concat", ["mul", "add"], ["cat"], axis=1),
        helper.make_node("AveragePool", ["cat"], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["pool"], ["gap"]),
        helper.make_node("Reshape", ["gap", "shape"], ["flat"]),
        helper.make_node("Gemm", ["flat", "gw", "gb"], ["gemm"]),
        helper.make_node("Softmax", ["gemm"], ["prob"], axis=-1),
    ]
    outs = ["sig", "leaky", "add", "mul", "cat", "pool", "gap", "gemm", "prob"]
    model = _model(nodes, [_vi("x", [2, 3, 8, 8])], [_vi(o, None) for o in outs],
                   [_init("w", w), _init("b", b), _init("gw", gw), _init("gb", gb),
                    _init("shape", np.array([2, 8], np.int64))])
    batches = [rng.standard_normal((2, 3, 8, 8)).astype(np.float32) for _ in range(4)]
    return _quantize_static(out_dir, "qoperator_cnn", model, "x", batches)


def _quantize_static(out_dir, name, model, input_name, batches, **kw):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    src = os.path.join(out_dir, f"{name}.float.onnx")
    dst = os.path.join(out_dir, f"{name}.onnx")
    onnx.save(model, src)
    quantize_static(src, dst, _Reader(input_name, batches), quant_format=QuantFormat.QOperator,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, **kw)
    return dst


def _save(out_dir, name, model):
    path = os.path.join(out_dir, f"{name}.onnx")
    onnx.save(model, path)
    return path


MODELS = {
    "qoperator_cnn": qoperator_cnn,
}


def main(argv):
    out_dir = argv[0]
    names = argv[1:] or list(MODELS)
    os.makedirs(out_dir, exist_ok=True)
    sys.modules.setdefault("torch", None)   # ORT's tools import torch if present; not needed here
    for name in names:
        MODELS[name](out_dir)
    print("wrote", ", ".join(names))


if __name__ == "__main__":
    main(sys.argv[1:])
