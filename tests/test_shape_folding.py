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


# --- the conversion-time size budget (converter/folding.py) ---------------------------------------
from onnx import numpy_helper  # noqa: E402
import pytest  # noqa: E402

from converter.errors import NodeExecutionError  # noqa: E402


def _constant_of_shape(dims, fill=np.float32(1.0), extra=()):
    nodes = [helper.make_node("ConstantOfShape", ["s"], ["c"], name="cos0",
                              value=numpy_helper.from_array(np.array([fill])))]
    nodes += list(extra) or [helper.make_node("Identity", ["c"], ["y"], name="out")]
    graph = helper.make_graph(nodes, "cos", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.array(dims, np.int64), "s")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_fold_within_budget_is_a_constant():
    module = converter.convert(_constant_of_shape([4, 4]), check=False)
    assert module.steps == []
    assert module().numpy().tolist() == [[1.0] * 4] * 4


def test_fold_above_budget_stays_a_runtime_node():
    # 64 x 64 float32 = 16 KiB: above a 4 KiB budget, computed when the module runs instead.
    module = converter.convert(_constant_of_shape([64, 64]), check=False, fold_limit_bytes=4096)
    assert [s.op_type for s in module.steps] == ["ConstantOfShape", "Identity"]
    assert module().numpy().shape == (64, 64)
    assert all(b.numel() <= 2 for b in module.buffers())   # only the shape vector is kept


def test_generic_fold_above_budget_stays_a_runtime_node():
    # Tile of a constant: folded through _try_fold, which checks the size before and after.
    tile = helper.make_node("Tile", ["c", "r"], ["y"], name="tile0")
    model = _constant_of_shape([2, 2], extra=[tile])
    model.graph.initializer.append(numpy_helper.from_array(np.array([32, 32], np.int64), "r"))
    small = converter.convert(model, check=False)
    assert small.steps == []
    big = converter.convert(model, check=False, fold_limit_bytes=1024)
    assert [s.op_type for s in big.steps] == ["Tile"]
    np.testing.assert_array_equal(big().numpy(), small().numpy())


def test_absurd_runtime_size_is_a_typed_error_before_allocating():
    # 2**40 float32 elements: refused from the shape, naming node, shape and size. Shape
    # inference knows this output's size, so the module checks it before the step runs.
    module = converter.convert(_constant_of_shape([2**40]), check=False)
    assert "ConstantOfShape" in [s.op_type for s in module.steps]
    with pytest.raises(NodeExecutionError, match=r"'cos0' \(ConstantOfShape\).*TensorTooLarge: output 'c' of "
                                                 r"shape \[1099511627776\] \(float32\) needs 4.0 TiB"):
        module()


def test_runtime_shape_is_checked_by_the_handler():
    # The shape arrives at run time (no inferred size): ConstantOfShape checks it itself.
    graph = helper.make_graph([helper.make_node("ConstantOfShape", ["s"], ["y"], name="cos0")], "cos",
                              [helper.make_tensor_value_info("s", TensorProto.INT64, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    module = converter.convert(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), check=False)
    assert module(flow.tensor(np.array([2, 3]))).numpy().shape == (2, 3)
    with pytest.raises(NodeExecutionError, match=r"'cos0' \(ConstantOfShape\).*TensorTooLarge: output of shape "
                                                 r"\[1048576, 1048576\] \(float32\) needs 4.0 TiB"):
        module(flow.tensor(np.array([2**20, 2**20])))
