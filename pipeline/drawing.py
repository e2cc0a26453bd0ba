"""Overlays: pure functions that draw landmarks onto a BGR frame in place (shared by CLI and GUI).

Anti-aliased lines with 4 bits of sub-pixel precision; one colour per region; irises as circles fitted
to their 5 points. Validates its inputs, never runs a model.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.topology import Topology, inter_ocular_px
from pipeline.types import FrameResult

_SHIFT = 4
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class OverlayStyle:
    """What to draw and how. Colours are BGR."""
    contours: bool = True
    irises: bool = True
    lips_fill: bool = True
    tessellation: bool = False
    pose_axes: bool = True  # head-pose axes on the nose (needs face signals)
    gaze_rays: bool = True  # one ray per eye (needs signals and irises)
    lipstick: object | None = None  # pipeline.lipstick.LipstickStyle: the AR lipstick effect, drawn first
    hud: bool = True
    oval_bgr: tuple = (225, 225, 225)
    brow_bgr: tuple = (90, 200, 255)
    eye_bgr: tuple = (255, 200, 60)
    iris_bgr: tuple = (60, 255, 140)
    lips_bgr: tuple = (120, 90, 255)
    mesh_bgr: tuple = (150, 150, 150)
    lips_fill_alpha: float = 0.25
    thickness: int = 0  # 0 = scale with face size


def _check(frame: np.ndarray, landmarks: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError("frame must be an (H, W, 3) uint8 BGR array")
    if landmarks.ndim != 2 or landmarks.shape[0] != 478 or landmarks.shape[1] < 2:
        raise ValueError(f"landmarks must be (478, 2|3), got {landmarks.shape}")


def draw_edges(frame: np.ndarray, points_xy: np.ndarray, edges: np.ndarray, color, thickness: int) -> None:
    """Draw each edge (i, j) of ``edges`` between finite points, anti-aliased, sub-pixel accurate."""
    seg = points_xy[edges]  # (K, 2, 2)
    seg = seg[np.isfinite(seg).all(axis=(1, 2))]
    if len(seg):
        cv2.polylines(frame, np.round(seg * _ONE).astype(np.int32), False, color, thickness, cv2.LINE_AA, _SHIFT)


def fit_circle(points_xy: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Least-squares circle through the 4 iris edge points (centre, radius), or None if degenerate."""
    pts = points_xy[np.isfinite(points_xy).all(axis=1)]
    if len(pts) < 3:
        return None
    a = np.c_[2 * pts, np.ones(len(pts))]
    b = (pts ** 2).sum(axis=1)
    (cx, cy, c), *_ = np.linalg.lstsq(a, b, rcond=None)
    r2 = c + cx * cx + cy * cy
    if not np.isfinite(r2) or r2 <= 0:
        return None
    centre, radius = np.array([cx, cy]), float(np.sqrt(r2))
    spread = np.linalg.norm(pts - pts.mean(axis=0), axis=1).max()
    if radius > 2 * spread or np.linalg.norm(centre - pts.mean(axis=0)) > spread:
        return None  # nearly collinear points: no sensible iris circle
    return centre, radius


def _fill_lips(frame: np.ndarray, xy: np.ndarray, topo: Topology, style: OverlayStyle) -> None:
    """Blend the lip colour between the outer and inner lip lines, touching only the lips' box."""
    x0, y0 = np.floor(np.nanmin(xy[topo.lips_outer_loop], axis=0)).astype(int) - 2
    x1, y1 = np.ceil(np.nanmax(xy[topo.lips_outer_loop], axis=0)).astype(int) + 3
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, frame.shape[1]), min(y1, frame.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    origin = np.array([x0, y0], np.float64)
    outer = np.round((xy[topo.lips_outer_loop] - origin) * _ONE).astype(np.int32)
    inner = np.round((xy[topo.lips_inner_loop] - origin) * _ONE).astype(np.int32)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [outer], 255, cv2.LINE_AA, _SHIFT)
    if np.isfinite(inner).all():
        cv2.fillPoly(mask, [inner], 0, cv2.LINE_AA, _SHIFT)  # the mouth opening stays clear
    roi = frame[y0:y1, x0:x1]
    a = (mask.astype(np.float32) * (style.lips_fill_alpha / 255.0))[..., None]
    roi[:] = (roi * (1 - a) + np.array(style.lips_bgr, np.float32) * a).astype(np.uint8)


def draw_face(frame: np.ndarray, landmarks_px: np.ndarray, topo: Topology, style: OverlayStyle = OverlayStyle(),
              eyes_closed: tuple[bool, bool] = (False, False)) -> None:
    """Draw one face's overlays in place.

    Args:
        frame: (H, W, 3) uint8 BGR, modified in place.
        landmarks_px: (478, 2|3) float, source pixels; NaN rows (e.g. iris off) are skipped.
        eyes_closed: (subject's right eye [iris 468-472], subject's left eye [iris 473-477]) closed, from the
            blink coefficients: a closed eye's iris is not drawn.
    """
    _check(frame, landmarks_px)
    xy = landmarks_px[:, :2].astype(np.float64)
    iod = inter_ocular_px(xy)
    t = style.thickness or (1 if not np.isfinite(iod) or iod < 120 else 2)
    if style.tessellation:
        draw_edges(frame, xy, topo.tesselation, style.mesh_bgr, 1)
    if style.lips_fill and np.isfinite(xy[topo.lips_outer_loop]).all():
        _fill_lips(frame, xy, topo, style)
    if style.contours:
        draw_edges(frame, xy, topo.face_oval, style.oval_bgr, t)
        draw_edges(frame, xy, topo.left_eyebrow, style.brow_bgr, t)
        draw_edges(frame, xy, topo.right_eyebrow, style.brow_bgr, t)
        draw_edges(frame, xy, topo.left_eye, style.eye_bgr, t)
        draw_edges(frame, xy, topo.right_eye, style.eye_bgr, t)
        draw_edges(frame, xy, topo.lips, style.lips_bgr, t)
    if style.irises:
        for idx, closed in ((np.arange(469, 473), eyes_closed[0]), (np.arange(474, 478), eyes_closed[1])):
            if closed:
                continue  # an iris drawn over a closed eyelid is a confident wrong answer
            fit = fit_circle(xy[idx])
            if fit is not None:
                (cx, cy), r = fit
                cv2.circle(frame, (int(round(cx * _ONE)), int(round(cy * _ONE))), int(round(r * _ONE)),
                           style.iris_bgr, t, cv2.LINE_AA, _SHIFT)


def draw_hud(frame: np.ndarray, lines: list[str]) -> None:
    """Small text block in the top-left corner on a translucent panel."""
    if not lines:
        return
    scale = max(0.4, min(frame.shape[1] / 1600, 0.9))
    (w, h), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    height = (h + base + 4) * len(lines) + 6
    width = max(cv2.getTextSize(s, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for s in lines) + 12
    roi = frame[:min(height, frame.shape[0]), :min(width, frame.shape[1])]
    roi[:] = (roi * 0.45).astype(np.uint8)
    for i, s in enumerate(lines):
        cv2.putText(frame, s, (6, 4 + (h + base + 4) * (i + 1) - base), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (235, 235, 235), 1, cv2.LINE_AA)


BLINK_CLOSED = 0.5  # eyeBlink coefficient above which an eye counts as closed


def annotate(result: FrameResult, style: OverlayStyle, topology: Topology,
             hud_lines: list[str] | None = None) -> tuple[np.ndarray, float]:
    """A new BGR image of ``result``'s frame with overlays (effects first, then lines, HUD last), and the
    milliseconds it took. Pure: ``result`` is never modified."""
    t0 = time.perf_counter()
    out = result.frame_bgr.copy()
    for face in result.faces:
        if style.lipstick is not None:
            from pipeline.lipstick import apply_lipstick
            apply_lipstick(out, face.landmarks_px, topology, style.lipstick)
    for face in result.faces:
        closed = _eyes_closed(face.signals)
        draw_face(out, face.landmarks_px, topology, style, closed)
        if face.signals is not None and (style.pose_axes or style.gaze_rays):
            from pipeline import signal_drawing
            if style.pose_axes:
                signal_drawing.draw_pose_axes(out, face.signals, face.landmarks_px, (out.shape[1], out.shape[0]))
            if style.gaze_rays:
                signal_drawing.draw_gaze_rays(out, face.signals, face.landmarks_px)
    if style.hud and hud_lines:
        draw_hud(out, hud_lines)
    return out, (time.perf_counter() - t0) * 1000


def _eyes_closed(signals) -> tuple[bool, bool]:
    if signals is None:
        return (False, False)
    from pipeline.signals import BLENDSHAPE_NAMES
    names = list(BLENDSHAPE_NAMES)
    # ARKit's Left is the subject's left: iris 473-477; the iris at 468-472 is the subject's right eye.
    right = signals.blendshapes[names.index("eyeBlinkRight")] > BLINK_CLOSED
    left = signals.blendshapes[names.index("eyeBlinkLeft")] > BLINK_CLOSED
    return (bool(right), bool(left))
