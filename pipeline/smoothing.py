"""One Euro filtering of landmark arrays, scale-normalised like MediaPipe's LandmarksSmoothingCalculator.

Each coordinate of each landmark has its own filter. The speed that opens the cutoff is measured in
face sizes per second (pixel speed / object scale), so one setting behaves the same for near and far
faces. NaN inputs (e.g. the iris while its submodel is off) pass through and restart that filter.
"""
from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff, freq: float):
    return 1.0 / (1.0 + freq / (2.0 * math.pi * cutoff))


class OneEuroLandmarks:
    """Smooths a stream of (N, D) landmark arrays for one face.

    Args:
        min_cutoff: minimum cutoff frequency (Hz); lower = steadier when still.
        beta: how fast the cutoff opens with speed (per face-size/s); higher = less lag.
        d_cutoff: cutoff (Hz) of the speed estimate.
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self._x = None  # last filtered value
        self._raw = None  # last raw value
        self._dx = None  # last filtered speed
        self._t_ms = None

    def __call__(self, values: np.ndarray, timestamp_ms: float, object_scale: float) -> np.ndarray:
        values = np.asarray(values, np.float64)
        if self._x is None or self._x.shape != values.shape:
            self._x, self._raw, self._dx, self._t_ms = values.copy(), values.copy(), np.zeros_like(values), timestamp_ms
            return values.astype(np.float32)
        dt_s = (timestamp_ms - self._t_ms) / 1000.0
        if dt_s <= 0:  # repeated or backwards timestamp: MediaPipe returns the raw value
            return values.astype(np.float32)
        freq = 1.0 / dt_s
        scale = 1.0 / max(object_scale, 1e-6)
        restart = ~np.isfinite(self._x) | ~np.isfinite(values)
        dx = np.where(restart, 0.0, (values - self._raw) * scale * freq)
        edx = self._dx + _alpha(self.d_cutoff, freq) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(edx)
        x = self._x + _alpha(cutoff, freq) * (values - self._x)
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
