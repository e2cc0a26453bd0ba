"""Overlays for face signals: head-pose axes at the nose tip and a gaze ray from each iris, drawn in place.

Anti-aliased with 4 bits of sub-pixel precision, like pipeline.drawing. The 3-D ends are projected with the
same virtual camera the pose came from, so the axes sit on the face. Colours follow the signals panel:
the x axis (pitch turns about it) red, y (yaw) blue, z (roll, out of the face) green.
"""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.head_pose import project_to_pixels
from pipeline.signals import BLENDSHAPE_NAMES, FaceSignals
from pipeline.topology import inter_ocular_px

_SHIFT = 4
_ONE = 1 << _SHIFT
AXIS_BGR = ((123, 123, 255), (255, 209, 90), (156, 255, 140))  # x, y, z
GAZE_BGR = (90, 240, 255)
NOSE_TIP = 4
IRIS_CENTRE = (473, 468)  # gaze rows: subject's left eye, right eye
_BLINK = (BLENDSHAPE_NAMES.index("eyeBlinkLeft"), BLENDSHAPE_NAMES.index("eyeBlinkRight"))


def _check(frame_bgr: np.ndarray, landmarks_px: np.ndarray) -> None:
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
        raise ValueError("frame must be an (H, W, 3) uint8 BGR array")
    if landmarks_px.ndim != 2 or landmarks_px.shape[0] != 478:
        raise ValueError(f"landmarks must be (478, 2|3), got {landmarks_px.shape}")


def _thickness(landmarks_px: np.ndarray) -> int:
    iod = inter_ocular_px(landmarks_px)
    return 1 if not np.isfinite(iod) or iod < 120 else 2


def _fixed(p) -> tuple[int, int]:
    return int(round(float(p[0]) * _ONE)), int(round(float(p[1]) * _ONE))


def _segments(anchor_px: np.ndarray, start_cam: np.ndarray, ends_cam: np.ndarray, frame_size) -> np.ndarray:
    """Projected ends moved so the segment starts exactly at ``anchor_px`` (the drawn landmark).

    Weak perspective (every end at the start's depth): a direction is drawn the same wherever the face is in
    the frame. Full perspective would fan rays that point at the camera away from the image centre, so two
    eyes looking the same way would seem to look apart."""
    ends = np.array(ends_cam, np.float64, ndmin=2)
    ends[:, 2] = start_cam[2]
    pts = project_to_pixels(np.vstack([start_cam, ends]).astype(np.float64), frame_size)
    return anchor_px[:2] + (pts[1:] - pts[0])


def draw_pose_axes(frame_bgr: np.ndarray, face_signals: FaceSignals, landmarks_px: np.ndarray,
                   frame_size: tuple[int, int] | None = None, length_cm: float = 6.0) -> None:
    """The face's own x (towards the subject's left), y (up) and z (out of the face) axes at the nose tip.

    Args:
        frame_bgr: (H, W, 3) uint8, the source frame (or a same-size copy), modified in place.
        face_signals: the face's signals (pose matrix and metric mesh).
        landmarks_px: (478, 2|3) the face's landmarks in the frame's pixels.
        frame_size: (width, height) the signals were computed for (default: the frame's).
    """
    _check(frame_bgr, landmarks_px)
    size = frame_size or (frame_bgr.shape[1], frame_bgr.shape[0])
    nose_cam = face_signals.metric_landmarks[NOSE_TIP].astype(np.float64)
    rot = face_signals.pose_matrix[:3, :3].astype(np.float64)
    axes = rot / np.linalg.norm(rot, axis=0)  # columns: the model's x, y, z in camera space
    ends = _segments(landmarks_px[NOSE_TIP], nose_cam, nose_cam + axes.T * length_cm, size)
    if not np.isfinite(ends).all() or not np.isfinite(landmarks_px[NOSE_TIP, :2]).all():
        return
    t = _thickness(landmarks_px)
    origin = _fixed(landmarks_px[NOSE_TIP])
    # Draw the axis pointing away from the viewer first, so the nearer ones stay on top.
    for k in np.argsort(axes[2]):
        cv2.line(frame_bgr, origin, _fixed(ends[k]), AXIS_BGR[k], t + 1, cv2.LINE_AA, _SHIFT)


def draw_gaze_rays(frame_bgr: np.ndarray, face_signals: FaceSignals, landmarks_px: np.ndarray,
                   frame_size: tuple[int, int] | None = None, length_cm: float = 5.0) -> None:
    """A ray from each iris centre along that eye's gaze (head pose plus eye-in-head angles). Eyes without
    an iris (NaN gaze) or closed (eyeBlink > 0.5: the iris position is a guess) get none."""
    _check(frame_bgr, landmarks_px)
    size = frame_size or (frame_bgr.shape[1], frame_bgr.shape[0])
    rot = face_signals.pose_matrix[:3, :3].astype(np.float64)
    rot = rot / np.linalg.norm(rot, axis=0)
    t = _thickness(landmarks_px)
    for row, (iris, blink) in enumerate(zip(IRIS_CENTRE, _BLINK)):
        yaw, pitch = np.radians(face_signals.gaze_deg[row].astype(np.float64))
        if not (np.isfinite(yaw) and np.isfinite(pitch)) or face_signals.blendshapes[blink] > 0.5:
            continue
        direction = rot @ np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
        start = face_signals.metric_landmarks[iris].astype(np.float64)
        end = _segments(landmarks_px[iris], start, start + direction * length_cm, size)[0]
        if np.isfinite(end).all() and np.isfinite(landmarks_px[iris, :2]).all():
            cv2.arrowedLine(frame_bgr, _fixed(landmarks_px[iris]), _fixed(end), GAZE_BGR, t, cv2.LINE_AA, _SHIFT,
                            0.15)
