"""Zero-lag smoothing of whole face tracks for file processing (``--quality best``).

A live filter only sees the past, so it must trade noise against lag. Over a recorded track the smoother
can look both ways: a Rauch-Tung-Striebel pass (Kalman filter forward, then backward) over a
constant-velocity model gives each frame the best estimate from the whole track, with no delay.

Like the live filter it works at two levels:
1. pose: each frame's 2-D similarity (centroid x, y, log scale, in-plane angle) to a reference shape of the
   track. It is fitted over the 468 mesh points, so it is precise, but it carries real head and camera
   motion (including hand-held shake), which must pass;
2. shape: the landmarks with the pose taken out (x, y, z in reference-face units). On a still face this is
   pure noise around a constant; speech, blinks and head turns change it smoothly.

Each scalar series (4 pose series, 478 x 3 shape series) gets its own noise level and its own amount of
smoothing, both chosen by maximum likelihood on the track itself: for each candidate ratio of motion
to noise the Kalman innovations give the likelihood, the noise level is concentrated out, and the best
ratio is kept (pooled over x, y, z of a landmark). Nothing is tuned to particular faces: a noisier face
gets a higher noise estimate, a moving landmark a higher motion estimate.

Tracks restart where a face was re-detected, frames are missing, or the face jumps further in one frame
than a head can move (a scene cut the tracker followed). NaN landmarks (irises switched off) stay NaN.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import replace

import numpy as np

from pipeline.geometry import similarity_transform
from pipeline.types import FrameResult, frozen_array

NUM_MESH = 468
# Candidate ratios q / r (1/s^3): white-acceleration spectral density over measurement variance. The
# grid spans "a constant" to "passes everything" at 30 fps; steps of 10^0.5.
LOG10_RATIOS = np.arange(-3.0, 9.01, 0.5)
# A single frame step larger than this is not head motion: the track is split there (face sizes, radians).
CUT_SHIFT_FACES = 0.35
CUT_ZOOM = 0.25  # |log scale change|
CUT_ANGLE = math.radians(25)
CUT_SHAPE = 0.08  # mean shape change in face sizes (about 20 % of the eye distance)
MIN_DT_S = 1e-3
# The mesh's errors are strongly correlated across its points (a crop shift moves the whole mesh), so the
# pose fitted over 468 points is not sqrt(468) times steadier than one point: measured on the jitter rig's
# still faces, the pose noise (at the face's rim) is 0.4-0.7x one point's noise, not 0.05x. The pose noise
# is set from the shape noise with this factor rather than estimated from the pose series itself, which
# cannot tell camera shake (white, like noise) from noise.
POSE_NOISE_PER_POINT_NOISE = 0.6


# ---- the scalar RTS smoother, vectorised over series sharing the same timestamps -------------------
def _gain_tables(dt_s: np.ndarray, log10_ratios: np.ndarray):
    """Data-independent Kalman quantities for unit measurement variance, per candidate ratio.

    With every series sharing timestamps and a model, the covariance recursion does not depend on the
    data: it is computed once per ratio. Returns Kalman gains (G, F, 2), innovation variances (G, F),
    RTS gains (G, F, 2, 2) (entry t links t to t+1) and transitions (F, 2, 2) (entry t: t-1 to t)."""
    g, f = len(log10_ratios), len(dt_s) + 1
    lam = 10.0 ** log10_ratios
    gain = np.zeros((g, f, 2))
    innov = np.ones((g, f))
    rts_gain = np.zeros((g, f, 2, 2))
    trans = np.tile(np.eye(2), (f, 1, 1))
    trans[1:, 0, 1] = dt_s
    big = 1e6  # diffuse start: position and speed unknown
    cov = np.zeros((g, 2, 2))
    cov[:, 0, 0] = 1.0  # after the first update: position known to the measurement noise
    cov[:, 1, 1] = big
    gain[:, 0] = (1.0, 0.0)
    innov[:, 0] = big
    p_filt = np.zeros((g, f, 2, 2))
    p_pred = np.zeros((g, f, 2, 2))
    p_filt[:, 0] = p_pred[:, 0] = cov
    for t in range(1, f):
        d = dt_s[t - 1]
        q = lam[:, None, None] * np.array([[d ** 3 / 3, d ** 2 / 2], [d ** 2 / 2, d]])
        pp = trans[t] @ cov @ trans[t].T + q
        s = pp[:, 0, 0] + 1.0
        k = pp[:, :, 0] / s[:, None]
        cov = pp - k[:, :, None] * pp[:, None, 0, :]
        gain[:, t], innov[:, t], p_filt[:, t], p_pred[:, t] = k, s, cov, pp
    for t in range(f - 1):
        rts_gain[:, t] = p_filt[:, t] @ trans[t + 1].T @ np.linalg.inv(p_pred[:, t + 1])
    return gain, innov, rts_gain, trans


def _forward(y: np.ndarray, gain: np.ndarray, trans: np.ndarray):
    """Kalman filter of series y (F, N) with per-series gains gain (F, 2, N). Returns filtered states
    (F, 2, N) and innovations (F, N)."""
    f = y.shape[0]
    xs = np.empty((f, 2) + y.shape[1:])
    nu = np.empty_like(y)
    x = np.stack([y[0], np.zeros_like(y[0])])
    nu[0] = 0.0
    xs[0] = x
    for t in range(1, f):
        xp = np.stack([x[0] + trans[t, 0, 1] * x[1], x[1]])
        nu[t] = y[t] - xp[0]
        x = xp + gain[t] * nu[t]
        xs[t] = x
    return xs, nu


def _log_likelihoods(y: np.ndarray, gain: np.ndarray, innov: np.ndarray, trans: np.ndarray, noise_var=None):
    """(G, N) concentrated log-likelihood of each candidate ratio for each series of y (F, N): all
    candidates filtered side by side, only the innovation sums kept."""
    f = y.shape[0]
    shape = (gain.shape[0],) + y.shape[1:]
    x = np.stack([np.broadcast_to(y[0], shape), np.zeros(shape)])
    total = np.zeros(x.shape[1:])
    for t in range(1, f):
        pos = x[0] + trans[t, 0, 1] * x[1]
        nu = y[t] - pos
        if t >= 2:  # the first two innovations only pay for the diffuse start
            total += nu ** 2 / innov[:, t, None]
        x = np.stack([pos + gain[:, t, 0, None] * nu, x[1] + gain[:, t, 1, None] * nu])
    m = max(f - 2, 1)
    r_hat = total / m  # (G, N) ML noise variance for each candidate
    log_det = np.sum(np.log(innov[:, 2:]), axis=1)[:, None]
    if noise_var is not None:  # known noise: only the motion is estimated
        r = np.maximum(np.asarray(noise_var, np.float64), 1e-300)[None]
        return -0.5 * m * (r_hat / r + np.log(r)) - 0.5 * log_det, r_hat
    return -0.5 * m * np.log(np.maximum(r_hat, 1e-300)) - 0.5 * log_det, r_hat


def rts_smooth(y: np.ndarray, timestamps_ms: np.ndarray, pool: int = 1, noise_var: np.ndarray | None = None,
               return_noise: bool = False):
    """Zero-lag smoothing of finite series y (F, N) sampled at ``timestamps_ms`` (F,).

    Each group of ``pool`` consecutive series (e.g. x, y, z of one landmark) shares the smoothing ratio
    chosen by maximum likelihood; every series has its own noise level (estimated, or ``noise_var`` (N,)
    when given). F < 4 returns y unchanged. ``return_noise``: also the (N,) noise variances used."""
    y = np.asarray(y, np.float64)
    f, n = y.shape
    if f < 4:
        return (y.copy(), np.full(n, np.nan)) if return_noise else y.copy()
    dt_s = np.maximum(np.diff(np.asarray(timestamps_ms, np.float64)) / 1000.0, MIN_DT_S)
    gain, innov, rts_gain, trans = _gain_tables(dt_s, LOG10_RATIOS)
    ll, r_hat = _log_likelihoods(y, gain, innov, trans, noise_var)  # (G, N)
    best = np.argmax(ll.reshape(len(LOG10_RATIOS), n // pool, pool).sum(axis=2), axis=0)
    best = np.repeat(best, pool)  # (N,)
    xs, _ = _forward(y, gain[best].transpose(1, 2, 0), trans)
    rts_gains = rts_gain[best].transpose(1, 2, 3, 0)  # (F, 2, 2, N)
    out = np.empty_like(y)
    x_next = xs[-1]
    out[-1] = x_next[0]
    for t in range(f - 2, -1, -1):
        xp = np.stack([xs[t, 0] + trans[t + 1, 0, 1] * xs[t, 1], xs[t, 1]])
        diff = x_next - xp
        x_next = xs[t] + np.einsum("ijn,jn->in", rts_gains[t], diff)
        out[t] = x_next[0]
    if return_noise:
        return out, (noise_var if noise_var is not None else r_hat[best, np.arange(n)])
    return out


# ---- pose / shape split ------------------------------------------------------------------------
def _poses(mesh_xy: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(F, 4) similarity from ``reference`` (468, 2) to each frame: centroid x, y, log scale, angle."""
    out = np.empty((len(mesh_xy), 4))
    for i, pts in enumerate(mesh_xy):
        a, _, s = similarity_transform(reference, pts)
        c = pts.mean(axis=0)
        out[i] = c[0], c[1], math.log(max(s, 1e-9)), math.atan2(a[1, 0], a[0, 0])
    out[:, 3] = np.unwrap(out[:, 3])
    return out


def _to_shape(landmarks: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """Landmarks (F, cov, 3) -> pose-free shape (F, cov, 3): centred, unrotated, unscaled (z scaled too)."""
    s = np.exp(-poses[:, 2])
    c, sn = np.cos(-poses[:, 3]), np.sin(-poses[:, 3])
    x = landmarks[..., 0] - poses[:, None, 0]
    y = landmarks[..., 1] - poses[:, None, 1]
    out = np.empty_like(landmarks)
    out[..., 0] = (c[:, None] * x - sn[:, None] * y) * s[:, None]
    out[..., 1] = (sn[:, None] * x + c[:, None] * y) * s[:, None]
    out[..., 2] = landmarks[..., 2] * s[:, None]
    return out


def _from_shape(shape: np.ndarray, poses: np.ndarray) -> np.ndarray:
    s = np.exp(poses[:, 2])
    c, sn = np.cos(poses[:, 3]), np.sin(poses[:, 3])
    out = np.empty_like(shape)
    out[..., 0] = (c[:, None] * shape[..., 0] - sn[:, None] * shape[..., 1]) * s[:, None] + poses[:, None, 0]
    out[..., 1] = (sn[:, None] * shape[..., 0] + c[:, None] * shape[..., 1]) * s[:, None] + poses[:, None, 1]
    out[..., 2] = shape[..., 2] * s[:, None]
    return out


def _reference(mesh_xy: np.ndarray) -> np.ndarray:
    """A track's reference shape: the middle frame, centred (any frame works: it only fixes units)."""
    ref = mesh_xy[len(mesh_xy) // 2]
    return ref - ref.mean(axis=0)


def cut_points(landmarks_px: np.ndarray) -> list[int]:
    """Frame indices i where frame i cannot follow frame i-1 by head motion (scene cuts)."""
    mesh_xy = landmarks_px[:, :NUM_MESH, :2].astype(np.float64)
    if len(mesh_xy) < 2:
        return []
    poses = _poses(mesh_xy, _reference(mesh_xy))
    size = np.exp(poses[:, 2]) * np.ptp(_reference(mesh_xy), axis=0).mean()
    step = np.diff(poses, axis=0)
    shift = np.hypot(step[:, 0], step[:, 1]) / size[:-1]
    shape = _to_shape(landmarks_px[:, :NUM_MESH].astype(np.float64), poses)[..., :2]
    shape_step = np.linalg.norm(np.diff(shape, axis=0), axis=2).mean(axis=1) / np.ptp(shape[0], axis=0).mean()
    jump = (shift > CUT_SHIFT_FACES) | (np.abs(step[:, 2]) > CUT_ZOOM) | (np.abs(step[:, 3]) > CUT_ANGLE)
    jump |= shape_step > CUT_SHAPE
    return [int(i) + 1 for i in np.flatnonzero(jump)]


def _smooth_segment(landmarks: np.ndarray, timestamps_ms: np.ndarray) -> np.ndarray:
    """One unbroken track segment (F, 478, 3) float64 with a finite mesh in every frame."""
    mesh_xy = landmarks[:, :NUM_MESH, :2]
    poses = _poses(mesh_xy, _reference(mesh_xy))
    shape = _to_shape(landmarks, poses)
    out_shape = np.full_like(shape, np.nan)
    finite = np.isfinite(shape).all(axis=2)  # (F, P)
    always = finite.all(axis=0)
    cols = np.flatnonzero(always)
    flat = shape[:, cols].reshape(len(shape), -1)
    smooth_flat, shape_var = rts_smooth(flat, timestamps_ms, pool=3, return_noise=True)
    out_shape[:, cols] = smooth_flat.reshape(len(shape), len(cols), 3)
    # pose noise from the x, y noise of the mesh points (shape units ~ pixels at the middle frame)
    point_var = float(np.nanmean(shape_var.reshape(len(cols), 3)[cols < NUM_MESH, :2]))
    rim = float(np.sqrt(np.mean(np.sum(_reference(mesh_xy) ** 2, axis=1))))
    sigma = POSE_NOISE_PER_POINT_NOISE * math.sqrt(max(point_var, 1e-12))
    pose_var = np.array([sigma ** 2, sigma ** 2, (sigma / rim) ** 2, (sigma / rim) ** 2])
    pose_var[:2] *= math.exp(2 * float(np.median(poses[:, 2])))  # shifts are in frame pixels
    smooth_poses = rts_smooth(poses, timestamps_ms, noise_var=pose_var)
    partial = np.flatnonzero(finite.any(axis=0) & ~always)  # e.g. irises switched on mid-track
    for mask in {finite[:, p].tobytes() for p in partial}:
        rows = np.frombuffer(mask, dtype=bool)
        same = [p for p in partial if finite[:, p].tobytes() == mask]
        for lo, hi in _runs(rows):
            part = shape[lo:hi][:, same].reshape(hi - lo, -1)
            out_shape[lo:hi, same] = rts_smooth(part, timestamps_ms[lo:hi], pool=3).reshape(hi - lo, len(same), 3)
    return _from_shape(out_shape, smooth_poses)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[lo, hi) ranges where mask is True."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def smooth_track(landmarks_px: np.ndarray, timestamps_ms: np.ndarray, split_cuts: bool = True) -> np.ndarray:
    """Zero-lag smoothing of one face's track.

    Args:
        landmarks_px: (F, 478, 3) landmarks in source pixels, frame after frame of one face. Frames whose
            468 mesh points are not all finite are returned as they are and break the track.
        timestamps_ms: (F,) increasing timestamps.
        split_cuts: also restart where the face jumps further than a head moves in one frame.
    Returns:
        (F, 478, 3) float32.
    """
    lm = np.asarray(landmarks_px, np.float64)
    ts = np.asarray(timestamps_ms, np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (478, 3) or ts.shape != (len(lm),):
        raise ValueError(f"expected (F, 478, 3) landmarks and (F,) timestamps, got {lm.shape} and {ts.shape}")
    out = lm.copy()
    good = np.isfinite(lm[:, :NUM_MESH]).all(axis=(1, 2))
    for lo, hi in _runs(good):
        bounds = [lo] + ([lo + c for c in cut_points(lm[lo:hi])] if split_cuts else []) + [hi]
        for a, b in zip(bounds[:-1], bounds[1:]):
            out[a:b] = _smooth_segment(lm[a:b], ts[a:b])
    return out.astype(np.float32)


def smooth_results(results: list[FrameResult], split_cuts: bool = True) -> list[FrameResult]:
    """Smooth every face track of a processed file; returns new FrameResults (same order and faces) whose
    ``landmarks_px`` are smoothed over each whole track; ``raw_landmarks_px`` are kept as they were.

    A track is one face_id over consecutive results; it restarts where the face was (re-)detected
    (``from_detector``), where a frame lacks it, and at scene cuts (see ``smooth_track``). Signals are
    left as computed from the live landmarks (recompute them from the smoothed ones if needed)."""
    tracks: dict[int, list[list[tuple[int, int]]]] = {}  # face_id -> segments of (result index, face index)
    last_seen: dict[int, int] = {}
    for i, result in enumerate(results):
        for j, face in enumerate(result.faces):
            segments = tracks.setdefault(face.face_id, [])
            if face.from_detector or last_seen.get(face.face_id) != i - 1 or not segments:
                segments.append([])
            segments[-1].append((i, j))
            last_seen[face.face_id] = i
    smoothed: dict[tuple[int, int], np.ndarray] = {}
    for segments in tracks.values():
        for seg in segments:
            raw = np.stack([results[i].faces[j].raw_landmarks_px for i, j in seg])
            ts = np.array([results[i].timestamp_ms for i, _ in seg], np.float64)
            for key, lm in zip(seg, smooth_track(raw, _increasing(ts), split_cuts)):
                smoothed[key] = lm
    out = []
    for i, result in enumerate(results):
        faces = tuple(replace(face, landmarks_px=frozen_array(smoothed[(i, j)]))
                      for j, face in enumerate(result.faces))
        out.append(replace(result, faces=faces))
    return out


def _increasing(ts: np.ndarray) -> np.ndarray:
    """Timestamps made strictly increasing (repeated stamps get 1 ms apart; the smoother needs dt > 0)."""
    out = ts.copy()
    for k in range(1, len(out)):
        out[k] = max(out[k], out[k - 1] + 1.0)
    return out


def smooth_stream(results: Iterable[FrameResult], chunk: int = 60, margin: int = 30,
                  split_cuts: bool = True) -> Iterator[FrameResult]:
    """``smooth_results`` over a stream with bounded memory: yields the same results in order, each
    smoothed with ``margin`` frames of context on either side (so output trails input by chunk + margin
    frames; at most chunk + 2 * margin results are held). With margin >= ~1 s the output differs from
    whole-track smoothing only on long still stretches, which get a shorter average."""
    if chunk < 1 or margin < 0:
        raise ValueError("chunk must be >= 1 and margin >= 0")
    history: list[FrameResult] = []  # already yielded, kept as context
    pending: list[FrameResult] = []
    for result in results:
        pending.append(result)
        if len(pending) >= chunk + margin:
            smoothed = smooth_results(history + pending, split_cuts)
            yield from smoothed[len(history):len(history) + chunk]
            history = (history + pending[:chunk])[-margin:] if margin else []
            pending = pending[chunk:]
    if pending:
        yield from smooth_results(history + pending, split_cuts)[len(history):]
