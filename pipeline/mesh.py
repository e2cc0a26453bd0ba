"""FaceMesh: the 478-point attention mesh on onnxruntime, one lean session per submodel set.

Per frame: each face's ROI is warped straight into a preallocated uint8 BGR input (the graph folds /255 and
the channel order into its first convolution), the variant runs once for all faces (dynamic batch) through
an IO binding onto preallocated outputs, and the graph itself returns the 478 landmarks in frame pixels (the
refined points' TransformLandmarks, the 478 assembly of fact sheet §5 and the projection of §4.4): each face's
crop-to-frame affine is a second input. Python does a handful of calls per face, none of them numpy maths.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping

import cv2
import numpy as np

from models.variants import Layout, Submodels, head_landmarks, iris_z_sources
from pipeline.geometry import RotatedRect, crop_inverse_rows, crop_matrix, warp_crop
from pipeline.types import NUM_LANDMARKS, MeshResult

INPUT_SIZE = 192
PRESENCE_THRESHOLD = 0.5
LEAN_INPUT = "image_bgr"  # models.lean_graph.INPUT (not imported: that module needs onnx)
LEAN_FRAME_AFFINE = "frame_affine"  # models.lean_graph.FRAME_AFFINE


def preprocess(frame_bgr: np.ndarray, roi: RotatedRect) -> np.ndarray:
    """(1,192,192,3) RGB float32 in [0,1]: the faithful graphs' input (cascade, tests), edges replicated."""
    crop = warp_crop(frame_bgr, roi, INPUT_SIZE, INPUT_SIZE, cv2.BORDER_REPLICATE)
    return (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) * (1.0 / 255.0))[None]


def crop_into(frame_bgr: np.ndarray, roi: RotatedRect, out: np.ndarray, scratch: np.ndarray | None = None) -> None:
    """Warp the ROI into ``out`` ((192,192,3) uint8, C-contiguous), edges replicated, bilinear on uint8.

    ``scratch`` (a flat uint8 buffer of at least the frame's size, reused across calls): the ROI's axis-aligned
    bound is copied there first, then warped from there. The same pixels (the bound holds every pixel the warp
    reads, and where the frame clips it, replicating its edge is replicating the frame's; OpenCV's fixed-point
    rounding of the shifted translation puts a rare pixel one level off: 4 of 330 random ROIs, 5e-7 of the
    pixels), and 15-25 % faster per webcam frame: a rotated crop read straight from a frame that is cold in
    cache misses on nearly every source row, while the copy streams the rows in order.
    """
    rows = crop_inverse_rows(roi, INPUT_SIZE, INPUT_SIZE)  # plain floats (OpenCV's, bit for bit)
    if rows is None:  # a degenerate, non-finite or far-off ROI: OpenCV's own matrix
        rows = cv2.invertAffineTransform(crop_matrix(roi, INPUT_SIZE, INPUT_SIZE)).tolist()
    source = frame_bgr
    (a, b, x), (c, d, y) = rows
    if (scratch is not None and frame_bgr.ndim == 3 and frame_bgr.dtype == np.uint8 and frame_bgr.flags.c_contiguous
            and math.isfinite(a + b + c + d + x + y)):
        xs, ys = (x, x + a * INPUT_SIZE, x + b * INPUT_SIZE, x + (a + b) * INPUT_SIZE), \
            (y, y + c * INPUT_SIZE, y + d * INPUT_SIZE, y + (c + d) * INPUT_SIZE)
        h, w, ch = frame_bgr.shape
        # bilinear reads floor(p) and floor(p) + 1: one pixel of margin would do, two are kept
        x0, x1 = max(0, math.floor(min(xs)) - 2), min(w, math.ceil(max(xs)) + 3)
        y0, y1 = max(0, math.floor(min(ys)) - 2), min(h, math.ceil(max(ys)) + 3)
        if x1 > x0 and y1 > y0 and (y1 - y0) * (x1 - x0) * ch <= scratch.size:
            source = scratch[:(y1 - y0) * (x1 - x0) * ch].reshape(y1 - y0, x1 - x0, ch)
            np.copyto(source, frame_bgr[y0:y1, x0:x1])
            x, y = x - x0, y - y0
    # OpenCV's IPP warpAffine gives the same pixels (checked on 100 random crops of the shared photos) but is
    # 20-25 % slower for a 192x192 crop; the IPP switch is per thread, so it is restored for other callers.
    ipp = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(False)
    try:
        got = cv2.warpAffine(source, np.array(((a, b, x), (c, d, y))), (INPUT_SIZE, INPUT_SIZE), dst=out,
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    finally:
        cv2.ipp.setUseIPP(ipp)
    if got is not out:  # OpenCV allocated instead (an unusual frame layout): keep the result anyway
        out[...] = got


class Refinement:
    """Index lists of the 478 assembly (from the converted model's topology.json)."""

    def __init__(self, topology: Mapping):
        self.indices = {h: np.asarray(rows, np.int64) for h, rows in head_landmarks(topology).items()}
        self.iris_z = {h: np.asarray(rows, np.int64) for h, rows in iris_z_sources(topology).items()}

    def head_groups(self, submodels: Submodels = Submodels.ALL) -> tuple[np.ndarray, ...]:
        """The landmarks each refinement head that ``submodels`` runs predicts, one index array per head (the
        live smoother's groups, pipeline/smoothing.py)."""
        return tuple(self.indices[h] for h in Layout.of(submodels).heads)


def crop_to_frame(roi: RotatedRect) -> tuple[tuple[float, float, float], ...]:
    """The lean graph's ``frame_affine`` for ``roi``: 192-space rows (x, y, z, 1) -> frame pixels (x, y, z) as
    ``[x y z 1] @ F``; z is scaled like x.

    The same mapping as geometry.project_from_crop (crop-normalised point (u, v) -> centre + R (u-.5, v-.5) size).
    Plain floats: numpy calls cost tens of microseconds each when cold (once per webcam frame).
    """
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    w, h = roi.width / INPUT_SIZE, roi.height / INPUT_SIZE
    l00, l01, l10, l11 = c * w, -s * h, s * w, c * h
    half = INPUT_SIZE / 2
    return ((l00, l10, 0.0), (l01, l11, 0.0), (0.0, 0.0, w),
            (roi.center_x - (l00 + l01) * half, roi.center_y - (l10 + l11) * half, 0.0))


def _presence(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-min(max(logit, -500.0), 500.0)))  # geometry.sigmoid, without numpy


class _Variant:
    """One submodel set's session with its preallocated inputs and outputs per batch size."""

    def __init__(self, session, submodels: Submodels):
        self.session = session
        self.submodels = submodels
        self.layout = Layout.of(submodels)  # the crops and heads its graph computes
        # A CPU input bound to a session on another device is copied there once, when bound: there the inputs
        # are bound again before every run (on the CPU the bound values share the numpy memory).
        self.rebind_inputs = session.get_providers()[0] != "CPUExecutionProvider"
        self._bound: dict[int, tuple] = {}

    def buffers(self, batch: int):
        """(crops (B,192,192,3) uint8, frame affines (B,4,3), landmarks (B,478,3), face flags (B,1), io_binding),
        made once per batch size."""
        if batch not in self._bound:
            import onnxruntime as ort
            image = np.zeros((batch, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
            affine = np.zeros((batch, 4, 3), np.float32)
            landmarks = np.zeros((batch, NUM_LANDMARKS, 3), np.float32)
            flag = np.zeros((batch, 1), np.float32)
            binding = self.session.io_binding()
            # CPU OrtValues wrap the numpy memory: on the CPU the session reads the inputs and writes the results
            # in place; on CUDA it copies the outputs back after each run (the inputs: ``bind_inputs``).
            binding.bind_ortvalue_output("landmarks", ort.OrtValue.ortvalue_from_numpy(landmarks))
            binding.bind_ortvalue_output("face_flag", ort.OrtValue.ortvalue_from_numpy(flag))
            self._bound[batch] = (image, affine, landmarks, flag, binding)
            self.bind_inputs(batch)
        return self._bound[batch]

    def bind_inputs(self, batch: int) -> None:
        """Bind the batch size's input buffers (again: see ``rebind_inputs``)."""
        import onnxruntime as ort
        image, affine, _, _, binding = self._bound[batch]
        rows = image.reshape(batch, 1, INPUT_SIZE, INPUT_SIZE * 3)  # the graph's view of the same bytes
        binding.bind_ortvalue_input(LEAN_INPUT, ort.OrtValue.ortvalue_from_numpy(rows))
        binding.bind_ortvalue_input(LEAN_FRAME_AFFINE, ort.OrtValue.ortvalue_from_numpy(affine))


class FaceMesh:
    """The attention mesh with live submodel switching; any subset of ``Submodels`` is valid.

    Args:
        open_variant: builds the session of one submodel set (lean graph, models/lean_graph.py).
        topology: the converted model's topology (refinement index lists).
        preload: submodel sets opened now; any other opens on first use (~0.1 s, measured).
    Not reentrant across threads for one batch size; a lock serialises callers.
    """

    def __init__(self, open_variant: Callable[[Submodels], object], topology: Mapping,
                 preload: Iterable[Submodels] = (Submodels.ALL,)):
        self._open = open_variant
        self._variants: dict[Submodels, _Variant] = {}
        self._refinement = Refinement(topology)
        self._lock = threading.Lock()
        self._scratch = np.empty(0, np.uint8)  # crop_into's copy of each ROI's bound, grown to the largest frame
        for s in preload:
            self.variant(s)

    def variant(self, submodels: Submodels) -> _Variant:
        if not isinstance(submodels, Submodels):
            raise TypeError(f"submodels must be a Submodels flag, not {submodels!r}")
        v = self._variants.get(submodels)
        if v is None:
            v = self._variants[submodels] = _Variant(self._open(submodels), submodels)
        return v

    def session(self, submodels: Submodels = Submodels.ALL):
        return self.variant(submodels).session

    def head_groups(self, submodels: Submodels = Submodels.ALL) -> tuple[np.ndarray, ...]:
        return self._refinement.head_groups(submodels)

    @property
    def loaded(self) -> tuple[Submodels, ...]:
        return tuple(self._variants)

    def __call__(self, frame_bgr: np.ndarray, roi: RotatedRect, submodels: Submodels = Submodels.ALL) -> MeshResult:
        return self.run_batch(frame_bgr, [roi], submodels)[0]

    def run_batch(self, frame_bgr: np.ndarray, rois: list[RotatedRect],
                  submodels: Submodels = Submodels.ALL) -> list[MeshResult]:
        """All ``rois`` of one frame in one session run; same landmarks as one at a time."""
        if not rois:
            return []
        v = self.variant(submodels)
        submodels = v.submodels
        with self._lock:
            image, affine, landmarks, flag, binding = v.buffers(len(rois))
            if self._scratch.size < frame_bgr.size:
                self._scratch = np.empty(frame_bgr.size, np.uint8)
            for i, roi in enumerate(rois):
                crop_into(frame_bgr, roi, image[i], self._scratch)
                affine[i] = crop_to_frame(roi)
            if v.rebind_inputs:
                v.bind_inputs(len(rois))
            v.session.run_with_iobinding(binding)
            # one copy and one conversion for the whole batch (each numpy call costs tens of us on a webcam frame)
            faces_px, logits = landmarks.copy(), flag.tolist()
            return [MeshResult(faces_px[i], _presence(logits[i][0]), roi, submodels) for i, roi in enumerate(rois)]

    @staticmethod
    def is_present(result: MeshResult) -> bool:
        return result.presence > PRESENCE_THRESHOLD  # strict, as MediaPipe's ThresholdingCalculator
