"""AR lipstick (Attention Mesh paper, section 4): recolour the lips between the outer and inner lip lines.

The lips keep their own shading and highlights: the colour goes into Lab's chroma (a, b), while the
lightness only moves part of the way towards the lipstick's, keeping every pixel's difference from the
lips' mean. The mask is the outer lip polygon minus the mouth opening (inner polygon), so teeth, tongue
and the dark inside of an open mouth stay unpainted; its edge is feathered inwards, so no pixel outside
the outer lip line or inside the mouth opening is painted. Everything happens inside the lips' bounding
box, with the frame's own landmarks: no lag beyond the tracker's.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.errors import MeshcamError
from pipeline.topology import Topology

_SHIFT = 4  # sub-pixel bits for cv2.fillPoly
_ONE = 1 << _SHIFT
# Feather width as a fraction of the mouth width (corner to corner). 0.03 gives ~4 px on a 150 px mouth: the
# edge blends into skin without the colour visibly leaving the lip line (chosen by eye on several faces).
FEATHER = 0.03
# Share of the lightness gap between the lipstick and the lips' mean that is applied: 0 = chroma only
# (a pale colour barely shows on dark lips), 1 = flat lightness (shading lost). Half keeps the shading.
LIGHTNESS_SHIFT = 0.5
# Specular highlights (pixels much lighter than the lips' mean) keep most of their own chroma, so the
# lips still look glossy instead of painted: full colour up to +HIGHLIGHT_START Lab units (0..255 scale),
# fading to HIGHLIGHT_KEEP of the colour change over the next HIGHLIGHT_RAMP units.
HIGHLIGHT_START, HIGHLIGHT_RAMP, HIGHLIGHT_KEEP = 20.0, 50.0, 0.3

# A few common lipstick shades (sRGB hex); any #rrggbb works too.
COLOR_NAMES = {
    "red": "#c8102e", "crimson": "#dc143c", "ruby": "#9b111e", "cherry": "#d2042d", "wine": "#722f37",
    "berry": "#8e3a59", "plum": "#673147", "pink": "#e75480", "rose": "#c9506b", "coral": "#f88379",
    "orange": "#e2562c", "nude": "#c08081", "mauve": "#b0728a", "brown": "#7b3f3a", "black": "#1c1a1a",
}
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


class LipstickError(MeshcamError, ValueError):
    """A lipstick colour or opacity that cannot be used (one line; a ValueError too, for argparse and Qt)."""


@dataclass(frozen=True)
class LipstickStyle:
    """Lipstick colour (BGR, 0..255) and opacity (0..1: how much of the recolouring is applied)."""
    color_bgr: tuple[int, int, int] = (46, 16, 200)  # "red", #c8102e
    opacity: float = 0.6

    def __post_init__(self):
        if len(self.color_bgr) != 3 or not all(0 <= int(c) <= 255 for c in self.color_bgr):
            raise LipstickError(f"lipstick colour must be three 0..255 values (BGR), got {self.color_bgr}")
        if not 0.0 <= float(self.opacity) <= 1.0:
            raise LipstickError(f"lipstick opacity must be between 0 and 1, got {self.opacity}")
        object.__setattr__(self, "color_bgr", tuple(int(c) for c in self.color_bgr))
        object.__setattr__(self, "opacity", float(self.opacity))
        _warm_up()

    @classmethod
    def parse(cls, text: str) -> LipstickStyle:
        """``COLOR[:OPACITY]``: COLOR is a name (red, plum, coral, ...; see COLOR_NAMES) or #rrggbb; OPACITY is
        0..1 or a percentage (``red:0.5``, ``#c8102e:70%``). Raises LipstickError (a ValueError) with one line."""
        color, _, opacity = str(text).strip().partition(":")
        hex_text = COLOR_NAMES.get(color.strip().lower(), color.strip())
        m = _HEX.fullmatch(hex_text)
        if m is None:
            raise LipstickError(f"lipstick colour {color!r}: use a name ({', '.join(COLOR_NAMES)}) or #rrggbb")
        r, g, b = (int(m.group(1)[i:i + 2], 16) for i in (0, 2, 4))
        if not opacity.strip():
            return cls((b, g, r))
        o = opacity.strip()
        try:
            value = float(o[:-1]) / 100 if o.endswith("%") else float(o)
        except ValueError:
            raise LipstickError(f"lipstick opacity {o!r}: use a number from 0 to 1 or a percentage") from None
        return cls((b, g, r), value)

    def __str__(self) -> str:
        b, g, r = self.color_bgr
        return f"#{r:02x}{g:02x}{b:02x}:{self.opacity:g}"


_warmed = False


def _warm_up() -> None:
    """OpenCV builds its Lab tables on the first conversion (~0.3 s): do it when a style is chosen, not on the
    first painted frame."""
    global _warmed
    if not _warmed:
        cv2.cvtColor(np.zeros((1, 1, 3), np.uint8), cv2.COLOR_BGR2LAB)
        _warmed = True


def lip_mask(landmarks_px: np.ndarray, topology: Topology, frame_shape: tuple[int, ...]
             ) -> tuple[np.ndarray, tuple[int, int]] | None:
    """Feathered lip coverage inside the lips' bounding box.

    Returns (alpha (h, w) float32 in 0..1, (x0, y0) top-left of the box in frame pixels), or None when the
    lips are not on the frame or their landmarks are missing.
    """
    xy = np.asarray(landmarks_px, np.float64)[:, :2]
    outer, inner = xy[topology.lips_outer_loop], xy[topology.lips_inner_loop]
    if not (np.isfinite(outer).all() and np.isfinite(inner).all()):
        return None
    width = float(np.linalg.norm(outer[:, None] - outer[None], axis=2).max())  # corner to corner
    sigma = max(0.7, FEATHER * width)
    pad = int(np.ceil(3 * sigma)) + 2
    x0, y0 = np.floor(outer.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(outer.max(axis=0)).astype(int) + pad + 1
    x0, y0 = max(int(x0), 0), max(int(y0), 0)
    x1, y1 = min(int(x1), frame_shape[1]), min(int(y1), frame_shape[0])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    origin = np.array([x0, y0], np.float64)
    outer_i = np.round((outer - origin) * _ONE).astype(np.int32)
    inner_i = np.round((inner - origin) * _ONE).astype(np.int32)
    lips = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(lips, [outer_i], 255, cv2.LINE_AA, _SHIFT)
    hole = np.zeros_like(lips)
    cv2.fillPoly(hole, [inner_i], 255, cv2.LINE_AA, _SHIFT)
    lips = cv2.subtract(lips, hole)
    # Inward feather: the blurred mask is 0.5 on a straight edge, so 2b - 1 ramps from 0 on the lip line to 1
    # about 1.5 sigma inside; pixels outside the lips (and in the mouth opening) stay at 0.
    soft = cv2.GaussianBlur(lips.astype(np.float32), (0, 0), sigma)  # float32: ~6x faster than OpenCV's uint8 path
    alpha = np.clip(soft * (2.0 / 255.0) - 1.0, 0.0, 1.0)
    alpha *= (255 - hole).astype(np.float32) * (1.0 / 255.0)  # never inside the mouth opening
    return alpha, (x0, y0)


def apply_lipstick(image_bgr: np.ndarray, landmarks_px: np.ndarray, topology: Topology,
                   style: LipstickStyle) -> None:
    """Paint one face's lips in place.

    Args:
        image_bgr: (H, W, 3) uint8 BGR, modified in place (only inside the lips' bounding box).
        landmarks_px: (478, 2|3) source pixels of this image (NaN lips: nothing is painted).
    """
    if style.opacity <= 0:
        return
    found = lip_mask(landmarks_px, topology, image_bgr.shape)
    if found is None:
        return
    alpha, (x0, y0) = found
    h, w = alpha.shape
    roi = image_bgr[y0:y0 + h, x0:x0 + w]
    lab = cv2.cvtColor(roi, cv2.COLOR_BGR2LAB)  # uint8: L, a, b on 0..255 scales
    lightness = np.ascontiguousarray(lab[..., 0])
    core = (alpha > 0.5).view(np.uint8)
    if not core.any():
        return
    lip_mean = cv2.mean(lightness, mask=core)[0]
    target = _target_lab(style.color_bgr)
    # Per lightness value: how much of the recolouring applies (highlights keep most of their own colour).
    levels = np.arange(256, dtype=np.float32)
    highlight = np.clip((levels - lip_mean - HIGHLIGHT_START) * (1.0 / HIGHLIGHT_RAMP), 0.0, 1.0)
    strength = ((1.0 - (1.0 - HIGHLIGHT_KEEP) * highlight) * style.opacity).astype(np.float32)
    change = strength[lightness] * alpha  # per pixel, 0..1
    lab[..., 0] = cv2.add(lightness, LIGHTNESS_SHIFT * (target[0] - lip_mean)).reshape(lightness.shape)
    lab[..., 1] = target[1]
    lab[..., 2] = target[2]
    painted = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
    roi[:] = cv2.blendLinear(roi, painted, 1.0 - change, change)


@functools.lru_cache(maxsize=16)
def _target_lab(color_bgr: tuple[int, int, int]) -> tuple[float, float, float]:
    return tuple(float(v) for v in cv2.cvtColor(np.uint8([[color_bgr]]), cv2.COLOR_BGR2LAB)[0, 0])
