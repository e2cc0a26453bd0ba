"""Pure-numpy BlazeFace maths: anchors, decoding, weighted NMS, letterbox projection.

Short range (fact sheet §3): 128x128 input, 896 anchors. Full range (MediaPipe's
face_detection_full_range.pbtxt over face_detection.pbtxt's defaults): 192x192 input, one SSD layer of
stride 4 without the interpolated anchor, so one anchor per cell of a 48x48 grid (2304); decoding scales
192; the rest (letterbox, [-1,1], keypoints, weighted NMS at IoU 0.3) as short range. Nothing here
touches onnxruntime.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.geometry import box_iou, sigmoid

NUM_KEYPOINTS = 6  # right eye, left eye (subject's), nose tip, mouth centre, right tragion, left tragion
SCORE_CLIP = 100.0
NMS_IOU = 0.3


def ssd_anchors(grids: tuple[tuple[int, int], ...] = ((16, 2), (8, 6))) -> np.ndarray:
    """(A, 2) float32 anchor centres in [0,1], per (grid size, anchors per cell); short range by default:
    2 per cell on 16x16 (stride 8), then 6 per cell on 8x8.

    fixed_anchor_size makes every anchor 1x1, so only centres matter."""
    out = []
    for fm, per_cell in grids:
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(centres, per_cell, axis=0))  # loop order: y, x, anchor in cell
    return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class BlazeFaceSpec:
    """One BlazeFace model: its converted file, square input side, anchor centres (A, 2) and the lowest
    score threshold its MediaPipe graph ever applies (``score_floor``)."""
    name: str
    model: str
    input_size: int
    anchors: np.ndarray
    score_floor: float = 0.0


SHORT = BlazeFaceSpec("short", "face_detection_short_range", 128, ssd_anchors())
# MediaPipe's full-range graph keeps its own min_score_thresh 0.6 whatever min_detection_confidence says (its
# Python FaceDetection returns the same detections at 0.3 and 0.5); with the same floor our boxes match its
# box for box (IoU 1.000 on the shared group photos), while weaker candidates shift the weighted NMS average.
FULL = BlazeFaceSpec("full", "face_detection_full_range_sparse", 192, ssd_anchors(((48, 1),)), score_floor=0.6)
SPECS = {s.name: s for s in (SHORT, FULL)}
INPUT_SIZE = SHORT.input_size
ANCHORS = SHORT.anchors


def decode(regressors: np.ndarray, logits: np.ndarray, min_score: float, spec: BlazeFaceSpec = SHORT):
    """Decode raw outputs into boxes in letterbox-normalised coordinates.

    Args:
        regressors: (A, 16) float32 raw box + keypoint offsets.
        logits: (A,) float32 raw class logits.
        min_score: keep detections with sigmoid score >= this.
    Returns:
        boxes_xyxy (N, 4), keypoints (N, 6, 2), scores (N,), all float32 in [0,1] tensor space.
    """
    scores = sigmoid(np.clip(logits, -SCORE_CLIP, SCORE_CLIP))
    keep = scores >= min_score
    r = regressors[keep] / spec.input_size
    a = spec.anchors[keep]
    cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
    w, h = r[:, 2], r[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = r[:, 4:4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) + a[:, None, :]
    valid = (w >= 0) & (h >= 0) & np.isfinite(boxes).all(axis=1)  # MediaPipe drops negative/NaN sizes
    return boxes[valid].astype(np.float32), kps[valid].astype(np.float32), scores[keep][valid].astype(np.float32)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_IOU):
    """MediaPipe's WEIGHTED non-max suppression.

    Each round takes the best remaining detection; all remaining ones with IoU > threshold (itself
    included) are averaged, weighted by score, into one output that keeps the best score.
    Returns the same three arrays, best first.
    """
    order = np.argsort(-scores, kind="stable")
    out_b, out_k, out_s = [], [], []
    while order.size:
        top = order[0]
        ious = np.atleast_1d(box_iou(boxes[top], boxes[order]))
        cand = order[ious > iou_threshold]
        if cand.size == 0:  # degenerate (zero-area) top box: keep it alone
            cand = order[:1]
        w = scores[cand][:, None]
        out_b.append((boxes[cand] * w).sum(0) / w.sum())
        out_k.append((keypoints[cand] * w[:, :, None]).sum(0) / w.sum())
        out_s.append(scores[top])
        order = order[~np.isin(order, cand)]
    if not out_s:
        return (np.zeros((0, 4), np.float32), np.zeros((0, NUM_KEYPOINTS, 2), np.float32), np.zeros(0, np.float32))
    return np.array(out_b, np.float32), np.array(out_k, np.float32), np.array(out_s, np.float32)


def letterbox_to_image(points_norm: np.ndarray, width: int, height: int) -> np.ndarray:
    """Letterboxed-tensor coordinates in [0,1] -> image pixels (the square letterbox of side max(W,H))."""
    side = max(width, height)
    out = np.asarray(points_norm, np.float32) * side
    out[..., 0] += (width - side) / 2
    out[..., 1] += (height - side) / 2
    return out
