"""com.microsoft operators (issue 21 item 3) on models written by ONNX Runtime's own tools,
converted and compared with ONNX Runtime on the same inputs.

tests/contrib_models.py writes the models in one child process (ORT's tools would pull torch
into this one); its docstrings say how each was produced. Each test asserts its operators are
in the model, so a tool that stops writing one makes the test fail instead of testing nothing.
ORT runs the models as written (no further graph optimization) on one thread: its
DynamicQuantizeLSTM quantizes the hidden state per thread's block of batch rows, so its
result depends on the thread count; the converter follows the single-thread one.
"""
from __future__ import annotations

import collections
import os
import subprocess
import sys

import numpy as np
import onnx
import oneflow as flow
import onnxruntime as ort
import pytest

import converter

HERE = os.path.dirname(os.path.abspath(__file__))

# model file -> the com.microsoft (or ORT default-domain) operators it must contain
EXPECTED = {
    "qoperator_cnn": {"QLinearSigmoid", "QLinearLeakyRelu", "QLinearAdd", "QLinearMul", "QLinearConcat",
                      "QLinearAveragePool", "QLinearGlobalAveragePool", "QGemm", "QLinearSoftmax"},
    "dynamic_lstm_matmul": {"DynamicQuantizeLSTM"},
    "dynamic_lstm_matmul.ort_opt": {"DynamicQuantizeLSTM", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"},
    "ort_fusions": {"FusedConv", "FusedMatMul", "Gelu", "BiasGelu", "QuickGelu", "SkipLayerNormalization",
                    "SimplifiedLayerNormalization"},
    "transformer_chain": {"FastGelu", "SkipSimplifiedLayerNormalization"},
    "attention_mask": {"Attention"},
    "attention_causal_past": {"Attention"},
    "attention_lengths": {"Attention"},
    "mha": {"MultiHeadAttention"},
    "mha_past": {"MultiHeadAttention"},
    "rotary_3d": {"RotaryEmbedding"},
    "rotary_4d_interleaved": {"RotaryEmbedding"},
    "rotary_partial": {"RotaryEmbedding"},
    "embed_layer_norm": {"EmbedLayerNormalization"},
}
# Models whose every output is an integer result dequantized: they must match exactly.
EXACT = {"qoperator_cnn"}

# Integer inputs: the range each takes (ids below the vocabulary, 0/1 masks, valid lengths)
INT_RANGES = {"ids": (0, 11), "seg": (0, 2), "mask": (0, 2), "pos": (0, 16), "lengths": (1, 6)}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = tmp_path_factory.mktemp("contrib_models")
    subprocess.run([sys.executable, os.path.join(HERE, "contrib_models.py"), str(out)], check=True,
                   capture_output=True, text=True, timeout=300)
    return {name: str(out / f"{name}.onnx") for name in EXPECTED}


def _inputs(model: onnx.ModelProto, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    init_names = {t.name for t in model.graph.initializer}
    feeds = {}
    for vi in model.graph.input:
        if vi.name in init_names:
            continue
        t = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else 3 for d in t.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        if np.issubdtype(dtype, np.integer):
            lo, hi = INT_RANGES[vi.name]
            feeds[vi.name] = rng.integers(lo, hi, shape).astype(dtype)
        else:
            feeds[vi.name] = rng.standard_normal(shape).astype(dtype)
    if "mask" in feeds:
        feeds["mask"][:, 0] = 1     # every row attends to something
    return feeds


def _ort(path, feeds):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _max_errors(path, seed=0):
    """(output name -> max |OneFlow - ORT|) for one seeded input set."""
    model = onnx.load(path)
    feeds = _inputs(model, seed)
    reference = _ort(path, feeds)
    module = converter.convert(path)
    outs = module(*[flow.tensor(feeds[vi.name]) for vi in model.graph.input if vi.name in feeds])
    outs = outs if isinstance(outs, (tuple, list)) else [outs]
    errors = {}
    for vi, got, want in zip(model.graph.output, outs, reference):
        got = got.numpy()
        assert got.shape == want.shape and got.dtype == want.dtype, (vi.name, got.shape, want.shape)
        errors[vi.name] = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max(initial=0.0))
    return errors, reference


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_contrib_model_matches_onnxruntime(models, name):
    model = onnx.load(models[name])
    ops = collections.Counter(n.op_type for n in model.graph.node)
    assert EXPECTED[name] <= set(ops), f"{name}: the tool no longer writes {EXPECTED[name] - set(ops)}"
    assert converter.inventory(models[name]) == []
    for seed in (0, 1):
        errors, reference = _max_errors(models[name], seed)
        for out, ref in zip(model.graph.output, reference):
            if name in EXACT:
                assert errors[out.name] == 0, f"{name}/{out.name}: differs from ORT by {errors[out.name]}"
            else:   # float32 arithmetic in another order
                bound = 1e-5 + 1e-4 * float(np.abs(ref).max(initial=0.0))
                assert errors[out.name] <= bound, f"{name}/{out.name}: {errors[out.name]} > {bound}"
