"""What the overlay toggles are called and which colours say where a region's points came from.

Lips and eye contours are drawn in their submodel's colour while that submodel runs, and in one neutral
"mesh only" colour when they are the base mesh's coarser points, so switching a submodel off is visible.
"""
from __future__ import annotations

from dataclasses import fields, replace

from app.plots import COLORS
from models.variants import Submodels
from pipeline.drawing import OverlayStyle

OVERLAY_LABELS = {  # OverlayStyle bool field -> (label, tooltip)
    "contours": ("Contours", "face oval, brows, eyes and lips lines"),
    "irises": ("Iris circles", "circle fitted to each iris (hidden while that eye is closed)"),
    "lips_fill": ("Lip fill", "tint between the outer and inner lip lines"),
    "tessellation": ("Tessellation", "the whole 468-point triangle mesh"),
    "pose_axes": ("Head-pose axes", "x/y/z axes of the head pose on the nose (needs face signals)"),
    "gaze_rays": ("Gaze rays", "one ray per eye (needs face signals and irises)"),
    "hud": ("HUD text", "frame rate, faces and provider over the video (on screen only, not recorded)"),
}


def overlay_toggles() -> list[str]:
    """OverlayStyle's on/off fields in declaration order (new ones appear in the GUI by themselves)."""
    return [f.name for f in fields(OverlayStyle) if isinstance(f.default, bool)]


def bgr(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return (b, g, r)


def refined_colors(style: OverlayStyle, submodels: Submodels) -> OverlayStyle:
    """``style`` with lips/eyes/iris colours saying whether their points come from a submodel."""
    c = COLORS["overlay"]
    mesh = bgr(c["mesh_only"])
    return replace(style,
                   lips_bgr=bgr(c["lips_submodel"]) if Submodels.LIPS in submodels else mesh,
                   eye_bgr=bgr(c["eyes_submodel"]) if submodels & Submodels.EYES else mesh,
                   iris_bgr=bgr(c["iris_submodel"]))
