"""Pure functions and small classes, on synthetic data: anchors, NMS, geometry, smoothing, I/O, drawing."""
from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from pipeline import blazeface
from pipeline.config import PipelineConfig
from pipeline.drawing import draw_face, fit_circle
from pipeline.errors import InputError
from pipeline.geometry import RotatedRect, landmarks_to_rect, project_from_crop, rotation_from_points
from pipeline.landmarks_io import LandmarksWriter, SlotAssigner
from pipeline.loops import LatestFrameReader
from pipeline.smoothing import DEFAULT_BETA, DEFAULT_MIN_CUTOFF, OneEuroLandmarks
from pipeline.sources import Frame, FrameSource, MonotonicClock, to_bgr8
from pipeline.topology import Topology
from pipeline.types import TrackedFace


def test_anchors_follow_mediapipe_layout():
    a = blazeface.ANCHORS
    assert a.shape == (896, 2)
    np.testing.assert_allclose(a[0], [1 / 32, 1 / 32])
    np.testing.assert_allclose(a[1], [1 / 32, 1 / 32])  # 2 anchors per cell on the 16x16 grid
    np.testing.assert_allclose(a[2], [3 / 32, 1 / 32])  # x moves fastest
    np.testing.assert_allclose(a[512], [1 / 16, 1 / 16])
    assert (a[512:518] == a[512]).all() and not (a[518] == a[512]).all()


def test_weighted_nms_averages_overlaps_and_keeps_top_score():
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.12, 0.1, 0.32, 0.3], [0.6, 0.6, 0.8, 0.8]], np.float32)
    kps = np.zeros((3, 6, 2), np.float32)
    kps[1] += 1.0
    scores = np.array([0.9, 0.6, 0.7], np.float32)
    b, k, s = blazeface.weighted_nms(boxes, kps, scores)
    assert s.tolist() == pytest.approx([0.9, 0.7])
    np.testing.assert_allclose(b[0], (boxes[0] * 0.9 + boxes[1] * 0.6) / 1.5, atol=1e-6)
    np.testing.assert_allclose(k[0], 0.6 / 1.5, atol=1e-6)
    np.testing.assert_allclose(b[1], boxes[2])


def test_decode_drops_low_scores_and_uses_anchor_offsets():
    reg = np.zeros((896, 16), np.float32)
    reg[5, :4] = [12.8, -12.8, 25.6, 12.8]
    logits = np.full(896, -10.0, np.float32)
    logits[5] = 3.0
    boxes, kps, scores = blazeface.decode(reg, logits, 0.5)
    assert len(boxes) == 1
    cx, cy = blazeface.ANCHORS[5] + [0.1, -0.1]
    np.testing.assert_allclose(boxes[0], [cx - 0.1, cy - 0.05, cx + 0.1, cy + 0.05], atol=1e-6)
    assert scores[0] == pytest.approx(1 / (1 + math.exp(-3)))


def test_letterbox_projection_of_a_wide_frame():
    # 200x100: the letterbox square is 200 px with 50 px of padding above and below
    pts = blazeface.letterbox_to_image(np.array([[0.5, 0.25], [0.0, 0.75]]), 200, 100)
    np.testing.assert_allclose(pts, [[100, 0], [0, 100]])


def test_rotation_and_roi_from_landmarks():
    assert rotation_from_points((0, 0), (10, 0)) == pytest.approx(0)
    assert rotation_from_points((0, 0), (10, 10)) == pytest.approx(math.pi / 4)  # y down: clockwise tilt
    pts = np.zeros((478, 3), np.float32)
    pts[:, 0] = np.linspace(100, 200, 478)
    pts[:, 1] = np.linspace(50, 110, 478)
    pts[33, :2], pts[263, :2] = (120, 80), (180, 80)
    roi = landmarks_to_rect(pts)
    assert (roi.center_x, roi.center_y) == pytest.approx((150, 80))
    assert roi.width == roi.height == pytest.approx(150)  # long side 100, x1.5
    assert roi.rotation == pytest.approx(0)


def test_a_roll_bounded_roi_turns_with_the_face():
    """landmarks_to_rect bounded along the face's roll: the same face rolled by 30 deg gets the same-sized
    crop, its centre turned with it, while MediaPipe's image-axis bound grows (a rectangle's bound at 30 deg)."""
    pts = np.zeros((478, 3), np.float64)
    pts[:, 0] = np.repeat([100.0, 200.0], 239)  # a 100 x 60 rectangle's two sides
    pts[:, 1] = np.tile(np.linspace(50, 110, 239), 2)
    pts[33, :2], pts[263, :2] = (120, 80), (180, 80)
    assert landmarks_to_rect(pts, bound_rotation=0.0) == landmarks_to_rect(pts)  # no roll: MediaPipe's crop
    theta = math.radians(30)
    turn = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    rolled = pts.copy()
    rolled[:, :2] = (pts[:, :2] - (150, 80)) @ turn.T + (400, 300)
    roi = landmarks_to_rect(rolled, bound_rotation=theta)
    assert (roi.center_x, roi.center_y) == pytest.approx((400, 300))
    assert roi.width == roi.height == pytest.approx(150)
    assert roi.rotation == pytest.approx(theta)  # y down: a clockwise roll on screen
    # the image-axis bound of the rolled rectangle: 100 cos + 60 sin wide, x1.5
    assert landmarks_to_rect(rolled).width == pytest.approx(1.5 * (100 * math.cos(theta) + 60 * math.sin(theta)))


def test_projection_inverts_the_crop():
    roi = RotatedRect(300, 200, 180, 180, 0.3)
    centre = project_from_crop(np.array([[0.5, 0.5, 0.1]]), roi)
    np.testing.assert_allclose(centre, [[300, 200, 18]], atol=1e-4)
    corner = project_from_crop(np.array([[0.0, 0.0]]), roi)[0]
    np.testing.assert_allclose(corner, roi.corners()[1], atol=1e-3)  # crop (0,0) is boxPoints' top-left


def test_the_crop_matrix_without_opencv_is_opencvs_bit_for_bit():
    """crop_inverse_rows replays getAffineTransform + invertAffineTransform in plain floats: warpAffine rounds the
    matrix to fixed point, where a last-bit difference moves ~1 crop in 6 by a level, so only equality will do."""
    import cv2

    from pipeline.geometry import crop_inverse_rows
    rng = np.random.default_rng(7)
    dst = np.array([[0, 192], [0, 0], [192, 0]], np.float32)
    rects = [RotatedRect(100.0, 100.0, 50.0, 50.0, 0.0), RotatedRect(0.0, 0.0, 1.0, 1.0, math.pi / 2),
             RotatedRect(640.5, 360.25, 300.0, 300.0, -math.pi), RotatedRect(10.0, 20.0, 30.0, 40.0, math.pi / 4)]
    for i in range(3000):
        side = float(rng.uniform(0.5, 4000))
        turn = float(rng.uniform(-7, 7)) if i % 4 else float(rng.integers(-4, 5)) * math.pi / 2
        centre = rng.uniform(-2000, 4000, 2)
        if i % 3 == 0:  # whole pixels, where ties in the solver's pivoting are likely
            centre, side = np.round(centre), float(round(side) or 1)
        height = side * float(rng.uniform(0.5, 2)) if i % 5 == 0 else side
        rects.append(RotatedRect(float(centre[0]), float(centre[1]), side, height, turn))
    for r in rects:
        want = cv2.invertAffineTransform(cv2.getAffineTransform(r.corners()[:3], dst))
        got = crop_inverse_rows(r, 192, 192)
        assert got is not None and np.array_equal(np.array(got), want), r
    assert crop_inverse_rows(RotatedRect(5.0, 5.0, 0.0, 0.0, 0.0), 192, 192) is None  # singular: OpenCV decides
    assert crop_inverse_rows(RotatedRect(math.nan, 5.0, 10.0, 10.0, 0.0), 192, 192) is None
    assert crop_inverse_rows(RotatedRect(1e300, 5.0, 10.0, 10.0, 0.0), 192, 192) is None  # beyond float32
    assert crop_inverse_rows(RotatedRect(5.0, 5.0, 10.0, 10.0, math.inf), 192, 192) is None
    assert crop_inverse_rows(RotatedRect(1.8e38, 0.0, 1e37, 1e37, 0.0), 192, 192) is None  # float32 overflows


def _shape(rng):
    pts = np.zeros((478, 3))
    pts[:, :2] = rng.uniform(-75, 75, (478, 2)) + 300
    return pts


def test_plain_one_euro_matches_its_low_pass_response():
    rng = np.random.default_rng(0)
    f = OneEuroLandmarks(min_cutoff=1.0, beta=0.0, stabilize=False)
    truth = _shape(rng)
    outs = np.array([f(truth + rng.normal(0, 0.5, truth.shape), i * 33.3, 150.0) for i in range(120)])
    # a 1 Hz low-pass at 30 fps keeps sqrt(a / (2 - a)) = 0.32 of white noise
    assert np.std(outs[60:] - truth) == pytest.approx(0.5 * 0.32, rel=0.15)


def test_stabilized_filter_is_steady_when_still_and_does_not_lag_head_motion():
    rng = np.random.default_rng(1)
    truth = _shape(rng)
    still = OneEuroLandmarks(DEFAULT_MIN_CUTOFF, DEFAULT_BETA)
    outs = np.array([still(truth + rng.normal(0, 0.5, truth.shape), i * 33.3, 150.0) for i in range(120)])
    assert np.std(outs[30:, :, :2] - truth[:, :2]) < 0.5 * 0.5
    moving = OneEuroLandmarks(DEFAULT_MIN_CUTOFF, DEFAULT_BETA)
    plain = OneEuroLandmarks(DEFAULT_MIN_CUTOFF, DEFAULT_BETA, stabilize=False)
    err_moving, err_plain = [], []
    for i in range(60):  # a head slowly turning and sliding: 1 px/frame and 0.2 degree/frame
        c, s = np.cos(np.radians(0.2 * i)), np.sin(np.radians(0.2 * i))
        pose = truth.copy()
        pose[:, :2] = (truth[:, :2] - 300) @ np.array([[c, -s], [s, c]]).T + 300 + [1.0 * i, 0]
        err_moving.append(np.abs(moving(pose, i * 33.3, 150.0) - pose).max())
        err_plain.append(np.abs(plain(pose, i * 33.3, 150.0) - pose).max())
    assert max(err_moving[20:]) < 0.5  # rigid motion passes through (measured 0.44 px)
    assert max(err_moving[20:]) < 0.85 * max(err_plain[20:])  # measured 0.75x the plain filter's lag


def test_head_groups_follow_a_shaking_camera_and_stay_smoothed_when_still():
    """A refinement head's points (here 468-477, a group) follow a shaking camera fully while the rest of the
    mesh lags each step by 10 % (the pose is then off by that much): the group's mean residual passes while
    the face moves, so the group is not made worse than raw; on a still face it is smoothed as before."""
    rng = np.random.default_rng(3)
    truth = _shape(rng)
    group = np.arange(468, 478)
    errors = {}
    for groups in ((), (group,)):
        f = OneEuroLandmarks(DEFAULT_MIN_CUTOFF, DEFAULT_BETA, groups=groups)
        err_live, err_raw = [], []
        for i in range(90):
            shift = rng.normal(0, 3.0, 2)
            raw = truth + rng.normal(0, 0.2, truth.shape)
            raw[:, :2] += 0.9 * shift
            raw[group, :2] += 0.1 * shift
            out = f(raw, i * 33.3, 150.0)
            if i >= 10:
                err_live.append(np.abs(out[group, :2] - truth[group, :2] - shift).mean())
                err_raw.append(np.abs(raw[group, :2] - truth[group, :2] - shift).mean())
        errors[len(groups)] = np.mean(err_live) / np.mean(err_raw)
    assert errors[0] > 1.2  # without groups: the mesh's lag shows in the group (measured 1.35x raw)
    assert errors[1] < 1.0  # with them: not worse than raw (measured 0.44x)
    still = OneEuroLandmarks(DEFAULT_MIN_CUTOFF, DEFAULT_BETA, groups=(group,))
    outs = np.array([still(truth + rng.normal(0, 0.5, truth.shape), i * 33.3, 150.0) for i in range(120)])
    assert np.std(outs[30:, group, :2] - truth[group, :2]) < 0.5 * 0.5


def test_one_euro_passes_nan_and_restarts_that_value():
    rng = np.random.default_rng(2)
    f = OneEuroLandmarks(DEFAULT_MIN_CUTOFF, DEFAULT_BETA)
    x = _shape(rng)
    for i in range(30):  # a still face with noise: the filter settles
        f(x + rng.normal(0, 0.3, x.shape), i * 33.3, 150.0)
    y = x.copy()
    y[470] = np.nan  # irises switched off
    assert np.isnan(f(y, 30 * 33.3, 150.0)[470]).all()
    z = x + rng.normal(0, 0.3, x.shape)
    z[470, :2] += 4.0  # back on, somewhere else: must not be pulled towards the value from before
    out = f(z, 31 * 33.3, 150.0)
    np.testing.assert_allclose(out[470, :2], z[470, :2], atol=0.2)
    assert np.abs(out[:468] - z[:468]).mean() > 0.05  # the others are still filtered


def test_monotonic_clock_repairs_broken_timestamps():
    clock = MonotonicClock(25)
    assert [clock(t) for t in (0, 40, 40, 30, None, 200)] == [0, 40, 80, 120, 160, 200]


@pytest.mark.parametrize("image,shape", [
    (np.zeros((10, 12), np.uint8), (10, 12, 3)), (np.zeros((10, 12, 4), np.uint8), (10, 12, 3)),
    (np.full((5, 5, 3), 65535, np.uint16), (5, 5, 3)), (np.zeros((4, 4, 1), np.uint8), (4, 4, 3))])
def test_to_bgr8_normalises_layouts(image, shape):
    out = to_bgr8(image)
    assert out.shape == shape and out.dtype == np.uint8
    if image.dtype == np.uint16:
        assert out.max() == 255


def test_to_bgr8_rejects_garbage():
    with pytest.raises(InputError):
        to_bgr8(np.zeros((0, 0), np.uint8))
    with pytest.raises(InputError):
        to_bgr8(np.zeros((4, 4, 2), np.uint8))


def _face(fid):
    pts = np.zeros((478, 3), np.float32)
    return TrackedFace(fid, pts, pts, 0.9, RotatedRect(0, 0, 1, 1, 0), False)


def test_slots_are_stable_and_reused():
    s = SlotAssigner(3)
    assert [f and f.face_id for f in s.assign([_face(4), _face(7)])] == [4, 7, None]
    assert [f and f.face_id for f in s.assign([_face(7)])] == [None, 7, None]
    assert [f and f.face_id for f in s.assign([_face(7), _face(9)])] == [9, 7, None]


def test_npz_contract(tmp_path):
    w = LandmarksWriter(tmp_path / "x.npz", 2)
    w.write(0, 0.0, 1.5, [_face(3)])
    w.write(1, 33.3, 1.2, [])
    assert not (tmp_path / "x.npz").exists()  # only whole files appear
    w.close()
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]  # no temporary parts left behind
    d = np.load(tmp_path / "x.npz")
    assert d["landmarks"].shape == (2, 2, 478, 3) and d["landmarks"].dtype == np.float32
    assert d["face_ids"].tolist() == [[3, -1], [-1, -1]]
    assert np.isnan(d["landmarks"][1]).all() and np.isnan(d["presence"][0, 1])
    assert d["timestamps_ms"].dtype == np.float64 and d["process_ms"].dtype == np.float32


def test_config_validates():
    with pytest.raises(ValueError, match="max_faces"):
        PipelineConfig(max_faces=0)
    with pytest.raises(ValueError, match="provider"):
        PipelineConfig(provider="gpu")
    with pytest.raises(ValueError, match="smooth_beta"):
        PipelineConfig(smooth_beta=float("nan"))
    with pytest.raises(ValueError, match="detector"):
        PipelineConfig(detector="long")
    with pytest.raises(ValueError, match="threads"):
        PipelineConfig(threads=0)
    assert PipelineConfig(threads=None).threads is None


def test_submodels_any_subset_parses_and_labels():
    from pipeline import Submodels
    assert Submodels.parse("lips+eyes+irises") == Submodels.ALL
    assert Submodels.parse("none") == Submodels.NONE
    one_eye = Submodels.parse("left_eye,left_iris")
    assert Submodels.LEFT_EYE in one_eye and Submodels.RIGHT_EYE not in one_eye
    assert one_eye.label == "left_eye+left_iris"
    assert Submodels.from_flags(lips=False, eyes=True, iris=True) == Submodels.EYES | Submodels.IRISES
    with pytest.raises(ValueError, match="unknown submodel 'nose'"):
        Submodels.parse("lips+nose")


def test_drawing_marks_pixels_near_landmarks_only(topology):
    topo = Topology.from_json(topology)
    frame = np.zeros((200, 200, 3), np.uint8)
    pts = np.full((478, 3), np.nan, np.float32)
    theta = np.linspace(0, 2 * np.pi, 478)
    pts[:, 0], pts[:, 1], pts[:, 2] = 100 + 60 * np.cos(theta), 100 + 80 * np.sin(theta), 0
    draw_face(frame, pts, topo)
    drawn = frame.any(axis=2)
    assert drawn.sum() > 100
    ys, xs = np.nonzero(drawn)
    assert xs.min() >= 38 and xs.max() <= 162 and ys.min() >= 18 and ys.max() <= 182
    with pytest.raises(ValueError, match="478"):
        draw_face(frame, pts[:400], topo)
    with pytest.raises(ValueError, match="uint8"):
        draw_face(frame.astype(np.float32), pts, topo)


def test_circle_fit():
    t = np.array([0, 0.5 * np.pi, np.pi, 1.5 * np.pi])
    (cx, cy), r = fit_circle(np.c_[10 + 3 * np.cos(t), 20 + 3 * np.sin(t)])
    assert (cx, cy, r) == pytest.approx((10, 20, 3))


class _ScriptedSource(FrameSource):
    live = True

    def __init__(self, n):
        self.n = n
        self.closed_by = None

    def __iter__(self):
        for i in range(self.n):
            time.sleep(0.005)
            yield Frame(i, i * 5.0, np.zeros((4, 4, 3), np.uint8), time.perf_counter())

    def close(self):
        self.closed_by = threading.current_thread().name


def test_latest_frame_reader_skips_stale_frames_and_closes_on_its_thread():
    src = _ScriptedSource(60)
    reader = LatestFrameReader(src)
    reader.start()
    seen = []
    while True:
        frame = reader.get(0.5)
        if frame is None and reader.finished:
            break
        if frame is not None:
            seen.append(frame.index)
            time.sleep(0.03)  # a slow consumer
    reader.close()
    assert not reader.alive
    assert seen == sorted(seen) and len(seen) < 30 and seen[-1] == 59
    assert reader.dropped + len(seen) == 60
    assert src.closed_by == "capture"


def test_system_check_names_the_missing_debian_packages(monkeypatch):
    from app import system_check
    monkeypatch.setitem(system_check.XCB_LIBRARIES, "libmeshcam-not-there.so.9", "libmeshcam-test0")
    assert "libmeshcam-test0" in system_check.missing_libraries()
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    msg = system_check.check_display()
    assert msg.startswith("the Qt window needs system libraries: sudo apt-get install") and "libmeshcam-test0" in msg
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "no display" in system_check.check_display()
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert system_check.check_display() is None


def test_video_source_can_be_played_again():
    from pipeline.sources import VideoFileSource
    from tests.conftest import require_media
    src = VideoFileSource(require_media("videos", "LivePortrait_d19.mp4"))
    first = [f.frame_bgr for _, f in zip(range(3), src)]
    again = [f.frame_bgr for _, f in zip(range(3), src)]
    assert all((a == b).all() for a, b in zip(first, again))
    src.close()
