"""Pad (issue 9, property findings F7 and F13): edge/reflect/wrap on uint8 (OneFlow has no
CPU uint8 gather kernel: gathered through int32), and negative pads that would leave an axis
with a negative length (ONNX Runtime refuses: a typed error naming the node)."""
from __future__ import annotations

import numpy as np
import pytest

import converter
from converter.errors import NodeBuildError, NodeExecutionError
from semantics_check import check_against_ort, node_model, run_converted


@pytest.mark.parametrize("mode,opset", [("edge", 14), ("reflect", 14), ("wrap", 19)])
def test_gathering_modes_on_uint8(mode, opset):
    x = np.arange(6, dtype=np.uint8).reshape(2, 3)
    check_against_ort("Pad", {"x": x}, consts={"pads": np.array([1, 1, 0, 2], np.int64)}, opset=opset, mode=mode)


def test_negative_length_with_constant_pads_is_refused_at_conversion():
    model = node_model("Pad", {"x": np.ones(1, np.float32)}, consts={"pads": np.array([-1, -1], np.int64)}, opset=16)
    with pytest.raises(NodeBuildError, match="pad_node.*negative length -1"):
        converter.convert(model)


def test_negative_length_with_runtime_pads_is_refused_at_run_time():
    x, pads = np.ones((2, 3), np.float32), np.array([0, -2, 0, -2], np.int64)
    model = node_model("Pad", {"x": x, "pads": pads}, opset=13)
    with pytest.raises(NodeExecutionError, match="pad_node.*negative length -1"):
        run_converted(model, {"x": x, "pads": pads})


def test_negative_pads_that_leave_an_empty_axis_match_ort():
    check_against_ort("Pad", {"x": np.ones((2, 3), np.float32)}, consts={"pads": np.array([0, -1, 0, -2], np.int64)},
                      opset=13)
