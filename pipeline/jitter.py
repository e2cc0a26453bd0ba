"""Live landmark-noise estimate: per region, the RMS residual between consecutive frames after removing
the best similarity transform (rotation, uniform scale, translation) of the whole face, as % of the
outer-eye-corner distance. Rigid head motion is removed, so what is left is noise plus real
deformation (speech, blinks): on a still face it is jitter."""
from __future__ import annotations

from collections import deque

import numpy as np

from pipeline.geometry import similarity_transform
from pipeline.topology import inter_ocular_px

REGIONS = ("eyes", "iris", "lips", "contour")


def frame_jitter(prev_px: np.ndarray, cur_px: np.ndarray, regions: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-region RMS residual (% of IOD) between two frames of one face after similarity alignment.

    The transform is fitted on the 468 mesh points and applied to every point, so the iris is measured
    against the face, not against itself.
    """
    prev, cur = prev_px[:, :2].astype(np.float64), cur_px[:, :2].astype(np.float64)
    ok = np.isfinite(prev[:468]).all(axis=1) & np.isfinite(cur[:468]).all(axis=1)
    iod = inter_ocular_px(cur)
    if ok.sum() < 3 or not iod > 0:
        return {}
    a, t, _ = similarity_transform(prev[:468][ok], cur[:468][ok])
    residual = np.linalg.norm(prev @ a.T + t - cur, axis=1)
    out = {}
    for name, idx in regions.items():
        r = residual[idx]
        r = r[np.isfinite(r)]
        if len(r):
            out[name] = float(np.sqrt(np.mean(r ** 2)) / iod * 100)
    return out


class JitterMeter:
    """Running median of frame_jitter over the last ``window`` frames of one face id."""

    def __init__(self, regions: dict[str, np.ndarray], window: int = 15):
        self.regions = {k: v for k, v in regions.items() if k in REGIONS}
        self.window = window
        self._prev: np.ndarray | None = None
        self._face_id: int | None = None
        self._history: dict[str, deque] = {k: deque(maxlen=window) for k in self.regions}

    def update(self, face_id: int | None, landmarks_px: np.ndarray | None) -> dict[str, float]:
        if face_id is None or landmarks_px is None or face_id != self._face_id:
            self._prev, self._face_id = (None if landmarks_px is None else landmarks_px), face_id
            for h in self._history.values():
                h.clear()
            return {}
        values = frame_jitter(self._prev, landmarks_px, self.regions)
        self._prev = landmarks_px
        for k, v in values.items():
            self._history[k].append(v)
        return {k: float(np.median(h)) for k, h in self._history.items() if h}
