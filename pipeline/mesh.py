"""FaceMesh: the 478-point attention mesh on onnxruntime, one session per submodel variant.

Pre/post-processing are numpy functions: the ROI crop (fact sheet §4.3), the 478 assembly (§5) and
the projection back to the frame (§4.4).
"""
from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from pipeline.geometry import RotatedRect, project_from_crop, warp_crop
from pipeline.types import NUM_LANDMARKS, NUM_MESH, MeshResult

INPUT_SIZE = 192
PRESENCE_THRESHOLD = 0.5
Submodels = tuple[bool, bool, bool]  # (lips, eyes, iris)


def preprocess(frame_bgr: np.ndarray, roi: RotatedRect) -> np.ndarray:
    """(1,192,192,3) RGB float32 in [0,1]: the ROI warped out of the frame, edges replicated."""
    crop = warp_crop(frame_bgr, roi, INPUT_SIZE, INPUT_SIZE, cv2.BORDER_REPLICATE)
    return (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) * (1.0 / 255.0))[None]


class Refinement:
    """Index lists of the 478 assembly (from the converted model's topology.json)."""

    def __init__(self, topology: Mapping):
        r = topology["refinement"]
        self.lips = np.asarray(r["lips"], np.int64)
        self.left_eye = np.asarray(r["left_eye"], np.int64)
        self.right_eye = np.asarray(r["right_eye"], np.int64)
        self.left_iris_z = np.asarray(topology["iris_z_average"]["left"], np.int64)
        self.right_iris_z = np.asarray(topology["iris_z_average"]["right"], np.int64)


def assemble_478(outputs: Mapping[str, np.ndarray], ref: Refinement) -> np.ndarray:
    """Assemble the 478 landmarks in 192-space from whichever submodel outputs are present.

    The mesh gives all 468 (x, y, z); lips and eyes overwrite x, y of their indices (mesh z kept);
    each iris gets x, y from its head and the mean z of its eye's 16 contour points. Missing
    submodels leave the mesh points (lips, eyes) or NaN (iris 468..477).

    Returns:
        (478, 3) float32 in model-input pixels (192-space).
    """
    pts = np.full((NUM_LANDMARKS, 3), np.nan, np.float32)
    pts[:NUM_MESH] = outputs["output_mesh_identity"].reshape(NUM_MESH, 3)
    if "output_lips" in outputs:
        pts[ref.lips, :2] = outputs["output_lips"].reshape(-1, 2)
    if "output_left_eye" in outputs:
        pts[ref.left_eye, :2] = outputs["output_left_eye"].reshape(-1, 2)
        pts[ref.right_eye, :2] = outputs["output_right_eye"].reshape(-1, 2)
    if "output_left_iris" in outputs:
        pts[468:473, :2] = outputs["output_left_iris"].reshape(5, 2)
        pts[473:478, :2] = outputs["output_right_iris"].reshape(5, 2)
        pts[468:473, 2] = np.float32(np.mean(pts[ref.left_iris_z, 2], dtype=np.float64))
        pts[473:478, 2] = np.float32(np.mean(pts[ref.right_iris_z, 2], dtype=np.float64))
    return pts


def postprocess(outputs: Mapping[str, np.ndarray], roi: RotatedRect, ref: Refinement,
                submodels: Submodels) -> MeshResult:
    pts = assemble_478(outputs, ref) / INPUT_SIZE
    presence = float(1.0 / (1.0 + np.exp(-float(outputs["conv_faceflag"].ravel()[0]))))
    return MeshResult(project_from_crop(pts, roi), presence, roi, submodels)


class FaceMesh:
    """The attention mesh with live submodel switching.

    Args:
        sessions: one onnxruntime session per (lips, eyes, iris) variant; each variant's graph holds
            only the branches it needs, so a submodel switched off costs nothing.
        topology: the converted model's topology (refinement index lists).
    """

    def __init__(self, sessions: Mapping[Submodels, object], topology: Mapping):
        self._sessions = dict(sessions)
        self._io = {k: (s.get_inputs()[0].name, [o.name for o in s.get_outputs()]) for k, s in self._sessions.items()}
        self._refinement = Refinement(topology)

    def session(self, submodels: Submodels):
        return self._sessions[submodels]

    def __call__(self, frame_bgr: np.ndarray, roi: RotatedRect, submodels: Submodels = (True, True, True)) -> MeshResult:
        if submodels not in self._sessions:
            raise KeyError(f"no mesh variant loaded for lips/eyes/iris={submodels}")
        name_in, names_out = self._io[submodels]
        values = self._sessions[submodels].run(names_out, {name_in: preprocess(frame_bgr, roi)})
        return postprocess(dict(zip(names_out, values)), roi, self._refinement, submodels)

    @staticmethod
    def is_present(result: MeshResult) -> bool:
        return result.presence > PRESENCE_THRESHOLD  # strict, as MediaPipe's ThresholdingCalculator
