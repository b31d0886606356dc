"""Property family: every graph rewrite (converter/rewrites) leaves the model's outputs equal to
the unrewritten model's within float32 rounding, on drawn shapes and pattern variants, and the
pass fires on the pattern it names (module.rewrites). In-process: the models are small and
their ops are validated arithmetic (nothing here reaches a OneFlow CHECK)."""
from __future__ import annotations

import math

import numpy as np
import oneflow as flow
import onnx
import pytest
from hypothesis import given, strategies as st
from onnx import TensorProto, helper, numpy_helper

import converter

pytestmark = pytest.mark.properties
F32 = TensorProto.FLOAT


class _Graph:
    """A tiny ONNX graph under construction: nodes, initializers, one float32 input."""

    def __init__(self, shape):
        self.shape, self.nodes, self.inits, self.extra_outputs = list(shape), [], [], []
        self._n = 0

    def const(self, value) -> str:
        self._n += 1
        name = f"c{self._n}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, np.float32) if np.asarray(value).dtype.kind == "f"
                                                  else np.asarray(value), name))
        return name

    def op(self, op_type, inputs, **attrs) -> str:
        self._n += 1
        out = f"v{self._n}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def model(self, out: str, opset: int):
        def make(outputs):
            graph = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info("x", F32, self.shape)],
                                      outputs, self.inits)
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
            model.ir_version = 8
            return model
        inferred = {vi.name: vi for vi in onnx.shape_inference.infer_shapes(make([])).graph.value_info}
        return make([inferred[n] for n in [out] + self.extra_outputs])


def _assert_same(model, x, expect_pass=None, fired_at_least=1):
    plain = converter.convert(model, optimize=False)
    fused = converter.convert(model)
    with flow.no_grad():
        want = plain(flow.tensor(x))
        got = fused(flow.tensor(x))
    want = want if isinstance(want, tuple) else (want,)
    got = got if isinstance(got, tuple) else (got,)
    for w, g in zip(want, got):
        w, g = w.numpy(), g.numpy()
        assert w.shape == g.shape
        scale = max(float(np.abs(w).max(initial=0.0)), 1.0)
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5 * scale)
    if expect_pass is not None:
        assert fused.rewrites.get(expect_pass, 0) >= fired_at_least, fused.rewrites
    return fused.rewrites


@st.composite
def _input(draw, min_rank=2, max_rank=4):
    rank = draw(st.integers(min_rank, max_rank))
    shape = [draw(st.integers(1, 5)) for _ in range(rank)]
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    return shape, rng, (rng.standard_normal(shape) * draw(st.sampled_from([0.1, 1.0, 5.0]))).astype(np.float32)


def _reduce_mean(g, name, axes, opset):
    if opset >= 18:
        return g.op("ReduceMean", [name, g.const(np.array(axes, np.int64))])
    return g.op("ReduceMean", [name], axes=axes)


def _inverse_sqrt_times(g, num, under, form):
    s = g.op("Sqrt", [under])
    if form == 0:
        return g.op("Div", [num, s])
    inverse = g.op("Reciprocal", [s]) if form == 1 else g.op("Div", [g.const(np.float32(1)), s])
    return g.op("Mul", [num, inverse])


def _square(g, name, via_pow):
    return g.op("Pow", [name, g.const(np.float32(2))]) if via_pow else g.op("Mul", [name, name])


@given(inp=_input(), data=st.data())
def test_layer_norm(inp, data):
    shape, rng, x = inp
    rank = len(shape)
    axis = data.draw(st.integers(1, rank - 1))
    axes = [a - rank if data.draw(st.booleans()) else a for a in range(axis, rank)]
    opset = data.draw(st.sampled_from([13, 18]))
    g = _Graph(shape)
    mean = _reduce_mean(g, "x", axes, opset)
    d = g.op("Sub", ["x", mean])
    var = _reduce_mean(g, _square(g, d, data.draw(st.booleans())), axes, opset)
    eps = g.const(np.float32(data.draw(st.sampled_from([1e-5, 1e-6, 1e-12, 0.1]))))
    y = _inverse_sqrt_times(g, d, g.op("Add", [var, eps]), data.draw(st.integers(0, 2)))
    if data.draw(st.booleans()):
        y = g.op("Mul", [y, g.const(rng.standard_normal(shape[axis:]))])
        if data.draw(st.booleans()):
            y = g.op("Add", [y, g.const(rng.standard_normal(shape[axis:]))])
    leak = data.draw(st.booleans())
    if leak:                            # an intermediate read elsewhere: the pattern must stay
        g.extra_outputs.append(var)
    rewrites = _assert_same(g.model(y, opset), x, None if leak else "layer_norm")
    assert not leak or "layer_norm" not in rewrites


@given(inp=_input(), data=st.data())
def test_rms_norm(inp, data):
    shape, rng, x = inp
    rank = len(shape)
    axis = data.draw(st.integers(1, rank - 1))
    opset = data.draw(st.sampled_from([13, 18]))
    g = _Graph(shape)
    ms = _reduce_mean(g, _square(g, "x", data.draw(st.booleans())), list(range(axis, rank)), opset)
    y = _inverse_sqrt_times(g, "x", g.op("Add", [ms, g.const(np.float32(1e-6))]), data.draw(st.integers(0, 2)))
    if data.draw(st.booleans()):
        y = g.op("Mul", [y, g.const(rng.standard_normal(shape[axis:]))])
    _assert_same(g.model(y, opset), x, "rms_norm")


def _half_x_times(g, x, t, grouping):
    a = g.op("Add", [t, g.const(np.float32(1))])
    half = g.const(np.float32(0.5))
    if grouping == 0:
        return g.op("Mul", [g.op("Mul", [x, a]), half])
    if grouping == 1:
        return g.op("Mul", [g.op("Mul", [x, half]), a])
    return g.op("Mul", [x, g.op("Mul", [a, half])])


@given(inp=_input(1, 4), tanh=st.booleans(), grouping=st.integers(0, 2), variant=st.booleans())
def test_gelu(inp, tanh, grouping, variant):
    shape, _, x = inp
    g = _Graph(shape)
    if tanh:
        cube = g.op("Pow", ["x", g.const(np.float32(3))]) if variant else g.op("Mul", [g.op("Mul", ["x", "x"]), "x"])
        inner = g.op("Add", ["x", g.op("Mul", [cube, g.const(np.float32(0.044715))])])
        t = g.op("Tanh", [g.op("Mul", [inner, g.const(np.float32(math.sqrt(2 / math.pi)))])])
    else:
        scaled = g.op("Div", ["x", g.const(np.float32(math.sqrt(2)))]) if variant else \
            g.op("Mul", [g.const(np.float32(1 / math.sqrt(2))), "x"])
        t = g.op("Erf", [scaled])
    _assert_same(g.model(_half_x_times(g, "x", t, grouping), 13), x, "gelu")


@given(inp=_input(2, 4), data=st.data())
def test_linear_bias(inp, data):
    shape, rng, x = inp
    n = data.draw(st.integers(1, 6))
    g = _Graph(shape)
    y = g.op("MatMul", ["x", g.const(rng.standard_normal((shape[-1], n)))])
    b = g.const(rng.standard_normal((1,) * data.draw(st.integers(0, 1)) + (n,)))
    y = g.op("Add", [y, b] if data.draw(st.booleans()) else [b, y])
    _assert_same(g.model(y, 13), x, "linear_bias")


@given(data=st.data())
def test_conv_fold(data):
    nd = data.draw(st.integers(1, 2))
    c_in, c_out = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    shape = [data.draw(st.integers(1, 2)), c_in] + [data.draw(st.integers(3, 6)) for _ in range(nd)]
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    x = rng.standard_normal(shape).astype(np.float32)
    g = _Graph(shape)
    conv_in = ["x", g.const(rng.standard_normal([c_out, c_in] + [2] * nd))]
    if data.draw(st.booleans()):
        conv_in.append(g.const(rng.standard_normal(c_out)))
    y = g.op("Conv", conv_in, pads=[1] * (2 * nd))
    followers = data.draw(st.lists(st.sampled_from(["BatchNormalization", "Mul", "Add"]), min_size=1, max_size=3))
    for op in followers:
        if op == "BatchNormalization":
            params = [rng.standard_normal(c_out), rng.standard_normal(c_out), rng.standard_normal(c_out),
                      rng.uniform(0.1, 2.0, c_out)]
            y = g.op(op, [y] + [g.const(p) for p in params], epsilon=1e-3)
        else:
            form = data.draw(st.sampled_from(["scalar", "c11", "1c11"]))
            value = {"scalar": rng.standard_normal(()), "c11": rng.standard_normal([c_out] + [1] * nd),
                     "1c11": rng.standard_normal([1, c_out] + [1] * nd)}[form]
            y = g.op(op, [g.const(value), y] if data.draw(st.booleans()) else [y, g.const(value)])
    _assert_same(g.model(y, 13), x, "conv_fold", fired_at_least=len(followers))


@given(inp=_input(2, 4), data=st.data())
def test_transpose_and_reshape_pairs(inp, data):
    shape, _, x = inp
    rank = len(shape)
    g = _Graph(shape)
    if data.draw(st.booleans()):
        p1 = data.draw(st.permutations(range(rank)))
        p2 = list(np.argsort(p1)) if data.draw(st.booleans()) else data.draw(st.permutations(range(rank)))
        y = g.op("Transpose", [g.op("Transpose", ["x"], perm=p1)], perm=[int(p) for p in p2])
        y = g.op("Relu", [y])           # keeps the pair's output off the graph's outputs
    else:
        size = int(np.prod(shape))
        y = g.op("Reshape", ["x", g.const(np.array([size, 1], np.int64))])
        y = g.op("Reshape", [y, g.const(np.array([-1] + shape[1:], np.int64))])
    _assert_same(g.model(y, 13), x, "transpose_pairs")
