"""Test-time augmentation around the attention mesh: the same weights run on a mirrored (and optionally
sub-pixel shifted) view of each face crop, the answers mapped back and averaged.

The mesh's errors on a face and on its mirror image are partly independent (the network is not exactly
mirror-equivariant), so their mean has less error than either. A flip is done without touching the mesh:
the frame is mirrored (only the part around the ROI, so it costs little on big frames) and the ROI with it
(centre x -> W-1-x, rotation -> -rotation); the landmarks found there are mirrored back and their rows
permuted with the canonical mirror map (pipeline/mirror.py).

Cost: one extra mesh pass per view (flip: x2 mesh time per face).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.variants import Submodels
from pipeline.geometry import RotatedRect, landmarks_to_rect
from pipeline.mirror import mirror_landmarks
from pipeline.types import MeshResult

_MARGIN_PX = 2  # beyond the ROI's bound, so bilinear sampling at its edge sees the same pixels


def mirror_roi(roi: RotatedRect, frame_width: int) -> RotatedRect:
    """The ROI that covers the same face in the horizontally flipped frame (x -> W-1-x)."""
    return RotatedRect(frame_width - 1 - roi.center_x, roi.center_y, roi.width, roi.height, -roi.rotation)


def mirror_submodels(submodels: Submodels) -> Submodels:
    """The submodels that, run on the mirror image, give the same subject-side landmarks (left <-> right)."""
    swap = {Submodels.LEFT_EYE: Submodels.RIGHT_EYE, Submodels.RIGHT_EYE: Submodels.LEFT_EYE,
            Submodels.LEFT_IRIS: Submodels.RIGHT_IRIS, Submodels.RIGHT_IRIS: Submodels.LEFT_IRIS}
    out = submodels & Submodels.LIPS
    for side, other in swap.items():
        if side in submodels:
            out |= other
    return out


def _flipped_patch(frame_bgr: np.ndarray, roi: RotatedRect) -> tuple[np.ndarray, int, int]:
    """The frame part under ``roi`` (clipped to the frame, plus a margin), mirrored; and its x, y offset.

    Cropping before the flip keeps the cost independent of the frame size; the crop warp's replicated
    border only ever reaches past the frame's own edges, which the patch keeps."""
    h, w = frame_bgr.shape[:2]
    reach = 0.5 * (abs(roi.width * math.cos(roi.rotation)) + abs(roi.height * math.sin(roi.rotation)))
    reach_y = 0.5 * (abs(roi.width * math.sin(roi.rotation)) + abs(roi.height * math.cos(roi.rotation)))
    x0 = max(0, int(math.floor(roi.center_x - reach)) - _MARGIN_PX)
    x1 = min(w, int(math.ceil(roi.center_x + reach)) + _MARGIN_PX + 1)
    y0 = max(0, int(math.floor(roi.center_y - reach_y)) - _MARGIN_PX)
    y1 = min(h, int(math.ceil(roi.center_y + reach_y)) + _MARGIN_PX + 1)
    if x1 <= x0 or y1 <= y0:  # ROI wholly outside the frame: use the whole frame
        x0, x1, y0, y1 = 0, w, 0, h
    return np.ascontiguousarray(frame_bgr[y0:y1, x0:x1][:, ::-1]), x0, y0


def flipped_mesh(mesh, frame_bgr: np.ndarray, roi: RotatedRect, submodels) -> MeshResult:
    """The mesh run on the mirror image of the face; landmarks returned in the original frame and order."""
    patch, x0, y0 = _flipped_patch(frame_bgr, roi)
    local = RotatedRect(roi.center_x - x0, roi.center_y - y0, roi.width, roi.height, roi.rotation)
    result = mesh(patch, mirror_roi(local, patch.shape[1]), mirror_submodels(submodels))
    landmarks = mirror_landmarks(result.landmarks_px, patch.shape[1])
    landmarks[:, 0] += x0
    landmarks[:, 1] += y0
    return MeshResult(landmarks.astype(np.float32), result.presence, roi, submodels)


def shifted_roi(roi: RotatedRect, dx_crop: float, dy_crop: float, input_size: int = 192) -> RotatedRect:
    """``roi`` moved by (dx, dy) crop pixels along its own axes."""
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    ux, uy = dx_crop * roi.width / input_size, dy_crop * roi.height / input_size
    return RotatedRect(roi.center_x + c * ux - s * uy, roi.center_y + s * ux + c * uy, roi.width, roi.height,
                       roi.rotation)


@dataclass(frozen=True)
class TTAOptions:
    """Which extra views to average.

    flip: the mirrored crop (x2 mesh cost).
    shifts: extra crop offsets in crop pixels, e.g. ((0.5, 0.5), (-0.5, -0.5)); each costs one more pass
        (x2 again with flip, which is applied to each shifted view too).
    """
    flip: bool = True
    shifts: tuple[tuple[float, float], ...] = ()

    @property
    def passes(self) -> int:
        return (1 + len(self.shifts)) * (2 if self.flip else 1)


def _mean_landmarks(views: list[np.ndarray]) -> np.ndarray:
    stack = np.stack(views)
    finite = np.isfinite(stack)
    count = finite.sum(axis=0)
    total = np.where(finite, stack, 0.0).sum(axis=0, dtype=np.float64)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)


def augmented_mesh(mesh, frame_bgr: np.ndarray, roi: RotatedRect, submodels, options: TTAOptions = TTAOptions()
                   ) -> MeshResult:
    """``mesh(frame_bgr, roi, submodels)`` averaged over the views in ``options`` (same MeshResult contract).

    Presence is the plain pass's, and a face that pass finds absent is returned as it is, so TTA never
    changes which faces are tracked."""
    plain = mesh(frame_bgr, roi, submodels)
    if options.passes == 1 or not plain.presence > 0.5:
        return plain
    views = [plain.landmarks_px]
    if options.flip:
        views.append(flipped_mesh(mesh, frame_bgr, roi, submodels).landmarks_px)
    for dx, dy in options.shifts:
        moved = shifted_roi(roi, dx, dy)
        views.append(mesh(frame_bgr, moved, submodels).landmarks_px)
        if options.flip:
            views.append(flipped_mesh(mesh, frame_bgr, moved, submodels).landmarks_px)
    return MeshResult(_mean_landmarks(views), plain.presence, roi, plain.submodels)


class AugmentedMesh:
    """A drop-in FaceMesh whose call averages test-time augmented views (``--quality best``).

    ``AugmentedMesh(tracker.mesh)`` can replace the tracker's mesh; every other attribute (sessions,
    is_present, ...) is the wrapped mesh's."""

    def __init__(self, mesh, options: TTAOptions = TTAOptions()):
        self.inner, self.options = mesh, options

    def __call__(self, frame_bgr: np.ndarray, roi: RotatedRect, submodels=None) -> MeshResult:
        if submodels is None:
            return augmented_mesh(lambda f, r, s: self.inner(f, r), frame_bgr, roi, None, self.options)
        return augmented_mesh(self.inner, frame_bgr, roi, submodels, self.options)

    def run_batch(self, frame_bgr: np.ndarray, rois: list[RotatedRect], submodels=None) -> list[MeshResult]:
        """One augmented pass per face (the views of one face are not batched across faces)."""
        return [self(frame_bgr, roi, submodels) for roi in rois]

    def __getattr__(self, name):
        return getattr(self.inner, name)


def refined_mesh(mesh, frame_bgr: np.ndarray, roi: RotatedRect, submodels, options: TTAOptions = TTAOptions(),
                 recrops: int = 1) -> MeshResult:
    """Static images (``--quality best``): the augmented mesh on ``roi`` (a detection's), then again on the
    crop its landmarks give, as the next frame of a video would get it (centred on the mesh, rotation from
    the eye corners rather than the detector's keypoints). Costs (1 + recrops) x ``options.passes``.

    The returned roi is the last crop used; presence is the first pass's."""
    result = augmented_mesh(mesh, frame_bgr, roi, submodels, options)
    if not result.presence > 0.5:
        return result
    presence = result.presence
    for _ in range(recrops):
        result = augmented_mesh(mesh, frame_bgr, landmarks_to_rect(result.landmarks_px), submodels, options)
    return MeshResult(result.landmarks_px, presence, result.roi, result.submodels)
