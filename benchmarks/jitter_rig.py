"""The ZOZO landmark study's jitter rig: a still face photo moved across a fixed camera window with known
motion; detected landmarks are mapped back through the known motion, and each landmark's mean distance
from its own mean is reported as % of the inter-ocular (outer eye corner) distance.

Motions: 'still' (fixed pose, fresh sensor noise every frame: a person sitting still in front of a
webcam), 'shake' (sub-pixel to few-pixel random steps: hand-held camera), 'sweep' (slow translation with
small rotation and scale: where smoothing must not lag).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.config import PipelineConfig
from pipeline.tracker import FaceTracker

WINDOW = (640, 480)
FPS = 30.0
MOTIONS = ("still", "shake", "sweep")


@dataclass(frozen=True)
class Sequence:
    frames: list  # BGR uint8 frames of the camera window
    transforms: np.ndarray  # (N, 2, 3) photo -> window affine (similarity) per frame
    timestamps_ms: np.ndarray
    motion: str


def _similarity(scale: float, angle: float, tx: float, ty: float, centre) -> np.ndarray:
    m = cv2.getRotationMatrix2D(centre, np.degrees(angle), scale)
    m[:, 2] += (tx, ty)
    return m


def make_sequence(photo_bgr: np.ndarray, face_box_xyxy, motion: str, n: int, seed: int = 0,
                  noise_sigma: float = 3.0) -> Sequence:
    """Render ``n`` window frames of ``photo_bgr`` so the face (box in photo pixels) sits centred at
    ~200 px wide, moved by ``motion``. Sensor noise (Gaussian, per pixel and frame) is added to every
    motion; 'still' has no other change between frames."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = face_box_xyxy
    face_c = ((x0 + x1) / 2, (y0 + y1) / 2)
    base_scale = 200.0 / max(x1 - x0, 1)
    to_centre = (WINDOW[0] / 2 - face_c[0], WINDOW[1] / 2 - face_c[1])
    frames, mats = [], []
    for i in range(n):
        s, a, tx, ty = base_scale, 0.0, *to_centre
        if motion == "shake":
            step = rng.normal(0, 1.5, 2)  # sub-pixel to a few pixels
            tx, ty = tx + step[0], ty + step[1]
        elif motion == "sweep":
            u = i / max(n - 1, 1)
            tx += (u - 0.5) * 160  # 160 px over the clip: ~1.8 px per frame at n=90
            ty += np.sin(2 * np.pi * u) * 20
            a = np.radians(6) * np.sin(2 * np.pi * u)
            s *= 1 + 0.08 * np.sin(np.pi * u)
        elif motion != "still":
            raise ValueError(motion)
        m = _similarity(s, a, tx, ty, face_c)
        frame = cv2.warpAffine(photo_bgr, m, WINDOW, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if noise_sigma > 0:
            frame = np.clip(frame + rng.normal(0, noise_sigma, frame.shape), 0, 255).astype(np.uint8)
        frames.append(frame)
        mats.append(m)
    return Sequence(frames, np.array(mats), np.arange(n) * 1000.0 / FPS, motion)


def to_photo(landmarks_window: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Map (N, P, 2+) window landmarks back to photo pixels through each frame's inverse transform."""
    out = np.empty(landmarks_window.shape[:2] + (2,))
    for i, (pts, m) in enumerate(zip(landmarks_window, transforms)):
        inv = cv2.invertAffineTransform(m)
        out[i] = pts[:, :2] @ inv[:, :2].T + inv[:, 2]
    return out


def jitter_percent(landmarks_photo: np.ndarray, regions: dict[str, np.ndarray], skip: int = 5) -> dict[str, float]:
    """Per region: mean over landmarks of the mean distance from that landmark's own mean position,
    as % of the inter-ocular distance (landmarks 33-263 of the mean shape). First ``skip`` frames are
    left out (filters settling)."""
    pts = landmarks_photo[skip:]
    pts = pts[np.isfinite(pts[:, :468]).all(axis=(1, 2))]
    if len(pts) < 3:
        return {k: float("nan") for k in regions}
    mean = np.nanmean(pts, axis=0)
    iod = np.linalg.norm(mean[33] - mean[263])
    dist = np.linalg.norm(pts - mean, axis=2)  # (N, P)
    return {k: float(np.nanmean(dist[:, idx]) / iod * 100) for k, idx in regions.items()}


def lag_frames(smoothed_window: np.ndarray, raw_window: np.ndarray, max_lag: float = 6.0) -> float:
    """How many frames the smoothed trajectory trails the raw one (mean face position; sub-frame)."""
    a = np.nanmean(smoothed_window[:, :468, :2], axis=1)
    b = np.nanmean(raw_window[:, :468, :2], axis=1)
    t = np.arange(len(b), dtype=float)
    best, best_err = 0.0, np.inf
    for d in np.arange(0, max_lag, 0.05):
        shifted = np.stack([np.interp(t - d, t, b[:, k]) for k in range(2)], axis=1)
        err = np.mean(np.sum((a[10:] - shifted[10:]) ** 2, axis=1))
        if err < best_err:
            best, best_err = d, err
    return float(best)


def track_sequence(engine, seq: Sequence, smooth: bool) -> np.ndarray:
    """(N, 478, 3) landmarks of the first tracked face per frame of ``seq`` (NaN where none)."""
    tracker = FaceTracker(engine.detector, engine.mesh, PipelineConfig(smooth=smooth))
    out = np.full((len(seq.frames), 478, 3), np.nan)
    for i, (frame, ts) in enumerate(zip(seq.frames, seq.timestamps_ms)):
        faces = tracker.step(frame, ts).faces
        if faces:
            out[i] = faces[0].landmarks_px
    return out
