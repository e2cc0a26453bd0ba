"""MultiFaceTracker: the Attention Mesh paper's tracking loop (internal; the public front door is
pipeline.face_tracker.FaceTracker).

Each tracked face's previous mesh gives this frame's crop; the detector runs only while fewer faces are
tracked than wanted. Detections overlapping a tracked face are dropped (the tracked ROI wins, as in
MediaPipe's AssociationNormRectCalculator), so one face is never tracked twice; ids stay stable while a
face is tracked, and a re-acquired face gets a new id and a fresh smoother.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from pipeline.config import PipelineConfig
from pipeline.detector import FaceDetector, detection_to_roi
from pipeline.geometry import RotatedRect, blend_rects, face_rotation, landmarks_to_rect
from pipeline.mesh import FaceMesh
from pipeline.smoothing import OneEuroLandmarks
from pipeline.types import TrackedFace, frozen_array

ASSOCIATION_IOU = 0.5
# While no face is tracked, every other detector pass looks at the frame turned by 90, -90 or 180
# degrees (np.rot90 steps): BlazeFace only sees roughly upright faces, the mesh handles any roll once
# a face is found.
SEARCH_TURNS = (0, 1, 0, 3, 0, 2)
# With smoothing on (off, the loop is MediaPipe's exactly), the crop is stabilised in three ways:
# - on the frame a face is found, the crop is settled by meshing again on the crop the landmarks give, this
#   many times: the detector's box is not the crop the mesh converges to, and the tracking loop otherwise
#   converges over ~10 frames, which shows as a drift at the start of every track;
# - afterwards the next crop moves by the share of the pose step the live filter passed, squared (all of it
#   when the face moves, ~1 % when the step is noise), so a still face's crop does not random-walk or drift
#   with the mesh's noise (a slow wander that no causal filter can remove without lag). Unsquared, the ~12 %
#   a still face's filter passes let the loop drift the crop's size by 0.5 % over 3 s, and one photo's still
#   jitter reached 0.6x MediaPipe's on some noise seeds;
# - the crop is bounded along the face's roll (``landmarks_to_rect(bound_rotation=...)``; the roll of the
#   smoothed landmarks), not the image axes, so a rolled head is framed as it is upright.
CROP_SETTLE_ITERATIONS = 4
CROP_SHARE_POWER = 2


@dataclass
class _Track:
    face_id: int
    roi: RotatedRect
    smoother: OneEuroLandmarks
    from_detector: bool = True


@dataclass
class TrackStep:
    """What one tracker step produced, with its stage timings (ms)."""
    faces: list[TrackedFace]
    detector_ran: bool
    timings_ms: dict[str, float] = field(default_factory=dict)


class MultiFaceTracker:
    """Tracks up to ``config.max_faces`` faces frame to frame. Not thread-safe: one owner thread.

    ``estimate``: optional per-face stage (signals) run on the shown landmarks; its time is "signals".
    """

    def __init__(self, detector: FaceDetector, mesh: FaceMesh, config: PipelineConfig, estimate=None):
        self.detector, self.mesh = detector, mesh
        # --quality best: every mesh pass averages the mirrored crop too; a photo is meshed again on the crop
        # its own landmarks give (README "Accuracy"); the live filter stays off (whole tracks are smoothed
        # forwards and backwards afterwards).
        self.best = config.quality == "best"
        if self.best:
            from pipeline.tta import AugmentedMesh
            self.mesh = AugmentedMesh(mesh)
        self.config = config
        self.estimate = estimate
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._searches = 0  # detector passes since a face was last tracked

    def set_config(self, config: PipelineConfig) -> None:
        """Apply new options from the next step on; smoothing parameters retune live filters."""
        self.config = config
        groups = self._head_groups()
        for t in self._tracks:
            t.smoother.min_cutoff, t.smoother.beta = config.smooth_min_cutoff, config.smooth_beta
            t.smoother.d_cutoff = config.smooth_d_cutoff
            t.smoother.groups = groups
        del self._tracks[config.max_faces:]

    def reset(self) -> None:
        """Back to a fresh tracker's state: a new video numbers its faces from 0 and its first detector
        pass is upright, so a file gives the same result whatever was processed before it."""
        self._tracks.clear()
        self._next_id = 0
        self._searches = 0

    def _new_track(self, roi: RotatedRect) -> _Track:
        c = self.config
        track = _Track(self._next_id, roi, OneEuroLandmarks(c.smooth_min_cutoff, c.smooth_beta, c.smooth_d_cutoff,
                                                            groups=self._head_groups()))
        self._next_id += 1
        return track

    def step(self, frame_bgr: np.ndarray, timestamp_ms: float) -> TrackStep:
        c = self.config
        timings = {"detect": 0.0, "mesh": 0.0, "smooth": 0.0, "signals": 0.0}
        frame_size = (frame_bgr.shape[1], frame_bgr.shape[0])
        detector_ran = False
        for t in self._tracks:
            t.from_detector = False
        # A detection overlapping a tracked face is set aside (the tracked ROI wins). If that track then
        # fails its presence check (a scene cut, a stale ROI), the set-aside detection is tried instead, so
        # the face is not lost for a frame.
        fallback: dict[int, RotatedRect] = {}
        candidates: list[RotatedRect] = []
        if len(self._tracks) < c.max_faces:
            t0 = time.perf_counter()
            turns = 0 if self._tracks else SEARCH_TURNS[self._searches % len(SEARCH_TURNS)]
            detections = self._detect(frame_bgr, turns)
            timings["detect"] = (time.perf_counter() - t0) * 1000
            detector_ran = True
            for det in detections:
                roi = detection_to_roi(det)
                overlapping = [t for t in self._tracks if roi.iou(t.roi) > ASSOCIATION_IOU]
                if overlapping:
                    fallback.setdefault(overlapping[0].face_id, roi)
                else:
                    candidates.append(roi)

        faces, kept = [], []
        t_mesh = t_smooth = t_signals = 0.0
        # Tracked faces first; new detections (best first) then fill the slots still free, so a stale
        # track that fails its presence check does not cost a new face its slot.
        queue = list(self._tracks)
        # Every tracked face, and the new detections that can take a free slot, in one mesh run (the session
        # takes a batch: per-face cost falls with the count); a re-run or an extra candidate goes alone.
        t0 = time.perf_counter()
        batch = self._mesh_batch(frame_bgr, [t.roi for t in queue] + candidates[:max(0, c.max_faces - len(queue))])
        t_mesh += time.perf_counter() - t0
        stabilise = c.smooth and not self.best  # the live filter and the crop stabilisation (above)
        while queue or (candidates and len(kept) < c.max_faces):
            t = queue.pop(0) if queue else self._new_track(candidates.pop(0))
            t0 = time.perf_counter()
            result = batch.pop(0) if batch else self._mesh(frame_bgr, t.roi)
            if not result.presence > c.min_presence_confidence and t.face_id in fallback:
                t.roi, t.from_detector = fallback.pop(t.face_id), True
                t.smoother.reset()
                result = self._mesh(frame_bgr, t.roi)
            if stabilise and t.from_detector and result.presence > c.min_presence_confidence:
                for _ in range(CROP_SETTLE_ITERATIONS):
                    t.roi = landmarks_to_rect(result.landmarks_px, bound_rotation=face_rotation(result.landmarks_px))
                    result = self._mesh(frame_bgr, t.roi)
            t_mesh += time.perf_counter() - t0
            if not result.presence > c.min_presence_confidence:
                continue  # lost: the detector looks for it next frame
            raw = result.landmarks_px
            # MediaPipe's next crop; with the stabilisation it is only the check that two tracks did not
            # converge on one face (then the older is kept), so it is computed only when there is another
            next_roi = None if stabilise and not kept else landmarks_to_rect(raw)
            if len(kept) >= c.max_faces or any(next_roi.iou(k.roi) > ASSOCIATION_IOU for k in kept):
                continue
            t0 = time.perf_counter()
            if stabilise:
                shown = t.smoother(raw, timestamp_ms)  # the face's size measured in the filter
            else:
                t.smoother.reset()  # so turning smoothing back on does not pull towards stale values
                shown = raw
            t1 = time.perf_counter()
            t_smooth += t1 - t0
            signals = self.estimate(shown, frame_size) if self.estimate is not None and c.signals else None
            t_signals += time.perf_counter() - t1
            faces.append(TrackedFace(t.face_id, frozen_array(shown), frozen_array(raw), result.presence, t.roi,
                                     t.from_detector, signals))
            if stabilise:  # the crop stabilisation (above)
                next_roi = landmarks_to_rect(raw, bound_rotation=face_rotation(shown))
                if not t.from_detector:
                    next_roi = blend_rects(t.roi, next_roi, t.smoother.pose_pass ** CROP_SHARE_POWER)
            t.roi = next_roi
            kept.append(t)
        self._tracks = kept
        self._searches = 0 if kept else self._searches + 1
        timings["mesh"] = t_mesh * 1000
        timings["smooth"] = t_smooth * 1000
        timings["signals"] = t_signals * 1000
        return TrackStep(faces, detector_ran, timings)

    def _head_groups(self) -> tuple[np.ndarray, ...]:
        """The live smoother's groups: the landmarks of each refinement head the configured submodels run."""
        groups = getattr(self.mesh, "head_groups", None)
        return groups(self.config.submodels) if groups is not None else ()

    def _mesh(self, frame_bgr: np.ndarray, roi: RotatedRect):
        return self.mesh(frame_bgr, roi, self.config.submodels)

    def _mesh_batch(self, frame_bgr: np.ndarray, rois: list[RotatedRect]):
        return self.mesh.run_batch(frame_bgr, rois, self.config.submodels) if rois else []

    def _detect(self, frame_bgr: np.ndarray, turns: int):
        c = self.config
        # the threshold is a call argument, never a shared attribute rewritten every frame
        return self.detector(frame_bgr, c.max_faces, turns, min_score=c.min_detection_confidence)

    def detect_faces(self, frame_bgr: np.ndarray) -> TrackStep:
        """Static-image mode: every face the detector finds, each meshed once from its detection; no state is
        read or kept, no smoothing. Rolled faces: when nothing is found upright, the frame turned by 90, -90
        and 180 degrees is searched too."""
        c = self.config
        frame_size = (frame_bgr.shape[1], frame_bgr.shape[0])
        t0 = time.perf_counter()
        detections = []
        for turns in (0, 1, 3, 2):
            detections = self._detect(frame_bgr, turns)
            if detections:
                break
        t1 = time.perf_counter()
        faces, t_signals = [], 0.0
        for det in detections:
            roi = detection_to_roi(det)
            if self.best:
                from pipeline.tta import refined_mesh
                result = refined_mesh(self.mesh.inner, frame_bgr, roi, self.config.submodels)
            else:
                result = self._mesh(frame_bgr, roi)
            if not result.presence > c.min_presence_confidence:
                continue
            raw = frozen_array(result.landmarks_px)
            t2 = time.perf_counter()
            signals = self.estimate(raw, frame_size) if self.estimate is not None and c.signals else None
            t_signals += time.perf_counter() - t2
            faces.append(TrackedFace(len(faces), raw, raw, result.presence, roi, True, signals))
        t3 = time.perf_counter()
        timings = {"detect": (t1 - t0) * 1000, "mesh": (t3 - t1 - t_signals) * 1000, "smooth": 0.0,
                   "signals": t_signals * 1000}
        return TrackStep(faces[:c.max_faces], True, timings)
