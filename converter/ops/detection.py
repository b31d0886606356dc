"""NonMaxSuppression. OneFlow 0.9's own nms has only a CUDA kernel.

Box overlaps are computed in OneFlow for every pair at once; the greedy selection itself is
inherently sequential and data-dependent, so it walks the (small) IoU matrix on the host.
"""
from __future__ import annotations

import numpy as np
import oneflow as flow

from ..registry import register


def _corners(boxes, center_point_box):
    """[..., 4] boxes -> (y1, x1, y2, x2) with min/max ordered (ONNX allows flipped corners)."""
    if center_point_box:   # [x_center, y_center, width, height]
        xc, yc, w, h = boxes.unbind(-1)
        return yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2
    a, b, c, d = boxes.unbind(-1)
    return flow.minimum(a, c), flow.minimum(b, d), flow.maximum(a, c), flow.maximum(b, d)


def pairwise_iou(boxes, center_point_box=0):
    """IoU of every pair of boxes [N, 4] -> [N, N]; 0 where areas or overlap are empty."""
    y1, x1, y2, x2 = _corners(boxes, center_point_box)
    area = (y2 - y1) * (x2 - x1)
    inter_h = flow.clamp(flow.minimum(y2[:, None], y2[None]) - flow.maximum(y1[:, None], y1[None]), min=0)
    inter_w = flow.clamp(flow.minimum(x2[:, None], x2[None]) - flow.maximum(x1[:, None], x1[None]), min=0)
    inter = inter_h * inter_w
    union = area[:, None] + area[None] - inter
    ok = (inter > 0) & (area[:, None] > 0) & (area[None] > 0) & (union > 0)
    return flow.where(ok, inter / flow.where(union > 0, union, flow.ones_like(union)), flow.zeros_like(union))


def _first(t, default):
    if t is None or t.numel() == 0:
        return default
    return t.numpy().reshape(-1)[0].item()


@register("NonMaxSuppression", 10, 11)
def non_max_suppression(ctx):
    center = ctx.attr("center_point_box", 0)

    def run(boxes, scores, max_out=None, iou_threshold=None, score_threshold=None):
        limit = int(_first(max_out, 0))
        iou_thr = float(_first(iou_threshold, 0.0))
        score_thr = None if score_threshold is None or score_threshold.numel() == 0 else float(_first(score_threshold, 0))
        picked = []
        all_scores = scores.numpy()
        for b in range(boxes.shape[0]):
            iou = pairwise_iou(boxes[b], center).numpy()
            for c in range(scores.shape[1]):
                s = all_scores[b, c]
                candidates = [i for i in range(len(s)) if score_thr is None or s[i] > score_thr]
                candidates.sort(key=lambda i: (-s[i], i))   # best first; ties: lower index
                kept = []
                for i in candidates:
                    if len(kept) >= limit:
                        break
                    if all(iou[i, k] <= iou_thr for k in kept):
                        kept.append(i)
                picked += [(b, c, i) for i in kept]
        out = np.array(picked, dtype=np.int64).reshape(-1, 3)
        return flow.tensor(out, dtype=flow.int64, device=boxes.device)

    return run
