"""Accuracy and stability beyond MediaPipe with the same weights: the mirror map, flip test-time
augmentation, zero-lag track smoothing and the noise-adaptive live filter, on real faces.

Quick versions of benchmarks/accuracy.py (the jitter rig over every shared photo and NME on every
annotated face, against MediaPipe) on photos the live filter was not tuned on."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.jitter_rig import jitter_percent, lag_frames, make_sequence, to_photo, track_live, track_raw
from models.variants import Submodels
from pipeline.detector import detection_to_roi
from pipeline.mirror import MIRROR_MAP, mirror_landmarks, mirror_map_from_vertices, read_obj_vertices
from pipeline.offline_smoothing import smooth_results, smooth_track
from pipeline.tta import TTAOptions, augmented_mesh, flipped_mesh
from pipeline.types import FrameResult, TrackedFace
from tests.conftest import SHARED, require_media

ALL = {"all": np.arange(478)}
# Not among the photos the live filter's one calibrated constant was measured on (pipeline/smoothing.py).
HELD_OUT = ("deepface_img20.jpg", "face_recognition_kit_with_rose.jpg")


def _photo(name):
    return cv2.imread(str(require_media("photos", name)))


@pytest.fixture(scope="module")
def sequences(tracker, engine):
    """Raw and live (tracker, smoothing on) tracks of held-out photos on the rig (still + noise, shake, sweep),
    45 frames each."""
    out = {}
    for k, name in enumerate(HELD_OUT):
        photo = _photo(name)
        box = engine.detector(photo, 1)[0].box_xyxy
        for motion in ("still", "shake", "sweep"):
            seq = make_sequence(photo, box, motion, 45, seed=100 + k)
            out[name, motion] = (seq, track_raw(tracker, seq), track_live(tracker, seq))
    return out


# ---- mirror map -------------------------------------------------------------------------------------
def test_mirror_map_is_derived_from_the_canonical_face_and_swaps_sides():
    obj = SHARED / "data" / "face_geometry" / "face_model_with_iris.obj"
    if not obj.exists():
        pytest.skip(f"canonical face model not found: {obj}")
    vertices = read_obj_vertices(obj)
    derived = mirror_map_from_vertices(vertices)
    assert np.array_equal(derived, MIRROR_MAP)
    assert np.array_equal(MIRROR_MAP[MIRROR_MAP], np.arange(478))  # an involution
    # outer and inner eye corners, mouth corners, iris centres swap; the nose tip stays
    for a, b in ((33, 263), (133, 362), (61, 291), (468, 473)):
        assert MIRROR_MAP[a] == b and MIRROR_MAP[b] == a
    assert MIRROR_MAP[1] == 1 and MIRROR_MAP[4] == 4
    # the whole left-eye contour lands on the right-eye contour: every point's partner is on the other side
    # of the face (x negated) and fixed points lie on the midline
    x = vertices[:, 0]
    moved = MIRROR_MAP != np.arange(478)
    assert np.all(np.sign(x[moved]) == -np.sign(x[MIRROR_MAP[moved]]))
    assert np.all(np.abs(x[~moved]) < 1e-6)
    # iris contours keep their meaning: the point towards the nose maps to the point towards the nose
    assert np.allclose(vertices[MIRROR_MAP[468:478], 1], vertices[468:478, 1])


def test_mirror_landmarks_round_trip():
    pts = np.random.default_rng(0).uniform(0, 300, (478, 3)).astype(np.float32)
    assert np.allclose(mirror_landmarks(mirror_landmarks(pts, 320), 320), pts, atol=1e-3)


def test_flipped_pass_finds_the_same_face(engine):
    """The mesh run on the mirrored crop, mapped back, lands on the plain pass's landmarks (a wrong
    mirror map or un-flip would put eye on eye-of-the-other-side, tens of % of IOD away)."""
    for name in ("face_recognition_obama.jpg", *HELD_OUT):
        img = _photo(name)
        roi = detection_to_roi(engine.detector(img, 1)[0])
        plain = engine.mesh(img, roi).landmarks_px
        flipped = flipped_mesh(engine.mesh, img, roi, Submodels.ALL).landmarks_px
        iod = np.linalg.norm(plain[33, :2] - plain[263, :2])
        err = np.linalg.norm(plain[:, :2] - flipped[:, :2], axis=1) / iod
        assert err[:468].mean() < 0.04, name
        assert err[468:].max() < 0.05, name  # iris contour order kept


def test_flip_tta_lowers_nme_on_annotated_faces(engine):
    """Flip TTA against the plain pass, on every 300-W HELEN face (human 68-point markup)."""
    from benchmarks.lm68 import MESH_TO_68, OUTER_EYE_CORNERS_68, annotated_faces
    faces = [f for f in annotated_faces() if f[0] == "300w_helen_testset"]
    if len(faces) < 5:
        pytest.skip("300-W HELEN faces not found")
    plain_err, tta_err = [], []
    for _, path, gt in faces:
        img = cv2.imread(str(path))
        dets = engine.detector(img, 5)
        centre = gt.mean(axis=0)
        det = min(dets, key=lambda d: np.linalg.norm((d.box_xyxy[:2] + d.box_xyxy[2:]) / 2 - centre), default=None)
        if det is None:
            continue
        roi = detection_to_roi(det)
        norm = np.linalg.norm(gt[OUTER_EYE_CORNERS_68[0]] - gt[OUTER_EYE_CORNERS_68[1]])
        tta = augmented_mesh(engine.mesh, img, roi, Submodels.ALL, TTAOptions()).landmarks_px
        for out, lm in ((plain_err, engine.mesh(img, roi).landmarks_px), (tta_err, tta)):
            out.append(np.linalg.norm(lm[MESH_TO_68, :2] - gt, axis=1).mean() / norm)
    assert len(plain_err) >= 5
    assert np.mean(tta_err) < np.mean(plain_err)


# ---- offline (zero-lag) smoothing -------------------------------------------------------------------
def test_track_smoothing_removes_noise_without_lag(sequences):
    for name in HELD_OUT:
        for motion in ("still", "sweep", "shake"):
            seq, raw, _ = sequences[name, motion]
            best = smooth_track(raw, seq.timestamps_ms)
            j_raw = jitter_percent(to_photo(raw, seq.transforms), ALL)["all"]
            j_best = jitter_percent(to_photo(best, seq.transforms), ALL)["all"]
            # smoothing alone, without the flip TTA that --quality best adds
            assert j_best < {"still": 0.35, "sweep": 0.9, "shake": 0.8}[motion] * j_raw, (name, motion)
        seq, raw, _ = sequences[name, "sweep"]
        assert lag_frames(smooth_track(raw, seq.timestamps_ms), raw) < 0.25


def test_track_smoothing_restarts_at_cuts_and_keeps_nan_irises(sequences):
    """Two faces spliced into one track: frames next to the cut are not pulled towards the other face."""
    (_, a, _), (_, b, _) = sequences[HELD_OUT[0], "still"], sequences[HELD_OUT[1], "sweep"]
    b = b.copy()
    b[:, 468:] = np.nan  # irises switched off on the second face
    track = np.concatenate([a, b])
    ts = np.arange(len(track)) * 1000 / 30
    out = smooth_track(track, ts)
    iod = np.linalg.norm(a[0, 33, :2] - a[0, 263, :2])
    cut = len(a)
    for i in (cut - 1, cut):
        assert np.linalg.norm(out[i, :468, :2] - track[i, :468, :2], axis=1).mean() < 0.03 * iod
    assert np.isnan(out[cut:, 468:]).all() and np.isfinite(out[:cut]).all()


def test_smooth_results_splits_by_face_and_detection(sequences):
    seq, raw, _ = sequences[HELD_OUT[0], "still"]
    frame = np.zeros((4, 4, 3), np.uint8)
    results = []
    for i, lm in enumerate(raw[:30]):
        lm = lm.astype(np.float32)
        face = TrackedFace(face_id=0 if i < 20 else 1, landmarks_px=lm, raw_landmarks_px=lm, presence=1.0,
                           roi=None, from_detector=i in (0, 20))
        results.append(FrameResult(i, float(seq.timestamps_ms[i]), frame, (face,)))
    out = smooth_results(results)
    assert [r.index for r in out] == list(range(30))
    assert all(o.faces[0].raw_landmarks_px is r.faces[0].raw_landmarks_px for o, r in zip(out, results))
    smoothed = np.stack([r.faces[0].landmarks_px for r in out])
    assert np.allclose(smoothed[:20], smooth_track(raw[:20], seq.timestamps_ms[:20]), atol=1e-3)
    assert np.allclose(smoothed[20:], smooth_track(raw[20:30], seq.timestamps_ms[20:30]), atol=1e-3)


# ---- live filter --------------------------------------------------------------------------------
def test_live_filter_generalises_to_faces_it_was_not_tuned_on(sequences):
    """Still face + sensor noise: <= 0.4x raw (raw = MediaPipe's legacy output to 0.1 % of IOD) on each
    held-out photo; hand-held shake not worse than raw in any region (mean over the photos, as the
    benchmark states it); sweep lag <= 1 frame."""
    from models.registry import ensure_models
    from pipeline.topology import Topology
    regions = Topology.from_json(ensure_models().topology()).region_indices()
    shake_live, shake_raw = [], []
    for name in HELD_OUT:
        seq, raw, live = sequences[name, "still"]
        ratio = jitter_percent(to_photo(live, seq.transforms), ALL)["all"] / \
            jitter_percent(to_photo(raw, seq.transforms), ALL)["all"]
        assert ratio < 0.4, (name, ratio)
        seq, raw, live = sequences[name, "shake"]
        shake_live.append(jitter_percent(to_photo(live, seq.transforms), regions))
        shake_raw.append(jitter_percent(to_photo(raw, seq.transforms), regions))
        seq, raw, live = sequences[name, "sweep"]
        assert lag_frames(live, raw) <= 1.0
    for region in regions:
        live, raw = (np.mean([j[region] for j in js]) for js in (shake_live, shake_raw))
        assert live <= raw, (region, live, raw)  # irises measured 0.92x (0.96x before the head groups)
