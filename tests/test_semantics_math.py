"""Unary/binary math keep ONNX's output dtype (issue 9): Neg and Sign on integers returned
float32 (OneFlow 0.9's neg/sign do), Pow's output has the base's dtype. Against ONNX Runtime."""
from __future__ import annotations

import numpy as np
import pytest

from semantics_check import check_against_ort

SIGNED = [np.int8, np.int32, np.int64]


@pytest.mark.parametrize("dtype", SIGNED, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", ["Neg", "Sign", "Abs"])
def test_signed_integer_unary_keeps_dtype_exactly(op, dtype):
    big = 2 ** 40 + 1 if dtype is np.int64 else 100   # beyond float32's exact integers
    x = np.array([[-big, -3, 0], [2, 5, big]], dtype=dtype)
    check_against_ort(op, {"x": x}, opset=13, rtol=0, atol=0)


@pytest.mark.parametrize("op", ["Sign", "Abs"])
def test_uint8_unary_keeps_dtype(op):
    check_against_ort(op, {"x": np.array([0, 1, 7, 255], np.uint8)}, opset=13, rtol=0, atol=0)


@pytest.mark.parametrize("base, exponent", [
    (np.int32, np.int32), (np.int64, np.int64), (np.int32, np.float32), (np.int64, np.float32),
    (np.float32, np.int64), (np.float32, np.float32), (np.float32, np.float16), (np.float16, np.float32)])
def test_pow_output_has_the_base_dtype(base, exponent):
    rng = np.random.default_rng(1)
    a = rng.integers(-4, 5, (2, 3)).astype(base)
    b = rng.integers(0, 4, (3,)).astype(exponent)
    check_against_ort("Pow", {"a": a, "b": b}, opset=15, rtol=0, atol=0)
