"""Detection ops: NonMaxSuppression and RoiAlign (OneFlow 0.9 has CUDA-only kernels for both).

NMS: the greedy selection is sequential and data-dependent, so it runs on the host, one
(batch, class) at a time, over blocks of candidates in score order: memory is bounded by the
block sizes, never by an N x N matrix of all boxes (docs/design.md §5, "No aborts").
RoiAlign: each ROI's sample positions and bilinear weights are tabulated on the host from its
four coordinates; the feature map is gathered and weighted in OneFlow.
"""
from __future__ import annotations

import numpy as np
import oneflow as flow

from ..registry import register

# Candidates tested together against each other, and selected boxes tested per step: every
# intermediate of a suppression test is at most _BLOCK x _KEPT_CHUNK float32 (1 MiB).
_BLOCK = 256
_KEPT_CHUNK = 1024


def _extents(boxes: np.ndarray, center_point_box: int):
    """float32 [N, 4] -> (x_min, x_max, y_min, y_max, area) computed as ONNX Runtime does:
    corner pairs are ordered, center boxes are not (a negative width stays negative)."""
    boxes = boxes.astype(np.float32, copy=False)
    if center_point_box:   # [x_center, y_center, width, height]
        xc, yc, w, h = boxes.T
        half_w, half_h = w / np.float32(2), h / np.float32(2)
        x_min, x_max, y_min, y_max = xc - half_w, xc + half_w, yc - half_h, yc + half_h
    else:                  # [y1, x1, y2, x2], any diagonal pair of corners
        y1, x1, y2, x2 = boxes.T
        x_min, x_max = np.minimum(x1, x2), np.maximum(x1, x2)
        y_min, y_max = np.minimum(y1, y2), np.maximum(y1, y2)
    return x_min, x_max, y_min, y_max, (x_max - x_min) * (y_max - y_min)


def suppressed_by(ext, cand: np.ndarray, kept: np.ndarray, iou_threshold: np.float32) -> np.ndarray:
    """[len(cand), len(kept)] bool: candidate i overlaps kept box j by IoU > threshold.

    Same float32 operations as ONNX Runtime; an empty overlap, a non-positive area or union, or
    NaN anywhere never suppresses. The IoU itself is computed only for the pairs that overlap
    (few, for boxes spread over an image)."""
    x_min, x_max, y_min, y_max, area = ext
    c, k = cand[:, None], kept[None, :]
    with np.errstate(all="ignore"):
        # max > min exactly when max - min > 0 (IEEE subtraction; NaN and inf - inf fail both)
        w = np.minimum(x_max[c], x_max[k]) - np.maximum(x_min[c], x_min[k])
        h = np.minimum(y_max[c], y_max[k]) - np.maximum(y_min[c], y_min[k])
        i, j = np.nonzero((w > 0) & (h > 0))
        inter = w[i, j] * h[i, j]
        a_c, a_k = area[cand[i]], area[kept[j]]
        union = a_c + a_k - inter
        hit = (inter > 0) & (a_c > 0) & (a_k > 0) & (union > 0) & (inter / union > iou_threshold)
    out = np.zeros((len(cand), len(kept)), bool)
    out[i[hit], j[hit]] = True
    return out


def greedy_select(ext, order: np.ndarray, limit: int, iou_threshold: np.float32) -> np.ndarray:
    """Box indices kept by greedy NMS from candidates ``order`` (best first), at most ``limit``.

    Each block of candidates is first tested against the boxes already kept (in chunks), then
    against its own earlier members in order."""
    kept = np.empty(min(limit, len(order)), np.int64)
    n = 0
    for start in range(0, len(order), _BLOCK):
        if n >= limit:
            break
        block = order[start:start + _BLOCK]
        alive = np.ones(len(block), bool)
        for k0 in range(0, n, _KEPT_CHUNK):
            alive &= ~suppressed_by(ext, block, kept[k0:min(n, k0 + _KEPT_CHUNK)], iou_threshold).any(1)
        if not alive.any():
            continue
        within = suppressed_by(ext, block, block, iou_threshold)   # [i, j]: i suppressed by j
        for i in range(len(block)):
            if not alive[i]:
                continue
            kept[n] = block[i]
            n += 1
            if n >= limit:
                break
            alive[i + 1:] &= ~within[i + 1:, i]
    return kept[:n]


def score_order(scores: np.ndarray, score_threshold) -> np.ndarray:
    """Indices of the boxes above the threshold (strictly, as ONNX Runtime), best first; ties
    keep the lower index first; NaN scores last (they never pass a threshold)."""
    candidates = np.arange(len(scores)) if score_threshold is None else np.flatnonzero(scores > score_threshold)
    return candidates[np.argsort(-scores[candidates], kind="stable")]


def _scalar(t, default, dtype):
    """The first value of an optional scalar input (absent or empty: ``default``)."""
    if t is None or t.numel() == 0:
        return default
    return dtype(t.numpy().reshape(-1)[0])


def non_max_suppression_np(boxes, scores, limit: int, iou_threshold, score_threshold, center_point_box=0):
    """ONNX NonMaxSuppression on numpy arrays -> int64 [K, 3] (batch, class, box) rows, in
    (batch, class, selection) order."""
    if boxes.ndim != 3 or boxes.shape[2] != 4:
        raise ValueError(f"boxes must have shape [batches, boxes, 4], got {list(boxes.shape)}")
    if scores.ndim != 3:
        raise ValueError(f"scores must have shape [batches, classes, boxes], got {list(scores.shape)}")
    if boxes.shape[0] != scores.shape[0] or boxes.shape[1] != scores.shape[2]:
        raise ValueError(f"boxes {list(boxes.shape)} and scores {list(scores.shape)} differ in batches or boxes")
    iou_threshold = np.float32(iou_threshold)
    if not 0 <= iou_threshold <= 1:
        raise ValueError(f"iou_threshold {iou_threshold} is not in [0, 1] (ONNX Runtime refuses it)")
    rows = []
    if limit <= 0:
        return np.zeros((0, 3), np.int64)
    scores = scores.astype(np.float32, copy=False)
    for b in range(boxes.shape[0]):
        ext = _extents(boxes[b], center_point_box)
        for c in range(scores.shape[1]):
            kept = greedy_select(ext, score_order(scores[b, c], score_threshold), limit, iou_threshold)
            if len(kept):
                rows.append(np.stack([np.full_like(kept, b), np.full_like(kept, c), kept], 1))
    return np.concatenate(rows) if rows else np.zeros((0, 3), np.int64)


@register("NonMaxSuppression", 10, 11,
          notes="greedy selection on the host per batch and class, in bounded blocks (no N x N matrix); "
                "ties keep the lower index first, NaN scores come last, as ONNX Runtime")
def non_max_suppression(ctx):
    center = ctx.attr("center_point_box", 0)
    if center not in (0, 1):
        raise ValueError(f"center_point_box={center}: only 0 or 1 are defined")

    def run(boxes, scores, max_out=None, iou_threshold=None, score_threshold=None):
        threshold = _scalar(score_threshold, None, np.float32)
        out = non_max_suppression_np(boxes.numpy(), scores.numpy(), _scalar(max_out, 0, int),
                                     _scalar(iou_threshold, 0.0, np.float32), threshold, center)
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
