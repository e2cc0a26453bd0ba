"""Lowers MediaPipe's three custom TFLite ops (v2) to standard ONNX ops.

Maths: shared/docs/mediapipe-face-pipeline.md §1 (kernels in mediapipe/util/tflite/operations).
Each function emits nodes into a GraphBuilder and returns the name of its output.
"""
from __future__ import annotations

import numpy as np

from models.onnx_builder import GraphBuilder


def landmarks_to_transform_matrix(gb: GraphBuilder, landmarks: str, *, subset_idxs, left_rotation_idx: int,
                                  right_rotation_idx: int, target_rotation_radians: float, scale_x: float,
                                  scale_y: float, output_width: int, output_height: int, **_ignored) -> str:
    """Landmarks2TransformMatrix v2: [1,N,3] landmarks (feature-map space) -> [1,4,4] crop->map matrix.

    The matrix maps crop pixel coordinates (u, v) of the output_width x output_height crop to
    continuous feature-map coordinates: M = T(c) R(a) S(sx*w/ow, sy*h/oh) T(-ow/2, -oh/2), where a is
    the angle of (right - left) and w, h the extents of the subset in the frame rotated by -a.
    ONNX has no Atan2; cos a and sin a come straight from the normalised direction vector.
    """
    # Only the set of referenced points matters (min/max), so odd-length pairing is irrelevant.
    subset = np.array(sorted(set(int(i) for i in subset_idxs)), np.int64)
    xy = gb.op("Slice", [landmarks, gb.const([0], dtype=np.int64), gb.const([2], dtype=np.int64),
                         gb.const([2], dtype=np.int64)], "l2tm_xy")  # [1,N,2]
    p_left = gb.op("Gather", [xy, gb.const([left_rotation_idx], dtype=np.int64)], "l2tm_pl", axis=1)
    p_right = gb.op("Gather", [xy, gb.const([right_rotation_idx], dtype=np.int64)], "l2tm_pr", axis=1)
    d = gb.op("Sub", [p_right, p_left], "l2tm_d")  # [1,1,2]
    norm = gb.op("ReduceL2", [d, gb.const([2], dtype=np.int64)], "l2tm_norm", keepdims=1)  # [1,1,1]
    has_dir = gb.op("Greater", [norm, gb.const(np.float32(0))], "l2tm_hasdir")
    unit = gb.op("Div", [d, gb.op("Max", [norm, gb.const(np.float32(1e-30))])], "l2tm_unit")
    # atan2(0, 0) = 0 in MediaPipe: a zero direction means no rotation.
    unit = gb.op("Where", [has_dir, unit, gb.const(np.array([[[1.0, 0.0]]], np.float32))], "l2tm_unit_safe")
    ca = gb.op("Slice", [unit, gb.const([0], dtype=np.int64), gb.const([1], dtype=np.int64),
                         gb.const([2], dtype=np.int64)], "l2tm_cos")  # [1,1,1]
    sa = gb.op("Slice", [unit, gb.const([1], dtype=np.int64), gb.const([2], dtype=np.int64),
                         gb.const([2], dtype=np.int64)], "l2tm_sin")
    if target_rotation_radians != 0.0:
        # rotation applied is (target - a); fold the target into the angle used below.
        ct, st = np.float32(np.cos(target_rotation_radians)), np.float32(np.sin(target_rotation_radians))
        ca, sa = (gb.op("Add", [gb.op("Mul", [ca, gb.const(ct)]), gb.op("Mul", [sa, gb.const(st)])]),
                  gb.op("Sub", [gb.op("Mul", [sa, gb.const(ct)]), gb.op("Mul", [ca, gb.const(st)])]))
    pts = gb.op("Gather", [xy, gb.const(subset)], "l2tm_subset", axis=1)  # [1,K,2]
    px = gb.op("Slice", [pts, gb.const([0], dtype=np.int64), gb.const([1], dtype=np.int64),
                         gb.const([2], dtype=np.int64)], "l2tm_px")
    py = gb.op("Slice", [pts, gb.const([1], dtype=np.int64), gb.const([2], dtype=np.int64),
                         gb.const([2], dtype=np.int64)], "l2tm_py")
    # Rotate by -a: x' = ca x + sa y ; y' = -sa x + ca y
    rx = gb.op("Add", [gb.op("Mul", [ca, px]), gb.op("Mul", [sa, py])], "l2tm_rx")
    ry = gb.op("Sub", [gb.op("Mul", [ca, py]), gb.op("Mul", [sa, px])], "l2tm_ry")
    ax1 = gb.const([1], dtype=np.int64)
    half = gb.const(np.float32(0.5))
    ext, mid = [], []
    for r in (rx, ry):
        hi = gb.op("ReduceMax", [r, ax1], keepdims=1)
        lo = gb.op("ReduceMin", [r, ax1], keepdims=1)
        ext.append(gb.op("Sub", [hi, lo]))
        mid.append(gb.op("Mul", [gb.op("Add", [hi, lo]), half]))
    # Centre rotated back by +a.
    cx = gb.op("Sub", [gb.op("Mul", [ca, mid[0]]), gb.op("Mul", [sa, mid[1]])], "l2tm_cx")
    cy = gb.op("Add", [gb.op("Mul", [sa, mid[0]]), gb.op("Mul", [ca, mid[1]])], "l2tm_cy")
    sx = gb.op("Mul", [ext[0], gb.const(np.float32(scale_x / output_width))])
    sy = gb.op("Mul", [ext[1], gb.const(np.float32(scale_y / output_height))])
    a00 = gb.op("Mul", [ca, sx])
    a01 = gb.op("Neg", [gb.op("Mul", [sa, sy])])
    a10 = gb.op("Mul", [sa, sx])
    a11 = gb.op("Mul", [ca, sy])
    hw, hh = gb.const(np.float32(output_width / 2.0)), gb.const(np.float32(output_height / 2.0))
    t0 = gb.op("Sub", [cx, gb.op("Add", [gb.op("Mul", [a00, hw]), gb.op("Mul", [a01, hh])])])
    t1 = gb.op("Sub", [cy, gb.op("Add", [gb.op("Mul", [a10, hw]), gb.op("Mul", [a11, hh])])])
    z, o = gb.const(np.zeros((1, 1, 1), np.float32)), gb.const(np.ones((1, 1, 1), np.float32))
    flat = gb.op("Concat", [a00, a01, z, t0, a10, a11, z, t1, z, z, o, z, z, z, z, o], "l2tm_flat", axis=2)
    return gb.op("Reshape", [flat, gb.const([1, 4, 4], dtype=np.int64)], "l2tm_matrix")


def transform_tensor_bilinear(gb: GraphBuilder, feature_nchw: str, matrix: str, *, height: int, width: int,
                              output_height: int, output_width: int, **_ignored) -> str:
    """TransformTensorBilinear v2: sample an [1,C,oh,ow] crop of an [1,C,H,W] map through ``matrix``.

    The centre of crop pixel (u, v) maps to P = A (u+.5, v+.5) + t in continuous map coordinates;
    GridSample(align_corners=0) reads exactly there. MediaPipe zeroes a whole pixel once its index
    coordinate P-0.5 leaves [0, W-1] x [0, H-1], which GridSample's zero padding does not: the mask
    does that (without it the border band blends partial zeros).
    """
    u, v = np.meshgrid(np.arange(output_width, dtype=np.float32) + 0.5,
                       np.arange(output_height, dtype=np.float32) + 0.5)
    uv1 = np.stack([u.ravel(), v.ravel(), np.ones(u.size, np.float32)], axis=1)[None]  # [1,K,3]
    rows = gb.op("Slice", [matrix, gb.const([0], dtype=np.int64), gb.const([2], dtype=np.int64),
                           gb.const([1], dtype=np.int64)], "ttb_rows")  # [1,2,4]
    rows = gb.op("Gather", [rows, gb.const(np.array([0, 1, 3], np.int64))], "ttb_rows013", axis=2)  # [1,2,3]
    p = gb.op("MatMul", [gb.const(uv1, "ttb_uv1"), gb.op("Transpose", [rows], perm=[0, 2, 1])], "ttb_p")
    p = gb.op("Reshape", [p, gb.const([1, output_height, output_width, 2], dtype=np.int64)], "ttb_p4")
    grid = gb.op("Sub", [gb.op("Mul", [p, gb.const(np.array([2.0 / width, 2.0 / height], np.float32))]),
                         gb.const(np.float32(1.0))], "ttb_grid")
    sampled = gb.op("GridSample", [feature_nchw, grid], "ttb_sampled", mode="bilinear",
                    padding_mode="zeros", align_corners=0)
    lo_ok = gb.op("GreaterOrEqual", [p, gb.const(np.array([0.5, 0.5], np.float32))])
    hi_ok = gb.op("LessOrEqual", [p, gb.const(np.array([width - 0.5, height - 0.5], np.float32))])
    inside = gb.op("Cast", [gb.op("And", [lo_ok, hi_ok])], to=1)  # [1,oh,ow,2] float
    mask = gb.op("ReduceMin", [inside, gb.const([3], dtype=np.int64)], "ttb_mask", keepdims=0)  # [1,oh,ow]
    mask = gb.op("Unsqueeze", [mask, gb.const([1], dtype=np.int64)])  # [1,1,oh,ow]
    return gb.op("Mul", [sampled, mask], "ttb_crop")


def transform_landmarks(gb: GraphBuilder, points: str, matrix: str, **_ignored) -> str:
    """TransformLandmarks v2: [1,N,2] points through the 2x2 block and translation of [1,4,4].

    z is taken as 0 and no half-pixel correction applies (unlike TransformTensorBilinear).
    """
    a = gb.op("Slice", [matrix, gb.const([0, 0], dtype=np.int64), gb.const([2, 2], dtype=np.int64),
                        gb.const([1, 2], dtype=np.int64)], "tl_a")  # [1,2,2]
    t = gb.op("Slice", [matrix, gb.const([0, 3], dtype=np.int64), gb.const([2, 4], dtype=np.int64),
                        gb.const([1, 2], dtype=np.int64)], "tl_t")  # [1,2,1]
    moved = gb.op("MatMul", [points, gb.op("Transpose", [a], perm=[0, 2, 1])], "tl_moved")
    return gb.op("Add", [moved, gb.op("Transpose", [t], perm=[0, 2, 1])], "tl_out")
