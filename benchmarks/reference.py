"""Shared by tests and benchmarks: where ../shared is, and MediaPipe's own runtime as the reference/rival."""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np

from pipeline.topology import inter_ocular_px

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MESHCAM_SHARED", ROOT.parent / "shared"))
MEDIA = SHARED / "media"
VIDEOS = MEDIA / "videos"
PHOTOS = MEDIA / "photos"
LANDMARKS = MEDIA / "landmarks"


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what native code (absl/glog/TFLite in MediaPipe) prints to fd 2 while the block runs; its
    start-up chatter is ~25 lines per graph that no environment variable turns off."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def mediapipe_face_mesh(static: bool = True, max_faces: int = 5, refine: bool = True):
    """MediaPipe's FaceMesh (legacy solution), a context manager; imported only when asked for."""
    with quiet_native_stderr():
        import mediapipe as mp
        mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=static, refine_landmarks=refine,
                                               max_num_faces=max_faces)
        # the graph logs again on its first frame
        mesh.process(np.zeros((64, 64, 3), np.uint8))
    return mesh


def mediapipe_faces_px(face_mesh, image_bgr: np.ndarray) -> list[np.ndarray]:
    """Every face MediaPipe finds in ``image_bgr``: (478, 3) pixels, z scaled by the width like ours."""
    import cv2
    h, w = image_bgr.shape[:2]
    found = face_mesh.process(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)).multi_face_landmarks or []
    return [np.array([[p.x * w, p.y * h, p.z * w] for p in f.landmark], np.float64) for f in found]


def mean_error_iod(ours, reference) -> float:
    """Mean 2-D distance over the 478 points as a fraction of the reference's inter-ocular distance."""
    ours, reference = np.asarray(ours), np.asarray(reference)
    return float(np.linalg.norm(ours[:, :2] - reference[:, :2], axis=1).mean() / inter_ocular_px(reference))
