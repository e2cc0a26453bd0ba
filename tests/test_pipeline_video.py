"""The tracking pipeline on real videos: parity with MediaPipe's video mode, live submodel toggles."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.reference import mean_error_iod, mediapipe_face_mesh, mediapipe_faces_px
from main import main
from pipeline import Submodels
from pipeline.config import PipelineConfig
from pipeline.sources import VideoFileSource
from tests.conftest import require_media

CLIPS = [("LivePortrait_d10.mp4", 90), ("face_recognition_short_hamilton_clip.mp4", 150),
         ("LivePortrait_s32.mp4", 60)]


@pytest.mark.parametrize("clip,frames", CLIPS)
def test_process_no_smooth_matches_mediapipe_video_mode(clip, frames, tmp_path):
    path = require_media("videos", clip)
    out = tmp_path / "lm.npz"
    assert main(["process", str(path), "--no-smooth", "--landmarks", str(out), "--max-frames", str(frames),
                 "--provider", "cpu", "-q"]) == 0
    ours = np.load(out)
    assert ours["landmarks"].shape == (frames, 1, 478, 3)
    errors, ours_found, theirs_found = [], 0, 0
    with mediapipe_face_mesh(static=False, max_faces=1) as fm:
        for i, frame in enumerate(VideoFileSource(path)):
            if i >= frames:
                break
            res = mediapipe_faces_px(fm, frame.frame_bgr)
            lm = ours["landmarks"][i, 0]
            found = bool(np.isfinite(lm).all())
            ours_found += found
            theirs_found += bool(res)
            if res and found:
                errors.append(mean_error_iod(lm, res[0]))
    assert ours_found >= theirs_found
    assert len(errors) > frames // 3
    assert np.median(errors) <= 0.01, f"median error {np.median(errors):.4f} of IOD"


# Submodels (the subject's sides) -> the model's own head names (the viewer's sides)
MODEL_HEADS = {Submodels.LIPS: "lips", Submodels.LEFT_EYE: "right_eye", Submodels.RIGHT_EYE: "left_eye",
               Submodels.LEFT_IRIS: "right_iris", Submodels.RIGHT_IRIS: "left_iris"}


def test_submodel_toggles_take_effect_next_frame_and_compute_only_what_is_on(tracker):
    path = require_media("videos", "LivePortrait_d10.mp4")
    tracker.update_config(PipelineConfig(provider="cpu", threads=2, smooth=False, signals=False))
    tracker.reset()
    frames = [f for f, _ in zip(VideoFileSource(path), range(130))]
    full, none = Submodels.ALL, Submodels.NONE
    # One eye without the other is a valid set: the subject's left eye and iris only.
    left_only = Submodels.LIPS | Submodels.LEFT_EYE | Submodels.LEFT_IRIS
    phases = [(0, full), (40, full & ~Submodels.LIPS), (55, full & ~Submodels.EYES), (70, left_only),
              (85, none), (115, full)]
    refinement = tracker.engine.topology["refinement"]
    lips = refinement["lips"]
    # the model's "right_eye" head is the subject's LEFT eye (see models.variants.Submodels)
    subject_left_eye, subject_right_eye = refinement["right_eye"], refinement["left_eye"]
    for i, frame in enumerate(frames):
        for start, subs in phases:
            if i == start:
                tracker.update_config(tracker.config.with_changes(submodels=subs))
        result = tracker.process(frame)
        face = result.faces[0]
        current = next(s for start, s in reversed(phases) if i >= start)
        assert result.submodels == current  # the toggle applied on this very next frame
        # What each toggle means for the points: compare with the full and mesh-only variants on the same crop.
        full_pts = tracker.mesh(frame.frame_bgr, face.roi, full).landmarks_px
        base_pts = tracker.mesh(frame.frame_bgr, face.roi, none).landmarks_px
        pts = face.landmarks_px
        for idx, member in ((lips, Submodels.LIPS), (subject_left_eye, Submodels.LEFT_EYE),
                            (subject_right_eye, Submodels.RIGHT_EYE)):
            expected = full_pts if member in current else base_pts
            np.testing.assert_allclose(pts[idx, :2], expected[idx, :2], atol=1e-3)
        assert np.isnan(pts[473:478]).all() != (Submodels.LEFT_IRIS in current)  # subject's left iris
        assert np.isnan(pts[468:473]).all() != (Submodels.RIGHT_IRIS in current)
        if current != full:
            assert np.abs(pts[lips + subject_right_eye, :2] - full_pts[lips + subject_right_eye, :2]).max() > 0.05
        # A submodel switched off is not computed: the graph that ran has no crop or head for it (speed
        # itself is the benchmark's business, not a test's).
        ran = tracker.mesh.variant(current).layout
        assert set(ran.heads) == {head for member, head in MODEL_HEADS.items() if member in current}
        assert set(ran.stems) == {h.replace("_iris", "_eye") for h in ran.heads}
    tracker.update_config(PipelineConfig(provider="cpu", threads=2))
