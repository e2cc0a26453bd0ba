"""Face signals per tracked face: head pose, expression coefficients (ARKit names) and gaze.

One ``SignalEstimator`` per tracker; it is stateless after construction (everything that does not depend
on the frame -- canonical model, Procrustes basis terms, eyeball model -- is precomputed), so it is safe to
call from the tracking thread. It is fed the landmarks the tracker shows, i.e. the smoothed ones when
smoothing is on, so pose and coefficients inherit the smoothing.

Cost (~0.2 ms of CPU per face, benchmarks.signals_bench): at this size numpy's per-call overhead, not
arithmetic, is the cost, so the per-frame path computes only the ~80 landmarks the fit, expressions and gaze
read (the whole metric mesh waits until ``metric_landmarks`` is read), fits once (see
HeadPoseSolver.solve), takes the 3x3 rotations in closed form, and does the few-number steps on floats.

Conventions (details in pipeline.head_pose, pipeline.expressions, pipeline.gaze):
- camera space: x image-right, y image-up, z towards the viewer, centimetres; MediaPipe's virtual camera
  (vertical FOV 63 deg, principal point at the frame centre).
- pose_euler_deg = (pitch, yaw, roll): pitch > 0 looks up; yaw > 0 turns the nose towards the image's right
  (the subject's own left, unmirrored); roll > 0 tilts the head counter-clockwise on screen.
- "Left" in blendshape names and gaze rows is the subject's own left, as in ARKit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.errors import InputError
from pipeline.expressions import EXPRESSION_LANDMARKS, EXPRESSION_NAMES, coefficients_of_points
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
    blendshapes: np.ndarray  # (C,) float32 in [0, 1], order = BLENDSHAPE_NAMES; eyeLook* NaN without irises
    gaze_deg: np.ndarray  # (2, 2) float32 (left eye, right eye) x (yaw, pitch) relative to the head; NaN w/o iris
    # What metric_landmarks is computed from, on first use: most frames never need the whole metric mesh
    # (only drawing and API users read it), and it is a third of the stage's cost.
    _metric_source: tuple = field(repr=False, compare=False)
    _metric: list = field(default_factory=list, repr=False, compare=False)

    @property
    def metric_landmarks(self) -> np.ndarray:
        """(478, 3) float32 cm, camera space (iris rows NaN when irises are off): the metric 3-D mesh."""
        if not self._metric:
            landmarks_px, unprojection = self._metric_source
            self._metric.append(_frozen(HeadPoseSolver.metric_mesh(landmarks_px, unprojection)))
        return self._metric[0]


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
        # The only landmarks expressions and gaze read (the rest of the face frame is never computed): the
        # expression landmarks in their order, then the gaze landmarks they lack.
        gaze_ids = self.gaze.landmarks.ravel()
        self._rows = np.concatenate([EXPRESSION_LANDMARKS, np.setdiff1d(gaze_ids, EXPRESSION_LANDMARKS)])
        self._n_expr = len(EXPRESSION_LANDMARKS)
        self._gaze_rows = np.array([np.flatnonzero(self._rows == i)[0] for i in gaze_ids])
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
        rot, t, metric_rows, unprojection = self.pose.solve_rows(landmarks_px, frame_size, self._rows)
        pose = np.zeros((4, 4), np.float32)
        pose[:3, :3] = rot
        pose[:3, 3] = t
        pose[3, 3] = 1.0
        face_rows = self.pose.normalise_rows(metric_rows, rot, t)  # canonical face frame, pose removed
        gaze = self.gaze.angles(face_rows[self._gaze_rows, :2].tolist())
        gaze_flat = [gaze[0][0], gaze[0][1], gaze[1][0], gaze[1][1]]
        blend = np.empty(len(BLENDSHAPE_NAMES), np.float32)
        blend[:len(EXPRESSION_NAMES)] = coefficients_of_points(face_rows[:self._n_expr])
        blend[len(EXPRESSION_NAMES):] = self.eye_look(gaze_flat)
        euler = np.array(rotation_to_euler_deg(rot), np.float32)
        gaze_deg = np.array(gaze_flat, np.float32).reshape(2, 2)
        for a in (pose, euler, blend, gaze_deg):
            a.flags.writeable = False
        return FaceSignals(pose, euler, blend, gaze_deg, (landmarks_px.copy(), unprojection))

    def normalised_face(self, landmarks_px: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
        """(478, 3) cm: the face in the canonical face frame, pose removed (what expressions and gaze read)."""
        return self.pose.normalised_face(landmarks_px, frame_size)
