"""One Euro filtering of landmark arrays, scale-normalised like MediaPipe's LandmarksSmoothingCalculator.

Each coordinate of each landmark has its own filter. The speed that opens the cutoff is measured in
face sizes per second (pixel speed / object scale), so one setting behaves the same for near and far
faces. NaN inputs (e.g. the iris while its submodel is off) pass through and restart that filter.
"""
from __future__ import annotations

import math

import numpy as np

from pipeline.geometry import similarity_transform


def _alpha(cutoff, freq: float):
    return 1.0 / (1.0 + freq / (2.0 * math.pi * cutoff))


class OneEuroLandmarks:
    """Smooths a stream of (N, D) landmark arrays for one face.

    With ``stabilize`` (the default) it filters at two levels. The face's rigid motion (the least-squares
    similarity from the previous output to the new mesh, fitted over the 468 mesh points where noise
    averages out) goes through a One Euro filter on the pose: a still face's pose is held steady, a moving
    head's motion passes at once. What the pose does not explain (noise and real deformation such as
    speech) goes through the per-landmark One Euro filter. A plain low-pass on absolute positions must
    trade lag on a moving head against noise on a still one; separating the two removes that trade.
    Both levels share (min_cutoff, beta): both speeds are in face sizes per second.

    Args:
        min_cutoff: minimum cutoff frequency (Hz); lower = steadier when still.
        beta: how fast the cutoff opens with speed (per face-size/s); higher = less lag.
        d_cutoff: cutoff (Hz) of the speed estimates.
        stabilize: two-level filtering as above; False = MediaPipe's per-landmark filter alone.
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0, stabilize: bool = True):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.stabilize = stabilize
        self.reset()

    def reset(self) -> None:
        self._x = None  # last filtered value
        self._raw = None  # last raw value
        self._dx = None  # last filtered per-landmark speed
        self._dpose = 0.0  # last filtered rigid speed
        self._t_ms = None

    def _rigid(self, values: np.ndarray, freq: float, scale: float):
        """Move the previous output and raw values by the rigid motion.

        Returns (prev_x moved by the filtered pose, prev_x moved by the full pose, prev_raw moved by the full
        pose), or None when the mesh is incomplete."""
        prev_x, prev_raw = self._x, self._raw
        src, dst = prev_x[:468, :2], values[:468, :2]
        if not (np.isfinite(src).all() and np.isfinite(dst).all()):
            ok = np.isfinite(src).all(axis=1) & np.isfinite(dst).all(axis=1)
            if ok.sum() < 3:
                return None
            src, dst = src[ok], dst[ok]
        a, t, s = similarity_transform(src, dst)
        angle = math.atan2(a[1, 0], a[0, 0])
        centre = src.mean(axis=0)
        shift = centre @ a.T + t - centre
        # rigid speed in face sizes per second: centre motion, rotation and zoom at the face's rim
        speed = (math.hypot(*shift) * scale + 0.5 * abs(angle) + 0.5 * abs(math.log(max(s, 1e-6)))) * freq
        self._dpose += _alpha(self.d_cutoff, freq) * (speed - self._dpose)
        k = _alpha(self.min_cutoff + self.beta * abs(self._dpose), freq)
        c, sn = math.cos(k * angle), math.sin(k * angle)
        dims = values.shape[1]

        def affine(lin: np.ndarray, offset: np.ndarray, zoom: float):
            # one (D x D) matrix: x, y about the face centre; z (if any) scaled with the face
            m = np.eye(dims) * zoom
            m[:2, :2] = lin
            off = np.zeros(dims)
            off[:2] = centre + offset - lin @ centre
            return m.T, off
        part_m, part_off = affine((s ** k) * np.array([[c, -sn], [sn, c]]), k * shift, s ** k)
        full_m, full_off = affine(a, shift, s)
        return prev_x @ part_m + part_off, prev_x @ full_m + full_off, prev_raw @ full_m + full_off

    def __call__(self, values: np.ndarray, timestamp_ms: float, object_scale: float) -> np.ndarray:
        values = np.asarray(values, np.float64)
        if self._x is None or self._x.shape != values.shape:
            self._x, self._raw, self._dx, self._t_ms = values.copy(), values.copy(), np.zeros_like(values), timestamp_ms
            self._dpose = 0.0
            return values.astype(np.float32)
        dt_s = (timestamp_ms - self._t_ms) / 1000.0
        if dt_s <= 0:  # repeated or backwards timestamp: MediaPipe returns the raw value
            return values.astype(np.float32)
        freq = 1.0 / dt_s
        scale = 1.0 / max(object_scale, 1e-6)
        rigid = self._rigid(values, freq, scale) if self.stabilize and values.shape[0] >= 468 else None
        if rigid is None:
            base = target = self._x
            prev_raw = self._raw
        else:
            base, target, prev_raw = rigid  # base: output moved by filtered pose; target: by the full pose
        restart = ~np.isfinite(base) | ~np.isfinite(values)
        dx = np.where(restart, 0.0, (values - prev_raw) * scale * freq)
        edx = self._dx + _alpha(self.d_cutoff, freq) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(edx)
        x = base + _alpha(cutoff, freq) * (values - target)
        x = np.where(restart, values, x)
        self._x, self._raw, self._dx, self._t_ms = x, values.copy(), np.where(restart, 0.0, edx), timestamp_ms
        return x.astype(np.float32)


def object_scale(landmarks_px: np.ndarray) -> float:
    """Mean of the width and height of the landmarks' bounding box, in pixels (MediaPipe's scale)."""
    pts = landmarks_px[:, :2]
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return 1.0
    span = pts.max(axis=0) - pts.min(axis=0)
    return float((span[0] + span[1]) / 2)
