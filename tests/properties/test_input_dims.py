"""Declared input dims (issue 21 item 1, converter.dims): random signatures - fixed sizes,
names repeated across inputs, unknown dims written every way exporters write them (no value,
-1 and other negatives, '?', an empty dim_param) - against random concrete shapes. Each input
goes through an Identity. The converter must accept exactly what ONNX Runtime accepts, except
in two places where ONNX Runtime departs from the spec (IR.md) and the converter follows the
spec (docs/operators.md, "Input dims"): a name meeting two sizes (ONNX Runtime checks only
fixed dims and ranks; the spec: one name, one size) and an input declared as a scalar (shape
with no dims) given a tensor of higher rank (ONNX Runtime skips the check of a rank-0
declaration). A refusal is an InputError; an accepted call returns its inputs unchanged."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from onnx import TensorProto, helper

from prop_oracle import run_ort

pytestmark = pytest.mark.properties

NAMES = ("N", "M")
# How a dim is declared: ("fixed", size) | ("named", name) | ("unknown", form).
UNKNOWN_FORMS = ("unset", "-1", "negative", "?", "empty_param")

dims = st.one_of(st.tuples(st.just("fixed"), st.integers(0, 3)),
                 st.tuples(st.just("named"), st.sampled_from(NAMES)),
                 st.tuples(st.just("unknown"), st.sampled_from(UNKNOWN_FORMS)))
signatures = st.lists(st.lists(dims, max_size=4), min_size=1, max_size=3)


def _dim_proto(d, kind, value):
    if kind == "fixed":
        d.dim_value = value
    elif kind == "named":
        d.dim_param = value
    elif value == "-1":
        d.dim_value = -1
    elif value == "negative":
        d.dim_value = -7
    elif value == "?":
        d.dim_param = "?"
    elif value == "empty_param":
        d.dim_param = ""
    # "unset": neither field


def identity_model(signature) -> onnx.ModelProto:
    inputs, outputs, nodes = [], [], []
    for i, sig in enumerate(signature):
        vi = helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, [])
        for kind, value in sig:
            _dim_proto(vi.type.tensor_type.shape.dim.add(), kind, value)
        inputs.append(vi)
        out = onnx.ValueInfoProto()
        out.CopyFrom(vi)      # declared as exporters do: the output type repeats the input's
        out.name = f"y{i}"
        outputs.append(out)
        nodes.append(helper.make_node("Identity", [f"x{i}"], [f"y{i}"]))
    return helper.make_model(helper.make_graph(nodes, "dims", inputs, outputs),
                             opset_imports=[helper.make_opsetid("", 17)])


@st.composite
def cases(draw):
    signature = draw(signatures)
    name_size = {n: draw(st.integers(0, 3)) for n in NAMES}
    shapes = []
    for sig in signature:
        rank = len(sig) if draw(st.integers(0, 9)) else draw(st.integers(0, 5))   # mostly the declared rank
        shape = []
        for k in range(rank):
            kind, value = sig[k] if k < len(sig) else ("unknown", "unset")
            if draw(st.integers(0, 5)) == 0:     # now and then any size: a mismatch or not
                shape.append(draw(st.integers(0, 4)))
            elif kind == "fixed":
                shape.append(value)
            elif kind == "named":
                shape.append(name_size[value])
            else:
                shape.append(draw(st.integers(0, 4)))
        shapes.append(tuple(shape))
    return signature, shapes


def spec_departure(signature, shapes) -> str:
    """Where the spec refuses what ONNX Runtime runs: a declared scalar given a tensor, or a
    name with two sizes (over the inputs whose rank matches); '' otherwise."""
    seen: dict = {}
    for sig, shape in zip(signature, shapes):
        if not sig and shape:
            return "a declared scalar given a tensor"
        if len(sig) != len(shape):
            continue
        for (kind, value), n in zip(sig, shape):
            if kind == "named" and seen.setdefault(value, n) != n:
                return "a name with two sizes"
    return ""


@given(case=cases())
def test_declared_dims_accept_what_onnx_runtime_accepts(isolated_converter, case):
    signature, shapes = case
    model = identity_model(signature)
    onnx.checker.check_model(model)
    rng = np.random.default_rng(0)
    feeds = {f"x{i}": rng.standard_normal(s).astype(np.float32) for i, s in enumerate(shapes)}
    ref = run_ort(model, feeds)
    assert ref.kind in ("ok", "refused"), ref.detail
    stage, kind, got = isolated_converter(model, list(feeds.values()))
    departure = spec_departure(signature, shapes)
    if ref.kind == "ok" and departure:
        event(f"ORT accepts {departure}; the converter refuses (spec)")
    if ref.kind == "ok" and not departure:
        event("accepted by both")
        assert stage == "ok", f"{stage} {kind}: {got}"
        for out, x in zip(got, feeds.values()):
            np.testing.assert_array_equal(out, x)
    else:
        event("refused by the converter")
        assert (stage, kind) == ("run", "InputError"), f"{stage} {kind}: {got} (ORT: {ref.kind} {ref.detail})"
