"""Head pose and the metric face mesh from 478 screen landmarks: MediaPipe's face-geometry pipeline.

The maths follows MediaPipe's ``face_geometry`` library (geometry_pipeline.cc, procrustes_solver.cc),
re-implemented in numpy: a virtual perspective camera (vertical FOV 63 deg, near 1, far 10000, principal
point at the frame centre, image origin top-left), a weighted orthogonal Procrustes fit of the canonical
face model to 33 weighted basis landmarks, and two passes of scale estimation to unproject the screen
landmarks to centimetres.

Spaces (all right-handed, centimetres):
- canonical face model: origin inside the head (7.6 cm straight behind the nose tip),
  x towards the subject's own LEFT, y up, z out of the face
  (towards a viewer the face looks at); from MediaPipe's canonical_face_model.obj.
- camera space: x to the image's right, y to the image's top, z towards the viewer; the camera sits at the
  origin and looks down -z, so a face in front of it has z < 0 (about -30..-100 cm at webcam distances).
- ``pose_matrix`` (4x4) maps canonical-model points to camera space: ``p_cam = s * R @ p_model + t``,
  s ~= 1 (the metric mesh is scaled to the canonical face's size).

Euler angles (degrees), defined by ``R = Rz(roll) @ Ry(yaw) @ Rx(-pitch)`` (right-handed rotations about
the camera axes, roll applied last):
- pitch > 0: the face looks up (chin up);
- yaw > 0: the nose turns towards the image's right, i.e. the subject turns to their own LEFT (in an
  unmirrored camera image; in a mirrored selfie preview it looks towards the preview's left);
- roll > 0: the head tilts counter-clockwise on screen (top of the head towards the image's left, the
  subject's own right shoulder). Rotating an image counter-clockwise by theta (cv2.getRotationMatrix2D
  with +theta) adds theta to roll.
A frontal face has (0, 0, 0). A horizontal flip negates yaw and roll and keeps pitch.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import InputError, MeshcamError

GEOMETRY_ENV = "MESHCAM_FACE_GEOMETRY"
METADATA_FILE = "geometry_pipeline_metadata_including_iris_landmarks.pbtxt"
NUM_MESH = 468
NUM_LANDMARKS = 478
_NO_ROWS = np.empty(0, np.int64)  # solve_rows' rows arguments for the whole-mesh entry points
_ALL_ROWS = np.arange(NUM_LANDMARKS)
# Nearest viewing distance whose perspective the face normalisation undoes (see HeadPoseSolver.normalise_rows):
# a webcam user sits at about arm's length.
MIN_VIEWING_DISTANCE_CM = 60.0


class GeometryDataError(MeshcamError):
    """The canonical face model (MediaPipe face-geometry data) cannot be found or read."""


@dataclass(frozen=True, slots=True)
class CanonicalFace:
    """MediaPipe's canonical face model and Procrustes basis."""
    vertices_cm: np.ndarray  # (478, 3) float64, canonical model space (see module doc), iris rows 468..477
    basis_ids: np.ndarray  # (33,) int64 landmark ids of the weighted Procrustes basis
    basis_weights: np.ndarray  # (33,) float64 (MediaPipe's; they sum to 1.055, the solver normalises)
    source: Path  # the metadata file it was read from


def geometry_dirs() -> list[Path]:
    """Where the face-geometry data is looked for, in order: $MESHCAM_FACE_GEOMETRY, the mediapipe wheel's
    modules/face_geometry/data (0.10.21 ships only the protos there, newer wheels may ship the data), then
    <repo>/../shared/data/face_geometry."""
    dirs = []
    if os.environ.get(GEOMETRY_ENV):
        dirs.append(Path(os.environ[GEOMETRY_ENV]))
    from models.errors import ModelSourceError
    from models.tflite_reader import mediapipe_root
    try:
        dirs.append(mediapipe_root() / "modules" / "face_geometry" / "data")
    except ModelSourceError:  # mediapipe missing: the other places may still have the data
        pass
    dirs.append(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "face_geometry")
    return dirs


def load_canonical_face(directory: str | Path | None = None) -> CanonicalFace:
    """Read the canonical mesh (with iris) and the Procrustes basis from MediaPipe's metadata pbtxt.

    Raises:
        GeometryDataError: no readable metadata file in ``directory`` or any of ``geometry_dirs()``.
    """
    candidates = [Path(directory)] if directory is not None else geometry_dirs()
    for d in candidates:
        path = d / METADATA_FILE
        if path.is_file():
            return _parse_metadata(path)
    raise GeometryDataError(
        f"MediaPipe face-geometry data ({METADATA_FILE}) not found in: {', '.join(map(str, candidates))}; "
        f"set {GEOMETRY_ENV} to the folder holding it")


def _parse_metadata(path: Path) -> CanonicalFace:
    text = path.read_text(encoding="utf-8")
    basis = re.findall(r"landmark_id:\s*(\d+)\s+weight:\s*([-+0-9.eE]+)", text)
    values = np.array(re.findall(r"vertex_buffer:\s*([-+0-9.eE]+)", text), np.float64)
    if not basis or values.size != NUM_LANDMARKS * 5:  # VERTEX_PT: x, y, z, u, v per vertex
        raise GeometryDataError(f"{path} is not MediaPipe's 478-landmark geometry metadata "
                                f"({len(basis)} basis landmarks, {values.size} vertex values)")
    ids = np.array([int(i) for i, _ in basis], np.int64)
    weights = np.array([float(w) for _, w in basis], np.float64)
    return CanonicalFace(values.reshape(NUM_LANDMARKS, 5)[:, :3].copy(), ids, weights, path)


@dataclass(frozen=True, slots=True)
class PerspectiveCamera:
    """MediaPipe's virtual camera for the geometry pipeline (env_generator_calculator defaults)."""
    vertical_fov_deg: float = 63.0
    near: float = 1.0
    far: float = 10000.0

    def frustum(self, frame_size: tuple[int, int]) -> tuple[float, float]:
        """(width, height) of the near plane for a frame of ``frame_size`` = (width, height) pixels."""
        w, h = frame_size
        height = 2.0 * self.near * math.tan(0.5 * math.radians(self.vertical_fov_deg))
        return w * height / h, height


class WeightedProcrustes:
    """Weighted similarity fit of fixed source points to per-call targets (MediaPipe's WEOP solver: the
    same optimum, in the closed form of Umeyama / Akca 2003 sec. 2.4). Source-side terms are precomputed."""

    def __init__(self, source: np.ndarray, weights: np.ndarray):
        self.w = weights / weights.sum()  # (N,)
        self.src_mean = self.w @ source  # (3,)
        src_c = source - self.src_mean
        # Weighted, centred source (N, 3). Because sum_i w_i (s_i - mean) = 0, the cross-covariance
        # sum_i w_i (t_i - t_mean)(s_i - s_mean)^T needs no centring of the target: it is target^T @ this.
        self.src_wc = src_c * self.w[:, None]
        self.src_var = float((self.src_wc * src_c).sum())

    def rotation(self, target: np.ndarray) -> tuple[np.ndarray, float]:
        """(R (3, 3) with det +1, s): the rotation and scale of the fit (translation left out)."""
        cov = target.T @ self.src_wc
        polar = _polar_rotation(cov.ravel().tolist())
        if polar is not None:
            return np.array(polar[0]).reshape(3, 3), polar[1] / self.src_var
        u, sv, vt = np.linalg.svd(cov)  # a reflection, or too ill-conditioned for the closed form
        total = float(sv[0] + sv[1] + sv[2])
        if np.linalg.det(cov) < 0:  # no reflections: flip the weakest axis
            u[:, 2] = -u[:, 2]
            total -= 2.0 * float(sv[2])
        return u @ vt, total / self.src_var

    def fit(self, target: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """(R (3,3), s, t (3,)) minimising sum_i w_i |s R src_i + t - target_i|^2 with det(R) = +1."""
        rot, s = self.rotation(target)
        return rot, s, self.w @ target - s * rot @ self.src_mean


def _polar_rotation(c: list[float]) -> tuple[tuple[float, ...], float] | None:
    """The rotation of the SVD fit, R = U V^T, of a 3x3 matrix C (9 floats, row-major) with det C > 0, and the
    sum of its singular values; None when det C <= 0 or C is ill-conditioned (the caller then uses the SVD).

    R = C (C^T C)^-1/2. The eigenvalues of M = C^T C come in closed form (Smith 1961), the smallest singular
    value from det C (accurate where the formula's smallest eigenvalue cancels), and M^-1/2 is the Newton
    interpolation polynomial of x^-1/2 at the eigenvalues, whose divided differences have closed forms without
    cancellation, so equal or close singular values need no special case. Plain floats: 6 us against ~30
    for numpy's SVD wrapper on a 3x3 (errors ~1e-12 for the fits' conditioning, checked against the SVD in
    tests/test_signals.py)."""
    a, b, c3, d, e, f, g, h, i = c
    det = a * (e * i - f * h) + b * (f * g - d * i) + c3 * (d * h - e * g)
    if not det > 0.0:
        return None
    m00, m11, m22 = a * a + d * d + g * g, b * b + e * e + h * h, c3 * c3 + f * f + i * i
    m01, m02, m12 = a * b + d * e + g * h, a * c3 + d * f + g * i, b * c3 + e * f + h * i
    q = (m00 + m11 + m22) / 3.0
    d0, d1, d2 = m00 - q, m11 - q, m22 - q
    p = math.sqrt((d0 * d0 + d1 * d1 + d2 * d2 + 2.0 * (m01 * m01 + m02 * m02 + m12 * m12)) / 6.0)
    if not p > 1e-12 * q:
        return None  # C is a scaled rotation: M ~ q I
    b00, b11, b22, b01, b02, b12 = d0 / p, d1 / p, d2 / p, m01 / p, m02 / p, m12 / p
    r = 0.5 * (b00 * (b11 * b22 - b12 * b12) - b01 * (b01 * b22 - b12 * b02) + b02 * (b01 * b12 - b11 * b02))
    phi = math.acos(max(-1.0, min(1.0, r))) / 3.0
    l1 = q + 2.0 * p * math.cos(phi)  # largest eigenvalue
    l2 = 3.0 * q - l1 - (q + 2.0 * p * math.cos(phi + 2.0 * math.pi / 3.0))  # middle one
    s1 = math.sqrt(l1)
    s2 = math.sqrt(max(l2, 0.0))
    s3 = det / (s1 * s2) if s2 > 0.0 else 0.0
    if not s3 > 1e-2 * s1:  # errors grow as (s1 / s3)^2
        return None
    l2 = s2 * s2
    f12 = -1.0 / (s1 * s2 * (s1 + s2))
    f123 = (s1 + s2 + s3) / (s1 * s2 * s3 * (s1 + s2) * (s2 + s3) * (s1 + s3))
    a00, a11, a22 = m00 - l1, m11 - l1, m22 - l1  # M - l1 I
    c00, c11, c22 = m00 - l2, m11 - l2, m22 - l2  # M - l2 I
    p00 = a00 * c00 + m01 * m01 + m02 * m02
    p11 = m01 * m01 + a11 * c11 + m12 * m12
    p22 = m02 * m02 + m12 * m12 + a22 * c22
    p01 = a00 * m01 + m01 * c11 + m02 * m12
    p02 = a00 * m02 + m01 * m12 + m02 * c22
    p12 = m01 * m02 + a11 * m12 + m12 * c22
    inv1 = 1.0 / s1
    n00, n11, n22 = inv1 + f12 * a00 + f123 * p00, inv1 + f12 * a11 + f123 * p11, inv1 + f12 * a22 + f123 * p22
    n01, n02, n12 = f12 * m01 + f123 * p01, f12 * m02 + f123 * p02, f12 * m12 + f123 * p12
    rot = (a * n00 + b * n01 + c3 * n02, a * n01 + b * n11 + c3 * n12, a * n02 + b * n12 + c3 * n22,
           d * n00 + e * n01 + f * n02, d * n01 + e * n11 + f * n12, d * n02 + e * n12 + f * n22,
           g * n00 + h * n01 + i * n02, g * n01 + h * n11 + i * n12, g * n02 + h * n12 + i * n22)
    return rot, s1 + s2 + s3


class HeadPoseSolver:
    """Screen landmarks (px) -> pose matrix and metric mesh (cm), as MediaPipe's geometry pipeline.

    Robust to missing submodels: only the 33 basis landmarks (all in the base mesh) drive the fit, and the
    depth offset is the mean over the 468 mesh points, so switching irises off does not move the pose.
    """

    def __init__(self, canonical: CanonicalFace | None = None, camera: PerspectiveCamera = PerspectiveCamera()):
        self.canonical = canonical or load_canonical_face()
        self.camera = camera
        self.basis_ids = self.canonical.basis_ids
        self.solver = WeightedProcrustes(self.canonical.vertices_cm[self.basis_ids], self.canonical.basis_weights)
        self._frustum_cache: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None
        self._row_ids_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _screen_transform(self, frame_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Per-axis scale and offset taking (x_px, y_px, z_px) to near-plane units (y up)."""
        if self._frustum_cache is None or self._frustum_cache[0] != frame_size:
            w, h = frame_size
            fw, fh = self.camera.frustum(frame_size)
            # MediaPipe's normalised coordinates span pixel edges: x_norm = (x_px + 0.5) / W; z shares x's scale.
            scale = np.array([fw / w, -fh / h, fw / w])
            offset = np.array([0.5 * fw / w - 0.5 * fw, 0.5 * fh - 0.5 * fh / h, 0.0])
            self._frustum_cache = (frame_size, scale, offset)
        return self._frustum_cache[1], self._frustum_cache[2]

    def __call__(self, landmarks_px: np.ndarray, frame_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Pose and metric landmarks of one face.

        Args:
            landmarks_px: (478, 3) source pixels (z in x's pixel units); iris rows may be NaN.
            frame_size: (width, height) of the source frame in pixels.
        Returns:
            pose_matrix (4, 4) float64 canonical model -> camera space, and metric landmarks (478, 3) float64
            in camera space, cm (NaN where the input is NaN).
        Raises:
            InputError: a mesh landmark is not finite, or the face has no extent.
        """
        rot, s, t, metric = self.solve(landmarks_px, frame_size)
        pose = np.eye(4)
        pose[:3, :3] = s * rot
        pose[:3, 3] = t
        return pose, metric

    def solve(self, landmarks_px: np.ndarray, frame_size: tuple[int, int]
              ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        """(R (3, 3), s, t (3,), metric (478, 3)) with p_cam = s R p_model + t; see ``__call__``.

        MediaPipe estimates the screen-to-metric scale in two passes (the projected basis, then the basis
        unprojected with that scale) and fits the pose to the mesh unprojected with the product. With
        relative depth, unprojecting with a total scale S is a fixed map of the screen points divided by
        S (depth = (z - offset + near) / S, x and y times depth / near), so the second pass's scale times the
        first is the scale of that map's output at S = 1, whatever the first pass gave; and the final fit's
        scale is exactly 1 (the metric mesh is made canonical-sized). So one fit, at S = 1, gives all three.
        """
        rot, t, _, unprojection = self.solve_rows(landmarks_px, frame_size, _NO_ROWS)
        return rot, 1.0, t, self.metric_mesh(landmarks_px, unprojection)

    def solve_rows(self, landmarks_px: np.ndarray, frame_size: tuple[int, int], rows: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
        """``solve`` for only some landmarks (the per-frame path): (R, t, metric of the 33 basis landmarks then
        ``rows`` ((33 + len(rows), 3) cm), and the unprojection's parameters, which ``metric_mesh`` turns into
        the whole metric mesh when someone asks for it). s is 1. Same errors as ``solve``."""
        scale, offset = self._screen_transform(frame_size)
        near = self.camera.near
        # the depth offset is the mean mesh depth in near-plane units (z has no offset)
        depth_offset = float(np.add.reduce(landmarks_px[:NUM_MESH, 2], dtype=np.float64)) * (scale[2] / NUM_MESH)
        if not math.isfinite(depth_offset):
            raise InputError("face landmarks are not finite; cannot estimate the head pose")
        unit = np.multiply(landmarks_px[self._row_ids(rows)], scale, dtype=np.float64)
        unit += offset
        _unproject_in_place(unit, depth_offset, near)  # at total scale 1
        n_basis = len(self.basis_ids)
        rot, total_scale = self.solver.rotation(unit[:n_basis])
        if not total_scale > 1e-12:
            raise InputError("face landmarks have no extent; cannot estimate the head pose")
        unit *= 1.0 / total_scale
        t = self.solver.w @ unit[:n_basis]
        t -= rot @ self.solver.src_mean
        return rot, t, unit, (scale, offset, depth_offset, total_scale, near)

    def _row_ids(self, rows: np.ndarray) -> np.ndarray:
        """The basis ids followed by ``rows``, cached per ``rows`` array (callers pass a few fixed ones)."""
        cached = self._row_ids_cache.get(id(rows))
        if cached is None or cached[0] is not rows:
            cached = self._row_ids_cache[id(rows)] = (rows, np.concatenate([self.basis_ids, rows]))
        return cached[1]

    @staticmethod
    def metric_mesh(landmarks_px: np.ndarray, unprojection: tuple) -> np.ndarray:
        """(478, 3) cm camera space from ``solve_rows``'s unprojection parameters."""
        scale, offset, depth_offset, total_scale, near = unprojection
        screen = np.multiply(landmarks_px, scale, dtype=np.float64)
        screen += offset
        _unproject_in_place(screen, depth_offset, near, total_scale)
        return screen

    def normalised_face(self, landmarks_px: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
        """(478, 3) the face in the canonical face frame (cm; head rotation, position and size removed), for
        expressions and gaze. See ``normalise_rows``."""
        rot, t, metric_rows, _ = self.solve_rows(landmarks_px, frame_size, _ALL_ROWS)
        return self.normalise_rows(metric_rows, rot, t)

    def normalise_rows(self, metric_rows: np.ndarray, rot: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``solve_rows``'s metric landmarks (basis first) mapped into the canonical face frame: the rows after
        the basis, (len(rows), 3) cm.

        Perspective is undone for a face at least MIN_VIEWING_DISTANCE_CM away. The virtual camera's 63-degree
        field of view is right for a webcam frame, but a cropped or zoomed frame (most video clips, the
        shared ones included) shows a face that fills it, which the virtual camera places at ~30 cm, and
        undoing that much perspective stretches the far half of a turned face (its eye, brow and mouth lines
        tilt by 0.05-0.1 of the eye distance per 30 degrees of yaw on the shared clips). Nearer than that,
        each point's depth offset from the face's mean depth is scaled down before x and y are unprojected,
        which is exactly a camera with a narrower field of view seeing the same picture from that distance.
        """
        n_basis = len(self.basis_ids)
        s = 1.0
        pts = metric_rows
        mean_depth = -float(np.add.reduce(pts[:n_basis, 2])) / n_basis
        if mean_depth < MIN_VIEWING_DISTANCE_CM:
            pts = self._flatten(pts, mean_depth, mean_depth / MIN_VIEWING_DISTANCE_CM)
            rot, s = self.solver.rotation(pts[:n_basis])
            t = self.solver.w @ pts[:n_basis]
            t -= s * rot @ self.solver.src_mean
        mapped = pts[n_basis:] - t
        mapped = mapped @ rot
        mapped *= 1.0 / s
        return mapped

    @staticmethod
    def _flatten(points: np.ndarray, mean_depth: float, k: float) -> np.ndarray:
        """x, y re-unprojected with each depth offset from ``mean_depth`` scaled by ``k``: x, y times
        (mean + (depth - mean) k) / depth = k + mean (1 - k) / depth, with depth = -z."""
        factor = np.divide(mean_depth * (k - 1.0), points[:, 2])
        factor += k
        out = points.copy()
        out[:, :2] *= factor[:, None]
        return out


def _unproject_in_place(screen: np.ndarray, depth_offset: float, near: float, total_scale: float = 1.0) -> None:
    """Near-plane points with relative depth -> metric camera space, in place (MediaPipe's MoveAndRescaleZ,
    UnprojectXY and ChangeHandedness): depth = (z - offset + near) / scale, x and y scaled by depth / near,
    z negated."""
    depth = screen[:, 2] - (depth_offset - near)
    if total_scale != 1.0:
        depth *= 1.0 / total_scale
    screen[:, :2] *= (depth if near == 1.0 else depth * (1.0 / near))[:, None]
    np.negative(depth, out=screen[:, 2])


def project_to_pixels(points_cam: np.ndarray, frame_size: tuple[int, int],
                      camera: PerspectiveCamera = PerspectiveCamera()) -> np.ndarray:
    """Camera-space points (N, 3) cm -> (N, 2) source pixels (the inverse of the solver's unprojection)."""
    w, h = frame_size
    fw, fh = camera.frustum(frame_size)
    depth = -points_cam[:, 2]
    x_near = points_cam[:, 0] * camera.near / depth
    y_near = points_cam[:, 1] * camera.near / depth
    return np.stack([(x_near / fw + 0.5) * w - 0.5, (0.5 - y_near / fh) * h - 0.5], axis=1)


def rotation_of(pose_matrix: np.ndarray) -> np.ndarray:
    """The pure rotation (3, 3) of a pose matrix (its scale divided out)."""
    m = pose_matrix[:3, :3]
    return m / np.cbrt(np.linalg.det(m))


def rotation_to_euler_deg(rot: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) degrees of ``rot = Rz(roll) @ Ry(yaw) @ Rx(-pitch)`` (module doc for the signs)."""
    (r00, _, _), (r10, _, _), (r20, r21, r22) = rot.tolist()
    yaw = math.atan2(-r20, math.hypot(r00, r10))
    return np.array([math.degrees(-math.atan2(r21, r22)), math.degrees(yaw), math.degrees(math.atan2(r10, r00))])


def euler_deg_to_rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """The rotation with these angles (inverse of rotation_to_euler_deg)."""
    return _rz(math.radians(roll)) @ _ry(math.radians(yaw)) @ _rx(-math.radians(pitch))


def aflw2000_angles_deg(rot: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) degrees in the AFLW2000-3D / 300W-LP (3DDFA) convention, for comparison with their
    Pose_Para. 3DDFA places the model with ``v_cam = s R v + t`` in a camera frame with x right, y up, z towards
    the viewer (image y = height - y afterwards), the same axes as ours, and ``R = Rx(phi)^T Ry(gamma)^T
    Rz(theta)^T = Rx(-pitch) Ry(-yaw) Rz(-roll)``: positive pitch looks up, positive yaw turns the nose towards
    the image's LEFT and positive roll tilts clockwise on screen, and roll is applied first (about the face's
    own axis). Decomposing our R in that X-Y-Z order gives the three angles; no fitted offset."""
    b = math.asin(max(-1.0, min(1.0, rot[0, 2])))
    a = math.atan2(-rot[1, 2], rot[2, 2])
    c = math.atan2(-rot[0, 1], rot[0, 0])
    return np.degrees([-a, -b, -c])


def _rx(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def landmarks_from_metric(points_cam: np.ndarray, frame_size: tuple[int, int],
                          camera: PerspectiveCamera = PerspectiveCamera()) -> np.ndarray:
    """Camera-space points (N, 3) cm -> (N, 3) landmarks in source pixels that the solver maps back to the same
    points (x, y projected; z = depth relative to the mean mesh depth, in x's pixel units). For synthetic
    tests (a metric mesh turned in 3-D and shown to the solver again) and for drawing."""
    w, _ = frame_size
    fw, _ = camera.frustum(frame_size)
    xy = project_to_pixels(points_cam, frame_size, camera)
    depth = -points_cam[:, 2]
    mean_depth = float(np.nanmean(depth[:NUM_MESH]))
    # Solver: depth = (z_near - mean(z_near) + near) / S with S = near / mean depth => z_near = (depth - mean) * S.
    z_near = (depth - mean_depth) * (camera.near / mean_depth)
    return np.column_stack([xy, z_near * w / fw])
