"""MediaPipe's iris cascade on our ONNX models, for the submodel-cost and accuracy comparisons only:
face_landmark (468 points) then iris_landmark on two eye crops (fact sheet §6).

Differences from MediaPipe, kept small on purpose: the eye crop is one bilinear warp straight to 64x64
(MediaPipe crops with nearest-neighbour at native size, then resizes).
"""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.geometry import (
    RotatedRect,
    project_from_crop,
    rotation_from_points,
    sigmoid,
    square_scaled_rect,
    warp_crop,
)
from pipeline.mesh import preprocess as face_crop
from pipeline.types import NUM_MESH

EYE_SIZE = 64
EYE_SCALE = 2.3
EYES = (((33, 133), False), ((362, 263), True))  # (corner points, flipped): model-left eye first


def eye_roi(mesh_px: np.ndarray, a: int, b: int) -> RotatedRect:
    p, q = mesh_px[a, :2], mesh_px[b, :2]
    lo, hi = np.minimum(p, q), np.maximum(p, q)
    return square_scaled_rect((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[0] - lo[0], hi[1] - lo[1],
                              rotation_from_points(p, q), EYE_SCALE)


class CascadeMesh:
    """face_landmark + 2 x iris_landmark. Returns (478, 3) landmarks in source pixels and the face flag."""

    def __init__(self, face_session, iris_session, eye_indices: np.ndarray):
        self._face, self._iris = face_session, iris_session
        self._face_io = (face_session.get_inputs()[0].name, [o.name for o in face_session.get_outputs()])
        self._iris_io = (iris_session.get_inputs()[0].name, [o.name for o in iris_session.get_outputs()])
        self._eye_indices = eye_indices  # (142,) left-eye list then right-eye list

    def __call__(self, frame_bgr: np.ndarray, roi: RotatedRect):
        name, outs = self._face_io
        mesh, flag = self._face.run(outs, {name: face_crop(frame_bgr, roi)})
        mesh_px = project_from_crop(mesh.reshape(NUM_MESH, 3) / 192.0, roi)
        out = np.full((478, 3), np.nan, np.float32)
        out[:NUM_MESH] = mesh_px
        eye_pts, iris_pts = [], []
        for (a, b), flipped in EYES:
            rect = eye_roi(mesh_px, a, b)
            crop = warp_crop(frame_bgr, rect, EYE_SIZE, EYE_SIZE, cv2.BORDER_REPLICATE)
            if flipped:
                crop = crop[:, ::-1]
            tensor = (cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)[None]
            iname, iouts = self._iris_io
            contour, iris = self._iris.run(iouts, {iname: tensor})
            for arr, sink in ((contour.reshape(-1, 3), eye_pts), (iris.reshape(-1, 3), iris_pts)):
                arr = arr.copy()
                if flipped:
                    arr[:, 0] = EYE_SIZE - arr[:, 0]
                sink.append(project_from_crop(arr / EYE_SIZE, rect))
        out[self._eye_indices] = np.concatenate(eye_pts)
        out[468:473], out[473:478] = iris_pts
        presence = float(sigmoid(flag.ravel()[0]))
        return out, presence
