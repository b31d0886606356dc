"""Detection ops: NonMaxSuppression and RoiAlign (OneFlow 0.9 has CUDA-only kernels for both).

NMS: box overlaps are computed in OneFlow for every pair at once; the greedy selection is
inherently sequential and data-dependent, so it walks the (small) IoU matrix on the host.
RoiAlign: each ROI's sample positions and bilinear weights are tabulated on the host from its
four coordinates; the feature map is gathered and weighted in OneFlow.
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
        score_thr = None
        if score_threshold is not None and score_threshold.numel():
            score_thr = float(_first(score_threshold, 0))
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


def _roi_sample_table(roi, scale, height, width, out_h, out_w, ratio, half_pixel):
    """Corner indices [4, P] and weights [4, P] of every bilinear sample of one ROI, and the
    sample grid (gh, gw). Mirrors ONNX's reference (samples beyond -1/size read nothing)."""
    offset = 0.5 if half_pixel else 0.0
    x0, y0, x1, y1 = [v * scale - offset for v in roi]
    roi_w, roi_h = x1 - x0, y1 - y0
    if not half_pixel:
        roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
    bin_h, bin_w = roi_h / out_h, roi_w / out_w
    gh = int(ratio) if ratio > 0 else int(np.ceil(roi_h / out_h))
    gw = int(ratio) if ratio > 0 else int(np.ceil(roi_w / out_w))
    index, weight = [], []
    for ph in range(out_h):
        for pw in range(out_w):
            for iy in range(gh):
                y = y0 + ph * bin_h + (iy + 0.5) * bin_h / gh
                for ix in range(gw):
                    x = x0 + pw * bin_w + (ix + 0.5) * bin_w / gw
                    if y < -1.0 or y > height or x < -1.0 or x > width:
                        index.append([0, 0, 0, 0])
                        weight.append([0.0, 0.0, 0.0, 0.0])
                        continue
                    y, x = max(y, 0.0), max(x, 0.0)
                    y_lo, x_lo = int(y), int(x)
                    if y_lo >= height - 1:
                        y_lo = y_hi = height - 1
                        y = float(y_lo)
                    else:
                        y_hi = y_lo + 1
                    if x_lo >= width - 1:
                        x_lo = x_hi = width - 1
                        x = float(x_lo)
                    else:
                        x_hi = x_lo + 1
                    ly, lx = y - y_lo, x - x_lo
                    hy, hx = 1 - ly, 1 - lx
                    index.append([y_lo * width + x_lo, y_lo * width + x_hi,
                                  y_hi * width + x_lo, y_hi * width + x_hi])
                    weight.append([hy * hx, hy * lx, ly * hx, ly * lx])
    return np.array(index, np.int64).T, np.array(weight, np.float64).T, gh, gw


@register("RoiAlign", 10, 16, 22)
def roi_align(ctx):
    mode = ctx.attr("mode", "avg")
    out_h, out_w = ctx.attr("output_height", 1), ctx.attr("output_width", 1)
    ratio, scale = ctx.attr("sampling_ratio", 0), ctx.attr("spatial_scale", 1.0)
    default_mode = "output_half_pixel" if ctx.version < 16 else "half_pixel"
    half_pixel = ctx.attr("coordinate_transformation_mode", default_mode) == "half_pixel"
    if mode not in ("avg", "max"):
        raise ctx.unsupported(f"mode={mode!r}")

    def run(x, rois, batch_indices):
        n_ch, height, width = x.shape[1], x.shape[2], x.shape[3]
        outs = []
        for roi, b in zip(rois.numpy().astype(np.float64), batch_indices.numpy()):
            index, weight, gh, gw = _roi_sample_table(roi, scale, height, width, out_h, out_w,
                                                      ratio, half_pixel)
            plane = x[int(b)].reshape(n_ch, -1)
            idx = flow.tensor(index.reshape(-1), device=x.device)
            corners = flow.index_select(plane, 1, idx).reshape(n_ch, 4, -1)
            w = flow.tensor(weight, dtype=x.dtype, device=x.device).unsqueeze(0)
            weighted = (corners * w).reshape(n_ch, 4, out_h, out_w, gh * gw)
            if mode == "avg":
                out = weighted.sum(dim=1).sum(dim=-1) / max(gh * gw, 1)
            else:   # the reference takes the largest weighted corner, then the largest sample
                out = weighted.amax(dim=1).amax(dim=-1)
            outs.append(out)
        if not outs:
            return flow.zeros(0, n_ch, out_h, out_w, dtype=x.dtype, device=x.device)
        return flow.stack(outs)

    return run
