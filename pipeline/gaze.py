"""Gaze per eye from the iris centre relative to an eyeball model, in the pose-normalised face frame.

Eyeball model (fitted once on MediaPipe's canonical face model, see ``EyeballModel.from_canonical``): a
sphere of radius 1.2 cm (the adult eyeball) fitted by least squares to the 16 eyelid-contour vertices of
each eye gives the depth of the eye's rotation centre; the centre sits straight behind the canonical iris
centre (the canonical model looks straight ahead), 1.0 cm behind it. The centre is stored relative to the
eye's two corners, so it follows each face's own eye position.

Per frame, in the canonical face frame (x towards the subject's left, y up, z out of the face): the iris
centre's x/y offset from the eyeball centre, divided by the centre-to-iris distance, is the sine of the
rotation. Only x/y are used: the model's iris depth is much noisier than its image-plane position.

Angles in degrees, relative to the head (yaw 0 = along the face's forward axis; pitch 0 = the resting
pitch of the shared clips' faces, RESTING_PITCH_DEG above the canonical iris), with the same signs as the
head pose: yaw > 0 = the eye turns towards the subject's own LEFT (the image's right for a frontal,
unmirrored face), pitch > 0 = up. NaN when that eye's iris landmarks are missing (iris submodel off).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EYEBALL_RADIUS_CM = 1.2  # adult eyeball (~24 mm diameter)
# The canonical model's iris sits lower in its eye than people's irises do when they look at the camera:
# over the shared clips and photos (open eyes), the median of the per-clip median eye pitch from the raw
# model is +8.4 deg (both eyes alike), so that is taken as the resting pitch (0 = the population's resting
# gaze, like every expression's rest).
RESTING_PITCH_DEG = 8.4
EYE_CONTOUR = {  # MediaPipe FACEMESH_*_EYE vertices, subject's own left / right
    "L": (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398),
    "R": (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173),
}
EYE_CORNERS = {"L": (263, 362), "R": (33, 133)}
IRIS_CENTRE = {"L": 473, "R": 468}


@dataclass(frozen=True, slots=True)
class EyeballModel:
    """Eyeball centres relative to the eye-corner midpoints, face frame (cm)."""
    centre_offset: np.ndarray  # (2, 3): rows (left eye, right eye), centre minus corner midpoint
    radius: float  # centre-to-iris-centre distance, cm

    @classmethod
    def from_canonical(cls, vertices_cm: np.ndarray) -> EyeballModel:
        """Fit on the canonical model (478, 3): sphere of EYEBALL_RADIUS_CM through each eyelid contour."""
        offsets, radii = [], []
        for side in "LR":
            contour = vertices_cm[list(EYE_CONTOUR[side])]
            iris = vertices_cm[IRIS_CENTRE[side]]
            centre = _fit_sphere_centre(contour, EYEBALL_RADIUS_CM, iris - [0.0, 0.0, EYEBALL_RADIUS_CM])
            centre = np.array([iris[0], iris[1], centre[2]])  # straight behind the resting iris
            mid = vertices_cm[list(EYE_CORNERS[side])].mean(axis=0)
            offsets.append(centre - mid)
            radii.append(iris[2] - centre[2])
        return cls(np.array(offsets), float(np.mean(radii)))


def _fit_sphere_centre(points: np.ndarray, radius: float, start: np.ndarray, steps: int = 30) -> np.ndarray:
    """Gauss-Newton: the centre minimising sum (|p - c| - radius)^2."""
    c = start.astype(np.float64)
    for _ in range(steps):
        diff = c - points
        dist = np.linalg.norm(diff, axis=1)
        step = np.linalg.lstsq(diff / dist[:, None], dist - radius, rcond=None)[0]
        c = c - step
        if np.abs(step).max() < 1e-9:
            break
    return c


class GazeEstimator:
    """(2, 2) gaze angles (left eye, right eye) x (yaw, pitch), degrees, from a pose-normalised face mesh."""

    def __init__(self, model: EyeballModel):
        self.model = model
        # rows: left eye, right eye; columns: outer corner, inner corner, iris centre
        self.landmarks = np.array([EYE_CORNERS["L"] + (IRIS_CENTRE["L"],), EYE_CORNERS["R"] + (IRIS_CENTRE["R"],)])
        self.centre_xy = model.centre_offset[:, :2].tolist()
        self._flat_ids = self.landmarks.ravel()

    def __call__(self, face_cm: np.ndarray) -> np.ndarray:
        """face_cm: (478, 3) in the canonical face frame. Returns (2, 2) float64; NaN rows for missing irises."""
        return np.array(self.angles(face_cm[self._flat_ids, :2].tolist()))

    def angles(self, eye_points_xy: list) -> list[tuple[float, float]]:
        """Per eye (left, right): (yaw, pitch) degrees from the x, y of each eye's outer corner, inner corner
        and iris centre (``landmarks`` flattened, as nested lists). Plain floats: six points and a few sines
        cost several times less than numpy's per-call overhead."""
        out = []
        for eye in (0, 1):
            (ox, oy), (ix, iy), (px, py) = eye_points_xy[3 * eye:3 * eye + 3]
            cx, cy = self.centre_xy[eye]
            sin_x = _clip((px - 0.5 * (ox + ix) - cx) / self.model.radius, 0.99)  # yaw-ish
            sin_y = _clip((py - 0.5 * (oy + iy) - cy) / self.model.radius, 0.99)  # pitch
            sin_x = sin_x / math.sqrt(1.0 - sin_y * sin_y)  # yaw is measured in the pitched plane
            out.append((math.degrees(math.asin(_clip(sin_x, 1.0))),
                        math.degrees(math.asin(sin_y)) - RESTING_PITCH_DEG))
        return out


def _clip(v: float, limit: float) -> float:
    """v clipped to +-limit; NaN stays NaN (min/max would not keep it)."""
    return v if -limit <= v <= limit or v != v else math.copysign(limit, v)


class EyeLook:
    """ARKit eyeLook{In,Out,Up,Down}{Left,Right} (8,) in [0, 1] from the gaze angles; NaN where gaze is NaN.

    Order: InLeft, InRight, OutLeft, OutRight, UpLeft, UpRight, DownLeft, DownRight. The left eye looks
    out (towards the subject's left) with yaw > 0, the right eye with yaw < 0. A coefficient is 1 at the
    given angle (degrees).
    """

    def __init__(self, horizontal_full_deg: float, up_full_deg: float, down_full_deg: float):
        h, u, d = horizontal_full_deg, up_full_deg, down_full_deg
        # (source index into (yaw L, pitch L, yaw R, pitch R), gain) per coefficient
        self._pairs = list(zip((0, 2, 0, 2, 1, 3, 1, 3), (-1 / h, 1 / h, 1 / h, -1 / h, 1 / u, 1 / u, -1 / d, -1 / d)))

    def __call__(self, gaze_flat: list[float]) -> list[float]:
        """The 8 coefficients from (yaw L, pitch L, yaw R, pitch R) as floats (NaN stays NaN)."""
        out = []
        for k, gain in self._pairs:
            v = gaze_flat[k] * gain
            out.append(v if 0.0 <= v <= 1.0 or v != v else (0.0 if v < 0.0 else 1.0))
        return out
