"""NonMaxSuppression against ONNX Runtime: ties, both box formats, degenerate and flipped boxes,
max_output_boxes_per_class 0, thresholds, empty inputs, and blocks larger than one chunk.

The handler runs on the host in numpy (no OneFlow kernel can abort here); its memory is bounded
by blocks (issue 20; the abort it replaced is a case of tests/test_hostile_inputs.py)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as T, helper

import converter
from converter.ops import detection


def _model(center, with_threshold, opset=11):
    names = ["boxes", "scores", "max_out", "iou"] + (["score"] if with_threshold else [])
    kinds = [T.FLOAT, T.FLOAT, T.INT64, T.FLOAT, T.FLOAT]
    shapes = [["b", "n", 4], ["b", "c", "n"], [1], [1], [1]]
    inputs = [helper.make_tensor_value_info(n, k, s) for n, k, s in zip(names, kinds, shapes)]
    node = helper.make_node("NonMaxSuppression", names, ["y"], center_point_box=center, name="nms")
    graph = helper.make_graph([node], "nms", inputs, [helper.make_tensor_value_info("y", T.INT64, ["k", 3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _feeds(boxes, scores, max_out, iou, score):
    feeds = {"boxes": boxes, "scores": scores, "max_out": np.array([max_out], np.int64),
             "iou": np.array([iou], np.float32)}
    if score is not None:
        feeds["score"] = np.array([score], np.float32)
    return feeds


def _both(boxes, scores, max_out, iou, score, center):
    import onnxruntime as ort
    import oneflow as flow

    model = _model(center, score is not None)
    feeds = _feeds(boxes, scores, max_out, iou, score)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got = converter.convert(model)(*[flow.tensor(v) for v in feeds.values()]).numpy()
    return want, got


def _case(seed):
    rng = np.random.default_rng(seed)
    b, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    n = int(rng.choice([0, 1, 7, 60, 700]))   # 700 > one block: block-vs-kept and in-block paths
    center = int(rng.integers(0, 2))
    corner = rng.uniform(0, 20, (b, n, 2))
    side = rng.uniform(-1.0 if seed % 5 == 0 else 0.5, 6, (b, n, 2))   # some flipped / negative
    boxes = np.concatenate([corner, side if center else corner + side], -1).astype(np.float32)
    if seed % 3 == 0:
        boxes = np.round(boxes)          # duplicates and boxes that only touch
    coarse = seed % 2 == 0               # many equal scores: ties keep the lower index first
    scores = (rng.integers(0, 8, (b, c, n)) / 8 if coarse else rng.random((b, c, n))).astype(np.float32)
    max_out = int(rng.choice([0, 1, 3, 10**6]))
    iou = float(rng.choice([0.0, 0.3, 0.5, 1.0]))
    score = rng.choice([None, 0.0, 0.5])
    return boxes, scores, max_out, iou, score, center


@pytest.mark.parametrize("seed", range(40))
def test_nms_matches_onnxruntime(seed):
    want, got = _both(*_case(seed))
    assert got.dtype == np.int64 and got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_array_equal(got, want)


def test_nms_center_point_box_2_is_refused():
    with pytest.raises(converter.NodeBuildError, match="center_point_box=2"):
        converter.convert(_model(2, False))


@pytest.mark.parametrize("iou", [-0.1, 1.5])
def test_nms_iou_threshold_outside_0_1_is_refused_as_ort(iou):
    import oneflow as flow

    feeds = _feeds(np.zeros((1, 2, 4), np.float32), np.zeros((1, 1, 2), np.float32), 5, iou, None)
    with pytest.raises(converter.NodeExecutionError, match=r"iou_threshold .* not in \[0, 1\]"):
        converter.convert(_model(0, False))(*[flow.tensor(v) for v in feeds.values()])


def test_nms_intermediates_are_bounded_by_blocks(monkeypatch):
    """No suppression test sees more than one block of candidates and one chunk of kept boxes."""
    seen = []
    real = detection.suppressed_by

    def spy(ext, cand, kept, thr):
        seen.append(len(cand) * len(kept))
        return real(ext, cand, kept, thr)

    monkeypatch.setattr(detection, "suppressed_by", spy)
    rng = np.random.default_rng(1)
    corner = rng.uniform(0, 400, (3000, 2))
    boxes = np.concatenate([corner, corner + 3], -1).astype(np.float32)      # mostly disjoint
    kept = detection.non_max_suppression_np(boxes[None], rng.random((1, 1, 3000), dtype=np.float32),
                                            10**6, 0.5, None)
    assert len(kept) > detection._KEPT_CHUNK          # the kept set spans several chunks
    assert max(seen) <= detection._BLOCK * max(detection._BLOCK, detection._KEPT_CHUNK)
