"""FaceMesh: the 478-point attention mesh on onnxruntime, one lean session per submodel set.

Per frame: each face's ROI is warped straight into a preallocated uint8 BGR input (the graph folds /255 and
the channel order into its first convolution), the variant runs once for all faces (dynamic batch) through
an IO binding onto preallocated outputs, and numpy does the rest: TransformLandmarks on the refined points,
the 478 assembly (fact sheet §5) and the projection back to the frame (§4.4).
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping

import cv2
import numpy as np

from models.variants import HEAD_POINTS, HEAD_STEM, Layout, Submodels
from pipeline.geometry import RotatedRect, crop_matrix, sigmoid, warp_crop
from pipeline.types import NUM_LANDMARKS, NUM_MESH, MeshResult

INPUT_SIZE = 192
PRESENCE_THRESHOLD = 0.5
LEAN_INPUT = "image_bgr"  # models.lean_graph.INPUT (not imported: that module needs onnx)


def preprocess(frame_bgr: np.ndarray, roi: RotatedRect) -> np.ndarray:
    """(1,192,192,3) RGB float32 in [0,1]: the faithful graphs' input (cascade, tests), edges replicated."""
    crop = warp_crop(frame_bgr, roi, INPUT_SIZE, INPUT_SIZE, cv2.BORDER_REPLICATE)
    return (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) * (1.0 / 255.0))[None]


def crop_into(frame_bgr: np.ndarray, roi: RotatedRect, out: np.ndarray) -> None:
    """Warp the ROI into ``out`` ((192,192,3) uint8, C-contiguous), edges replicated; no allocation."""
    got = cv2.warpAffine(frame_bgr, crop_matrix(roi, INPUT_SIZE, INPUT_SIZE), (INPUT_SIZE, INPUT_SIZE), dst=out,
                         flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if got is not out:  # OpenCV allocated instead (an unusual frame layout): keep the result anyway
        out[...] = got


class Refinement:
    """Index lists of the 478 assembly (from the converted model's topology.json)."""

    def __init__(self, topology: Mapping):
        r = topology["refinement"]
        self.indices = {"lips": np.asarray(r["lips"], np.int64), "left_eye": np.asarray(r["left_eye"], np.int64),
                        "right_eye": np.asarray(r["right_eye"], np.int64),
                        "left_iris": np.arange(468, 473), "right_iris": np.arange(473, 478)}
        self.iris_z = {"left_iris": np.asarray(topology["iris_z_average"]["left"], np.int64),
                       "right_iris": np.asarray(topology["iris_z_average"]["right"], np.int64)}

    def head_groups(self, submodels: Submodels = Submodels.ALL) -> tuple[np.ndarray, ...]:
        """The landmarks each refinement head that ``submodels`` runs predicts, one index array per head (the
        live smoother's groups, pipeline/smoothing.py)."""
        return tuple(self.indices[h] for h in Layout.of(submodels).heads)


def crop_to_frame(roi: RotatedRect) -> tuple[np.ndarray, np.ndarray, float]:
    """(L (2,2), t (2,), z scale): 192-space (x, y) -> frame pixels as ``xy @ L.T + t``; z -> pixels as z * scale.

    The same mapping as geometry.project_from_crop (crop-normalised point (u, v) -> centre + R (u-.5, v-.5) size),
    folded into one affine so each head's TransformLandmarks can be chained onto it.
    """
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    lin = np.array([[c * roi.width, -s * roi.height], [s * roi.width, c * roi.height]]) / INPUT_SIZE
    t = np.array([roi.center_x, roi.center_y]) - lin @ np.array([INPUT_SIZE / 2, INPUT_SIZE / 2])
    return lin, t, roi.width / INPUT_SIZE


class Assembly:
    """How one submodel set's outputs fill the 478 (index arrays precomputed once per set)."""

    def __init__(self, layout: Layout, ref: Refinement):
        self.layout = layout
        self.stem_of_head = np.array([layout.stems.index(HEAD_STEM[h]) for h in layout.heads], np.int64)
        per_head = layout.points // 2
        self.src = np.concatenate([j * per_head + np.arange(HEAD_POINTS[h]) for j, h in enumerate(layout.heads)]
                                  or [np.zeros(0, np.int64)])
        self.dst = np.concatenate([ref.indices[h] for h in layout.heads] or [np.zeros(0, np.int64)])
        self.iris_z = [(ref.indices[h], ref.iris_z[h]) for h in layout.heads if h in ref.iris_z]


def assemble_478(mesh: np.ndarray, affine: np.ndarray | None, points: np.ndarray | None, plan: Assembly,
                 roi: RotatedRect) -> np.ndarray:
    """The 478 landmarks in frame pixels from one face's lean-graph outputs.

    The mesh gives all 468 (x, y, z). Each refinement head's raw points (crop units x4) go through its crop's
    affine (TransformLandmarks: ``p @ X[:2] + 4 X[2]``, chained with the projection to the frame); lips and eye
    contours overwrite x, y of their indices (mesh z kept); each iris gets x, y from its head and the mean z
    of its eye's 16 contour points. Heads switched off leave the mesh points (lips, eyes) or NaN (irises).

    Args:
        mesh: (1404,) float32 192-space; affine: (S,3,2); points: (H,P) (None without refinements).
    Returns:
        (478, 3) float32: x, y frame pixels; z MediaPipe's, scaled like x.
    """
    lin, t, z_scale = crop_to_frame(roi)
    pts = np.empty((NUM_LANDMARKS, 3), np.float32)
    m = mesh.reshape(NUM_MESH, 3)
    pts[:NUM_MESH, :2] = m[:, :2] @ lin.T + t
    pts[:NUM_MESH, 2] = m[:, 2] * z_scale
    pts[NUM_MESH:] = np.nan
    if plan.layout.heads:
        x = affine[plan.stem_of_head]  # (H,3,2): crop points -> 192-space, then -> frame, as one affine per head
        head_lin = x[:, :2] @ lin.T
        head_t = (4.0 * x[:, 2]) @ lin.T + t
        xy = points.reshape(len(plan.stem_of_head), -1, 2) @ head_lin + head_t[:, None, :]
        pts[plan.dst, :2] = xy.reshape(-1, 2)[plan.src]
        for rows, z_from in plan.iris_z:
            pts[rows, 2] = pts[z_from, 2].mean()
    return pts


class _Variant:
    """One submodel set's session with its preallocated inputs and outputs per batch size."""

    def __init__(self, session, submodels: Submodels, ref: Refinement):
        self.session = session
        self.submodels = submodels
        self.layout = Layout.of(submodels)
        self.plan = Assembly(self.layout, ref)
        self.outputs = [o.name for o in session.get_outputs()]
        self._bound: dict[int, tuple] = {}

    def buffers(self, batch: int):
        """(input (B,192,192,3) uint8, outputs dict, io_binding), made once per batch size."""
        if batch not in self._bound:
            import onnxruntime as ort
            image = np.zeros((batch, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
            shapes = {"mesh": (batch, NUM_MESH * 3), "face_flag": (batch, 1),
                      "refine_affine": (batch, len(self.layout.stems), 3, 2),
                      "refine_points": (batch, len(self.layout.heads), self.layout.points)}
            outs = {name: np.zeros(shapes[name], np.float32) for name in self.outputs}
            binding = self.session.io_binding()
            # CPU OrtValues wrap the numpy memory: the session reads the crop and writes results in place
            # (on CUDA onnxruntime copies through them).
            rows = image.reshape(batch, 1, INPUT_SIZE, INPUT_SIZE * 3)  # the graph's view of the same bytes
            binding.bind_ortvalue_input(LEAN_INPUT, ort.OrtValue.ortvalue_from_numpy(rows))
            for name, arr in outs.items():
                binding.bind_ortvalue_output(name, ort.OrtValue.ortvalue_from_numpy(arr))
            self._bound[batch] = (image, outs, binding)
        return self._bound[batch]


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
        for s in preload:
            self.variant(s)

    def variant(self, submodels: Submodels) -> _Variant:
        if not isinstance(submodels, Submodels):
            raise TypeError(f"submodels must be a Submodels flag, not {submodels!r}")
        v = self._variants.get(submodels)
        if v is None:
            v = self._variants[submodels] = _Variant(self._open(submodels), submodels, self._refinement)
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
            image, outs, binding = v.buffers(len(rois))
            for i, roi in enumerate(rois):
                crop_into(frame_bgr, roi, image[i])
            v.session.run_with_iobinding(binding)
            mesh, flag = outs["mesh"], outs["face_flag"]
            affine, points = outs.get("refine_affine"), outs.get("refine_points")
            results = []
            for i, roi in enumerate(rois):
                pts = assemble_478(mesh[i], None if affine is None else affine[i],
                                   None if points is None else points[i], v.plan, roi)
                presence = float(sigmoid(flag[i, 0]))
                results.append(MeshResult(pts, presence, roi, submodels))
        return results

    @staticmethod
    def is_present(result: MeshResult) -> bool:
        return result.presence > PRESENCE_THRESHOLD  # strict, as MediaPipe's ThresholdingCalculator
