"""Property family: a model with symbolic input dims, converted once with ``graph=True`` and
called at two input sizes (issue 20 item 5). Each call is one plan of the ConvertedGraph (its
shape arithmetic resolved for that call's shapes); both must equal the eager module within float
noise and ONNX Runtime under the one rule (prop_oracle.mismatch).

The drawn chains keep every dim free: elementwise ops with scalar operands, Transpose, Softmax,
ReduceMean, Flatten, Concat of the value with itself, and Reshape to a target computed from
Shape (Shape -> Slice -> Concat with -1), so any size of the input is legal for the model.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import event, given, reject
from hypothesis import strategies as st
from onnx import helper

from prop_oracle import Example, build_model, mismatch, run_ort
from prop_strategies import OPSETS, i64, node, rng_of, values

pytestmark = pytest.mark.properties

UNARY = ("Relu", "Neg", "Abs", "Sigmoid", "Tanh", "Exp")
BINARY = ("Add", "Sub", "Mul", "Max", "Min")


@st.composite
def dynamic_chain(draw):
    """(Example at the first size, inputs at the second size, symbolic input shape)."""
    opset = draw(st.sampled_from(OPSETS))
    rank = draw(st.integers(1, 4))
    first = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    second = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    if first == second:
        second = (first[0] + 1,) + first[1:]
    nodes, consts, cur = [], {}, "x"
    for i in range(draw(st.integers(2, 5))):
        out = f"t{i}"
        kind = draw(st.sampled_from(["unary", "binary", "transpose", "softmax", "reduce", "flatten",
                                     "concat", "reshape_from_shape"]))
        if kind == "unary":
            nodes.append(node(draw(st.sampled_from(UNARY)), [cur], [out]))
        elif kind == "binary":
            consts[f"c{i}"] = np.full((1,) * draw(st.integers(0, rank)), draw(st.sampled_from([0.5, -1.5, 2.0])),
                                      np.float32)
            nodes.append(node(draw(st.sampled_from(BINARY)), [cur, f"c{i}"], [out]))
        elif kind == "transpose":
            nodes.append(node("Transpose", [cur], [out], perm=list(draw(st.permutations(range(rank))))))
        elif kind == "softmax":
            nodes.append(node("Softmax", [cur], [out], axis=-1 if opset >= 13 else rank - 1))
        elif kind == "reduce":
            axis = draw(st.integers(0, rank - 1))
            if opset >= 18:
                consts[f"ax{i}"] = i64([axis])
                nodes.append(node("ReduceMean", [cur, f"ax{i}"], [out], keepdims=1))
            else:
                nodes.append(node("ReduceMean", [cur], [out], axes=[axis], keepdims=1))
        elif kind == "flatten":
            axis = draw(st.integers(0, rank))
            nodes.append(node("Flatten", [cur], [out], axis=axis))
            rank = 2
        elif kind == "concat":
            nodes.append(node("Concat", [cur, cur], [out], axis=draw(st.integers(-rank, rank - 1))))
        else:
            # target = Concat(Shape(cur)[:keep], [-1]): the leading dims kept, the rest merged
            keep = draw(st.integers(0, rank - 1))
            consts[f"s{i}"], consts[f"e{i}"], consts[f"m{i}"] = i64([0]), i64([keep]), i64([-1])
            nodes += [node("Shape", [cur], [f"sh{i}"]), node("Slice", [f"sh{i}", f"s{i}", f"e{i}"], [f"lead{i}"]),
                      node("Concat", [f"lead{i}", f"m{i}"], [f"tgt{i}"], axis=0),
                      node("Reshape", [cur, f"tgt{i}"], [out])]
            rank = keep + 1
        cur = out
    rng = rng_of(draw)
    example = Example(opset, nodes, {"x": values(rng, first, np.float32, "unit")}, consts)
    return example, [values(rng, second, np.float32, "unit")], [f"d{j}" for j in range(len(first))]


def _symbolic(model: onnx.ModelProto, dims: list) -> onnx.ModelProto:
    """The model with its input declared [d0, d1, ...] and its output's dims named o0, o1, ...
    (its rank as inferred; each size left to the call)."""
    x = model.graph.input[0]
    del model.graph.input[:]
    model.graph.input.append(helper.make_tensor_value_info(x.name, x.type.tensor_type.elem_type, dims))
    out = model.graph.output[0]
    elem, rank = out.type.tensor_type.elem_type, len(out.type.tensor_type.shape.dim)
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info(out.name, elem, [f"o{j}" for j in range(rank)]))
    return model


@given(drawn=dynamic_chain())
def test_dynamic_shapes_graph_two_sizes(isolated_graph_sizes_converter, drawn):
    example, second, dims = drawn
    model = build_model(example)
    if model is None:
        event("discarded: invalid per onnx")
        reject()
    model = _symbolic(model, dims)
    calls = [list(example.inputs.values()), second]
    refs = [run_ort(model, {"x": call[0]}) for call in calls]
    if any(r.kind != "ok" for r in refs):
        event("discarded: ORT does not run one of the sizes")
        reject()
    stage, kind, payload = isolated_graph_sizes_converter(model, calls)
    assert stage == "ok", f"converter {stage}: {kind}: {payload}\n  model: {example.describe()}"
    for call, ref, got in zip(calls, refs, payload):
        problem = mismatch(got, ref.outputs)
        assert not problem, (f"input {call[0].shape}: {problem}\n  model: {example.describe()}"
                             f"\n  input dims {dims}, sizes {[c[0].shape for c in calls]}")
