"""If / Loop / Scan / SequenceMap (issue 13 item 3): subgraphs converted by the same builder,
outer-scope values read at run time, checked against ONNX Runtime; inventory looks inside
bodies; graph mode unrolls what is static and refuses the rest before tracing. Seconds."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import oneflow as flow
import pytest
from onnx import TensorProto, helper, numpy_helper

import converter
from converter.errors import NodeBuildError

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def model_of(nodes, inputs, outputs, inits=(), opset=16):
    g = helper.make_graph(nodes, "cf", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(m, full_check=True)
    return m


def same_as_ort(model, feeds: dict):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, feeds)
    got = converter.convert(model)(*[flow.tensor(v) for v in feeds.values()])
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.numpy().dtype == w.dtype
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-5, atol=1e-6)
    return got


X = np.arange(6, dtype=np.float32).reshape(2, 3) / 7


def if_model():
    """y = If(c) then x + a else x - a, with a = 2x computed in the outer scope."""
    then_g = helper.make_graph([helper.make_node("Add", ["x", "a"], ["t"])], "then", [], [vi("t", F, [2, 3])])
    else_g = helper.make_graph([helper.make_node("Sub", ["x", "a"], ["e"])], "else", [], [vi("e", F, [2, 3])])
    nodes = [helper.make_node("Mul", ["x", "two"], ["a"]),
             helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then_g, else_branch=else_g)]
    return model_of(nodes, [vi("x", F, [2, 3]), vi("c", B, [])], [vi("y", F, [2, 3])],
                    [("two", np.float32(2))])


@pytest.mark.parametrize("cond", [True, False])
def test_if_reads_outer_scope_values(cond):
    same_as_ort(if_model(), {"x": X, "c": np.array(cond)})


def loop_model(with_m=True, with_cond=True, limit=None):
    """v_{i+1} = v_i + x (outer); scan output v_i * i; body condition sum(v) < limit when given."""
    body_nodes = [helper.make_node("Add", ["v", "x"], ["v_next"]),
                  helper.make_node("Cast", ["i"], ["i_f"], to=F),
                  helper.make_node("Mul", ["v", "i_f"], ["scan"])]
    if limit is None:
        body_nodes.append(helper.make_node("Identity", ["cond_in"], ["cond_out"]))
    else:
        body_nodes += [helper.make_node("ReduceSum", ["v_next"], ["s"], keepdims=0),
                       helper.make_node("Less", ["s", "limit"], ["cond_out"])]
    body = helper.make_graph(body_nodes, "body",
                             [vi("i", I64, []), vi("cond_in", B, []), vi("v", F, [2, 3])],
                             [vi("cond_out", B, []), vi("v_next", F, [2, 3]), vi("scan", F, [2, 3])])
    node = helper.make_node("Loop", ["m" if with_m else "", "c" if with_cond else "", "v0"],
                            ["v_final", "scans"], name="loop", body=body)
    inputs = [vi("x", F, [2, 3]), vi("v0", F, [2, 3])] + ([vi("m", I64, [])] if with_m else []) \
        + ([vi("c", B, [])] if with_cond else [])
    return model_of([node], inputs, [vi("v_final", F, [2, 3]), vi("scans", F, [None, 2, 3])],
                    [("limit", np.float32(limit))] if limit is not None else [])


@pytest.mark.parametrize("with_m, with_cond, limit, m, c", [
    (True, True, None, 3, True),     # trip count, condition passed on
    (True, True, None, 0, True),     # zero iterations: carried = initial, empty scan output
    (True, True, None, 4, False),    # condition false from the start
    (True, False, None, 2, None),    # trip count only
    (False, True, 20.0, None, True),  # condition computed by the body, no trip count
    (True, True, 20.0, 2, True),     # both: the trip count stops first
])
def test_loop_trip_count_and_condition_combinations(with_m, with_cond, limit, m, c):
    feeds = {"x": X, "v0": X + 1}
    if with_m:
        feeds["m"] = np.array(m, dtype=np.int64)
    if with_cond:
        feeds["c"] = np.array(c)
    same_as_ort(loop_model(with_m, with_cond, limit), feeds)


def test_nested_loop_in_if_reads_two_scopes_out():
    inner = loop_model().graph.node[0]
    then_g = helper.make_graph([inner], "then", [], [vi("v_final", F, [2, 3]), vi("scans", F, [None, 2, 3])])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["o1"]),
                                helper.make_node("Unsqueeze", ["x", "zero"], ["o2"])],
                               "else", [], [vi("o1", F, [2, 3]), vi("o2", F, [1, 2, 3])])
    node = helper.make_node("If", ["c"], ["y", "ys"], then_branch=then_g, else_branch=else_g)
    model = model_of([node], [vi("x", F, [2, 3]), vi("v0", F, [2, 3]), vi("m", I64, []), vi("c", B, [])],
                     [vi("y", F, [2, 3]), vi("ys", F, [None, 2, 3])], [("zero", np.int64([0]))])
    for c in (True, False):
        same_as_ort(model, {"x": X, "v0": X * 3, "m": np.array(2, dtype=np.int64), "c": np.array(c)})


def scan_model(length=4):
    """Two scan inputs (one reversed, one along axis 1), a running sum state, two scan outputs
    (one reversed along axis 1)."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "a"], ["s1"]), helper.make_node("Mul", ["s1", "b"], ["e1"]),
         helper.make_node("Add", ["e1", "w"], ["e2"])],
        "body", [vi("s", F, [2]), vi("a", F, [2]), vi("b", F, [2])],
        [vi("s1", F, [2]), vi("e1", F, [2]), vi("e2", F, [2])])
    node = helper.make_node("Scan", ["s0", "xa", "xb"], ["s_final", "ya", "yb"], num_scan_inputs=2, body=body,
                            scan_input_axes=[0, 1], scan_input_directions=[1, 0],
                            scan_output_axes=[0, -1], scan_output_directions=[0, 1])
    n = length
    return model_of([node], [vi("s0", F, [2]), vi("xa", F, [n, 2]), vi("xb", F, [2, n])],
                    [vi("s_final", F, [2]), vi("ya", F, [n, 2]), vi("yb", F, [2, n])],
                    [("w", np.float32([0.5, -1]))])


def test_scan_axes_and_directions_with_outer_constant():
    rng = np.random.default_rng(0)
    same_as_ort(scan_model(), {"s0": np.float32([1, 2]), "xa": rng.standard_normal((4, 2)).astype(np.float32),
                               "xb": rng.standard_normal((2, 4)).astype(np.float32)})


def test_scan_of_zero_length_gives_empty_outputs():
    got = converter.convert(scan_model("L"))(
        flow.tensor(np.float32([1, 2])), flow.tensor(np.zeros((0, 2), np.float32)),
        flow.tensor(np.zeros((2, 0), np.float32)))
    assert [tuple(t.shape) for t in got] == [(2,), (0, 2), (2, 0)]
    np.testing.assert_array_equal(got[0].numpy(), [1, 2])


def test_sequence_map_over_a_sequence_and_a_tensor():
    body = helper.make_graph([helper.make_node("Add", ["e", "t"], ["o"]), helper.make_node("Shape", ["o"], ["sh"])],
                             "body", [vi("e", F, [2]), vi("t", F, [1])], [vi("o", F, [2]), vi("sh", I64, [None])])
    nodes = [helper.make_node("SplitToSequence", ["x"], ["seq"], axis=1, keepdims=0),
             helper.make_node("SequenceMap", ["seq", "t"], ["outs", "shapes"], body=body),
             helper.make_node("ConcatFromSequence", ["outs"], ["y"], axis=0, new_axis=1),
             helper.make_node("ConcatFromSequence", ["shapes"], ["z"], axis=0)]
    model = model_of(nodes, [vi("x", F, [2, 3]), vi("t", F, [1])], [vi("y", F, [3, 2]), vi("z", I64, [3])],
                     opset=17)
    same_as_ort(model, {"x": X, "t": np.float32([0.25])})


def test_inventory_reports_an_unsupported_op_inside_a_loop_body():
    model = loop_model()
    body = model.graph.node[0].attribute[0].g
    body.node.insert(0, helper.make_node("Mystery", ["v"], ["m_out"], name="mystery", domain="com.example"))
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    found = converter.inventory(model, check=False)
    assert [(u.op_type, u.nodes) for u in found] == [("Mystery", ("loop/body/mystery",))]
    with pytest.raises(converter.UnsupportedOperatorError, match="loop/body/mystery"):
        converter.convert(model, check=False)


def test_subgraph_with_the_wrong_number_of_outputs_is_refused_naming_the_node():
    model = if_model()
    then_g = next(a.g for a in model.graph.node[1].attribute if a.name == "then_branch")
    then_g.output.append(vi("x", F, [2, 3]))   # 2 outputs for the node's 1
    with pytest.raises(NodeBuildError, match=r"branch.*then_branch.* has 2 outputs, expected 1"):
        converter.convert(model, check=False)


# --- graph mode ------------------------------------------------------------------------------------
def test_strict_graph_mode_refuses_data_dependent_control_flow_before_tracing():
    with pytest.raises(converter.GraphModeError, match=r"node 'branch' \(If\).*condition's value"):
        converter.convert(if_model(), graph="strict")
    with pytest.raises(converter.GraphModeError, match=r"node 'loop' \(Loop\).*iteration count"):
        converter.convert(loop_model(), graph="strict")


@pytest.mark.parametrize("cond", [True, False])
def test_graph_mode_breaks_at_data_dependent_control_flow(cond):
    # The If on an input's value runs eagerly between compiled segments (issue 20 item 3).
    args = (flow.tensor(X), flow.tensor(np.array(cond)))
    graph = converter.convert(if_model(), graph=True)
    with pytest.warns(converter.graph_mode.GraphBreakWarning, match=r"2 segments.*node 'branch' \(If\)"):
        got = graph(*args)
    np.testing.assert_array_equal(got.numpy(), converter.convert(if_model())(*args).numpy())
    assert [(s.kind, s.nodes) for s in graph.segments] == [("graph", ("#0:Mul",)), ("eager", ("branch",))]
    other = (flow.tensor(X), flow.tensor(np.array(not cond)))   # same shapes: the plan is reused
    np.testing.assert_array_equal(graph(*other).numpy(), converter.convert(if_model())(*other).numpy())


def test_graph_mode_unrolls_scan_and_a_constant_trip_count_loop():
    rng = np.random.default_rng(1)
    feeds = [np.float32([1, 2]), rng.standard_normal((4, 2)).astype(np.float32),
             rng.standard_normal((2, 4)).astype(np.float32)]
    eager = converter.convert(scan_model())(*map(flow.tensor, feeds))
    static = converter.convert(scan_model(), graph=True)(*map(flow.tensor, feeds))
    for a, b in zip(eager, static):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-6)

    model = loop_model(with_cond=False)
    model.graph.initializer.append(numpy_helper.from_array(np.array(3, dtype=np.int64), "m"))
    del model.graph.input[2]          # m: now a constant
    eager = converter.convert(model)(flow.tensor(X), flow.tensor(X))
    static = converter.convert(model, graph=True)(flow.tensor(X), flow.tensor(X))
    for a, b in zip(eager, static):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-6)


def test_type_constraints_are_checked_inside_subgraphs():
    # Pad-12 on bool inside a branch, reading the outer bool input: ORT refuses the graph;
    # the converter names the node through its If, not converting it on trust.
    pad = helper.make_node("Pad", ["b", "pads"], ["t"], name="pad_bool")
    then_g = helper.make_graph([pad], "then", [], [vi("t", B, [4])],
                               [numpy_helper.from_array(np.int64([1, 1]), "pads")])
    else_g = helper.make_graph([helper.make_node("Identity", ["b"], ["e"])], "else", [], [vi("e", B, [2])])
    nodes = [helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then_g, else_branch=else_g)]
    g = helper.make_graph(nodes, "cf", [vi("b", B, [2]), vi("c", B, [])], [vi("y", B, [None])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 12)])   # onnx.checker passes it
    with pytest.raises(Exception) as ort_error:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert "tensor(bool)" in str(ort_error.value)
    with pytest.raises(converter.InvalidModelError, match=r"node 'branch/then_branch/pad_bool' \(Pad, opset 12"):
        converter.convert(model)
