"""Live landmark smoothing that adapts to each face's own noise.

A fixed One Euro filter behaves differently on different faces: its cutoff opens with speed, and a
noisier face's noise alone looks like speed, so the noisier the face the less it is smoothed. Here every
speed is measured in units of the face's own landmark noise, estimated online, so "moving" means "moving
more than this face's noise" and a still face is smoothed by the same factor whatever its noise level.

Two levels:
1. pose: the least-squares similarity (shift, rotation, zoom) from the previous output to the new mesh,
   fitted over the 468 mesh points. A step that the pose noise explains is mostly held back; a step many
   times the pose noise (a moving head, a shaking camera) passes whole, at once, so following motion
   never lags and never adds error to the raw landmarks. How much is held back is the probability that
   the step is noise (Bayes' rule over "noise alone" and "moving"), with a prior carried from the previous
   step's posterior through a two-state (still / moving) Markov chain that switches about once a second:
   a face that has been still holds even a few-sigma step back (it is most likely noise), a shaking or
   moving face passes even a small one (it is most likely motion). A fixed gate has to trade the two: wide
   enough for faces whose pose noise is above the assumed share of the per-point noise, it holds back the
   small steps of a shaking camera;
2. residual: what the pose does not explain (noise, speech, blinks), per landmark and coordinate, through
   a One Euro filter whose speed is in noise units (the speed is normalised by the landmark's noise). The
   points of each refinement head (lips, each eye, each iris: the model predicts them from their own crop)
   share a part of it while the face moves, the head following the motion more closely than the mesh
   whose pose is fitted; that part, the group's mean residual, passes at once by the probability that the
   step is motion (so a shaking camera's irises are not made worse than raw), and stays with the filter
   while the face is still.

Noise is estimated from second differences of the pose-free residual (white noise of variance s^2 gives
second differences of variance 6 s^2, smooth motion almost none), a running mean over ~1 s whose updates
are clipped at a few times the current estimate, so bursts of real motion barely raise it. NaN inputs
(irises switched off) pass through and restart their filters.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pipeline.geometry import similarity_transform

NOISE_FRAMES = 30  # time constant of the noise estimates, frames (~1 s at 30 fps)
NOISE_CLIP = 4.0  # one frame can raise a noise estimate to at most this many times itself (x the 1/30 weight)
POSE_PASS_SIGMAS = 3.0  # the pose noise likelihood is exp(-z^2 / this^2) at a step of z noise sigmas
# The mesh's errors are strongly correlated across points (a crop shift moves the whole mesh): measured on
# the jitter rig's still faces, pose noise at the face's rim is 0.4-0.7x one point's noise, not
# 1/sqrt(468) (up to 1.2x on a face cut by the picture's border). The pose noise is derived from the per-point
# noise with this factor, not estimated from the pose itself, which cannot tell a shaking camera (white, like
# noise) from noise; faces above the factor are held back by the gate's motion prior instead (below), which
# is low on a still face, where a step a few of the assumed sigmas long is then still most likely noise.
POSE_NOISE_PER_POINT_NOISE = 0.6
# The gate's prior (see the module docstring): the probability that the face is moving, the forward pass of
# a two-state (still / moving) Markov chain: each step's posterior, carried to the next step through a switch
# between the states once per MOVE_SWITCH_S on average (probability dt / MOVE_SWITCH_S per step), so evidence
# accumulates (a run of noise-sized steps makes "still" near certain within a few frames) and neither state
# is ever ruled out (the prior stays within [dt / MOVE_SWITCH_S, 1 - dt / MOVE_SWITCH_S]); 0.5 (no
# knowledge) at a (re)start. The noise
# likelihood is exp(-z^2 / POSE_PASS_SIGMAS^2), the motion likelihood flat at exp(-1): with an even prior
# the gate is half open at POSE_PASS_SIGMAS, as a fixed exp(-z^2 / POSE_PASS_SIGMAS^2) gate was at exp(-1).
MOVE_SWITCH_S = 1.0
MOTION_LIKELIHOOD = math.exp(-1.0)
# Start-up: the residual's first frames are averaged with weights rising linearly with recency (alpha
# START_WEIGHT / (n + START_WEIGHT - 1); 1 would be the plain mean), see OneEuroLandmarks.__call__.
START_WEIGHT = 2.0
_EPS = 1e-12
MESH_POINTS = 468  # the face mesh proper; the 10 iris points after it are not part of the pose
# Defaults for PipelineConfig (speeds in noise sigmas, so they hold for any face): on a still face the
# filtered speed is ~0.25 sigma, so the residual cutoff sits near 0.5 + 1.5 * 0.25 ~ 0.9 Hz (noise x ~0.3 at
# 30 fps); sustained motion of 3 sigma per frame opens it past 5 Hz (lag under 1 frame).
DEFAULT_MIN_CUTOFF, DEFAULT_BETA, DEFAULT_D_CUTOFF = 0.5, 1.5, 1.0


def _alpha(cutoff, freq: float):
    return 1.0 / (1.0 + freq / (2.0 * math.pi * cutoff))


class _NoiseEstimate:
    """Running variance of white measurement noise from second differences of a residual series."""

    def __init__(self):
        self.var = None  # per-series noise variance estimate
        self.count = 0
        self._prev_step = None

    def update(self, step: np.ndarray) -> None:
        """``step``: this frame's motion-compensated difference (value minus previous value), never +-inf (NaN
        where restarting); kept, not copied."""
        if self._prev_step is None or self._prev_step.shape != step.shape:
            self._prev_step = step
            if self.var is None or self.var.shape != step.shape:
                self.var = np.where(np.isfinite(step), step ** 2 / 2.0, np.nan)  # first guess: one difference
                self.count = 1
            return
        sample = np.subtract(step, self._prev_step)
        np.square(sample, out=sample)
        sample /= 6.0
        self._prev_step = step
        self.count += 1
        weight = max(1.0 / self.count, 1.0 / NOISE_FRAMES)
        var = self.var
        # var + weight * (min(sample, clip * var) - var), or the sample alone where there is no estimate yet
        new = np.multiply(var, NOISE_CLIP)
        np.minimum(sample, new, out=new)
        new -= var
        new *= weight
        new += var
        if not var.min() > _EPS:  # some estimate NaN or ~0 (steps are never infinite, so neither is var)
            np.copyto(new, sample, where=~(var > _EPS))
        self.var = new


def _fit_from_sums(g: list, i: int, j: int):
    """The similarity fit of columns i, i+1 onto j, j+1 of the mesh points from ``g``, the Gram matrix of their
    columns with a ones column last: (zoom, centre, shift, angle), or None when the source points (nearly)
    coincide. The complex form of geometry.similarity_transform, from the uncentred sums."""
    n = g[-1][-1]
    sx, sy, dx, dy = g[i][-1] / n, g[i + 1][-1] / n, g[j][-1] / n, g[j + 1][-1] / n
    power = g[i][i] + g[i + 1][i + 1] - n * (sx * sx + sy * sy)
    if not power > 1e-9 * (g[i][i] + g[i + 1][i + 1]):
        return None  # degenerate (or lost to rounding): the masked path decides
    # sum(conj(zs) * zd) / sum(|zs|^2) over the centred points
    re = (g[i][j] - n * sx * dx) + (g[i + 1][j + 1] - n * sy * dy)
    im = (g[i][j + 1] - n * sx * dy) - (g[i + 1][j] - n * sy * dx)
    re, im = re / power, im / power
    return math.hypot(re, im), (sx, sy), (dx - sx, dy - sy), math.atan2(im, re)


def _affine_rows(dims: int, centre, angle: float, zoom: float, shift, sign: float = 1.0) -> list:
    """Rows of the ((D + 1) x D) matrix taking points with a ones column to ``sign`` times the points moved by
    the similarity about ``centre`` (z scales with the face); the last row is the offset."""
    c, s = sign * zoom * math.cos(angle), sign * zoom * math.sin(angle)
    rows = [[0.0] * dims for _ in range(dims + 1)]
    rows[0][0], rows[0][1], rows[1][0], rows[1][1] = c, s, -s, c
    for k in range(2, dims):
        rows[k][k] = sign * zoom
    rows[dims][0] = sign * (centre[0] + shift[0]) - (c * centre[0] - s * centre[1])
    rows[dims][1] = sign * (centre[1] + shift[1]) - (s * centre[0] + c * centre[1])
    return rows


class OneEuroLandmarks:
    """Smooths a stream of (N, D) landmark arrays for one face.

    Args:
        min_cutoff: residual cutoff (Hz) of a landmark that is not moving beyond its noise; the pose
            filter holds still-face pose noise back with the same cutoff.
        beta: how fast (Hz per noise sigma of filtered speed) the residual cutoff opens with speed.
        d_cutoff: cutoff (Hz) of the residual speed estimate.
        stabilize: two-level filtering as above; False = the per-landmark filter alone on positions.
        groups: disjoint index arrays of the landmarks each refinement head of the model predicts (lips, each
            eye, each iris; ``head_groups``): while the pose step is motion, each group's mean residual passes
            at once, by the probability that the step is motion (see ``_pass_groups``).

    Cost per call is mostly numpy call overhead (~0.11 ms CPU back to back, ~0.3 ms inside the tracker, ~0.6 ms
    after a 33 ms sleep; benchmarks/smoothing_bench.py), so there are few calls: the state lives in one
    (N, 3D + 1) float64 array, [last output | raw slot 0 | raw slot 1 | 1];
    the new raw value goes into the slot the previous one is not in. One product of its mesh rows gives all
    the sums both pose fits need, and when everything is finite one product moves the output and the raw
    value by their poses (with the ones column for the offsets).
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0, stabilize: bool = True,
                 groups: Sequence[np.ndarray] = ()):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.stabilize = stabilize
        self.groups = groups
        self._state = None  # (N, 3D + 1), see the class docstring
        self.reset()

    def reset(self) -> None:
        # the share of the last pose step that was passed (1: all of it); the tracker moves the next crop by
        # the same share, so a still face's crop does not random-walk with the mesh's noise
        self.pose_pass = 1.0
        self._x = None  # last output (a view into the state)
        self._raw = None  # last raw value (a view into the state)
        self._slot = 0  # the raw slot that holds the last raw value
        self._dx = None  # filtered residual speed, noise units per frame (signed)
        self._t_ms = None
        self._frames = 0  # frames since the filter (re)started
        self._finite = True  # the last raw value (hence the last output, NaN where it is) is all finite
        self._noise = _NoiseEstimate()  # per landmark coordinate, pixels
        self._moving = 0.5  # prior probability that the face is moving (the pose gate's)
        self._p_motion = 1.0  # posterior probability that the last step was motion

    @property
    def groups(self) -> tuple[np.ndarray, ...]:
        return self._groups

    @groups.setter
    def groups(self, groups: Sequence[np.ndarray]) -> None:
        self._groups = tuple(np.asarray(g, np.int64) for g in groups)
        self._members = None  # (G, N) membership, built for the landmark count on first use

    def _pass_groups(self, base: np.ndarray, to_target: np.ndarray, finite: bool) -> None:
        """Moves each head group's mean residual from ``to_target`` into ``base`` by the probability that this
        step is motion (in place).

        A refinement head (lips, an eye, an iris) reads its own crop, placed by the mesh, and follows a
        moving face more closely than the mesh does: while the face moves, the mesh's pose is off by the
        mesh's own lag behind the motion and the head's points are off the pose by about as much the other
        way, so filtering that common part of their residual as noise would put the mesh's error into the
        head's points (a shaking camera's irises came out worse than raw). While the face is still it is
        noise, and it stays with the per-landmark filter."""
        n = base.shape[0]
        if self._members is None or self._members.shape[1] != n:
            members = np.zeros((len(self._groups), n))
            for k, g in enumerate(self._groups):
                members[k, g[g < n]] = 1.0
            self._members = members
            self._counts = np.maximum(members.sum(axis=1), 1.0)[:, None]
        members = self._members
        if finite:
            means = members @ to_target
            means /= self._counts
        else:  # over each group's finite values (a restarting point's residual is NaN)
            ok = np.isfinite(to_target)
            means = members @ np.where(ok, to_target, 0.0)
            means /= np.maximum(members @ ok, 1.0)
        means *= self._p_motion
        shift = members.T @ means
        base += shift
        to_target -= shift

    def _columns(self, slot: int) -> slice:
        d = self._x.shape[1]
        return slice(d * (1 + slot), d * (2 + slot))

    # -- pose ------------------------------------------------------------------------------------------
    @staticmethod
    def _fit(src: np.ndarray, dst: np.ndarray):
        """Fit over the finite points: (zoom, centre, shift, angle), or None with fewer than 3."""
        ok = np.isfinite(src).all(axis=1) & np.isfinite(dst).all(axis=1)
        if ok.sum() < 3:
            return None
        a, t, s = similarity_transform(src[ok], dst[ok])
        centre = src[ok].mean(axis=0)
        shift = centre @ a.T + t - centre
        return s, centre, shift, math.atan2(a[1, 0], a[0, 0])

    def _fits(self, values: np.ndarray):
        """The pose fits of the last output and of the last raw value onto ``values`` (in the other raw slot)
        over the mesh points."""
        mesh = self._state[:MESH_POINTS]
        g = (mesh.T @ mesh).tolist()
        if math.isfinite(sum(map(sum, g))):  # every mesh point finite in all three
            src_raw, dst = self._columns(self._slot).start, self._columns(1 - self._slot).start
            fits = _fit_from_sums(g, 0, dst), _fit_from_sums(g, src_raw, dst)
            if fits[0] is not None and fits[1] is not None:
                return fits
        return (self._fit(self._x[:MESH_POINTS, :2], values[:MESH_POINTS, :2]),
                self._fit(self._raw[:MESH_POINTS, :2], values[:MESH_POINTS, :2]))

    def _rigid(self, values: np.ndarray, face_px: float, finite: bool):
        """(prev output moved by the held-back pose, values minus prev output moved by the full pose, values
        minus prev raw moved by the raw-to-raw motion (NaN where restarting), where to restart (None: nowhere)),
        or None when the mesh is incomplete."""
        dims = values.shape[1]
        out_fit, raw_fit = self._fits(values)
        if out_fit is None or raw_fit is None:
            return None
        # the step in pixels at the face's rim (shift; angle and log zoom times half the face size), in
        # units of the pose noise implied by the per-point noise
        s, centre, shift, angle = out_fit
        if self._noise.count >= 3:
            sums = self._noise.var[:MESH_POINTS].sum(axis=0).tolist()  # rows whole: a strided mean is slower
            mean_var = (sums[0] + sums[1]) / (2 * MESH_POINTS)
            if math.isnan(mean_var):
                mean_var = float(np.nanmean(self._noise.var[:MESH_POINTS, :2]))
            sigma = max(POSE_NOISE_PER_POINT_NOISE * math.sqrt(mean_var), 1e-4 * face_px)
            rim = face_px / 2 / sigma
            z2 = ((shift[0] / sigma) ** 2 + (shift[1] / sigma) ** 2 + (angle * rim) ** 2
                  + (math.log(max(s, 1e-6)) * rim) ** 2) / 4
        else:
            z2 = math.inf  # no noise estimate yet: the track's first steps (its crops converging) are motion
        # the probability that the step is noise alone, from the prior that the face is moving; the posterior
        # that it is motion is carried to the next step through the chance of a switch
        still = (1.0 - self._moving) * math.exp(-z2 / POSE_PASS_SIGMAS ** 2)
        still /= still + self._moving * MOTION_LIKELIHOOD
        self._p_motion = 1.0 - still
        self._moving = self._switch + (1.0 - 2.0 * self._switch) * self._p_motion
        keep_back = (1.0 - self._k_min) * still
        keep_back = min(keep_back, 1.0 - 1.0 / self._frames)  # the first frames: a running mean
        k = 1.0 - keep_back
        self.pose_pass = k
        part = _affine_rows(dims, centre, k * angle, s ** k, (k * shift[0], k * shift[1]))
        rs, rcentre, rshift, rangle = raw_fit
        full = _affine_rows(dims, centre, angle, s, shift, sign=-1.0)
        raw_move = _affine_rows(dims, rcentre, rangle, rs, rshift, sign=-1.0)
        # one product of the whole state [output, raw slot 0, raw slot 1, 1] gives the three results
        zero, eye = [0.0] * dims, [[float(r == c) for c in range(dims)] for r in range(dims)]
        prev, new = (raw_move, eye) if self._slot == 0 else (eye, raw_move)
        rows = [p + f + [0.0] * dims for p, f in zip(part[:dims], full[:dims])]  # output
        rows += [zero + (eye[r] if prev is eye else zero) + p for r, p in enumerate(prev[:dims])]  # slot 0
        rows += [zero + (eye[r] if new is eye else zero) + p for r, p in enumerate(new[:dims])]  # slot 1
        rows += [part[dims] + full[dims] + raw_move[dims]]  # the ones column: offsets
        if finite:
            moved, restart = self._state @ np.array(rows), None
        else:
            # non-finite values count as 0 in the product; a whole row of the output or of the raw value
            # restarts where any of its coordinates is not finite (the move mixes them), a new value alone
            # where it is not
            ok = np.isfinite(self._state)
            moved = np.where(ok, self._state, 0.0) @ np.array(rows)
            rows_ok = ok[:, :dims].all(axis=1)
            rows_ok &= ok[:, self._columns(self._slot)].all(axis=1)
            restart = ok[:, self._columns(1 - self._slot)]
            restart &= rows_ok[:, None]
            np.logical_not(restart, out=restart)
            np.copyto(moved[:, 2 * dims:], np.nan, where=restart)
        return moved[:, :dims], moved[:, dims:2 * dims], moved[:, 2 * dims:], restart

    # -- the filter --------------------------------------------------------------------------------------
    def __call__(self, values: np.ndarray, timestamp_ms: float, object_scale: float) -> np.ndarray:
        values = np.asarray(values)
        if self._x is None or self._x.shape != values.shape:
            self.reset()
            n, d = values.shape
            if self._state is None or self._state.shape != (n, 3 * d + 1):
                self._state = np.ones((n, 3 * d + 1))
            self._x = self._state[:, :d]
            self._raw = self._state[:, self._columns(0)]
            self._x[...] = values
            self._raw[...] = values
            self._dx, self._t_ms = np.zeros_like(self._x), timestamp_ms
            self._finite = math.isfinite(self._x.sum())
            return values.astype(np.float32)
        dt_s = (timestamp_ms - self._t_ms) / 1000.0
        if dt_s <= 0:  # repeated or backwards timestamp: MediaPipe returns the raw value
            return values.astype(np.float32)
        freq = 1.0 / dt_s
        self._frames += 1
        face_px = max(object_scale, 1e-6)
        self._k_min = _alpha(self.min_cutoff, freq)
        self._switch = min(dt_s / MOVE_SWITCH_S, 0.5)
        finite_now = math.isfinite(values.sum())  # summed before the copy: a contiguous sum is faster
        new_slot = 1 - self._slot
        raw_new = self._state[:, self._columns(new_slot)]
        raw_new[...] = values  # float64 from here on
        values = raw_new
        finite = finite_now and self._finite  # then the moved copies are finite too: nothing restarts
        rigid = None
        if self.stabilize and values.shape[0] >= MESH_POINTS and values.shape[1] >= 2:
            rigid = self._rigid(values, face_px, finite)
        if rigid is not None:
            base, to_target, step, restart = rigid  # base: output moved by the kept pose
            if self._groups:
                self._pass_groups(base, to_target, finite)
        else:
            base, to_target, step, restart = self._x, np.subtract(values, self._x), np.subtract(values, self._raw), None
            if not finite:
                # non-finite where any of the three is (+-inf sum to inf or NaN; finite pixels never overflow)
                restart = np.add(base, values)
                restart += self._raw
                restart = ~np.isfinite(restart)
                np.copyto(step, np.nan, where=restart)
        self._noise.update(step)
        # speed in noise sigmas per frame (a difference of two noisy values has sqrt(2) sigma), NaN-free where
        # not restarting; then its One Euro low-pass: edx = dx + a_d (speed - dx)
        floor2 = (1e-4 * face_px) ** 2
        var = self._noise.var
        edx = np.fmax(var, floor2)  # var is never inf, so this is max(nan_to_num(var, nan=floor2), floor2)
        np.sqrt(edx, out=edx)
        np.divide(step, edx, out=edx)
        if restart is not None:
            np.copyto(edx, 0.0, where=restart)
        a_d = _alpha(self.d_cutoff, freq)
        edx *= a_d / math.sqrt(2.0)
        edx += np.multiply(self._dx, 1.0 - a_d)
        # cutoff = min_cutoff + beta |edx|; alpha = 1 / (1 + freq / (2 pi cutoff)) = cutoff / (cutoff + freq / 2 pi)
        cutoff = np.abs(edx)
        cutoff *= self.beta
        cutoff += self.min_cutoff
        alpha = cutoff + freq / (2.0 * math.pi)
        np.divide(cutoff, alpha, out=alpha)
        # while few frames are in, the best estimate of a still value is their mean, weighted by recency:
        # settle at once. Linear weights (alpha 2 / (n + 1)) because a track's first frames are its worst
        # (the first crop is the detector's, and the tracker's crops take a few frames to converge): they are
        # forgotten as 1/n^2 instead of 1/n, for 4/3 the variance of the plain mean. alpha is at least its
        # value at min_cutoff when beta >= 0, so this is a no-op after the first ~2 / k_min frames.
        start = START_WEIGHT / (self._frames + START_WEIGHT - 1.0)
        if start > self._k_min or self.beta < 0:
            np.maximum(alpha, start, out=alpha)
        alpha *= to_target
        x = self._x
        np.add(base, alpha, out=x)
        if restart is not None:
            np.copyto(x, values, where=restart)
            np.copyto(edx, 0.0, where=restart)
        self._raw, self._slot, self._dx, self._t_ms = values, new_slot, edx, timestamp_ms
        self._finite = finite_now
        return x.astype(np.float32)


def object_scale(landmarks_px: np.ndarray) -> float:
    """Mean of the width and height of the landmarks' bounding box, in pixels (MediaPipe's scale)."""
    x, y = landmarks_px[:, 0], landmarks_px[:, 1]
    # NaN when any point is not finite; per column is ~4x faster than min(axis=0) on a few columns
    lo_x, hi_x, lo_y, hi_y = float(x.min()), float(x.max()), float(y.min()), float(y.max())
    if not math.isfinite(lo_x + hi_x + lo_y + hi_y):
        ok = np.isfinite(x) & np.isfinite(y)  # the points with both coordinates finite
        x, y = x[ok], y[ok]
        if len(x) == 0:
            return 1.0
        lo_x, hi_x, lo_y, hi_y = float(x.min()), float(x.max()), float(y.min()), float(y.max())
    return float((hi_x - lo_x + hi_y - lo_y) / 2)
