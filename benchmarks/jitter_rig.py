"""The ZOZO landmark study's jitter rig: a still face photo moved across a fixed camera window with known
motion; detected landmarks are mapped back through the known motion, and each landmark's mean distance
from its own mean is reported as % of the inter-ocular (outer eye corner) distance.

Motions: 'still' (fixed pose, fresh sensor noise every frame: a person sitting still in front of a
webcam), 'shake' (sub-pixel to few-pixel random steps: hand-held camera), 'sweep' (slow translation with
small rotation and scale: where smoothing must not lag). The photo is static, so on every motion any
landmark movement left after mapping back is error.

The tracker's crops never see smoothed values, so raw landmarks are tracked once per sequence and every
smoother is applied afterwards (exactly what it would output live).
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from benchmarks.reference import PHOTOS, mediapipe_face_mesh
from pipeline import FaceTracker, Frame
from pipeline.topology import inter_ocular_px

WINDOW = (640, 480)
FPS = 30.0
MOTIONS = ("still", "shake", "sweep")
FACE_WIDTH_PX = 200  # the face's width in the window (a webcam user at arm's length)
# Faces tracked at once in the rig, of which the one at the rig face's known position is kept: group photos, and
# small photos whose mirrored border (BORDER_REFLECT) repeats the face, put other faces in the window; a
# tracker held to one face may follow one of those, then switch when it leaves the window.
RIG_FACES = 3


@dataclass(frozen=True)
class Sequence:
    frames: list  # BGR uint8 frames of the camera window
    transforms: np.ndarray  # (N, 2, 3) photo -> window affine (similarity) per frame
    timestamps_ms: np.ndarray
    motion: str
    face_centre_px: np.ndarray | None = None  # (N, 2) where the rig's face box centre is in each window frame



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
    base_scale = FACE_WIDTH_PX / max(x1 - x0, 1)
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
    mats = np.array(mats)
    centres = mats[:, :, :2] @ np.asarray(face_c, np.float64) + mats[:, :, 2]
    return Sequence(frames, mats, np.arange(n) * 1000.0 / FPS, motion, centres)


def rig_photos(detector, folder: Path = PHOTOS, names=None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, photo, face box) for every photo in ``folder`` (or the given names) where the detector finds a
    face at least 48 px wide (smaller ones would be upscaled 4x into the window: a blur test, not jitter);
    the largest face is used."""
    out = []
    paths = sorted(folder.iterdir()) if names is None else [folder / n for n in names]
    for path in paths:
        photo = cv2.imread(str(path))
        if photo is None:
            continue
        dets = detector(photo, 20)
        if not dets:
            continue
        box = max((d.box_xyxy for d in dets), key=lambda b: b[2] - b[0])
        if box[2] - box[0] >= 48:
            out.append((path.name, photo, np.asarray(box, np.float64)))
    return out


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
    iod = inter_ocular_px(mean)
    dist = np.linalg.norm(pts - mean, axis=2)  # (N, P)
    return {k: float(np.nanmean(dist[:, idx]) / iod * 100) for k, idx in regions.items()}


def lag_frames(smoothed_window: np.ndarray, raw_window: np.ndarray, max_lag: float = 6.0) -> float:
    """How many frames the smoothed trajectory trails the raw one (mean face position; sub-frame); NaN when
    fewer than 20 frames have both."""
    ok = np.isfinite(smoothed_window[:, :468, :2]).all(axis=(1, 2)) & np.isfinite(raw_window[:, :468, :2]).all(
        axis=(1, 2))
    if ok.sum() < 20:
        return float("nan")
    a = smoothed_window[:, :468, :2].mean(axis=1)
    b = raw_window[:, :468, :2].mean(axis=1)
    t = np.arange(len(b), dtype=float)
    keep = ok & (t >= 10)
    best, best_err = 0.0, np.inf
    for d in np.arange(0, max_lag, 0.05):
        shifted = np.stack([np.interp(t - d, t[ok], b[ok, k]) for k in range(2)], axis=1)
        err = np.mean(np.sum((a[keep] - shifted[keep]) ** 2, axis=1))
        if err < best_err:
            best, best_err = d, err
    return float(best)


def rig_face(faces: list[np.ndarray], seq: Sequence, i: int) -> np.ndarray | None:
    """Of one frame's (478, 3) landmark sets, the rig's face: nearest its known centre, within half its width
    (None if no face is there); without known centres, the first."""
    if seq.face_centre_px is None:
        return faces[0] if faces else None
    dist = [np.linalg.norm(np.nanmean(f[:468, :2], axis=0) - seq.face_centre_px[i]) for f in faces]
    k = int(np.argmin(dist)) if dist else -1
    return faces[k] if k >= 0 and dist[k] < FACE_WIDTH_PX / 2 else None


def track_raw(tracker: FaceTracker, seq: Sequence, quality: str = "live") -> np.ndarray:
    """(N, 478, 3) raw landmarks of the rig's face per frame of ``seq`` (NaN where it is not found), tracked
    by ``tracker`` in video mode (each frame's crop from the previous frame's landmarks), smoothing and
    signals off; ``quality="best"`` adds the test-time flip of --quality best (its zero-lag smoothing is
    applied by the caller, to the whole track)."""
    return _track(tracker, seq, smooth=False, quality=quality)


def track_live(tracker: FaceTracker, seq: Sequence) -> np.ndarray:
    """(N, 478, 3) landmarks of the rig's face as the tracker shows them live: smoothing on, so its crops are
    the stabilised ones (pipeline.tracker: settled on the first frame, moved by the share of the pose step
    the filter passes); NaN where the face is not found."""
    return _track(tracker, seq, smooth=True, quality="live")


def _track(tracker: FaceTracker, seq: Sequence, smooth: bool, quality: str) -> np.ndarray:
    """The rig's face per frame: shown landmarks with ``smooth`` (the raw ones are the same without)."""
    faces = RIG_FACES if seq.face_centre_px is not None else 1
    tracker.update_config(replace(tracker.config, smooth=smooth, signals=False, max_faces=faces, quality=quality))
    tracker.reset()
    out = np.full((len(seq.frames), 478, 3), np.nan)
    for i, (frame, ts) in enumerate(zip(seq.frames, seq.timestamps_ms)):
        result = tracker.process(Frame(i, float(ts), frame, time.perf_counter()))
        face = rig_face([f.landmarks_px for f in result.faces], seq, i)
        if face is not None:
            out[i] = face
    return out


@functools.lru_cache(maxsize=1)
def _head_groups() -> tuple[np.ndarray, ...]:
    """Every refinement head's landmarks (the tracker's groups for its default submodels, all of them)."""
    from models.registry import ensure_models
    from pipeline.mesh import Refinement
    return Refinement(ensure_models().topology()).head_groups()


def live_smooth(raw: np.ndarray, timestamps_ms: np.ndarray, **params) -> np.ndarray:
    """The live filter alone over a raw track (the smoothing module's defaults unless given), as the tracker
    runs it with every submodel on; without the tracker's crop stabilisation (``track_live`` has both)."""
    from pipeline import smoothing
    from pipeline.smoothing import OneEuroLandmarks, object_scale
    kw = {"min_cutoff": smoothing.DEFAULT_MIN_CUTOFF, "beta": smoothing.DEFAULT_BETA,
          "d_cutoff": smoothing.DEFAULT_D_CUTOFF, "groups": _head_groups()} | params
    f = OneEuroLandmarks(**kw)
    out = raw.copy()
    for i, (r, t) in enumerate(zip(raw, timestamps_ms)):
        if np.isfinite(r[:468]).all():
            out[i] = f(r, t, object_scale(r))
        else:
            f.reset()
    return out


def mediapipe_track(seq: Sequence) -> np.ndarray:
    """(N, 478, 3) MediaPipe FaceMesh (legacy solution, video mode, refine_landmarks) on ``seq``: the rig's face,
    as ``track_raw`` picks it; a fresh graph per sequence, created with its start-up log silenced."""
    from benchmarks.reference import mediapipe_faces_px
    out = np.full((len(seq.frames), 478, 3), np.nan)
    faces = RIG_FACES if seq.face_centre_px is not None else 1
    with mediapipe_face_mesh(static=False, max_faces=faces) as fm:
        for i, f in enumerate(seq.frames):
            face = rig_face(mediapipe_faces_px(fm, f), seq, i)
            if face is not None:
                out[i] = face
    return out
