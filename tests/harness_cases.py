"""Tiny hand-made ONNX cases for the harness tests (no source framework, seconds to run).

A case directory has what zoo.export writes: model.onnx, inputs.npz, expected.npz,
meta.json. The expected outputs come from onnx's reference evaluator, independent of both
the converter and ONNX Runtime.
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from harness.cases import Case


def conv_relu_model(relu_name: str = "relu") -> onnx.ModelProto:
    """x[1,3,8,8] -> Conv 3x3 -> Relu(<relu_name>) -> Conv 1x1 -> GlobalAveragePool -> Flatten."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.normal(size=(4,)).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.normal(size=(6, 4, 1, 1)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv_1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name=relu_name),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv_2"),
        helper.make_node("GlobalAveragePool", ["c2"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["logits"], name="flatten"),
    ]
    graph = helper.make_graph(nodes, "conv_relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 6])],
                              initializer=[w1, b1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_case(directory: str, model: onnx.ModelProto, name: str) -> str:
    os.makedirs(directory, exist_ok=True)
    onnx.save(model, os.path.join(directory, "model.onnx"))
    x = np.random.default_rng(1).uniform(-1, 1, size=(1, 3, 8, 8)).astype(np.float32)
    (y,) = ReferenceEvaluator(model).run(None, {"x": x})
    np.savez(os.path.join(directory, "inputs.npz"), x=x)
    np.savez(os.path.join(directory, "expected.npz"), logits=y)
    meta = {"framework": "onnx", "model": name, "architecture": "ConvRelu", "opset": 13, "seed": 0,
            "input_names": ["x"], "output_names": ["logits"], "classifier": True,
            "versions": {"onnx": onnx.__version__}}
    with open(os.path.join(directory, "meta.json"), "w") as f:
        json.dump(meta, f)
    return directory


def prepared_case(tmp_path, relu_name: str, device: str = "cpu") -> Case:
    """A harness Case whose export is already done: a conv_relu model with that Relu name."""
    name = f"conv_{relu_name}"
    directory = write_case(str(tmp_path / "cases" / name), conv_relu_model(relu_name), name)
    return Case(framework="onnx", model=name, architecture="ConvRelu", opset=13, device=device,
                prepared_dir=directory)
