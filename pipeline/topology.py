"""Mesh topology as numpy data: drawing edges and region index sets, built from the converted model's
topology.json (itself read from the mediapipe wheel). Naming follows the subject: LEFT_EYE is the
subject's left eye, which appears on the image's right in an unmirrored frame (fact sheet §5.4)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _edges(pairs) -> np.ndarray:
    return np.asarray(pairs, np.int32).reshape(-1, 2)


def _loop(pairs) -> np.ndarray:
    """Order an edge set that forms one closed loop into a vertex sequence (for filling polygons)."""
    edges = [tuple(p) for p in np.asarray(pairs).tolist()]
    nxt = {}
    for a, b in edges:
        nxt.setdefault(a, []).append(b)
        nxt.setdefault(b, []).append(a)
    start = edges[0][0]
    order, prev, cur = [start], None, start
    while True:
        options = [v for v in nxt[cur] if v != prev]
        if not options or options[0] == start:
            break
        prev, cur = cur, options[0]
        order.append(cur)
        if len(order) > len(nxt):
            break
    return np.asarray(order, np.int32)


@dataclass(frozen=True)
class Topology:
    """Edges (K, 2) int32 per region and the index sets used for jitter and accuracy regions."""
    face_oval: np.ndarray
    lips: np.ndarray
    left_eye: np.ndarray
    right_eye: np.ndarray
    left_eyebrow: np.ndarray
    right_eyebrow: np.ndarray
    left_iris: np.ndarray
    right_iris: np.ndarray
    tesselation: np.ndarray
    lips_outer_loop: np.ndarray  # vertex order of the outer lip line, for the lip fill
    lips_inner_loop: np.ndarray
    refinement: dict

    @classmethod
    def from_json(cls, topo: dict) -> Topology:
        c = topo["connections"]
        lips = _edges(c["FACEMESH_LIPS"])
        lips_pts = topo["refinement"]["lips"]
        outer = set(lips_pts[:20])  # lower outer (11) + upper outer (9) rows of the lips list
        inner = set(lips_pts[20:40])
        return cls(
            face_oval=_edges(c["FACEMESH_FACE_OVAL"]), lips=lips,
            left_eye=_edges(c["FACEMESH_LEFT_EYE"]), right_eye=_edges(c["FACEMESH_RIGHT_EYE"]),
            left_eyebrow=_edges(c["FACEMESH_LEFT_EYEBROW"]), right_eyebrow=_edges(c["FACEMESH_RIGHT_EYEBROW"]),
            left_iris=_edges(c["FACEMESH_LEFT_IRIS"]), right_iris=_edges(c["FACEMESH_RIGHT_IRIS"]),
            tesselation=_edges(c["FACEMESH_TESSELATION"]),
            lips_outer_loop=_loop([e for e in lips.tolist() if e[0] in outer and e[1] in outer]),
            lips_inner_loop=_loop([e for e in lips.tolist() if e[0] in inner and e[1] in inner]),
            refinement=topo["refinement"])

    def region_indices(self) -> dict[str, np.ndarray]:
        """Landmark index sets per region: eyes (both eye lists), iris, lips, contour (face oval)."""
        ref = self.refinement
        return {
            "eyes": np.unique(np.r_[ref["left_eye"][:16], ref["right_eye"][:16]]),
            "iris": np.arange(468, 478),
            "lips": np.unique(np.asarray(ref["lips"])),
            "contour": np.unique(self.face_oval),
            "all": np.arange(478),
        }


OUTER_EYE_CORNERS = (33, 263)  # subject's right, left: the inter-ocular distance every % IOD number uses


def inter_ocular_px(landmarks_px: np.ndarray):
    """Distance between the outer eye corners (33-263) in the landmarks' own units (NaN if missing): a float
    for one face (478, D), an array for stacked faces (..., 478, D)."""
    pts = np.asarray(landmarks_px)
    iod = np.linalg.norm(pts[..., OUTER_EYE_CORNERS[0], :2] - pts[..., OUTER_EYE_CORNERS[1], :2], axis=-1)
    return float(iod) if iod.ndim == 0 else iod
