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

import contextlib
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


def _fit_from_sums(g: list, i: int, j: int, one: int):
    """The similarity fit of rows i, i+1 onto j, j+1 of the state over the mesh points from ``g``, the Gram
    matrix of the state's rows with ``one`` the ones row: (zoom, centre, shift, angle), or None when the source
    points (nearly) coincide. The complex form of geometry.similarity_transform, from the uncentred sums."""
    n = g[one][one]
    sx, sy, dx, dy = g[i][one] / n, g[i + 1][one] / n, g[j][one] / n, g[j + 1][one] / n
    power = g[i][i] + g[i + 1][i + 1] - n * (sx * sx + sy * sy)
    if not power > 1e-9 * (g[i][i] + g[i + 1][i + 1]):
        return None  # degenerate (or lost to rounding): the masked path decides
    # sum(conj(zs) * zd) / sum(|zs|^2) over the centred points
    re = (g[i][j] - n * sx * dx) + (g[i + 1][j + 1] - n * sy * dy)
    im = (g[i][j + 1] - n * sx * dy) - (g[i + 1][j] - n * sy * dx)
    re, im = re / power, im / power
    return math.hypot(re, im), (sx, sy), (dx - sx, dy - sy), math.atan2(im, re)


def _similarity(centre, angle: float, zoom: float, shift) -> tuple[float, float, float, float, float]:
    """(c, s, zoom, o0, o1) of the similarity about ``centre``: (x, y, z) -> (c x - s y + o0, s x + c y + o1,
    zoom z) (z scales with the face)."""
    c, s = zoom * math.cos(angle), zoom * math.sin(angle)
    return (c, s, zoom, centre[0] + shift[0] - (c * centre[0] - s * centre[1]),
            centre[1] + shift[1] - (s * centre[0] + c * centre[1]))


_IDENTITY = (1.0, 0.0, 1.0, 0.0, 0.0)


def _similarity_entries(sim, weight: float, dims: int) -> list:
    """``weight`` times the similarity ``sim`` as entries of the move matrix, in the order of
    ``_similarity_positions``."""
    c, s, z, o0, o1 = sim
    return [weight * c, -weight * s, weight * s, weight * c] + [weight * z] * (dims - 2) + [weight * o0, weight * o1]


def _similarity_positions(row: int, col: int, one: int, dims: int) -> list:
    """Where ``_similarity_entries`` go: from the D state rows at ``col`` (and the ones row) into the D output
    rows at ``row`` of the move matrix."""
    return ([(row, col), (row, col + 1), (row + 1, col), (row + 1, col + 1)]
            + [(row + k, col + k) for k in range(2, dims)] + [(row, one), (row + 1, one)])


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
            at once, by the probability that the step is motion.

    Cost per call is mostly numpy call overhead, worse after a 33 ms sleep with the caches cold (about 1-3 us a
    call on a contiguous array, 10-15 us on an (N, 3) column view; benchmarks/smoothing_bench.py), so there
    are few calls, all on contiguous rows: the state is one (4D + 1 + G, N) float64 array, coordinates in
    rows, [last output | raw slot 0 | raw slot 1 | 1 | filtered speed | group membership] (the new raw
    value goes into the slot the previous one is not in). One product of its mesh columns gives all the
    sums both pose fits need, and one product with a (5D, 4D + 1 + G) matrix gives, for every point, the
    motion-compensated step (plain and scaled for the speed), the kept part of the speed, base + residual
    and the residual scaled for the cutoff (the pose moves, the group means and the filter's constants
    folded in), so that the rest is a dozen elementwise calls.
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0, stabilize: bool = True,
                 groups: Sequence[np.ndarray] = ()):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.stabilize = stabilize
        self._state = None  # (4D + 1 + G, N), see the class docstring
        self._shape = None  # (N, D) of the stream; None: (re)start on the next value
        self.groups = groups
        self.reset()

    def reset(self) -> None:
        # the share of the last pose step that was passed (1: all of it); the tracker moves the next crop by
        # the same share, so a still face's crop does not random-walk with the mesh's noise
        self.pose_pass = 1.0
        self._shape = None
        self._slot = 0  # the raw slot that holds the last raw value
        self._t_ms = None
        self._frames = 0  # frames since the filter (re)started
        self._finite = True  # the last raw value (hence the last output, NaN where it is) is all finite
        self._dead_tail = False  # the last raw value: mesh finite, every point after it NaN (irises off)
        self._var = None  # (D, N) noise variance per landmark coordinate, pixels^2
        self._prev_step = None  # (D, <= N) the last motion-compensated step, NaN where restarting
        self._noise_count = 0
        self._moving = 0.5  # prior probability that the face is moving (the pose gate's)
        self._p_motion = 1.0  # posterior probability that the last step was motion

    @property
    def groups(self) -> tuple[np.ndarray, ...]:
        return self._groups

    @groups.setter
    def groups(self, groups: Sequence[np.ndarray]) -> None:
        self._groups = tuple(np.asarray(g, np.int64) for g in groups)
        # irises off leaves the points after the mesh out of the work only when no group reaches them
        self._groups_in_mesh = all(g.size == 0 or g.max() < MESH_POINTS for g in self._groups)
        if self._shape is not None:
            self._layout(*self._shape)  # the membership rows change; the filter's state is kept

    # -- layout ----------------------------------------------------------------------------------------
    def _layout(self, n: int, d: int) -> None:
        """(Re)allocates the state for (N, D) values and the current groups (keeping the filter rows when the
        shape is the same), the move matrices (one per slot of the last raw value) and the group weights."""
        g = len(self._groups)
        rows = 4 * d + 1 + g
        old = self._state
        state = np.zeros((rows, n))
        if old is not None and old.shape[1] == n and old.shape[0] >= 4 * d + 1:
            state[:4 * d + 1] = old[:4 * d + 1]
        state[3 * d] = 1.0
        members = state[4 * d + 1:]  # one indicator row per group
        for k, idx in enumerate(self._groups):
            members[k, idx[idx < n]] = 1.0
        # (N, G): each group's mean of a row is the row times this
        self._group_weights = (members / np.maximum(members.sum(axis=1), 1.0)[:, None]).T.copy()
        self._state = state
        # the move matrices, one per slot of the last raw value: constant entries here, the others (a few dozen,
        # written with one put per call) at ``_positions``
        self._matrices, self._positions = [], []
        one = 3 * d
        for slot in (0, 1):
            m = np.zeros((5 * d, rows))
            prev, new = d * (1 + slot), d * (2 - slot)  # the last and the new raw value's rows
            for k in range(d):
                m[k, new + k] = 1.0  # step = new - moved previous raw
                m[3 * d + k, new + k] = 1.0  # base + residual = new + (kept - full move) of the output
            at = (_similarity_positions(0, prev, one, d) + _similarity_positions(d, prev, one, d)
                  + _similarity_positions(3 * d, 0, one, d) + _similarity_positions(4 * d, 0, one, d)
                  + [(d + k, new + k) for k in range(d)] + [(2 * d + k, one + 1 + k) for k in range(d)]
                  + [(4 * d + k, new + k) for k in range(d)])
            self._matrices.append(m)
            self._positions.append(np.ravel_multi_index(tuple(np.array(at).T), m.shape))

    @property
    def _x(self) -> np.ndarray:
        """The last output, (N, D) (a view into the state)."""
        d = self._shape[1]
        return self._state[:d].T

    @property
    def _raw(self) -> np.ndarray:
        """The last raw value, (N, D) (a view into the state)."""
        d = self._shape[1]
        return self._state[d * (1 + self._slot):d * (2 + self._slot)].T

    def _start(self, values: np.ndarray, timestamp_ms: float) -> None:
        self.reset()
        n, d = values.shape
        if self._state is None or self._state.shape != (4 * d + 1 + len(self._groups), n):
            self._layout(n, d)
        state = self._state
        state[:d] = values.T
        state[d:2 * d] = values.T
        state[3 * d + 1:4 * d + 1] = 0.0
        self._shape, self._t_ms = values.shape, timestamp_ms
        self._var = np.full((d, n), np.nan)
        self._finite = math.isfinite(state[:d].sum())
        self._dead_tail = not self._finite and self._tail_is_dead(values)

    def _tail_is_dead(self, values: np.ndarray) -> bool:
        """Mesh points all finite, every point after them NaN (irises switched off), and no group among them."""
        return (values.shape[0] > MESH_POINTS and self._groups_in_mesh
                and math.isfinite(values[:MESH_POINTS].sum())
                and math.isnan(np.fmax.reduce(values[MESH_POINTS:], axis=None)))  # fmax skips NaN

    # -- noise -----------------------------------------------------------------------------------------
    def _update_noise(self, step: np.ndarray) -> None:
        """Running variance of white measurement noise from second differences of the residual: ``step`` (D, n)
        is this frame's motion-compensated difference (value minus previous value), never +-inf (NaN where
        restarting); kept, not copied. With n < N the points after n are NaN (irises off) and left as they are."""
        n = step.shape[1]
        prev, self._prev_step = self._prev_step, step
        var = self._var[:, :n]
        if prev is None:  # first guess: one difference
            np.copyto(var, step ** 2 / 2.0)  # NaN where restarting, as the step
            self._noise_count = 1
            return
        if prev.shape[1] != n:  # irises switched off or on (their steps were and are NaN)
            prev = prev[:, :n] if prev.shape[1] > n else np.pad(prev, ((0, 0), (0, n - prev.shape[1])),
                                                                   constant_values=np.nan)
        self._noise_count += 1
        weight = max(1.0 / self._noise_count, 1.0 / NOISE_FRAMES)
        # var + weight * (min(sample, clip * var) - var) with sample = (step - prev)^2 / 6, as
        # (1 - weight) var + weight / 6 * min(6 sample, 6 clip var); the sample alone where there is no estimate
        six = np.subtract(step, prev)
        np.square(six, out=six)
        clipped = np.multiply(var, 6.0 * NOISE_CLIP)
        np.minimum(six, clipped, out=clipped)
        restart = None if var.min() > _EPS else ~(var > _EPS)  # some estimate NaN or ~0 (var is never inf)
        var *= 1.0 - weight
        clipped *= weight / 6.0
        var += clipped
        if restart is not None:
            six /= 6.0
            np.copyto(var, six, where=restart)

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

    def _fits(self, values: np.ndarray, finite: bool):
        """The pose fits of the last output and of the last raw value onto ``values`` (N, D) (the other raw
        slot) over the mesh points; ``finite``: all three are (else infinities may make NaN sums, unreported)."""
        d = self._shape[1]
        one = 3 * d
        mesh = self._state[:one + 1, :MESH_POINTS]
        # one row more on the left: ``mesh @ mesh.T`` is a BLAS syrk, which OpenBLAS splits over its threads at this
        # size (waking them costs more than the product: 50-70 vs 27-38 us a frame); a gemm of this shape runs on
        # the calling thread. The extra row of the Gram matrix is not read.
        with contextlib.nullcontext() if finite else np.errstate(invalid="ignore", over="ignore"):
            g = (self._state[:one + 2, :MESH_POINTS] @ mesh.T).tolist()
        # every mesh point finite in all three iff the squares' sums are (pixels never overflow)
        if math.isfinite(sum([g[i][i] for i in range(one)])):
            src_raw, dst = d * (1 + self._slot), d * (2 - self._slot)
            fits = _fit_from_sums(g, 0, dst, one), _fit_from_sums(g, src_raw, dst, one)
            if fits[0] is not None and fits[1] is not None:
                return fits
        return (self._fit(self._x[:MESH_POINTS, :2], values[:MESH_POINTS, :2]),
                self._fit(self._raw[:MESH_POINTS, :2], values[:MESH_POINTS, :2]))

    def _rigid(self, values: np.ndarray, face_px: float, finite: bool):
        """The move product for the pose fits of the last output and raw value onto ``values`` (N, D), after
        the pose gate (see ``_move``), or None when the mesh is incomplete."""
        out_fit, raw_fit = self._fits(values, finite)
        if out_fit is None or raw_fit is None:
            return None
        # the step in pixels at the face's rim (shift; angle and log zoom times half the face size), in
        # units of the pose noise implied by the per-point noise
        s, centre, shift, angle = out_fit
        if self._noise_count >= 3:
            mean_var = float(self._var[:2, :MESH_POINTS].sum()) / (2 * MESH_POINTS)
            if math.isnan(mean_var):
                mean_var = float(np.nanmean(self._var[:2, :MESH_POINTS]))
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
        part = _similarity(centre, k * angle, s ** k, (k * shift[0], k * shift[1]))
        full = _similarity(centre, angle, s, shift)
        rs, rcentre, rshift, rangle = raw_fit
        return self._move(part, full, _similarity(rcentre, rangle, rs, rshift), finite, True)

    def _move(self, part, full, raw_move, finite: bool, pose: bool):
        """(moved (5D, n), restart) from the state's first n points: moved is [step | step * a_d / sqrt 2 |
        speed * (1 - a_d) | base + residual | residual * residual scale] (base: the last output moved by the
        kept pose ``part``; residual: the new value minus the output moved by the ``full`` pose, less each
        group's mean passed by the probability of motion when ``pose``; step: the new value minus the last raw
        value moved by ``raw_move``); restart (D, n): where to restart (None: nowhere), the moved step NaN
        there."""
        d, n, state = self._shape[1], self._live, self._state
        one, prev_raw, new_raw = 3 * d, d * (1 + self._slot), d * (2 - self._slot)
        m = self._matrices[self._slot]
        a_d, ts = self._a_d / math.sqrt(2.0), self._tt_scale
        m.put(self._positions[self._slot],
              _similarity_entries(raw_move, -1.0, d)  # step (the new value's identity is constant)
              + _similarity_entries(raw_move, -a_d, d)  # step scaled for the speed
              + _similarity_entries([p - f for p, f in zip(part, full)], 1.0, d)  # base + residual
              + _similarity_entries(full, -ts, d)  # residual, scaled
              + [a_d] * d + [1.0 - self._a_d] * d + [ts] * d)
        src = state[:, :n]
        if not finite:
            ok = np.isfinite(src)
            src = np.where(ok, src, 0.0)  # non-finite values count as 0 in the product
        if self._groups:
            residual = m[4 * d:]
            if pose:
                # each group's mean residual (from the group means of the state's rows), passed at once by the
                # probability of motion: a refinement head follows a moving face more closely than the mesh
                # whose pose is fitted (see the module docstring); while still it stays with the filter
                means = residual[:, :one + 1] @ (src[:one + 1] @ self._group_weights[:n])
                np.multiply(means, -self._p_motion, out=residual[:, 4 * d + 1:])
            else:
                residual[:, 4 * d + 1:] = 0.0
        moved = m @ src
        if finite:
            return moved, None
        if pose:
            # a whole point of the output or of the raw value restarts where any of its coordinates is not
            # finite (the move mixes them), a new value alone where it is not
            rows_ok = ok[:d].all(axis=0)
            rows_ok &= ok[prev_raw:prev_raw + d].all(axis=0)
            restart = ok[new_raw:new_raw + d]
            restart &= rows_ok
            np.logical_not(restart, out=restart)
        else:  # non-finite where any of the three is (+-inf sum to inf or NaN; finite pixels never overflow)
            restart = np.add(state[:d, :n], state[new_raw:new_raw + d, :n])
            restart += state[prev_raw:prev_raw + d, :n]
            restart = ~np.isfinite(restart)
        np.copyto(moved[:d], np.nan, where=restart)
        return moved, restart

    # -- the filter --------------------------------------------------------------------------------------
    def __call__(self, values: np.ndarray, timestamp_ms: float, object_scale: float | None = None) -> np.ndarray:
        """The smoothed (N, D) float32 value; ``object_scale``: the face's size in pixels (``object_scale``); None
        (or not finite) to measure it here (the same value, from the filter's own contiguous copy: fewer, faster
        calls)."""
        values = np.asarray(values)
        if self._shape != values.shape:
            self._start(values, timestamp_ms)
            return values.astype(np.float32)
        dt_s = (timestamp_ms - self._t_ms) / 1000.0
        if dt_s <= 0:  # repeated or backwards timestamp: MediaPipe returns the raw value
            return values.astype(np.float32)
        freq = 1.0 / dt_s
        self._frames += 1
        self._k_min = _alpha(self.min_cutoff, freq)
        self._a_d = _alpha(self.d_cutoff, freq)
        self._switch = min(dt_s / MOVE_SWITCH_S, 0.5)
        n, d = values.shape
        state = self._state
        new_slot = 1 - self._slot
        raw_new = state[d * (1 + new_slot):d * (2 + new_slot)]
        raw_new[...] = values.T  # float64 from here on
        # each coordinate's least and greatest value (over the mesh points alone when the last value's irises were
        # off): whether the value is finite, and the face's size, from the same two calls
        head = MESH_POINTS if self._dead_tail else n
        rows = raw_new[:, :head]
        lo, hi = np.minimum.reduce(rows, axis=1).tolist(), np.maximum.reduce(rows, axis=1).tolist()
        head_finite = math.isfinite(sum(lo) + sum(hi))  # min and max propagate NaN and keep +-inf
        # irises off: the points after the mesh are NaN in this and the last value, so they restart (NaN in, NaN
        # out, the output and the noise estimate NaN, the speed 0, as they are): leave them out of the work
        if head == n:
            finite_now = head_finite
            dead_tail = not finite_now and self._tail_is_dead(values)
        else:  # still off when every point after the mesh is NaN (fmax skips NaN)
            tail_nan = math.isnan(np.fmax.reduce(values[MESH_POINTS:], axis=None))
            dead_tail = head_finite and tail_nan and self._groups_in_mesh
            finite_now = head_finite and not tail_nan and math.isfinite(values[MESH_POINTS:].sum())
        finite = finite_now and self._finite  # then the moved copies are finite too: nothing restarts
        self._live = MESH_POINTS if dead_tail and self._dead_tail else n
        if self._live < n:
            finite = True
        if object_scale is None and d >= 2 and head_finite and self._live == head:
            object_scale = (hi[0] - lo[0] + hi[1] - lo[1]) / 2  # as ``object_scale`` (the mesh points: irises off)
        if object_scale is None or not math.isfinite(object_scale):
            object_scale = _object_scale(values)
        face_px = max(object_scale, 1e-6)
        # alpha = cutoff / (cutoff + freq / 2 pi), cutoff = min_cutoff + beta |speed|: output = base + alpha
        # residual = (base + residual) - residual c / (cutoff + c), c = freq / 2 pi; with beta > 0 and after the
        # start-up (below) the residual is scaled by c / beta in the product, and the division is by |speed| +
        # (min_cutoff + c) / beta
        c = freq / (2.0 * math.pi)
        # while few frames are in, the best estimate of a still value is their mean, weighted by recency:
        # settle at once. Linear weights (alpha 2 / (n + 1)) because a track's first frames are its worst
        # (the first crop is the detector's, and the tracker's crops take a few frames to converge): they are
        # forgotten as 1/n^2 instead of 1/n, for 4/3 the variance of the plain mean. alpha is at least its
        # value at min_cutoff when beta >= 0, so this is a no-op after the first ~2 / k_min frames.
        start = START_WEIGHT / (self._frames + START_WEIGHT - 1.0)
        floor_alpha = start > self._k_min or self.beta < 0
        fast = self.beta > 0 and not floor_alpha
        self._tt_scale = c / self.beta if fast else 1.0
        moved = None
        if self.stabilize and n >= MESH_POINTS and d >= 2:
            moved = self._rigid(raw_new.T, face_px, finite)
        if moved is None:
            moved = self._move(_IDENTITY, _IDENTITY, _IDENTITY, finite, False)
        moved, restart = moved
        live = self._live
        step, speed_step, kept_speed, target, residual = (moved[k * d:(k + 1) * d] for k in range(5))
        self._update_noise(step)
        # speed in noise sigmas per frame (a difference of two noisy values has sqrt(2) sigma; the step is
        # scaled by a_d / sqrt 2 in the product), NaN-free where not restarting; then its One Euro low-pass:
        # speed * (1 - a_d) + a_d * step / sigma
        sigma = np.fmax(self._var[:, :live], (1e-4 * face_px) ** 2)  # var is never inf: max(nan_to_num(var), floor)
        np.sqrt(sigma, out=sigma)
        speed = state[3 * d + 1:4 * d + 1, :live]
        np.divide(speed_step, sigma, out=speed)
        speed += kept_speed
        x = state[:d, :live]
        gain = np.abs(speed, out=sigma)
        if fast:
            gain += (self.min_cutoff + c) / self.beta
            np.divide(residual, gain, out=gain)
        else:
            gain *= self.beta
            gain += self.min_cutoff + c
            np.divide(c, gain, out=gain)  # 1 - alpha
            if floor_alpha:
                np.minimum(gain, 1.0 - start, out=gain)  # alpha at least start
            gain *= residual
        np.subtract(target, gain, out=x)
        if restart is not None:
            np.copyto(x, raw_new[:, :live], where=restart)
            np.copyto(speed, 0.0, where=restart)
        self._slot, self._t_ms = new_slot, timestamp_ms
        self._finite, self._dead_tail = finite_now, dead_tail
        return state[:d].T.astype(np.float32, order="C")


def object_scale(landmarks_px: np.ndarray) -> float:
    """Mean of the width and height of the landmarks' bounding box, in pixels (MediaPipe's scale)."""
    x, y = landmarks_px[:, 0], landmarks_px[:, 1]
    # NaN when any point is not finite; per column is ~4x faster than min(axis=0) on a few columns, and the
    # ufuncs' own reduce skips the Python wrapper of x.min()
    lo, hi = np.minimum.reduce, np.maximum.reduce
    lo_x, hi_x, lo_y, hi_y = float(lo(x)), float(hi(x)), float(lo(y)), float(hi(y))
    if not math.isfinite(lo_x + hi_x + lo_y + hi_y) and len(x) > MESH_POINTS:
        # irises off: the mesh points finite and every x, y after them NaN (fmax skips NaN)
        mx, my = x[:MESH_POINTS], y[:MESH_POINTS]
        lo_x, hi_x, lo_y, hi_y = float(lo(mx)), float(hi(mx)), float(lo(my)), float(hi(my))
        if math.isfinite(lo_x + hi_x + lo_y + hi_y) and math.isnan(np.fmax.reduce(landmarks_px[MESH_POINTS:, :2],
                                                                                   axis=None)):
            return float((hi_x - lo_x + hi_y - lo_y) / 2)
        lo_x = math.nan
    if not math.isfinite(lo_x + hi_x + lo_y + hi_y):
        # over the points with both coordinates finite: (x + y) - (x + y) is 0 there and NaN elsewhere (inf - inf
        # included), so x and y plus it are NaN where a point is left out, and fmin / fmax skip NaN
        with np.errstate(invalid="ignore"):  # inf - inf
            z = np.add(x, y)
            z -= z
            x, y = np.add(x, z), np.add(y, z)
        lo, hi = np.fmin.reduce, np.fmax.reduce
        lo_x, hi_x, lo_y, hi_y = float(lo(x)), float(hi(x)), float(lo(y)), float(hi(y))
        if math.isnan(lo_x):  # no such point
            return 1.0
    return float((hi_x - lo_x + hi_y - lo_y) / 2)


_object_scale = object_scale  # for OneEuroLandmarks.__call__, whose argument has the name
