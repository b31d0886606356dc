"""One helper for the tests/test_semantics_*.py regression tests: a single ONNX node, run through
the converter and compared with ONNX Runtime (or a spec-derived expectation where ORT departs
from the spec; each such test says why)."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import oneflow as flow
from onnx import helper, numpy_helper

import converter
from converter.dtypes import to_tensor


def node_model(op, inputs: dict, *, consts: dict = None, opset=17, n_outputs=1, **attrs):
    """``op`` reading runtime ``inputs`` (name -> array; None = empty optional input) then
    the ``consts`` initializers, in that order."""
    consts = consts or {}
    names = [("" if v is None else k) for k, v in {**inputs, **consts}.items()]
    outputs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op, names, outputs, name=f"{op.lower()}_node", **attrs)
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(
        [node], op,
        [vi(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for k, v in inputs.items() if v is not None],
        [vi(o, onnx.TensorProto.UNDEFINED, None) for o in outputs],
        initializer=[numpy_helper.from_array(v, k) for k, v in consts.items() if v is not None])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return onnx.shape_inference.infer_shapes(model)   # ORT needs the outputs' types


def run_converted(model, inputs: dict) -> list:
    module = converter.convert(model)
    with flow.no_grad():
        out = module(*[to_tensor(v) for v in inputs.values() if v is not None])
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def run_ort(model, inputs: dict) -> list:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {k: v for k, v in inputs.items() if v is not None})


def assert_outputs(got: list, expected: list, rtol=1e-5, atol=1e-6):
    """Same count, dtype and shape, then values (np.allclose semantics, reference second)."""
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        e = np.asarray(e)
        assert g.dtype == e.dtype, (g.dtype, e.dtype)
        assert g.shape == e.shape, (g.shape, e.shape)
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)


def check_against_ort(op, inputs: dict, *, consts=None, opset=17, rtol=1e-5, atol=1e-6, n_outputs=1, **attrs):
    model = node_model(op, inputs, consts=consts, opset=opset, n_outputs=n_outputs, **attrs)
    expected = run_ort(model, inputs)
    assert_outputs(run_converted(model, inputs), expected, rtol=rtol, atol=atol)
    return expected
