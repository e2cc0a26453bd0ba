"""Parity with MediaPipe on real faces: our detector + attention mesh vs FaceMesh(static, refine)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.detector import detection_to_roi
from tests.conftest import require_media

MAX_FACES = 5
TOLERANCE = 0.005  # mean distance over 478 points / outer-eye-corner distance (33-263)


def _images():
    photos = require_media("photos")
    marks = require_media("landmarks")
    exts = {".jpg", ".png", ".jpeg", ".ppm"}
    return sorted(p for p in [*photos.iterdir(), *marks.rglob("*")] if p.suffix.lower() in exts)


@pytest.fixture(scope="module")
def mp_static():
    mp = pytest.importorskip("mediapipe")
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True,
                                         max_num_faces=MAX_FACES) as fm:
        yield fm


def test_every_mediapipe_face_is_found_with_matching_landmarks(engine, mp_static):
    errors, misses, checked_images = [], [], 0
    for path in _images():
        img = cv2.imread(str(path))
        if img is None:
            continue
        checked_images += 1
        h, w = img.shape[:2]
        theirs = mp_static.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).multi_face_landmarks or []
        ours = []
        for det in engine.detector(img, MAX_FACES):
            mesh = engine.mesh(img, detection_to_roi(det))
            if engine.mesh.is_present(mesh):
                ours.append(mesh.landmarks_px)
        for face in theirs:
            ref = np.array([[p.x * w, p.y * h] for p in face.landmark])
            iod = np.linalg.norm(ref[33] - ref[263])
            dists = [np.linalg.norm(o[:, :2] - ref, axis=1).mean() / iod for o in ours]
            if not dists:
                misses.append(path.name)
                continue
            errors.append(min(dists))
            if min(dists) > TOLERANCE:
                misses.append(f"{path.name}: {min(dists):.4f}")
    assert checked_images > 50
    assert len(errors) > 80, "too few faces compared"
    assert not misses, f"faces MediaPipe found that we missed or mis-placed: {misses}"
    errors = np.array(errors)
    print(f"\nparity over {len(errors)} faces: median {np.median(errors):.2e}, max {errors.max():.2e} of IOD")


def test_z_is_in_pixel_units_like_mediapipe(engine, mp_static):
    img = cv2.imread(str(require_media("photos", "face_recognition_obama.jpg")))
    h, w = img.shape[:2]
    face = mp_static.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).multi_face_landmarks[0]
    ref_z = np.array([p.z * w for p in face.landmark])
    det = engine.detector(img, 1)[0]
    ours = engine.mesh(img, detection_to_roi(det)).landmarks_px
    iod = np.linalg.norm(ours[33, :2] - ours[263, :2])
    assert np.abs(ours[:, 2] - ref_z).mean() / iod < TOLERANCE
    assert np.ptp(ref_z) > 0.1 * iod  # z really varies, so the check above means something


def test_no_face_in_a_photo_of_dogs(engine):
    img = cv2.imread(str(require_media("landmarks", "dlib_examples_faces", "dogs.jpg")))
    kept = [d for d in engine.detector(img, MAX_FACES)
            if engine.mesh.is_present(engine.mesh(img, detection_to_roi(d)))]
    assert kept == []
