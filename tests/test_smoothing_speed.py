"""The live smoother's fast paths against its general (masked) path and against exact symmetries of its maths,
on a real face track; and its cost. Cost before/after on more tracks: benchmarks/smoothing_bench.py."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.smoothing import DEFAULT_BETA, DEFAULT_D_CUTOFF, DEFAULT_MIN_CUTOFF, OneEuroLandmarks, object_scale
from tests.conftest import require_media

CLIP = ("videos", "LivePortrait_d10.mp4")  # one talking, turning head
FRAMES = 120
TOL_PX = 1e-3


class GeneralPathSmoother(OneEuroLandmarks):
    """The same filter forced onto its general path: both pose fits through geometry.similarity_transform on
    the finite points (centred, masked), and the restart masks computed and applied."""

    def _fits(self, values, finite):
        mesh = slice(0, 468)
        return self._fit(self._x[mesh, :2], values[mesh, :2]), self._fit(self._raw[mesh, :2], values[mesh, :2])

    def _rigid(self, values, face_px, finite):
        return super()._rigid(values, face_px, False)  # as if some landmark were not finite


@pytest.fixture(scope="module")
def track(tracker):
    """(landmarks_px (F,478,3) float32, timestamp_ms (F,)) of the clip tracked without smoothing."""
    from pipeline import open_source
    path = require_media(*CLIP)
    tracker.reset()
    landmarks, stamps = [], []
    with open_source(str(path)) as source:
        for frame in source:
            result = tracker.process(frame)
            if result.faces:
                landmarks.append(result.faces[0].raw_landmarks_px)
                stamps.append(result.timestamp_ms)
            if len(landmarks) == FRAMES:
                break
    tracker.reset()
    assert len(landmarks) == FRAMES
    return np.array(landmarks), np.array(stamps, np.float64)


@pytest.fixture(scope="module")
def groups(engine):
    """The refinement heads' landmark groups, as the tracker gives its live filters."""
    return engine.mesh.head_groups()


def smooth(landmarks_px, stamps, cls=OneEuroLandmarks, groups=()):
    f = cls(DEFAULT_MIN_CUTOFF, DEFAULT_BETA, DEFAULT_D_CUTOFF, groups=groups)
    return np.array([f(v, t, object_scale(v)) for v, t in zip(landmarks_px, stamps)])


def test_fast_path_equals_general_path(track, groups):
    landmarks, stamps = track
    assert len(groups) == 5
    for g in ((), groups):
        fast, general = smooth(landmarks, stamps, groups=g), smooth(landmarks, stamps, GeneralPathSmoother, g)
        assert np.abs(fast - general).max() < TOL_PX
        assert np.abs(fast - landmarks).mean() > 0.02  # and it does smooth


def test_nan_landmark_restarts_alone(track, groups):
    """A NaN point (the masked path every frame) leaves the others as they are without it, also inside a
    head group (whose mean is then over its finite points)."""
    landmarks, stamps = track
    with_nan = np.concatenate([landmarks, np.full((len(landmarks), 1, 3), np.nan, np.float32)], axis=1)
    with_nan[FRAMES // 2:, 478] = landmarks[FRAMES // 2:, 0] + 5.0  # comes back: restarts at its raw value
    out = smooth(with_nan, stamps, groups=groups)
    assert np.abs(out[:, :478] - smooth(landmarks, stamps, groups=groups)).max() < TOL_PX
    assert np.isnan(out[:FRAMES // 2, 478]).all()
    np.testing.assert_allclose(out[FRAMES // 2, 478], with_nan[FRAMES // 2, 478], atol=TOL_PX)


def test_smoothing_commutes_with_similarity_moves(track, groups):
    """Speeds are in noise units and the pose fit is a similarity fit, so moving the whole track by a turn of
    90 degrees (which swaps the per-coordinate noise estimates exactly), a zoom and a shift moves the output
    the same way."""
    landmarks, stamps = track

    def move(pts):
        out = np.empty_like(pts, np.float64)
        out[..., 0] = 640.0 - 2.0 * pts[..., 1]
        out[..., 1] = 2.0 * pts[..., 0] + 37.5
        out[..., 2] = 2.0 * pts[..., 2]
        return out

    moved = smooth(move(landmarks.astype(np.float64)), stamps, groups=groups)
    expected = move(smooth(landmarks, stamps, groups=groups).astype(np.float64))
    assert np.abs(moved - expected).max() < 2 * TOL_PX * 2.0  # both float32 outputs, twice the scale
