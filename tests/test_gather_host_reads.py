"""Gather with constant indices over an axis whose length is unknown at build time checks the
indices per call against the length without reading a tensor back to the host: nn.Graph's
host-read probe finds nothing (it used to, and convert(graph=True) then converted the whole
model a second time; the converted ViT-B/16 had 36 such Gathers). Out-of-range still raises."""
from __future__ import annotations

import numpy as np
import oneflow as flow
import pytest
from onnx import TensorProto, helper, numpy_helper

import converter
from converter.errors import NodeExecutionError
from converter.graph_mode import host_reads


def _gather_model(index):
    graph = helper.make_graph(
        [helper.make_node("Gather", ["x", "i"], ["y"], axis=0)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", 3])],
        [numpy_helper.from_array(np.array(index, np.int64), "i")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_constant_indices_over_a_symbolic_axis_read_nothing_back():
    module = converter.convert(_gather_model([1, -1]))
    x = flow.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    assert host_reads(module, x) == []
    np.testing.assert_array_equal(module(x).numpy(), x.numpy()[[1, -1]])


def test_constant_indices_out_of_range_still_raise():
    module = converter.convert(_gather_model([5]))
    with pytest.raises(NodeExecutionError, match="out of range"):
        module(flow.tensor(np.zeros((2, 3), np.float32)))
