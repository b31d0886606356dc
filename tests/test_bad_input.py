"""Bad input → typed converter errors naming the file, node, op or input (issue 3 item 7).

Malformed models are built with onnx.helper; nothing here needs a source framework.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import converter
from converter.errors import (ConverterError, DeviceError, InputError, InvalidModelError, ModelLoadError,
                              NodeBuildError, NodeExecutionError, UnsupportedOperatorError)

F32 = TensorProto.FLOAT


def _model(nodes, inputs, outputs, initializers=(), opsets=(("", 13),)):
    graph = helper.make_graph(nodes, "bad", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])


def _vi(name, shape, elem=F32):
    return helper.make_tensor_value_info(name, elem, shape)


def relu_model():
    return _model([helper.make_node("Relu", ["x"], ["y"], name="relu0")],
                  [_vi("x", [1, 3, 4, 4])], [_vi("y", [1, 3, 4, 4])])


def test_valid_model_converts():
    # The baseline the malformed variants below are derived from.
    out = converter.convert(relu_model())(converter_tensor(np.full((1, 3, 4, 4), -1.0, np.float32)))
    assert float(out.numpy().max()) == 0.0


def converter_tensor(a):
    import oneflow as flow
    return flow.tensor(a)


# --- files ----------------------------------------------------------------------------------
def test_missing_file_names_path(tmp_path):
    path = tmp_path / "absent.onnx"
    with pytest.raises(ModelLoadError, match="absent.onnx: no such file"):
        converter.convert(str(path))


def test_directory_is_rejected(tmp_path):
    with pytest.raises(ModelLoadError, match="is a directory"):
        converter.convert(str(tmp_path))


def test_non_onnx_file(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is a text file, not a protobuf\n" * 20)
    with pytest.raises(ModelLoadError, match="notes.onnx"):
        converter.inventory(str(path))


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_file(tmp_path, keep):
    w = np.random.default_rng(0).standard_normal((8, 3, 3, 3)).astype(np.float32)
    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv0")],
                   [_vi("x", [1, 3, 8, 8])], [_vi("y", [1, 8, 6, 6])], [numpy_helper.from_array(w, "w")])
    data = model.SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises((ModelLoadError, InvalidModelError), match="cut.onnx"):
        converter.convert(str(path))


# --- malformed graphs ---------------------------------------------------------------------------
def test_checker_failure_names_file_and_reason(tmp_path):
    bad = relu_model()
    bad.graph.node[0].attribute.append(helper.make_attribute("not_an_attribute", 3))
    path = tmp_path / "badattr.onnx"
    onnx.save(bad, str(path))
    with pytest.raises(InvalidModelError, match=r"badattr.onnx: fails onnx.checker.*not_an_attribute"):
        converter.convert(str(path))


def _dangling():
    return _model([helper.make_node("Add", ["x", "bias"], ["y"], name="add0")],
                  [_vi("x", [2])], [_vi("y", [2])])


def test_missing_initializer_checker():
    with pytest.raises(InvalidModelError, match=r"'bias' of node: name: add0 OpType: Add"):
        converter.convert(_dangling())


def test_missing_initializer_without_checker_names_node_and_input():
    with pytest.raises(InvalidModelError, match=r"node 'add0' \(Add\): input 'bias' is neither"):
        converter.convert(_dangling(), check=False)


def _cycle():
    return _model([helper.make_node("Add", ["x", "b"], ["a"], name="first"),
                   helper.make_node("Relu", ["a"], ["b"], name="second")],
                  [_vi("x", [2])], [_vi("b", [2])])


def test_cycle_checker():
    # The checker's message names the node on its second line: it must not be cut off.
    with pytest.raises(InvalidModelError, match=r"input 'b' of node: name: first OpType: Add"):
        converter.convert(_cycle())


def test_cycle_without_checker_names_node():
    with pytest.raises(InvalidModelError, match=r"node 'first' \(Add\): input 'b' is produced by a later node"):
        converter.convert(_cycle(), check=False)


def test_output_never_produced():
    model = _model([helper.make_node("Relu", ["x"], ["y"], name="relu0")],
                   [_vi("x", [2])], [_vi("nowhere", [2])])
    with pytest.raises(InvalidModelError, match="nowhere"):
        converter.convert(model, check=False)


def test_unimported_domain():
    model = _model([helper.make_node("Foo", ["x"], ["y"], name="foo0", domain="com.example")],
                   [_vi("x", [2])], [_vi("y", [2])])
    with pytest.raises(InvalidModelError):          # onnx.checker: no opset import for the domain
        converter.convert(model)
    with pytest.raises(UnsupportedOperatorError, match=r"com.example::Foo.*not imported.*foo0"):
        converter.convert(model, check=False)


def test_unknown_ops_are_listed_at_once():
    nodes = [helper.make_node("Foo", ["x"], ["a"], name="foo0", domain="com.example"),
             helper.make_node("Relu", ["a"], ["b"], name="relu0"),
             helper.make_node("Bar", ["b"], ["c"], name="bar0", domain="com.example"),
             helper.make_node("Foo", ["c"], ["y"], name="foo1", domain="com.example")]
    model = _model(nodes, [_vi("x", [2])], [_vi("y", [2])], opsets=(("", 13), ("com.example", 1)))
    found = {u.op_type: u for u in converter.inventory(model)}
    assert set(found) == {"Foo", "Bar"}
    assert found["Foo"].nodes == ("foo0", "foo1") and found["Bar"].nodes == ("bar0",)
    with pytest.raises(UnsupportedOperatorError) as info:
        converter.convert(model)
    message = str(info.value)
    assert "2 unsupported" in message and "foo0" in message and "foo1" in message and "bar0" in message


def test_no_default_opset():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", [2])], [_vi("y", [2])],
                   opsets=(("com.example", 1),))
    with pytest.raises(InvalidModelError):
        converter.convert(model, check=False)


# --- call time ------------------------------------------------------------------------------
def test_wrong_input_count():
    module = converter.convert(relu_model())
    x = converter_tensor(np.zeros((1, 3, 4, 4), np.float32))
    with pytest.raises(InputError, match=r"expected 1 input\(s\) \['x'\], got 2"):
        module(x, x)
    with pytest.raises(InputError, match="got 0"):
        module()


def test_wrong_input_shape():
    module = converter.convert(relu_model())
    with pytest.raises(InputError, match=r"input 'x': expected shape \(1, 3, 4, 4\), got \(1, 3, 5, 4\)"):
        module(converter_tensor(np.zeros((1, 3, 5, 4), np.float32)))
    with pytest.raises(InputError, match="input 'x': expected shape"):
        module(converter_tensor(np.zeros((3, 4, 4), np.float32)))


def test_wrong_input_dtype():
    module = converter.convert(relu_model())
    with pytest.raises(InputError, match="input 'x': expected dtype float32"):
        module(converter_tensor(np.zeros((1, 3, 4, 4), np.int64)))


def test_wrong_input_type():
    module = converter.convert(relu_model())
    with pytest.raises(InputError, match="input 'x': expected a oneflow.Tensor, got list"):
        module([[0.0]])


def test_runtime_failure_names_node():
    # Reshape to a runtime-provided shape that does not fit the data: OneFlow raises deep
    # inside; the converter must name the ONNX node instead.
    model = _model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape0")],
                   [_vi("x", [2, 3]), _vi("shape", [2], TensorProto.INT64)], [_vi("y", [None, None])])
    module = converter.convert(model)
    good = module(converter_tensor(np.arange(6, dtype=np.float32).reshape(2, 3)),
                  converter_tensor(np.array([3, 2], np.int64)))
    assert tuple(good.shape) == (3, 2)
    with pytest.raises(NodeExecutionError, match=r"node 'reshape0' \(Reshape\)"):
        module(converter_tensor(np.zeros((2, 3), np.float32)), converter_tensor(np.array([4, 4], np.int64)))


def test_every_error_is_a_converter_error():
    # One except clause catches every failure mode above.
    for cls in (ModelLoadError, InvalidModelError, UnsupportedOperatorError, InputError, NodeExecutionError,
                DeviceError):
        assert issubclass(cls, ConverterError)


def test_malformed_node_is_named_not_a_traceback():
    # MaxPool without its required kernel_shape (checker skipped): whatever the handler makes of
    # it, the error is a ConverterError naming the node, not a TypeError from deep inside.
    model = _model([helper.make_node("MaxPool", ["x"], ["y"], name="pool_without_kernel")],
                   [_vi("x", [1, 1, 4, 4])], [_vi("y", [1, 1, 4, 4])])
    with pytest.raises(ConverterError, match="pool_without_kernel"):
        converter.convert(model, check=False)


@pytest.mark.parametrize("elem", [TensorProto.UINT16, TensorProto.STRING, TensorProto.COMPLEX64])
def test_input_dtype_oneflow_lacks_is_reported_at_convert_time(elem):
    model = _model([helper.make_node("Identity", ["x"], ["y"], name="id0")],
                   [_vi("x", [2], elem)], [_vi("y", [2], elem)])
    problems = converter.inventory(model)
    assert [(u.op_type, u.nodes) for u in problems] == [("<graph input>", ("x",))]
    with pytest.raises(UnsupportedOperatorError, match="has no OneFlow tensor dtype"):
        converter.convert(model)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty.onnx"):
        converter.convert(str(path))


def test_missing_external_data_file(tmp_path):
    w = np.ones((64, 64), np.float32)
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                   [_vi("x", [1, 64])], [_vi("y", [1, 64])], [numpy_helper.from_array(w, "w")])
    path = tmp_path / "ext.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="ext.data", size_threshold=0)
    (tmp_path / "ext.data").unlink()
    with pytest.raises((ModelLoadError, InvalidModelError), match="ext"):
        converter.convert(str(path))


# --- issue 9: loading, tensors, opsets, devices (the abort/hang cases run in a subprocess in
# tests/test_hostile_inputs.py; these are the ones that fail safely if they regress) -------------
@pytest.mark.parametrize("thing", [123, 4.5, None, ["model.onnx"]])
def test_not_a_model_object(thing):
    with pytest.raises(ModelLoadError, match=f"got {type(thing).__name__}"):
        converter.convert(thing)


def test_device_file_is_not_read(tmp_path):
    # /dev/zero reads without end and a FIFO blocks: both are refused from os.stat, unopened.
    with pytest.raises(ModelLoadError, match="/dev/zero: not a regular file"):
        converter.inventory("/dev/zero")


def _identity_of(tensor):
    return _model([helper.make_node("Identity", [tensor.name], ["y"], name="id0")], [], [_vi("y", [4])],
                  [tensor])


@pytest.mark.parametrize("size", [0, 7, 8, 20])
def test_raw_data_length_must_match_dims(size):
    # 7 bytes was a numpy ValueError; 8 (a multiple of 4) decoded to a wrong-sized array.
    t = onnx.TensorProto(name="w", data_type=F32, dims=[4], raw_data=b"\0" * size)
    with pytest.raises(InvalidModelError, match=rf"initializer 'w' has dims \[4\].*expected 16 bytes of raw "
                                                rf"data, found {size}"):
        converter.convert(_identity_of(t))


def test_constant_attribute_data_is_checked_and_named():
    bad = onnx.TensorProto(name="", data_type=F32, dims=[2, 2], raw_data=b"\0" * 7)
    model = _model([helper.make_node("Constant", [], ["y"], name="const0", value=bad)], [], [_vi("y", [2, 2])])
    with pytest.raises(InvalidModelError, match=r"node 'const0' attribute 'value' has dims \[2, 2\]"):
        converter.convert(model)


def test_negative_initializer_dims():
    t = numpy_helper.from_array(np.ones(4, np.float32), "w")
    t.dims[0] = -1
    with pytest.raises(InvalidModelError, match=r"initializer 'w' has negative dims \[-1\]"):
        converter.convert(_identity_of(t), check=False)


def test_valid_typed_and_raw_initializers_still_load():
    typed = helper.make_tensor("w", F32, [4], [1.0, 2.0, 3.0, 4.0])
    half = numpy_helper.from_array(np.ones(3, np.float16), "h")          # float16 rides in int32_data
    model = _model([helper.make_node("Identity", ["w"], ["y"]), helper.make_node("Identity", ["h"], ["z"])],
                   [], [_vi("y", [4]), _vi("z", [3], TensorProto.FLOAT16)], [typed, half])
    y, z = converter.convert(model)()
    assert y.numpy().tolist() == [1.0, 2.0, 3.0, 4.0] and z.numpy().tolist() == [1.0, 1.0, 1.0]


def test_opset_newer_than_onnx_knows_is_refused():
    model = _model([helper.make_node("Relu", ["x"], ["y"], name="relu0"),
                    helper.make_node("Relu", ["y"], ["z"], name="relu1")],
                   [_vi("x", [2])], [_vi("z", [2])], opsets=(("", 99),))
    problems = converter.inventory(model)
    assert [(u.op_type, u.opset, u.nodes) for u in problems] == [("Relu", 99, ("relu0", "relu1"))]
    with pytest.raises(UnsupportedOperatorError, match=r"imports opset 99 of ai.onnx; the newest .* is \d+"):
        converter.convert(model)


@pytest.mark.parametrize("device", ["bogus", "CPU", "", "tpu:0"])
def test_unknown_device_is_a_typed_error(device):
    model = _model([helper.make_node("Add", ["x", "w"], ["y"], name="add0")], [_vi("x", [64])], [_vi("y", [64])],
                   [numpy_helper.from_array(np.ones(64, np.float32), "w")])
    with pytest.raises(DeviceError, match="is not a OneFlow device"):
        converter.convert(model, device=device)


def test_gather_index_errors_name_the_node():
    # (Out of range reached OneFlow's kernel CHECK and aborted; the subprocess corpus covers that.)
    data = numpy_helper.from_array(np.arange(5, dtype=np.float32), "x")
    model = _model([helper.make_node("Gather", ["x", "i"], ["y"], name="pick")], [], [_vi("y", [1])],
                   [data, numpy_helper.from_array(np.array([5], np.int64), "i")])
    with pytest.raises(NodeBuildError, match=r"'pick' \(Gather\).*index 5 at position \(0,\) is out of range \[-5, 4\]"):
        converter.convert(model)
