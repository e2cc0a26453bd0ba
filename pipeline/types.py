"""Result values that cross stage and thread boundaries. No clocks, I/O or models here.

Coordinate spaces: "px" = pixels of the source frame, OpenCV convention (pixel centres on integers).
Landmark z is MediaPipe's relative depth scaled to the same pixel units as x.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from models.variants import Submodels
from pipeline.geometry import RotatedRect

if TYPE_CHECKING:
    from pipeline.signals import FaceSignals

NUM_MESH = 468
NUM_LANDMARKS = 478


def frozen_array(a: np.ndarray) -> np.ndarray:
    """Mark an array read-only before it crosses a thread boundary."""
    a = np.asarray(a)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, slots=True)
class Detection:
    """One BlazeFace detection in source pixels."""
    box_xyxy: np.ndarray  # (4,) float32
    keypoints_px: np.ndarray  # (6, 2) float32: right eye, left eye, nose, mouth, right ear, left ear
    score: float


@dataclass(frozen=True, slots=True)
class MeshResult:
    """One attention-mesh pass on one face ROI."""
    landmarks_px: np.ndarray  # (478, 3) float32; rows 468..477 NaN when the iris submodel is off
    presence: float  # sigmoid of the face flag, 0..1
    roi: RotatedRect  # the crop this result came from
    submodels: Submodels  # the submodels that ran


@dataclass(frozen=True, slots=True)
class TrackedFace:
    """A face tracked across frames."""
    face_id: int
    landmarks_px: np.ndarray  # (478, 3) float32, smoothed when smoothing is on
    raw_landmarks_px: np.ndarray  # (478, 3) float32, the model's output before smoothing
    presence: float
    roi: RotatedRect  # crop used on this frame
    from_detector: bool  # this frame's ROI came from the detector (a new or re-acquired face)
    signals: FaceSignals | None = None  # head pose, expression coefficients, gaze (None when switched off)


@dataclass(frozen=True, slots=True)
class FrameResult:
    """Everything the pipeline knows about one frame."""
    index: int
    timestamp_ms: float
    frame_bgr: np.ndarray  # (H, W, 3) uint8, read-only
    faces: tuple[TrackedFace, ...]
    # capture_age, detect, mesh, signals, smooth, process; read-only by convention once published
    timings_ms: dict[str, float] = field(default_factory=dict)
    detector_ran: bool = False
    submodels: Submodels = Submodels.ALL
