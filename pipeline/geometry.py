"""Pure-numpy ROI geometry in image pixels: rotated rects, MediaPipe's crop warp and projections.

Conventions (fact sheet §3.1, §4): OpenCV pixel coordinates (pixel centres on integers); rotation in
radians, positive = clockwise on screen (image y points down); a rect's width/height are in pixels.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import cv2
import numpy as np


def sigmoid(x) -> np.ndarray:
    """The logistic function in float64, for any input (clipped where exp would overflow)."""
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -500.0, 500.0)))


@dataclass(frozen=True, slots=True)
class RotatedRect:
    """A rotated rectangle in image pixels."""
    center_x: float
    center_y: float
    width: float
    height: float
    rotation: float  # radians

    def corners(self) -> np.ndarray:
        """(4, 2) float32 corners in cv2.boxPoints order: bottom-left, top-left, top-right, bottom-right."""
        return cv2.boxPoints(((self.center_x, self.center_y), (self.width, self.height),
                              math.degrees(self.rotation)))

    def iou(self, other: RotatedRect) -> float:
        """IoU of the axis-aligned boxes (MediaPipe's association compares rects this way)."""
        return float(box_iou(self.aabb(), other.aabb()))

    def aabb(self) -> np.ndarray:
        """(4,) xyxy of the rect's axis-aligned bound, ignoring rotation (as MediaPipe's association does)."""
        return np.array([self.center_x - self.width / 2, self.center_y - self.height / 2,
                         self.center_x + self.width / 2, self.center_y + self.height / 2], np.float64)


def normalize_radians(angle: float) -> float:
    """Wrap into [-pi, pi)."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def rotation_from_points(start_xy, end_xy, target: float = 0.0) -> float:
    """MediaPipe's rect rotation that turns the start->end direction to ``target`` (pixel inputs)."""
    return normalize_radians(target - math.atan2(-(end_xy[1] - start_xy[1]), end_xy[0] - start_xy[0]))


def square_scaled_rect(center_x: float, center_y: float, width: float, height: float, rotation: float,
                       scale: float = 1.5) -> RotatedRect:
    """RectTransformation with square_long: the long side in pixels, then scaled (both axes)."""
    side = max(width, height) * scale
    return RotatedRect(center_x, center_y, side, side, rotation)


def crop_matrix(rect: RotatedRect, out_w: int, out_h: int) -> np.ndarray:
    """2x3 affine matrix taking image pixels to crop pixels, built as MediaPipe builds its warp: the
    rect's corners (cv2.boxPoints, float32 as MediaPipe's) go to crop corners (0,out_h),(0,0),(out_w,0), not to
    pixel centres.

    MediaPipe calls getPerspectiveTransform + warpPerspective; a rotated rect onto a rectangle is
    affine, and warpAffine is ~35% faster (0.16 vs 0.25 ms per 192x192 crop) for the same mapping.
    """
    dst = np.array([[0, out_h], [0, 0], [out_w, 0]], np.float32)
    return cv2.getAffineTransform(rect.corners()[:3], dst)


def crop_inverse_matrix(rect: RotatedRect, out_w: int, out_h: int) -> np.ndarray:
    """2x3 affine matrix taking crop pixels to image pixels (for ``cv2.WARP_INVERSE_MAP``): ``crop_matrix``
    inverted as warpAffine inverts it, so warping with either gives the same pixels. (A float64 closed form from
    the rect moved shared photos' landmarks by up to 0.55 px through the detector's crop and 0.13 px through the
    mesh's: MediaPipe's corners are float32.)"""
    rows = crop_inverse_rows(rect, out_w, out_h)
    return np.array(rows) if rows is not None else cv2.invertAffineTransform(crop_matrix(rect, out_w, out_h))


_F2, _F4, _F5 = struct.Struct("2f"), struct.Struct("4f"), struct.Struct("5f")  # float32 rounding, several at once
_LU_EPS = 2.220446049250313e-14  # OpenCV's LU64f: DBL_EPSILON * 100


def _solve3(p0: float, q0: float, p1: float, q1: float, p2: float, q2: float, b0: float, b1: float, b2: float):
    """OpenCV's small-matrix LU solve (hal::LU64f: partial pivoting, the first of equal pivots), unrolled for
    rows (p, q, 1) in this order and right-hand side b: (x0, x1, x2), or None where OpenCV finds it singular."""
    r0, r1, r2 = (p0, q0, 1.0, b0), (p1, q1, 1.0, b1), (p2, q2, 1.0, b2)
    if abs(r1[0]) > abs(r0[0]):
        if abs(r2[0]) > abs(r1[0]):
            r0, r2 = r2, r0
        else:
            r0, r1 = r1, r0
    elif abs(r2[0]) > abs(r0[0]):
        r0, r2 = r2, r0
    a00, a01, a02, c0 = r0
    if not abs(a00) >= _LU_EPS:  # NaN too
        return None
    d = -1 / a00
    alpha = r1[0] * d
    a11, a12, c1 = r1[1] + alpha * a01, r1[2] + alpha * a02, r1[3] + alpha * c0
    alpha = r2[0] * d
    a21, a22, c2 = r2[1] + alpha * a01, r2[2] + alpha * a02, r2[3] + alpha * c0
    if abs(a21) > abs(a11):
        a11, a12, c1, a21, a22, c2 = a21, a22, c2, a11, a12, c1
    if not abs(a11) >= _LU_EPS:
        return None
    alpha = a21 * (-1 / a11)
    a22, c2 = a22 + alpha * a12, c2 + alpha * c1
    if not abs(a22) >= _LU_EPS:
        return None
    x2 = c2 / a22
    x1 = (c1 - a12 * x2) / a11
    return (c0 - a01 * x1 - a02 * x2) / a00, x1, x2


def crop_inverse_rows(rect: RotatedRect, out_w: int, out_h: int) -> tuple[tuple[float, float, float], ...] | None:
    """``crop_inverse_matrix`` as two rows of plain floats, bit for bit OpenCV's (cv2.boxPoints' float32 corners,
    getAffineTransform's 6x6 LU solve, invertAffineTransform), without calling OpenCV: a webcam frame's first call
    of each OpenCV or numpy function costs tens of microseconds (caches cold after the 33 ms wait); these four
    took ~0.1 ms a frame after MediaPipe's run, this ~40 us. None where OpenCV's solve would fail (a degenerate
    rect), for a rect that is not finite or lies beyond 1e30 pixels: the caller then asks OpenCV.

    The corners are computed as boxPoints computes them, each operation rounded to float32. getAffineTransform's
    6x6 system is block-diagonal (rows (x, y, 1, 0, 0, 0) and (0, 0, 0, x, y, 1)): OpenCV's elimination steps
    over the zero entries change nothing, and its pivoting takes the first block's rows in corner order and the
    second's in the order corner 1, 0, 2 (the swaps of the first three steps leave them so), so it is two 3x3
    solves.
    """
    if not (abs(rect.center_x) + abs(rect.center_y) + abs(rect.width) + abs(rect.height) < 1e30
            and abs(rect.rotation) < 1e6):
        return None  # not finite, or far beyond any frame (where boxPoints' float32 overflows): OpenCV decides
    cx, cy, w, h, degrees = _F5.unpack(_F5.pack(rect.center_x, rect.center_y, rect.width, rect.height,
                                                math.degrees(rect.rotation)))
    angle = degrees * math.pi / 180.0
    cos_a, sin_a = _F2.unpack(_F2.pack(math.cos(angle), math.sin(angle)))
    b, a = _F2.unpack(_F2.pack(cos_a * 0.5, sin_a * 0.5))
    ah, bw, bh, aw = _F4.unpack(_F4.pack(a * h, b * w, b * h, a * w))
    t0, t1, t2, t3 = _F4.unpack(_F4.pack(cx - ah, cy + bh, cx + ah, cy - bh))
    x0, y0, x1, y1 = _F4.unpack(_F4.pack(t0 - bw, t1 - aw, t2 - bw, t3 - aw))
    x2, y2 = _F2.unpack(_F2.pack(2 * cx - x0, 2 * cy - y0))
    # the corners go to crop (0, out_h), (0, 0), (out_w, 0)
    row0 = _solve3(x0, y0, x1, y1, x2, y2, 0.0, 0.0, float(out_w))
    row1 = _solve3(x1, y1, x0, y0, x2, y2, 0.0, float(out_h), 0.0)
    if row0 is None or row1 is None:
        return None
    (m0, m1, m2), (m3, m4, m5) = row0, row1
    det = m0 * m4 - m1 * m3
    det = 1.0 / det if det != 0 else 0.0
    a11, a22, a12, a21 = m4 * det, m0 * det, -m1 * det, -m3 * det
    return (a11, a12, -a11 * m2 - a12 * m5), (a21, a22, -a21 * m2 - a22 * m5)


def warp_crop(image: np.ndarray, rect: RotatedRect, out_w: int, out_h: int, border: int,
              exact: bool = False) -> np.ndarray:
    """Crop ``rect`` out of a uint8 image at out_w x out_h (bilinear on uint8, like MediaPipe).

    ``exact`` uses warpPerspective, MediaPipe's own call, whose fixed-point rounding differs slightly.
    """
    if exact:
        return cv2.warpPerspective(image, np.vstack([crop_matrix(rect, out_w, out_h), [0, 0, 1]]), (out_w, out_h),
                                   flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)
    return cv2.warpAffine(image, crop_matrix(rect, out_w, out_h), (out_w, out_h),
                          flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)


def project_from_crop(points_norm: np.ndarray, rect: RotatedRect) -> np.ndarray:
    """Crop-normalised points (x, y in [0,1] of the crop; z in crop-width units) -> image pixels.

    Args:
        points_norm: (N, 2|3) float array.
    Returns:
        (N, same) float32: x, y in image pixels; z scaled by the rect width (same units as x).
    """
    c, s = math.cos(rect.rotation), math.sin(rect.rotation)
    dx = points_norm[:, 0] - 0.5
    dy = points_norm[:, 1] - 0.5
    out = np.empty_like(points_norm, dtype=np.float32)
    out[:, 0] = (c * dx - s * dy) * rect.width + rect.center_x
    out[:, 1] = (s * dx + c * dy) * rect.height + rect.center_y
    if points_norm.shape[1] > 2:
        out[:, 2] = points_norm[:, 2] * rect.width
    return out


def face_rotation(landmarks_px: np.ndarray, start: int = 33, end: int = 263) -> float:
    """The ROI rotation (MediaPipe's convention) that levels the start->end landmark line: the face's roll."""
    return rotation_from_points(landmarks_px[start, :2], landmarks_px[end, :2])


def landmarks_to_rect(landmarks_px: np.ndarray, start: int = 33, end: int = 263, scale: float = 1.5,
                      bound_rotation: float | None = None) -> RotatedRect:
    """Next-frame face ROI from landmarks: bound of all (finite) points, rotation from landmark 33 to 263,
    square long side x1.5 (fact sheet §4.2).

    MediaPipe bounds the points along the image axes (``bound_rotation=None``), so a rolled head gets a
    larger, shifted crop than the same head upright (~20 % larger at 30 deg of roll for a face's shape), and
    the mesh answers a 1 % crop change with visibly different expressions. ``bound_rotation`` bounds them
    along axes turned by that angle instead (the tracker passes the face's roll): the crop then follows the
    face under roll.
    """
    rot = face_rotation(landmarks_px, start, end)
    c, s = (1.0, 0.0) if bound_rotation is None else (math.cos(bound_rotation), math.sin(bound_rotation))
    axes = np.array([[c, s], [-s, c]])  # rows: the bound's x and y axes in image pixels (as project_from_crop)
    # (2, N) rows are contiguous, so the reductions are fast; fmin/fmax skip NaN points (irises not computed)
    local = axes @ landmarks_px[:, :2].T
    (lo_x, lo_y), (hi_x, hi_y) = np.fmin.reduce(local, axis=1).tolist(), np.fmax.reduce(local, axis=1).tolist()
    w, h = hi_x - lo_x, hi_y - lo_y
    if not math.isfinite(w + h):  # an infinite point: leave out every point not finite, as MediaPipe
        with np.errstate(invalid="ignore"):
            local = np.where(np.isfinite(local).all(axis=0), local, np.nan)
        (lo_x, lo_y), (hi_x, hi_y) = np.fmin.reduce(local, axis=1).tolist(), np.fmax.reduce(local, axis=1).tolist()
        w, h = hi_x - lo_x, hi_y - lo_y
    # the bound's centre back in image axes, in plain floats (numpy calls are slow on a webcam frame)
    mid_x, mid_y = (lo_x + hi_x) / 2, (lo_y + hi_y) / 2
    cx, cy = mid_x * c + mid_y * -s, mid_x * s + mid_y * c
    return square_scaled_rect(cx, cy, w, h, rot, scale)


def blend_rects(a: RotatedRect, b: RotatedRect, share: float) -> RotatedRect:
    """``a`` moved ``share`` of the way to ``b`` (centre linearly, size geometrically, rotation the short way)."""
    turn = (b.rotation - a.rotation + math.pi) % (2 * math.pi) - math.pi
    return RotatedRect(a.center_x + share * (b.center_x - a.center_x), a.center_y + share * (b.center_y - a.center_y),
                       a.width * (b.width / a.width) ** share, a.height * (b.height / a.height) ** share,
                       a.rotation + share * turn)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of xyxy boxes; ``a`` (4,) or (N,4) against ``b`` (4,) or (M,4), broadcasting to (N, M)."""
    a = np.atleast_2d(a)[:, None, :]
    b = np.atleast_2d(b)[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    def area(x):
        return np.clip(x[..., 2] - x[..., 0], 0, None) * np.clip(x[..., 3] - x[..., 1], 0, None)
    union = area(a) + area(b) - inter
    return np.squeeze(np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0))


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares similarity (rotation, uniform scale, translation) taking ``src`` onto ``dst``.

    In 2-D this has a closed form: with centred points as complex numbers, scale x rotation is
    sum(conj(s) * d) / sum(|s|^2), with no SVD (the smoother runs this every frame).

    Args:
        src, dst: (N, 2) float arrays of corresponding points.
    Returns:
        (A, t, scale) with dst ~ src @ A.T + t; A is scale times a rotation. Coincident src points give
        the pure translation.
    """
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    zs = (src[:, 0] - mu_s[0]) + 1j * (src[:, 1] - mu_s[1])
    zd = (dst[:, 0] - mu_d[0]) + 1j * (dst[:, 1] - mu_d[1])
    power = float(np.vdot(zs, zs).real)
    if not power > 1e-12:
        return np.eye(2), mu_d - mu_s, 1.0
    a = np.vdot(zs, zd) / power  # vdot conjugates its first argument
    lin = np.array([[a.real, -a.imag], [a.imag, a.real]])
    return lin, mu_d - lin @ mu_s, float(abs(a))
