"""Graph mode runs language models (issue 20 item 1): token ids index embedding tables at run
time, so their range check runs on the device under oneflow.nn.Graph (converter.device_checks)
and an out-of-range id is the eager run's NodeExecutionError naming the Gather, raised after
the call (never an abort, never a clamped result). A CumSum whose axis is a Constant (RoBERTa's
position ids) reads it once at build time. The model is built with onnx.helper in the shape
torch.onnx.export gives an Embedding + position-cumsum + self-attention encoder; ONNX Runtime
is the reference. Seconds."""
from __future__ import annotations

import numpy as np
import onnx
import oneflow as flow
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import converter

F, I64, I32 = TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32
VOCAB, POSITIONS, D, HEADS, PAD = 30, 20, 8, 2, 1


def _tiny_language_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = lambda *s: rng.standard_normal(s).astype(np.float32) * 0.5  # noqa: E731
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    consts = {"tok_table": w(VOCAB, D), "pos_table": w(POSITIONS, D), "wq": w(D, D), "wk": w(D, D),
              "wv": w(D, D), "head": w(D, VOCAB), "pad": i64(PAD), "zero": i64(0), "one": i64(1),
              "i0": np.int64(0), "i1": np.int64(1), "heads": i64(HEADS), "dh": i64(D // HEADS), "d": i64(D), "neg": np.float32(-1e4),
              "fzero": np.float32(0)}
    n = helper.make_node
    nodes = [
        # RoBERTa position ids: cumsum of the non-pad mask along the sequence, + pad.
        n("Equal", ["ids", "pad"], ["is_pad"]), n("Not", ["is_pad"], ["keep"]),
        n("Cast", ["keep"], ["mask"], to=I32),
        n("Constant", [], ["seq_axis"], value=numpy_helper.from_array(i64(1))),
        n("CumSum", ["mask", "seq_axis"], ["run"], name="position_cumsum"),
        n("Mul", ["run", "mask"], ["inc"]), n("Cast", ["inc"], ["inc64"], to=I64),
        n("Add", ["inc64", "pad"], ["pos"]),
        n("Gather", ["tok_table", "ids"], ["tok"], name="embed_tokens/Gather"),
        n("Gather", ["pos_table", "pos"], ["pe"], name="embed_positions/Gather"),
        n("Add", ["tok", "pe"], ["h"]),
        # Heads split by a Reshape whose target comes from Shape(h) (symbolic batch and length).
        n("Shape", ["h"], ["hs"]),
        n("Gather", ["hs", "i0"], ["b"], axis=0), n("Gather", ["hs", "i1"], ["s"], axis=0),
        n("Unsqueeze", ["b", "zero"], ["b1"]), n("Unsqueeze", ["s", "zero"], ["s1"]),
        n("Concat", ["b1", "s1", "heads", "dh"], ["split_shape"], axis=0),
        n("Concat", ["b1", "s1", "d"], ["merge_shape"], axis=0),
    ]
    for p in "qkv":
        nodes += [n("MatMul", ["h", f"w{p}"], [f"{p}0"]), n("Reshape", [f"{p}0", "split_shape"], [f"{p}1"]),
                  n("Transpose", [f"{p}1"], [p], perm=[0, 2, 3, 1] if p == "k" else [0, 2, 1, 3])]
    nodes += [
        n("MatMul", ["q", "k"], ["scores"]),
        n("Unsqueeze", ["is_pad", "one"], ["pad1"]), n("Unsqueeze", ["pad1", "one"], ["pad2"]),
        n("Where", ["pad2", "neg", "fzero"], ["bias"]), n("Add", ["scores", "bias"], ["masked"]),
        n("Softmax", ["masked"], ["attn"], axis=-1), n("MatMul", ["attn", "v"], ["ctx"]),
        n("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3]),
        n("Reshape", ["ctx_t", "merge_shape"], ["merged"]),
        n("MatMul", ["merged", "head"], ["logits"]),
    ]
    g = helper.make_graph(nodes, "tiny_lm", [helper.make_tensor_value_info("ids", I64, ["batch", "seq"])],
                          [helper.make_tensor_value_info("logits", F, ["batch", "seq", VOCAB])],
                          [numpy_helper.from_array(v, k) for k, v in consts.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.fixture(scope="module")
def lm():
    return _tiny_language_model()


def _ids(batch, seq, seed):
    ids = np.random.default_rng(seed).integers(2, VOCAB, (batch, seq)).astype(np.int64)
    ids[-1, seq // 2:] = PAD      # a padded row: positions restart, attention masked
    return ids


def test_language_model_runs_under_nn_graph_as_eager_and_ort(lm):
    sess = ort.InferenceSession(lm.SerializeToString(), providers=["CPUExecutionProvider"])
    eager = converter.convert(lm)
    graph = converter.convert(lm, graph=True)
    ids = _ids(2, 7, 0)
    want = sess.run(None, {"ids": ids})[0]
    for _ in range(2):                       # the first call compiles, the second reuses the plan
        got = graph(flow.tensor(ids)).numpy()
        np.testing.assert_array_equal(got, eager(flow.tensor(ids)).numpy())
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad_id, where", [(VOCAB, (1, 2)), (-VOCAB - 1, (0, 0))])
def test_out_of_range_ids_under_nn_graph_raise_naming_the_gather(lm, bad_id, where):
    graph = converter.convert(lm, graph=True)
    ids = _ids(2, 7, 1)
    graph(flow.tensor(ids))                  # compiled with valid ids
    ids[where] = bad_id
    with pytest.raises(converter.NodeExecutionError,
                       match=rf"node 'embed_tokens/Gather' \(Gather\).*index {bad_id} at position "
                             rf"\({where[0]}, {where[1]}\) is out of range \[-{VOCAB}, {VOCAB - 1}\]"):
        graph(flow.tensor(ids))
    ids[where] = -VOCAB                      # the smallest valid id wraps, as in eager
    np.testing.assert_array_equal(graph(flow.tensor(ids)).numpy(),
                                  converter.convert(lm)(flow.tensor(ids)).numpy())


def test_out_of_range_on_the_first_call_is_the_same_error(lm):
    ids = _ids(2, 7, 2)
    ids[0, 3] = 99
    with pytest.raises(converter.NodeExecutionError, match=r"node 'embed_tokens/Gather' \(Gather\).*index 99"):
        converter.convert(lm, graph=True)(flow.tensor(ids))


def test_reverse_sequence_lengths_are_checked_on_the_device():
    # A length past the time axis would index past it in OneFlow's gather: under nn.Graph the
    # check runs on the device and raises the eager error after the call.
    g = helper.make_graph([helper.make_node("ReverseSequence", ["x", "lens"], ["y"], name="flip_runs",
                                            time_axis=0, batch_axis=1)], "rev",
                          [helper.make_tensor_value_info("x", F, [4, 3]),
                           helper.make_tensor_value_info("lens", I64, [3])],
                          [helper.make_tensor_value_info("y", F, [4, 3])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    x = flow.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    eager, graph = converter.convert(model), converter.convert(model, graph=True)
    good = flow.tensor(np.int64([4, 0, 2]))
    for _ in range(2):
        np.testing.assert_array_equal(graph(x, good).numpy(), eager(x, good).numpy())
    bad = flow.tensor(np.int64([4, 5, 2]))
    with pytest.raises(converter.NodeExecutionError, match=r"'flip_runs' \(ReverseSequence\).*sequence_lens 5 "
                                                           r"at position 1 must be in \[0, 4\]") as graph_error:
        graph(x, bad)
    with pytest.raises(converter.NodeExecutionError) as eager_error:
        eager(x, bad)
    assert str(graph_error.value) == str(eager_error.value)
