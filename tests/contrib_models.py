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


# --- quantize_dynamic, then ORT's graph optimizer ------------------------------------------------
def dynamic_lstm_matmul(out_dir):
    """LSTM (forward, hidden 5) -> two MatMuls sharing their input and one on the cell state,
    quantize_dynamic (int8 weights): DynamicQuantizeLSTM, DynamicQuantizeLinear + MatMulInteger
    (+ Cast, Mul), which ORT's graph optimizer (saved) fuses: MatMulIntegerToFloat where one
    DynamicQuantizeLinear feeds two products, DynamicQuantizeMatMul where it feeds one."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(1)
    hidden, feat = 5, 4
    w = rng.standard_normal((1, 4 * hidden, feat)).astype(np.float32) * 0.5
    r = rng.standard_normal((1, 4 * hidden, hidden)).astype(np.float32) * 0.5
    b = rng.standard_normal((1, 8 * hidden)).astype(np.float32) * 0.1
    m1 = rng.standard_normal((hidden, 6)).astype(np.float32)
    m2 = rng.standard_normal((hidden, 3)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    nodes = [
        helper.make_node("LSTM", ["x", "w", "r", "b"], ["y", "y_h", "y_c"], hidden_size=hidden),
        helper.make_node("Squeeze", ["y", "axis1"], ["seq"]),
        helper.make_node("MatMul", ["seq", "m1"], ["p1"]),
        helper.make_node("Add", ["p1", "bias"], ["out1"]),
        helper.make_node("MatMul", ["seq", "m2"], ["out2"]),
        helper.make_node("MatMul", ["y_c", "m2"], ["out3"]),      # its own DynamicQuantizeLinear
    ]
    model = _model(nodes, [_vi("x", [3, 2, feat])], [_vi("out1", [3, 2, 6]), _vi("out2", [3, 2, 3]),
                                                     _vi("y_h", [1, 2, hidden]), _vi("y_c", [1, 2, hidden]),
                                                     _vi("out3", [1, 2, 3])],
                   [_init("w", w), _init("r", r), _init("b", b), _init("m1", m1), _init("m2", m2),
                    _init("bias", bias), _init("axis1", np.array([1], np.int64))])
    src = os.path.join(out_dir, "dynamic_lstm_matmul.float.onnx")
    quantized = os.path.join(out_dir, "dynamic_lstm_matmul.onnx")
    onnx.save(model, src)
    quantize_dynamic(src, quantized, weight_type=QuantType.QInt8)
    _ort_optimized(quantized, os.path.join(out_dir, "dynamic_lstm_matmul.ort_opt.onnx"))
    return quantized


def _ort_optimized(src, dst):
    """ORT's graph optimizer (extended level, CPU) saving the graph it runs."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = dst
    ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    return dst


# --- float patterns ORT's graph optimizer fuses ---------------------------------------------------
def _c(value):
    return np.array(value, np.float32)


def ort_fusions(out_dir):
    """One float graph with the patterns ORT's CPU graph optimizer fuses, saved optimized:
    Conv+Relu (FusedConv), Transpose+MatMul (FusedMatMul), the erf Gelu pattern (Gelu) after a
    bias Add (BiasGelu), x*sigmoid(1.702x) (QuickGelu), the RMS-norm pattern
    (SimplifiedLayerNormalization) after a residual Add (SkipSimplifiedLayerNormalization),
    LayerNorm after a residual Add (SkipLayerNormalization)."""
    rng = np.random.default_rng(2)
    cw = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
    cb = rng.standard_normal(4).astype(np.float32) * 0.1
    hidden = 8
    nodes = [
        helper.make_node("Conv", ["img", "cw", "cb"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["conv_relu"]),
        # FusedMatMul: a transposed operand
        helper.make_node("Transpose", ["t"], ["t_T"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["t_T", "t"], ["gram"]),
        # BiasGelu / Gelu (erf form)
        helper.make_node("Add", ["h", "gbias"], ["hb"]),
        helper.make_node("Div", ["hb", "sqrt2"], ["g1"]),
        helper.make_node("Erf", ["g1"], ["g2"]),
        helper.make_node("Add", ["g2", "one"], ["g3"]),
        helper.make_node("Mul", ["hb", "g3"], ["g4"]),
        helper.make_node("Mul", ["g4", "half"], ["bias_gelu"]),
        helper.make_node("Div", ["h", "sqrt2"], ["e1"]),
        helper.make_node("Erf", ["e1"], ["e2"]),
        helper.make_node("Add", ["e2", "one"], ["e3"]),
        helper.make_node("Mul", ["h", "e3"], ["e4"]),
        helper.make_node("Mul", ["e4", "half"], ["gelu"]),
        # QuickGelu
        helper.make_node("Mul", ["h", "alpha"], ["q1"]),
        helper.make_node("Sigmoid", ["q1"], ["q2"]),
        helper.make_node("Mul", ["h", "q2"], ["quick_gelu"]),
        # SkipSimplifiedLayerNormalization: residual add, then RMS norm
        helper.make_node("Add", ["h", "h2"], ["res"]),
        helper.make_node("Pow", ["res", "two"], ["r1"]),
        helper.make_node("ReduceMean", ["r1"], ["r2"], axes=[-1]),
        helper.make_node("Add", ["r2", "eps"], ["r3"]),
        helper.make_node("Sqrt", ["r3"], ["r4"]),
        helper.make_node("Div", ["res", "r4"], ["r5"]),
        helper.make_node("Mul", ["gamma", "r5"], ["skip_rms"]),
        # SimplifiedLayerNormalization: RMS norm alone
        helper.make_node("Pow", ["h2", "two"], ["s1"]),
        helper.make_node("ReduceMean", ["s1"], ["s2"], axes=[-1]),
        helper.make_node("Add", ["s2", "eps"], ["s3"]),
        helper.make_node("Sqrt", ["s3"], ["s4"]),
        helper.make_node("Div", ["h2", "s4"], ["s5"]),
        helper.make_node("Mul", ["gamma", "s5"], ["rms"]),
        # SkipLayerNormalization: residual add, then LayerNormalization
        helper.make_node("Add", ["h", "h3"], ["res2"]),
        helper.make_node("LayerNormalization", ["res2", "gamma", "beta"], ["skip_ln"], axis=-1, epsilon=1e-5),
    ]
    outs = ["conv_relu", "gram", "bias_gelu", "gelu", "quick_gelu", "skip_rms", "rms", "skip_ln"]
    inits = [_init("cw", cw), _init("cb", cb), _init("gbias", rng.standard_normal(hidden).astype(np.float32)),
             _init("sqrt2", _c(1.4142135381698608)), _init("one", _c(1.0)), _init("half", _c(0.5)),
             _init("alpha", _c(1.702)), _init("two", _c(2.0)), _init("eps", _c(1e-6)),
             _init("gamma", rng.standard_normal(hidden).astype(np.float32)),
             _init("beta", rng.standard_normal(hidden).astype(np.float32))]
    inputs = [_vi("img", [1, 3, 6, 6]), _vi("t", [2, 5, 4]), _vi("h", [2, 3, hidden]), _vi("h2", [2, 3, hidden]),
              _vi("h3", [2, 3, hidden])]
    model = _model(nodes, inputs, [_vi(o, None) for o in outs], inits, opset=17)
    src = _save(out_dir, "ort_fusions.float", model)
    return _ort_optimized(src, os.path.join(out_dir, "ort_fusions.onnx"))


# --- ORT's graph optimizer, then the transformer optimizer ------------------------------------------
def transformer_chain(out_dir):
    """The tanh Gelu pattern and a residual Add before the RMS-norm pattern, through
    optimize_model's own chain: ORT's graph optimizer (saved, as opt_level > 0 runs it; that
    path of optimize_model imports torch, so it is called here directly), then
    optimize_model(model_type="bert", opt_level=0): FastGelu, SkipSimplifiedLayerNormalization."""
    from onnxruntime.transformers.optimizer import optimize_model

    rng = np.random.default_rng(3)
    hidden = 8
    nodes = [
        helper.make_node("Pow", ["h", "three"], ["t1"]),
        helper.make_node("Mul", ["t1", "k1"], ["t2"]),
        helper.make_node("Add", ["h", "t2"], ["t3"]),
        helper.make_node("Mul", ["t3", "k2"], ["t4"]),
        helper.make_node("Tanh", ["t4"], ["t5"]),
        helper.make_node("Add", ["t5", "one"], ["t6"]),
        helper.make_node("Mul", ["h", "half"], ["t7"]),
        helper.make_node("Mul", ["t7", "t6"], ["fast_gelu"]),
        helper.make_node("Add", ["h", "h2"], ["res"]),
        helper.make_node("Pow", ["res", "two"], ["r1"]),
        helper.make_node("ReduceMean", ["r1"], ["r2"], axes=[-1]),
        helper.make_node("Add", ["r2", "eps"], ["r3"]),
        helper.make_node("Sqrt", ["r3"], ["r4"]),
        helper.make_node("Div", ["res", "r4"], ["r5"]),
        helper.make_node("Mul", ["gamma", "r5"], ["skip_rms"]),
    ]
    inits = [_init("three", _c(3.0)), _init("k1", _c(0.044715)), _init("k2", _c(0.7978845834732056)),
             _init("one", _c(1.0)), _init("half", _c(0.5)), _init("two", _c(2.0)), _init("eps", _c(1e-6)),
             _init("gamma", rng.standard_normal(hidden).astype(np.float32))]
    dims = ["batch_size", "seq_len", hidden]
    model = _model(nodes, [_vi("h", dims), _vi("h2", dims)], [_vi("fast_gelu", dims), _vi("skip_rms", dims)],
                   inits)
    src = _save(out_dir, "transformer_chain.float", model)
    ort_opt = _ort_optimized(src, os.path.join(out_dir, "transformer_chain.ort_opt.onnx"))
    optimized = optimize_model(ort_opt, model_type="bert", opt_level=0, use_gpu=False, num_heads=2,
                               hidden_size=hidden)
    dst = os.path.join(out_dir, "transformer_chain.onnx")
    optimized.save_model_to_file(dst)
    return dst


# --- single nodes built with onnx.helper (no tool writes them for such small CPU graphs) -----------
def _ms_node_model(name, node, inputs, outputs, inits=()):
    model = _model([node], inputs, outputs, list(inits), ms=True)
    return model


def direct_nodes(out_dir):
    """Attention, MultiHeadAttention, RotaryEmbedding and EmbedLayerNormalization as single
    nodes: ORT's transformer optimizer writes them only on whole BERT/GPT-2/LLaMA/UNet graphs of
    the exporters' exact patterns (not reproduced here); each model is checked by ORT itself."""
    rng = np.random.default_rng(4)
    b, s, heads, head = 2, 5, 2, 4
    hidden = heads * head
    f = np.float32
    written = []
    # Attention: merged QKV weights, raw mask, unidirectional with past
    w = rng.standard_normal((hidden, 3 * hidden)).astype(f) * 0.3
    bias = rng.standard_normal(3 * hidden).astype(f) * 0.1
    out = _vi("out", [b, s, hidden])
    for tag, attrs, extra_inputs, extra_vis, outs in [
        ("attention_mask", {}, ["mask"], [_vi("mask", [b, s], TensorProto.INT32)], [out]),
        ("attention_causal_past", {"unidirectional": 1}, ["", "past"],
         [_vi("past", [2, b, heads, 3, head])], [out, _vi("present", [2, b, heads, 3 + s, head])]),
        ("attention_lengths", {}, ["lengths"], [_vi("lengths", [b], TensorProto.INT32)], [out]),
    ]:
        node = helper.make_node("Attention", ["x", "w", "bias"] + extra_inputs, [o.name for o in outs],
                                domain=MS, num_heads=heads, **attrs)
        model = _ms_node_model(tag, node, [_vi("x", [b, s, hidden])] + extra_vis, outs,
                               [_init("w", w), _init("bias", bias)])
        written.append(_save(out_dir, tag, model))
    # MultiHeadAttention: separate q/k/v with bias, key padding mask and attention bias; and
    # cross attention (key length 3) with past key/value
    mha_bias = _init("bias", rng.standard_normal(3 * hidden).astype(f) * 0.1)
    node = helper.make_node("MultiHeadAttention", ["q", "k", "v", "bias", "mask", "attn_bias"], ["out"],
                            domain=MS, num_heads=heads)
    model = _ms_node_model("mha", node, [
        _vi("q", [b, s, hidden]), _vi("k", [b, s, hidden]), _vi("v", [b, s, hidden]),
        _vi("mask", [b, s], TensorProto.INT32), _vi("attn_bias", [b, heads, s, s])], [out], [mha_bias])
    written.append(_save(out_dir, "mha", model))
    node = helper.make_node("MultiHeadAttention", ["q", "k", "v", "bias", "", "", "past_k", "past_v"],
                            ["out", "present_k", "present_v"], domain=MS, num_heads=heads)
    model = _ms_node_model("mha_past", node, [
        _vi("q", [b, s, hidden]), _vi("k", [b, 3, hidden]), _vi("v", [b, 3, hidden]),
        _vi("past_k", [b, heads, 2, head]), _vi("past_v", [b, heads, 2, head])],
        [out, _vi("present_k", [b, heads, 5, head]), _vi("present_v", [b, heads, 5, head])], [mha_bias])
    written.append(_save(out_dir, "mha_past", model))
    # RotaryEmbedding: 3-D and 4-D inputs, halves and interleaved pairs, partial rotary dim
    max_pos, half = 16, head // 2
    theta = np.arange(max_pos)[:, None] / 10000 ** (np.arange(half)[None] / half)
    for tag, shape, interleaved, cache_half in [("rotary_3d", [b, s, hidden], 0, half),
                                                ("rotary_4d_interleaved", [b, heads, s, head], 1, half),
                                                ("rotary_partial", [b, s, hidden], 0, half // 2)]:
        attrs = {"interleaved": interleaved}
        if cache_half != half:
            attrs.update(num_heads=heads, rotary_embedding_dim=2 * cache_half)
        node = helper.make_node("RotaryEmbedding", ["x", "pos", "cos", "sin"], ["y"], domain=MS, **attrs)
        model = _ms_node_model(tag, node, [_vi("x", shape), _vi("pos", [b, s], TensorProto.INT64)],
                               [_vi("y", shape)], [_init("cos", np.cos(theta[:, :cache_half]).astype(f)),
                                                  _init("sin", np.sin(theta[:, :cache_half]).astype(f))])
        written.append(_save(out_dir, tag, model))
    # EmbedLayerNormalization with segment ids and a mask
    vocab = 11
    node = helper.make_node("EmbedLayerNormalization", ["ids", "seg", "word", "position", "segment", "gamma", "beta",
                                                        "mask"], ["out", "mask_index", "sum"], domain=MS,
                            epsilon=1e-12)
    model = _ms_node_model("embed_layer_norm", node, [
        _vi("ids", [b, s], TensorProto.INT32), _vi("seg", [b, s], TensorProto.INT32),
        _vi("mask", [b, s], TensorProto.INT32)],
        [out, _vi("mask_index", [b], TensorProto.INT32), _vi("sum", [b, s, hidden])],
        [_init("word", rng.standard_normal((vocab, hidden)).astype(f)),
         _init("position", rng.standard_normal((8, hidden)).astype(f)),
         _init("segment", rng.standard_normal((2, hidden)).astype(f)),
         _init("gamma", rng.standard_normal(hidden).astype(f)), _init("beta", rng.standard_normal(hidden).astype(f))])
    written.append(_save(out_dir, "embed_layer_norm", model))
    return written


MODELS = {
    "qoperator_cnn": qoperator_cnn,
    "dynamic_lstm_matmul": dynamic_lstm_matmul,
    "ort_fusions": ort_fusions,
    "transformer_chain": transformer_chain,
    "direct_nodes": direct_nodes,
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
