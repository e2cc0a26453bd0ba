"""Face signals on real faces: head pose against AFLW2000-3D, rotation/flip exactness, blinks against frames
marked by hand, jaw opening, head-turn invariance, irises off, cost, overlays and the panel.

Slow exhaustive versions of these checks: ``python -m benchmarks.signals_bench``.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.head_pose import (
    HeadPoseSolver,
    PerspectiveCamera,
    WeightedProcrustes,
    aflw2000_angles_deg,
    euler_deg_to_rotation,
    landmarks_from_metric,
    load_canonical_face,
    rotation_of,
    rotation_to_euler_deg,
)
from pipeline.signals import BLENDSHAPE_NAMES, FaceSignals, SignalEstimator
from tests.conftest import require_media

IDX = {n: k for k, n in enumerate(BLENDSHAPE_NAMES)}


@pytest.fixture(scope="module")
def tracker():
    from pipeline import FaceTracker, PipelineConfig
    return FaceTracker.create(PipelineConfig(provider="cpu", smooth=False, threads=2))


@pytest.fixture(scope="module")
def estimator():
    return SignalEstimator()


_TRACKS: dict[str, dict] = {}


def _track(tracker, clip: str) -> dict:
    """A clip tracked once per test session (video mode, no smoothing)."""
    from benchmarks.signals_bench import track_clip
    if clip not in _TRACKS:
        _TRACKS[clip] = track_clip(tracker, require_media("videos", clip))
    return _TRACKS[clip]


# ---- the geometry, on the canonical model (exact answers known by construction) -----------------------------
def test_canonical_model_is_mediapipes():
    face = load_canonical_face()
    assert face.vertices_cm.shape == (478, 3) and len(face.basis_ids) == 33
    assert (face.basis_weights > 0).all() and face.basis_weights.max() < 0.2  # many points share the fit
    v = face.vertices_cm
    assert v[263, 0] > 0 > v[33, 0]  # x towards the subject's left (landmark 263 = left eye outer corner)
    assert v[10, 1] > v[152, 1]  # y up: forehead above chin
    assert v[4, 2] > v[234, 2]  # z out of the face: nose tip in front of the cheek edge
    assert 8.0 < np.linalg.norm(v[263] - v[33]) < 10.0  # centimetres: outer eye corners ~9 cm apart


def test_procrustes_recovers_a_known_similarity():
    face = load_canonical_face()
    src = face.vertices_cm[face.basis_ids]
    rot = euler_deg_to_rotation(10, -25, 5)
    dst = 1.7 * src @ rot.T + [3.0, -2.0, -50.0]
    r, s, t = WeightedProcrustes(src, face.basis_weights).fit(dst)
    np.testing.assert_allclose(r, rot, atol=1e-9)
    assert s == pytest.approx(1.7) and np.allclose(t, [3.0, -2.0, -50.0])


def _posed_landmarks(pitch, yaw, roll, size=(640, 480), distance=60.0):
    """The canonical face turned by the given angles with its model origin ``distance`` cm in front of the
    camera, as landmarks in pixels."""
    v = load_canonical_face().vertices_cm
    cam = v @ euler_deg_to_rotation(pitch, yaw, roll).T + [0.0, 0.0, -distance]
    return landmarks_from_metric(cam, size).astype(np.float32), size


@pytest.mark.parametrize("pitch,yaw,roll", [(0, 0, 0), (15, 0, 0), (0, 30, 0), (0, 0, 20), (-10, -35, 12)])
def test_pose_of_a_synthetic_face_is_exact(estimator, pitch, yaw, roll):
    lm, size = _posed_landmarks(pitch, yaw, roll)
    s = estimator(lm, size)
    np.testing.assert_allclose(s.pose_euler_deg, [pitch, yaw, roll], atol=0.05)
    np.testing.assert_allclose(s.pose_matrix[:3, 3], [0.0, 0.0, -60.0], atol=0.5)  # model origin, cm


def test_sign_conventions_on_screen(estimator):
    """Documented signs, checked on the picture itself: positive yaw moves the nose tip towards the image's
    right, positive pitch moves it up (smaller image y), positive roll tilts the head counter-clockwise."""
    def nose_offset(pitch, yaw, roll):
        lm, _ = _posed_landmarks(pitch, yaw, roll)
        return lm[4, :2] - lm[168, :2]  # nose tip relative to the nose bridge
    assert nose_offset(0, 20, 0)[0] > nose_offset(0, 0, 0)[0] + 1
    assert nose_offset(20, 0, 0)[1] < nose_offset(0, 0, 0)[1] - 1
    lm, _ = _posed_landmarks(0, 0, 20)
    eyes = lm[263, :2] - lm[33, :2]  # subject's right -> left eye; screen angle with y flipped to point up
    assert np.degrees(np.arctan2(-eyes[1], eyes[0])) == pytest.approx(20, abs=0.5)


def test_a_mirror_image_reads_mirrored_signals(estimator):
    """The same real faces, mirrored exactly (x -> W-1-x, rows through the mirror map): every Left coefficient
    reads what Right did and back, yaw, roll and gaze yaw change sign, pitch stays. Holds only if the
    calibration is mirror-symmetric too (mouthLeft/mouthRight once differed by up to 0.55 here)."""
    from pipeline import FaceTracker, PipelineConfig
    from pipeline.mirror import mirror_landmarks
    tracker = FaceTracker.create(PipelineConfig(provider="cpu", smooth=False, max_faces=10))
    swap = [IDX[n.replace("Left", "#").replace("Right", "Left").replace("#", "Right")] for n in BLENDSHAPE_NAMES]
    faces = 0
    for name in ("face_recognition_two_people.jpg", "deepface_selfie-many-people.jpg", "deepface_img16.jpg",
                 "face_recognition_lin-manuel-miranda.png"):
        image = cv2.imread(str(require_media("photos", name)))
        size = (image.shape[1], image.shape[0])
        for face in tracker.detect_image(image).faces:
            s = estimator(face.landmarks_px, size)
            m = estimator(mirror_landmarks(face.landmarks_px, size[0]), size)
            np.testing.assert_allclose(m.blendshapes[swap], s.blendshapes, atol=1e-4)
            np.testing.assert_allclose(m.pose_euler_deg, s.pose_euler_deg * [1, -1, -1], atol=1e-3)
            np.testing.assert_allclose(m.gaze_deg[::-1], s.gaze_deg * [-1, 1], atol=1e-3)
            faces += 1
    assert faces >= 6


def test_bad_landmarks_raise_one_line_errors(estimator):
    with pytest.raises(InputError):
        estimator(np.zeros((468, 3), np.float32), (640, 480))
    with pytest.raises(InputError):
        estimator(np.full((478, 3), np.nan, np.float32), (640, 480))
    with pytest.raises(InputError):
        estimator(np.zeros((478, 3), np.float32), (640, 480))


def test_irises_off_give_nan_gaze_and_change_nothing_else(estimator):
    lm, size = _posed_landmarks(5, 10, 0)
    full = estimator(lm, size)
    lm_off = lm.copy()
    lm_off[468:] = np.nan
    off = estimator(lm_off, size)
    assert np.isnan(off.gaze_deg).all() and np.isfinite(full.gaze_deg).all()
    look = [IDX[n] for n in BLENDSHAPE_NAMES if n.startswith("eyeLook")]
    assert np.isnan(off.blendshapes[look]).all()
    rest = [k for k in range(len(BLENDSHAPE_NAMES)) if k not in look]
    np.testing.assert_allclose(off.blendshapes[rest], full.blendshapes[rest], atol=1e-6)
    np.testing.assert_allclose(off.pose_matrix, full.pose_matrix, atol=1e-5)
    assert np.isnan(off.metric_landmarks[468:]).all() and np.isfinite(off.metric_landmarks[:468]).all()
    lm_one = lm.copy()
    lm_one[468:473] = np.nan  # only the subject's right iris off
    one = estimator(lm_one, size)
    assert np.isnan(one.gaze_deg[1]).all() and np.isfinite(one.gaze_deg[0]).all()


def test_signals_contract(estimator):
    lm, size = _posed_landmarks(0, 0, 0)
    s = estimator(lm, size)
    assert isinstance(s, FaceSignals)
    assert s.pose_matrix.shape == (4, 4) and s.pose_euler_deg.shape == (3,)
    assert s.metric_landmarks.shape == (478, 3) and s.gaze_deg.shape == (2, 2)
    assert s.blendshapes.shape == (len(BLENDSHAPE_NAMES),)
    assert all(a.dtype == np.float32 and not a.flags.writeable
               for a in (s.pose_matrix, s.pose_euler_deg, s.metric_landmarks, s.blendshapes, s.gaze_deg))
    assert ((s.blendshapes >= 0) & (s.blendshapes <= 1)).all()
    required = {"eyeBlinkLeft", "eyeBlinkRight", "eyeWideLeft", "eyeWideRight", "eyeSquintLeft", "eyeSquintRight",
                "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmileLeft", "mouthSmileRight",
                "mouthFrownLeft", "mouthFrownRight", "mouthLeft", "mouthRight", "browDownLeft", "browDownRight",
                "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff"}
    assert required <= set(BLENDSHAPE_NAMES)
    assert {f"eyeLook{d}{s}" for d in ("In", "Out", "Up", "Down") for s in ("Left", "Right")} <= set(BLENDSHAPE_NAMES)


def test_gaze_follows_the_iris_with_the_documented_signs(tracker, estimator):
    """Irises moved within a real face's eyes: towards the image's right -> yaw up (the subject looks to their own
    left: out for the left eye, in for the right one); up in the image -> pitch up and eyeLookUp."""
    image = cv2.imread(str(require_media("photos", "face_recognition_obama.jpg")))
    lm = tracker.detect_image(image).faces[0].landmarks_px.astype(np.float64)
    size = (image.shape[1], image.shape[0])
    names = list(BLENDSHAPE_NAMES)
    eye_width = np.linalg.norm(lm[33, :2] - lm[133, :2])

    def moved(dx, dy):
        out = lm.copy()
        out[468:478, 0] += dx * eye_width
        out[468:478, 1] += dy * eye_width
        s = estimator(out, size)
        return s.gaze_deg.astype(np.float64), dict(zip(names, s.blendshapes.astype(np.float64)))

    (g0, b0), (g_right, b_right), (g_up, b_up) = moved(0, 0), moved(0.12, 0), moved(0, -0.08)
    assert (g_right[:, 0] > g0[:, 0] + 5).all() and np.abs(g_right[:, 1] - g0[:, 1]).max() < 3, (g0, g_right)
    assert (g_up[:, 1] > g0[:, 1] + 3).all() and np.abs(g_up[:, 0] - g0[:, 0]).max() < 3, (g0, g_up)
    assert b_right["eyeLookOutLeft"] > b0["eyeLookOutLeft"] and b_right["eyeLookInRight"] > b0["eyeLookInRight"]
    assert b_up["eyeLookUpLeft"] > b0["eyeLookUpLeft"] and b_up["eyeLookUpRight"] > b0["eyeLookUpRight"]
    assert np.isfinite(g0).all() and np.abs(g0).max() < 20  # a photo looking at the camera: near zero


def test_signals_off_are_not_computed_and_not_written(tracker, tmp_path):
    from dataclasses import replace

    from pipeline import open_sink, open_source, run_offline
    base = tracker.config
    tracker.update_config(replace(base, signals=False))
    try:
        tracker.reset()
        with open_source(require_media("videos", "LivePortrait_d10.mp4")) as source:
            frames = [f for f, _ in zip(source, range(5))]
        results = [tracker.process(f) for f in frames]
        assert all(face.signals is None for r in results for face in r.faces) and results[-1].faces
        assert all(r.timings_ms.get("signals", 0.0) < 0.01 for r in results)  # the stage is skipped, not hidden
        with open_source(require_media("videos", "LivePortrait_d10.mp4")) as source:
            run_offline(source, tracker, [open_sink(tmp_path / "off.npz")], max_frames=5)
        keys = set(np.load(tmp_path / "off.npz").files)
        assert "landmarks" in keys and not keys & {"pose_matrix", "pose_euler_deg", "blendshapes", "gaze_deg"}
    finally:
        tracker.update_config(base)
        tracker.reset()


# ---- real faces ---------------------------------------------------------------------------------------------
def test_head_pose_against_aflw2000(tracker):
    """16 AFLW2000-3D faces: mean MAE <= 5 deg (HopeNet 6.16, FSA-Net 5.07, 6DRepNet 3.97); no tuning."""
    folder = require_media("landmarks", "prnet_aflw2000")
    errors = []
    for path in sorted(folder.glob("*.jpg")):
        truth = np.degrees(np.asarray(json.loads(path.with_suffix("").with_suffix(".landmarks.json").read_text())
                                      ["Pose_Para"], np.float64).ravel()[:3])
        faces = tracker.detect_image(cv2.imread(str(path))).faces
        assert faces, path.name
        pred = aflw2000_angles_deg(rotation_of(faces[0].signals.pose_matrix.astype(np.float64)))
        errors.append(np.abs(pred - truth))
    mae = np.mean(errors, axis=0)
    assert len(errors) == 16
    assert mae.mean() <= 5.0, mae
    assert mae.max() <= 6.0, mae


@pytest.mark.parametrize("photo", ["face_recognition_obama.jpg", "deepface_img20.jpg",
                                   "face_recognition_lin-manuel-miranda.png"])
def test_in_plane_rotation_and_flip(tracker, photo):
    """Turning the photo by theta changes roll by theta and leaves yaw/pitch; a mirror image negates yaw and
    roll and keeps pitch. Per-turn errors come from the landmark model (its crop resampling), not the
    geometry (exact on synthetic faces above): each stays within 3 deg, and their median within the 1.5 /
    2 deg targets."""
    from benchmarks.signals_bench import rotation_and_flip_errors
    image = cv2.imread(str(require_media("photos", photo)))
    pose, turns, flip = rotation_and_flip_errors(tracker, image, angles=(-20.0, 20.0))
    assert pose is not None and len(turns) == 2 and flip is not None
    roll_err = [t[1] for t in turns]
    other_err = [t[2] for t in turns]
    assert max(roll_err) <= 1.5, turns
    assert np.median(other_err) <= 1.5 and max(other_err) <= 3.0, turns
    assert max(flip) <= 3.0 and np.median(flip) <= 2.0, flip


@pytest.fixture(scope="module")
def live_tracker():
    """The tracker as the app runs it: smoothing on, so the crop is stabilised and bounded along the roll."""
    from pipeline import FaceTracker, PipelineConfig
    return FaceTracker.create(PipelineConfig(provider="cpu", threads=2))


@pytest.mark.parametrize("photo", ["face_recognition_obama.jpg", "deepface_img20.jpg",
                                   "face_recognition_lin-manuel-miranda.png", "face_recognition_alex-lacamoire.png",
                                   "deepface_img16.jpg", "face_recognition_johnsnow_test1.jpg"])
def test_an_in_plane_head_turn_moves_no_coefficient(live_tracker, photo):
    """A photo turned by +-30 deg in-plane (a rolled head) moves no coefficient by more than 0.15 in the live
    tracker. With MediaPipe's crop (bounded along the image axes, so a rolled face is framed larger and off
    centre) 5 of these 6 photos moved one by 0.17-0.35."""
    from benchmarks.signals_bench import rotate_image, settled
    keep = [k for k, n in enumerate(BLENDSHAPE_NAMES) if not n.startswith("eyeLook")]  # eyes look, not the head
    image = cv2.imread(str(require_media("photos", photo)))
    base = settled(live_tracker, image)
    assert base is not None
    for theta in (-30.0, 30.0):
        face = settled(live_tracker, rotate_image(image, theta))
        assert face is not None, theta
        change = np.abs(face.signals.blendshapes - base.signals.blendshapes)[keep]
        assert change.max() <= 0.15, (theta, BLENDSHAPE_NAMES[keep[int(change.argmax())]], float(change.max()))


# Blink events marked by hand from the frames (both eyes closed; first and last frame). Every frame was cut
# out around the eyes, tiled with its number and looked at; see benchmarks.signals_bench.HAND_BLINKS.
HAND_BLINKS = {
    "SadTalker_WDA_AlexandriaOcasioCortez_000.mp4": [(10, 12), (34, 36), (56, 58), (80, 82), (97, 98), (110, 111),
                                                     (129, 131), (150, 151), (177, 178)],
    "LivePortrait_s32.mp4": [(4, 7), (42, 45), (66, 69), (175, 178)],
}


@pytest.mark.parametrize("clip", sorted(HAND_BLINKS))
def test_blinks_match_hand_marked_frames(tracker, clip):
    from benchmarks.signals_bench import events, match_events
    b = _track(tracker, clip)["blendshapes"]
    found = events(0.5 * (b[:, IDX["eyeBlinkLeft"]] + b[:, IDX["eyeBlinkRight"]]) > 0.5)
    result = match_events(found, HAND_BLINKS[clip])
    assert not result["missed"] and not result["false"], result
    # open eyes read as open: frames far from any marked blink stay low
    far = np.ones(len(b), bool)
    for a, z in HAND_BLINKS[clip]:
        far[max(a - 4, 0): z + 5] = False
    assert np.nanpercentile(b[far][:, [IDX["eyeBlinkLeft"], IDX["eyeBlinkRight"]]], 95) < 0.5


def test_jaw_open_rises_with_the_lip_gap(tracker):
    """On a mouth-opening clip, jawOpen rises monotonically with the inner-lip gap measured in the image
    (2-D, over the eye distance: independent of the 3-D normalisation jawOpen reads)."""
    from benchmarks.signals_bench import binned_monotonic, image_lip_gap, spearman
    t = _track(tracker, "LivePortrait_d12.mp4")
    gap, jaw = image_lip_gap(t["landmarks"]), t["blendshapes"][:, IDX["jawOpen"]]
    means, monotonic = binned_monotonic(gap, jaw)
    assert monotonic, means
    assert spearman(gap, jaw) > 0.95
    assert means[-1] > 0.6 and means[0] < 0.1  # wide open reads high, closed reads low


def test_head_turn_moves_no_coefficient(tracker, estimator):
    """A real face's metric mesh turned by +-30 deg (yaw, pitch) at a webcam distance (60 cm) and shown again:
    no coefficient moves by more than 0.15. On a real clip with +-17 deg head turns, the left/right pairs
    of the eyes, smile, frown and brow-down do not drift apart with yaw by more than 0.15 per 30 deg.

    Known limitation (README, bench ``real turn``): eyeSquint, browOuterUp and mouthLeft/Right do drift on
    real clips (0.2-0.6 per 30 deg on some): they read lateral or deep points whose model depth is flatter
    than a real face, and their calibrated ranges are narrow."""
    from benchmarks.signals_bench import synthetic_turn
    t = _track(tracker, "LivePortrait_d12.mp4")
    worst = synthetic_turn(estimator, t["landmarks"][::15], t["size"])
    assert worst.max() <= 0.15, dict(zip(BLENDSHAPE_NAMES, worst.round(3)))
    e, b = t["euler"].astype(np.float64), t["blendshapes"].astype(np.float64)
    ok = np.isfinite(e).all(axis=1)
    yaw = e[ok, 1] - e[ok, 1].mean()
    assert np.ptp(yaw) > 25  # the clip really turns
    for name in ("eyeBlink", "eyeWide", "mouthSmile", "mouthFrown", "browDown"):
        drift = b[ok, IDX[name + "Left"]] - b[ok, IDX[name + "Right"]]
        assert abs(np.polyfit(yaw, drift, 1)[0]) * 30 <= 0.15, name


# ---- overlays and panel -------------------------------------------------------------------------------------
def test_overlays_draw_on_the_face_and_validate(estimator):
    from pipeline.signal_drawing import draw_gaze_rays, draw_pose_axes
    lm, size = _posed_landmarks(0, 20, 0)
    s = estimator(lm, size)
    frame = np.zeros((size[1], size[0], 3), np.uint8)
    draw_pose_axes(frame, s, lm, size)
    ys, xs = np.nonzero(frame.any(axis=2))
    assert len(xs) > 50
    nose = lm[4, :2]
    assert np.min(np.hypot(xs - nose[0], ys - nose[1])) < 3  # the axes start at the nose tip
    gaze = np.zeros_like(frame)
    draw_gaze_rays(gaze, s, lm)
    ys, xs = np.nonzero(gaze.any(axis=2))
    assert len(xs) > 20
    iris = lm[[468, 473], :2]
    assert min(np.min(np.hypot(xs - p[0], ys - p[1])) for p in iris) < 3
    lm_off = lm.copy()
    lm_off[468:] = np.nan
    quiet = np.zeros_like(frame)
    draw_gaze_rays(quiet, estimator(lm_off, size), lm_off)
    assert not quiet.any()  # no iris, no ray
    with pytest.raises(ValueError):
        draw_pose_axes(np.zeros((10, 10), np.uint8), s, lm, size)


def test_iris_circles_are_hidden_over_a_closed_eye(tracker):
    """Frame 5 of LivePortrait_s32 is inside a hand-marked blink (HAND_BLINKS), frame 20 is open: the iris
    circles are drawn on the open eyes and not over the closed lids; each eye follows its own eyeBlink."""
    from dataclasses import replace

    from pipeline.drawing import OverlayStyle, fit_circle
    cap = cv2.VideoCapture(str(require_media("videos", "LivePortrait_s32.mp4")))
    images = [cap.read()[1] for _ in range(21)]
    cap.release()
    assert any(a <= 5 <= z for a, z in HAND_BLINKS["LivePortrait_s32.mp4"])
    style = OverlayStyle(contours=False, lips_fill=False, pose_axes=False, gaze_rays=False, hud=False)

    def iris_pixels(result):
        """Pixels the iris overlay changes near each iris (subject's right 468-472, left 473-477)."""
        on, _ = tracker.annotate(result, style)
        off, _ = tracker.annotate(result, replace(style, irises=False))
        ys, xs = np.nonzero((on != off).any(axis=2))
        xy = result.faces[0].landmarks_px[:, :2]
        counts = []
        for ring in (slice(469, 473), slice(474, 478)):
            centre, r = fit_circle(xy[ring].astype(np.float64))  # a circle would fit: hiding it is the choice
            counts.append(int((np.hypot(xs - centre[0], ys - centre[1]) < r + 3).sum()))
        return counts, len(xs)

    def blinks(result):
        b = result.faces[0].signals.blendshapes
        return b[IDX["eyeBlinkRight"]], b[IDX["eyeBlinkLeft"]]

    opened, closed = tracker.detect_image(images[20]), tracker.detect_image(images[5])
    assert max(blinks(opened)) < 0.5 and min(blinks(closed)) > 0.5
    (right, left), _ = iris_pixels(opened)
    assert right > 20 and left > 20
    assert iris_pixels(closed) == ([0, 0], 0)  # nothing drawn anywhere
    face = closed.faces[0]
    for right_blink, left_blink, drawn in ((0.0, 0.0, (True, True)), (0.0, 0.9, (True, False)),
                                           (0.9, 0.0, (False, True))):
        b = face.signals.blendshapes.copy()
        b[IDX["eyeBlinkRight"]], b[IDX["eyeBlinkLeft"]] = right_blink, left_blink
        relabelled = replace(closed, faces=(replace(face, signals=replace(face.signals, blendshapes=b)),))
        counts, _ = iris_pixels(relabelled)
        assert tuple(c > 20 for c in counts) == drawn, (right_blink, left_blink, counts)


def test_signals_panel_updates_and_clears(estimator):
    from PyQt6 import QtWidgets

    from app.signals_panel import SignalsPanel
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    panel = SignalsPanel()
    panel.show()
    lm, size = _posed_landmarks(5, -10, 3)
    s = estimator(lm, size)
    for i in range(60):
        panel.update_signals(s if i % 10 else None, i / 30)
    app.processEvents()
    t, pose = panel.pose_series()
    assert len(t) == 60 and np.isnan(pose[0]).all()
    np.testing.assert_allclose(pose[-1], s.pose_euler_deg, atol=1e-4)
    np.testing.assert_allclose(panel.bar_values(), np.nan_to_num(s.blendshapes), atol=1e-6)
    panel.clear()
    assert len(panel.pose_series()[0]) == 0 and not panel.bar_values().any()
    panel.close()


def test_camera_defaults_are_mediapipes():
    cam = PerspectiveCamera()
    assert (cam.vertical_fov_deg, cam.near, cam.far) == (63.0, 1.0, 10000.0)
    w, h = cam.frustum((640, 480))
    assert h == pytest.approx(2 * np.tan(np.radians(31.5))) and w == pytest.approx(h * 640 / 480)
    solver = HeadPoseSolver()
    lm, size = _posed_landmarks(0, 0, 0)
    pose, metric = solver(lm, size)
    np.testing.assert_allclose(rotation_to_euler_deg(rotation_of(pose)), 0, atol=0.05)


def test_any_submodel_subset_gives_signals(tracker):
    """Mesh only (no lips/eyes/irises): the pose still comes out (within 3 deg of the full model's on AFLW
    faces), coefficients stay in [0, 1], gaze and eyeLook are NaN; irises only on one side give that eye's gaze."""
    from models.variants import Submodels
    folder = require_media("landmarks", "prnet_aflw2000")
    full_config = tracker.config
    images = [cv2.imread(str(p)) for p in sorted(folder.glob("*.jpg"))[:4]]
    try:
        full = [tracker.detect_image(im).faces[0].signals for im in images]
        tracker.update_config(full_config.with_changes(submodels=Submodels.NONE))
        bare = [tracker.detect_image(im).faces[0].signals for im in images]
        tracker.update_config(full_config.with_changes(submodels=Submodels.LEFT_EYE | Submodels.LEFT_IRIS))
        one = [tracker.detect_image(im).faces[0] for im in images]
    finally:
        tracker.update_config(full_config)
    look = [IDX[n] for n in BLENDSHAPE_NAMES if n.startswith("eyeLook")]
    for f, b, face in zip(full, bare, one):
        assert np.abs(f.pose_euler_deg - b.pose_euler_deg).max() <= 3.0, (f.pose_euler_deg, b.pose_euler_deg)
        assert np.isnan(b.gaze_deg).all() and np.isnan(b.blendshapes[look]).all()
        rest = np.delete(b.blendshapes, look)
        assert np.isfinite(rest).all() and ((rest >= 0) & (rest <= 1)).all()
        # one iris: exactly the eye whose iris landmarks came out has a gaze (rows: subject's left, right)
        has_iris = [np.isfinite(face.landmarks_px[473:478]).all(), np.isfinite(face.landmarks_px[468:473]).all()]
        assert sum(has_iris) == 1
        assert [bool(np.isfinite(g).all()) for g in face.signals.gaze_deg] == has_iris


def test_closed_form_rotation_matches_the_svd():
    """The per-frame fit's closed-form rotation (pipeline.head_pose._polar_rotation) against numpy's SVD on
    random matrices, including equal singular values, and the reflection case handed back to the SVD."""
    from pipeline.head_pose import _polar_rotation
    rng = np.random.default_rng(7)
    for k in range(500):
        q = np.linalg.qr(rng.normal(size=(3, 3)))[0]
        q *= np.sign(np.linalg.det(q))
        v = np.linalg.qr(rng.normal(size=(3, 3)))[0]
        sv = np.sort(np.exp(rng.uniform(-3.0, 0.0, 3)))[::-1]
        if k % 4 == 0:
            sv[1] = sv[0]  # a face as wide as it is high
        cov = q @ v @ np.diag(sv) @ v.T * 10.0 ** rng.uniform(-2, 2)
        u, s, vt = np.linalg.svd(cov)
        rot, total = _polar_rotation(cov.ravel().tolist())
        np.testing.assert_allclose(np.reshape(rot, (3, 3)), u @ vt, atol=1e-9)
        assert total == pytest.approx(s.sum(), rel=1e-9)
    mirrored = np.diag([1.0, 1.0, -1.0]) @ np.diag([3.0, 2.0, 1.0])
    assert _polar_rotation(mirrored.ravel().tolist()) is None
    r, s = WeightedProcrustes(np.eye(3), np.ones(3)).rotation(mirrored)  # the SVD path: no reflection
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_one_fit_equals_mediapipes_two_scale_passes(tracker, estimator):
    """MediaPipe's geometry pipeline as its C++ does it (scale of the projected basis, unproject with it,
    scale again, unproject the mesh with the product, fit), written out here, against the solver's single
    fit on a real face."""
    image = cv2.imread(str(require_media("photos", "face_recognition_obama.jpg")))
    lm = tracker.detect_image(image).faces[0].landmarks_px.astype(np.float64)
    size = (image.shape[1], image.shape[0])
    face = load_canonical_face()
    solver = WeightedProcrustes(face.vertices_cm[face.basis_ids], face.basis_weights)
    cam = PerspectiveCamera()
    fw, fh = cam.frustum(size)
    screen = np.column_stack([(lm[:, 0] + 0.5) / size[0] * fw - 0.5 * fw, 0.5 * fh - (lm[:, 1] + 0.5) / size[1] * fh,
                              lm[:, 2] / size[0] * fw])
    offset = screen[:468, 2].mean()

    def unproject(pts, scale):
        depth = (pts[:, 2] - offset + cam.near) / scale
        return np.column_stack([pts[:, 0] * depth / cam.near, pts[:, 1] * depth / cam.near, -depth])

    basis = screen[face.basis_ids]
    s1 = solver.fit(basis * [1.0, 1.0, -1.0])[1]
    s2 = solver.fit(unproject(basis, s1))[1]
    metric = unproject(screen, s1 * s2)
    rot, s, t = solver.fit(metric[face.basis_ids])
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = s * rot, t
    signals = estimator(lm.astype(np.float32), size)
    np.testing.assert_allclose(signals.pose_matrix, pose, atol=2e-5 * np.abs(t).max())
    np.testing.assert_allclose(signals.metric_landmarks, metric, atol=1e-4)


def test_single_face_and_batch_expressions_agree(tracker, estimator):
    """The per-frame path (one face, fused) and the batch path (calibration, analysis) of the coefficients."""
    from pipeline.expressions import expression_coefficients
    t = _track(tracker, "LivePortrait_d11.mp4")
    faces = np.array([estimator.normalised_face(lm, t["size"]) for lm in t["raw"][::10] if np.isfinite(lm).all()])
    batch = expression_coefficients(faces)
    single = np.array([expression_coefficients(f) for f in faces])
    np.testing.assert_allclose(single, batch, atol=1e-9)
    assert batch.max() > 0.5  # the clip opens the mouth wide: not a comparison of zeros
