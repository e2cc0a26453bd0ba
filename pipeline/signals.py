"""Face signals per tracked face: head pose, expression coefficients (ARKit names) and gaze.

One ``SignalEstimator`` per tracker; it is stateless after construction (everything that does not depend
on the frame -- canonical model, Procrustes basis terms, eyeball model -- is precomputed), so it is safe to
call from the tracking thread; ~0.15-0.2 ms of CPU per face (benchmarks.signals_bench). It is fed the
landmarks the tracker shows, i.e. the smoothed ones when smoothing is on, so pose and coefficients inherit
the smoothing.

Conventions (details in pipeline.head_pose, pipeline.expressions, pipeline.gaze):
- camera space: x image-right, y image-up, z towards the viewer, centimetres; MediaPipe's virtual camera
  (vertical FOV 63 deg, principal point at the frame centre).
- pose_euler_deg = (pitch, yaw, roll): pitch > 0 looks up; yaw > 0 turns the nose towards the image's right
  (the subject's own left, unmirrored); roll > 0 tilts the head counter-clockwise on screen.
- "Left" in blendshape names and gaze rows is the subject's own left, as in ARKit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.errors import InputError
from pipeline.expressions import EXPRESSION_LANDMARKS, EXPRESSION_NAMES, expression_coefficients
from pipeline.gaze import EyeballModel, EyeLook, GazeEstimator
from pipeline.head_pose import (
    CanonicalFace,
    HeadPoseSolver,
    PerspectiveCamera,
    load_canonical_face,
    rotation_to_euler_deg,
)

EYE_LOOK_NAMES = ("eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight",
                  "eyeLookUpLeft", "eyeLookUpRight", "eyeLookDownLeft", "eyeLookDownRight")
BLENDSHAPE_NAMES: tuple[str, ...] = EXPRESSION_NAMES + EYE_LOOK_NAMES
# Gaze angle (deg) at which an eyeLook coefficient reaches 1: the pooled 99th percentile of |yaw|, of pitch
# and of -pitch over the open-eye faces (both eyeBlink < 0.5) of the shared clips and photos (the bench's
# --calibrate prints them).
EYE_LOOK_FULL_DEG = {"horizontal": 55.4, "up": 16.8, "down": 21.0}


@dataclass(frozen=True, slots=True)
class FaceSignals:
    """Signals of one face on one frame. Arrays are read-only."""
    pose_matrix: np.ndarray  # (4, 4) float32: canonical face model (cm) -> camera space (cm), MediaPipe convention
    pose_euler_deg: np.ndarray  # (3,) float32 (pitch, yaw, roll) degrees, signs in the module doc
    metric_landmarks: np.ndarray  # (478, 3) float32 cm, camera space (iris rows NaN when irises are off)
    blendshapes: np.ndarray  # (C,) float32 in [0, 1], order = BLENDSHAPE_NAMES; eyeLook* NaN without irises
    gaze_deg: np.ndarray  # (2, 2) float32 (left eye, right eye) x (yaw, pitch) relative to the head; NaN w/o iris


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float32)
    a.flags.writeable = False
    return a


class SignalEstimator:
    """landmarks (478, 3) px + frame size -> FaceSignals."""

    def __init__(self, canonical: CanonicalFace | None = None, camera: PerspectiveCamera = PerspectiveCamera()):
        canonical = canonical or load_canonical_face()
        self.pose = HeadPoseSolver(canonical, camera)
        self.gaze = GazeEstimator(EyeballModel.from_canonical(canonical.vertices_cm))
        # the only landmarks expressions and gaze read: the rest of the face frame is never computed
        self._rows = np.union1d(EXPRESSION_LANDMARKS, self.gaze.landmarks.ravel())
        self.eye_look = EyeLook(EYE_LOOK_FULL_DEG["horizontal"], EYE_LOOK_FULL_DEG["up"], EYE_LOOK_FULL_DEG["down"])

    def __call__(self, landmarks_px: np.ndarray, frame_size: tuple[int, int]) -> FaceSignals:
        """Signals of one face.

        Args:
            landmarks_px: (478, 3) source pixels, z in x's pixel units (TrackedFace.landmarks_px).
            frame_size: (width, height) of the source frame.
        Raises:
            InputError: wrong shape, or the 468 mesh landmarks are not all finite.
        """
        if landmarks_px.shape != (478, 3):
            raise InputError(f"landmarks must be (478, 3), got {landmarks_px.shape}")
        rot, scale, t, metric = self.pose.solve(landmarks_px, frame_size)
        pose = np.eye(4)
        pose[:3, :3] = scale * rot
        pose[:3, 3] = t
        face = self.pose.normalise(metric, rot, scale, t, self._rows)  # canonical face frame, pose removed
        gaze = self.gaze(face)
        blend = np.concatenate([expression_coefficients(face), self.eye_look(gaze)])
        return FaceSignals(_frozen(pose), _frozen(rotation_to_euler_deg(rot)), _frozen(metric), _frozen(blend),
                           _frozen(gaze))

    def normalised_face(self, landmarks_px: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
        """(478, 3) cm: the face in the canonical face frame, pose removed (what expressions and gaze read)."""
        return self.pose.normalised_face(landmarks_px, frame_size)
