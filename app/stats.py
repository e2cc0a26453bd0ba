"""Live numbers for the plots and the stage readout, reset whenever a runner starts (a new source or new
sessions), so nothing from the previous run leaks in.

Frame rates come from per-frame intervals (the median of the last ``window`` intervals, each the time since
the previous count change divided by the frames counted), so one hitch moves one sample, not a 1.5 s
plateau, and nothing is reported until two frames arrived (no ramp from 0). A counter that goes backwards
(a new reader) restarts the intervals instead of giving negative rates.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from models.variants import Submodels
from pipeline.jitter import JitterMeter
from pipeline.types import FrameResult

STAGES = ("detect", "mesh", "signals", "smooth", "draw")


class RateMeter:
    """Events per second from the median per-event interval of the last ``window`` counter increments."""

    def __init__(self, window: int = 15):
        self.intervals: deque[float] = deque(maxlen=window)
        self._last: tuple[float, int] | None = None

    def reset(self) -> None:
        self.intervals.clear()
        self._last = None

    def update(self, now: float, count: int) -> None:
        if self._last is None or count < self._last[1]:
            self._last = (now, count)
            return
        t0, n0 = self._last
        if count > n0:
            self.intervals.append((now - t0) / (count - n0))
            self._last = (now, count)

    @property
    def rate(self) -> float:
        if len(self.intervals) < 2:
            return float("nan")
        median = float(np.median(self.intervals))
        return 1.0 / median if median > 0 else float("nan")


class LiveStats:
    def __init__(self, regions: dict[str, np.ndarray], window: int = 15, stage_window: int = 30):
        self.processed = RateMeter(window)
        self.captured = RateMeter(window)
        self.jitter_meter = JitterMeter(regions)
        self.stage_ms: dict[str, deque] = {k: deque(maxlen=stage_window) for k in STAGES}
        self.mesh_ms_by_submodels: dict[Submodels, deque] = {}

    def reset(self) -> None:
        self.processed.reset()
        self.captured.reset()
        self.jitter_meter.update(None, None)
        for d in self.stage_ms.values():
            d.clear()
        self.mesh_ms_by_submodels.clear()

    def on_counts(self, now: float, processed: int, captured: int) -> None:
        self.processed.update(now, processed)
        self.captured.update(now, captured)

    def on_result(self, result: FrameResult) -> dict[str, float]:
        """Record one result's stage times; returns this frame's jitter per region (% IOD, NaN when unknown)."""
        for k in STAGES:
            if k in result.timings_ms:
                self.stage_ms[k].append(result.timings_ms[k])
        if result.faces and "mesh" in result.timings_ms:
            per_face = result.timings_ms["mesh"] / len(result.faces)
            self.mesh_ms_by_submodels.setdefault(result.submodels, deque(maxlen=60)).append(per_face)
        face = result.faces[0] if result.faces else None
        jitter = self.jitter_meter.update(face.face_id if face else None, face.landmarks_px if face else None)
        if Submodels.IRISES & result.submodels != Submodels.IRISES:
            jitter["iris"] = float("nan")  # an iris that is not computed has no jitter; never a stale line
        return jitter

    def stage_medians(self) -> dict[str, float]:
        return {k: float(np.median(v)) if v else float("nan") for k, v in self.stage_ms.items()}

    def mesh_ms(self, submodels: Submodels, percentile: float = 50) -> float | None:
        """Mesh-stage ms per face while exactly ``submodels`` ran (None until 5 frames were seen)."""
        d = self.mesh_ms_by_submodels.get(submodels)
        return float(np.percentile(d, percentile)) if d and len(d) >= 5 else None
