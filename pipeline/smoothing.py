"""Live landmark smoothing that adapts to each face's own noise.

A fixed One Euro filter behaves differently on different faces: its cutoff opens with speed, and a
noisier face's noise alone looks like speed, so the noisier the face the less it is smoothed. Here every
speed is measured in units of the face's own landmark noise, estimated online, so "moving" means "moving
more than this face's noise" and a still face is smoothed by the same factor whatever its noise level.

Two levels:
1. pose: the least-squares similarity (shift, rotation, zoom) from the previous output to the new mesh,
   fitted over the 468 mesh points. A step that the pose noise explains is mostly held back; a step many
   times the pose noise (a moving head, a shaking camera) passes whole, at once, so following motion
   never lags and never adds error to the raw landmarks;
2. residual: what the pose does not explain (noise, speech, blinks), per landmark and coordinate, through
   a One Euro filter whose speed is in noise units (the speed is normalised by the landmark's noise).

Noise is estimated from second differences of the pose-free residual (white noise of variance s^2 gives
second differences of variance 6 s^2, smooth motion almost none), a running mean over ~1 s whose updates
are clipped at a few times the current estimate, so bursts of real motion barely raise it. NaN inputs
(irises switched off) pass through and restart their filters.
"""
from __future__ import annotations

import math

import numpy as np

from pipeline.geometry import similarity_transform

NOISE_FRAMES = 30  # time constant of the noise estimates, frames (~1 s at 30 fps)
NOISE_CLIP = 4.0  # one frame can raise a noise estimate to at most this many times itself (x the 1/30 weight)
POSE_PASS_SIGMAS = 3.0  # a pose step of this many noise sigmas passes almost whole (exp(-1) held back)
# The mesh's errors are strongly correlated across points (a crop shift moves the whole mesh): measured on
# the jitter rig's still faces, pose noise at the face's rim is 0.4-0.7x one point's noise, not
# 1/sqrt(468). The pose noise is derived from the per-point noise with this factor, not estimated from the
# pose itself, which cannot tell a shaking camera (white, like noise) from noise.
POSE_NOISE_PER_POINT_NOISE = 0.6
_EPS = 1e-12
# Defaults for PipelineConfig (speeds in noise sigmas, so they hold for any face): on a still face the
# filtered speed is ~0.25 sigma, so the residual cutoff sits near 0.5 + 1.5 * 0.25 ~ 0.9 Hz (noise x ~0.3 at
# 30 fps); sustained motion of 3 sigma per frame opens it past 5 Hz (lag under 1 frame).
DEFAULT_MIN_CUTOFF, DEFAULT_BETA, DEFAULT_D_CUTOFF = 0.5, 1.5, 1.0


def _alpha(cutoff, freq: float):
    return 1.0 / (1.0 + freq / (2.0 * math.pi * cutoff))


class _NoiseEstimate:
    """Running variance of white measurement noise from second differences of a residual series."""

    def __init__(self):
        self.var = None  # per-series noise variance estimate
        self.count = 0
        self._prev_step = None

    def update(self, step: np.ndarray) -> None:
        """``step``: this frame's motion-compensated difference (value minus previous value)."""
        if self._prev_step is None or self._prev_step.shape != step.shape:
            self._prev_step = step
            if self.var is None or self.var.shape != step.shape:
                self.var = np.where(np.isfinite(step), step ** 2 / 2.0, np.nan)  # first guess: one difference
                self.count = 1
            return
        sample = (step - self._prev_step) ** 2 / 6.0
        self._prev_step = step
        self.count += 1
        weight = max(1.0 / self.count, 1.0 / NOISE_FRAMES)
        var = self.var
        fresh = ~np.isfinite(var) | (var <= _EPS)
        sample = np.where(fresh, sample, np.minimum(sample, NOISE_CLIP * np.where(fresh, 0.0, var)))
        self.var = np.where(fresh, sample, var + weight * (sample - var))

    def sigma(self, floor: float) -> np.ndarray:
        return np.sqrt(np.maximum(np.nan_to_num(self.var, nan=floor ** 2), floor ** 2))


class OneEuroLandmarks:
    """Smooths a stream of (N, D) landmark arrays for one face.

    Args:
        min_cutoff: residual cutoff (Hz) of a landmark that is not moving beyond its noise; the pose
            filter holds still-face pose noise back with the same cutoff.
        beta: how fast (Hz per noise sigma of filtered speed) the residual cutoff opens with speed.
        d_cutoff: cutoff (Hz) of the residual speed estimate.
        stabilize: two-level filtering as above; False = the per-landmark filter alone on positions.
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0, stabilize: bool = True):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.stabilize = stabilize
        self.reset()

    def reset(self) -> None:
        self._x = None  # last output
        self._raw = None  # last raw value
        self._dx = None  # filtered residual speed, noise units per frame (signed)
        self._t_ms = None
        self._frames = 0  # frames since the filter (re)started
        self._noise = _NoiseEstimate()  # per landmark coordinate, pixels

    # -- pose ------------------------------------------------------------------------------------------
    @staticmethod
    def _fit(src: np.ndarray, dst: np.ndarray):
        ok = np.isfinite(src).all(axis=1) & np.isfinite(dst).all(axis=1)
        if ok.sum() < 3:
            return None
        a, t, s = similarity_transform(src[ok], dst[ok])
        centre = src[ok].mean(axis=0)
        shift = centre @ a.T + t - centre
        return a, s, centre, shift, math.atan2(a[1, 0], a[0, 0])

    @staticmethod
    def _affine(dims: int, centre: np.ndarray, angle: float, zoom: float, shift: np.ndarray):
        """(D x D) matrix and offset of the similarity about ``centre``; z scales with the face."""
        c, s = math.cos(angle), math.sin(angle)
        m = np.eye(dims) * zoom
        m[:2, :2] = zoom * np.array([[c, -s], [s, c]])
        off = np.zeros(dims)
        off[:2] = centre + shift - m[:2, :2] @ centre
        return m.T, off

    def _rigid(self, values: np.ndarray, face_px: float):
        """(prev output moved by the held-back pose, prev output moved by the full pose, prev raw moved by
        the raw-to-raw motion), or None when the mesh is incomplete."""
        dims = values.shape[1]
        out_fit = self._fit(self._x[:468, :2], values[:468, :2])
        raw_fit = self._fit(self._raw[:468, :2], values[:468, :2])
        if out_fit is None or raw_fit is None:
            return None
        # the step in pixels at the face's rim (shift; angle and log zoom times half the face size), in
        # units of the pose noise implied by the per-point noise
        _, s, centre, shift, angle = out_fit
        step = np.array([shift[0], shift[1], angle * face_px / 2, math.log(max(s, 1e-6)) * face_px / 2])
        if self._noise.count >= 3:
            point_sigma = math.sqrt(float(np.nanmean(self._noise.var[:468, :2])))
            sigma = max(POSE_NOISE_PER_POINT_NOISE * point_sigma, 1e-4 * face_px)
            z2 = float(np.mean((step / sigma) ** 2))
        else:
            z2 = np.inf
        keep_back = (1.0 - self._k_min) * math.exp(-z2 / POSE_PASS_SIGMAS ** 2)
        keep_back = min(keep_back, 1.0 - 1.0 / self._frames)  # the first frames: a running mean
        k = 1.0 - keep_back
        part = self._affine(dims, centre, k * angle, s ** k, k * shift)
        full = self._affine(dims, centre, angle, s, shift)
        _, rs_, rcentre, rshift_, rangle_ = raw_fit
        raw_move = self._affine(dims, rcentre, rangle_, rs_, rshift_)
        return (self._x @ part[0] + part[1], self._x @ full[0] + full[1], self._raw @ raw_move[0] + raw_move[1])

    # -- the filter --------------------------------------------------------------------------------------
    def __call__(self, values: np.ndarray, timestamp_ms: float, object_scale: float) -> np.ndarray:
        values = np.asarray(values, np.float64)
        if self._x is None or self._x.shape != values.shape:
            self.reset()
            self._x, self._raw, self._dx, self._t_ms = values.copy(), values.copy(), np.zeros_like(values), timestamp_ms
            return values.astype(np.float32)
        dt_s = (timestamp_ms - self._t_ms) / 1000.0
        if dt_s <= 0:  # repeated or backwards timestamp: MediaPipe returns the raw value
            return values.astype(np.float32)
        freq = 1.0 / dt_s
        self._frames += 1
        face_px = max(object_scale, 1e-6)
        self._k_min = _alpha(self.min_cutoff, freq)
        rigid = self._rigid(values, face_px) if self.stabilize and values.shape[0] >= 468 else None
        if rigid is None:
            base = target = self._x
            prev_raw = self._raw
        else:
            base, target, prev_raw = rigid  # base: output moved by the kept pose; target: by the full pose
        restart = ~np.isfinite(base) | ~np.isfinite(values) | ~np.isfinite(prev_raw)
        step = np.where(restart, np.nan, values - prev_raw)  # this frame's pose-free motion, px
        self._noise.update(step)
        sigma = self._noise.sigma(floor=1e-4 * face_px)
        # speed in noise sigmas per frame (a difference of two noisy values has sqrt(2) sigma)
        speed = np.where(restart, 0.0, np.nan_to_num(step) / (math.sqrt(2.0) * sigma))
        edx = self._dx + _alpha(self.d_cutoff, freq) * (speed - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(edx)
        # while few frames are in, the best estimate of a still value is their mean: settle at once
        x = base + np.maximum(_alpha(cutoff, freq), 1.0 / self._frames) * (values - target)
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
