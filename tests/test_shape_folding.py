"""The Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain exporters emit (torch.onnx's
``x.view(x.size(0), -1)``) folds to one Reshape when the input's shape is static, and still
runs when the batch dimension is dynamic."""
import numpy as np
import oneflow as flow
import onnx
from onnx import TensorProto, helper

import converter


def _flatten_chain(batch):
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("z", TensorProto.INT64, [], [0])),
        helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "flatten_chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 12])],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [0]),
                     helper.make_tensor("minus_one", TensorProto.INT64, [1], [-1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_static_shape_chain_folds_to_one_reshape():
    module = converter.convert(_flatten_chain(2))
    assert [s.op_type for s in module.steps] == ["Reshape"]
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(module(flow.tensor(x)).numpy(), x.reshape(2, 12))


def test_dynamic_batch_chain_runs_at_call_time():
    module = converter.convert(_flatten_chain("N"))
    assert "Shape" in [s.op_type for s in module.steps]
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, 3, 4)).astype(np.float32)
        np.testing.assert_array_equal(module(flow.tensor(x)).numpy(), x.reshape(n, 12))
