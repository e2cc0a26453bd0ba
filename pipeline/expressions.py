"""Expression coefficients (ARKit blendshape names, each in [0, 1]) from the pose-normalised face mesh.

Input is the face mapped into the canonical face frame (centimetres, x towards the subject's own LEFT, y up,
z out of the face; head rotation, position and size removed by a weighted Procrustes fit, see
pipeline.head_pose.HeadPoseSolver.normalised_face), so turning the head does not change it. Every
measure is a ratio of distances in that frame to a face-size distance that expressions do not move (the
outer-eye-corner distance, which spans the midline, so a turned head foreshortens it symmetrically; the nose
length for the jaw), so neither face size nor distance matters.

Calibration (``CALIBRATION``; recomputed and printed by ``python -m benchmarks.signals_bench --calibrate``):
each measure's distribution over every face in the shared clips (15 clips, 4,576 frames with a face; each
clip weighted equally) and photos (106 faces, one group), left and right pooled (and the mouth's sideways
shift pooled with its negation, so mouthLeft and mouthRight are mirror images):
- rest band = the inter-quartile range of the per-clip medians (most frames of a clip are near that
  person's rest, so this is the spread of rest values between people); the coefficient is 0 inside it;
- full = the pooled 1st / 99th percentile (the strongest expressions in the set), where the coefficient
  reaches 1; except eyeBlink, whose full point is the lid-contact value and whose rest edge is the
  narrowest open eye among the clips (an open eye must never read as a blink), and jawOpen, whose rest is
  lips touching (gap 0).
coefficient = clip((measure - rest_hi) / (full_up - rest_hi), 0, 1) upwards, or
clip((rest_lo - measure) / (rest_lo - full_down), 0, 1) downwards. Nothing is tuned to one file.

"Left" is the subject's own left, as in ARKit: landmarks 263/362 (eye), 291 (mouth corner), on the image's
right in an unmirrored frame.
"""
from __future__ import annotations

import numpy as np

# Landmark ids (MediaPipe face mesh). "L" = subject's left (image right), "R" = subject's right.
EYE_CORNERS = {"L": (263, 362), "R": (33, 133)}  # outer, inner
EYE_LIDS = {"L": ((385, 386, 387), (380, 374, 373)), "R": ((158, 159, 160), (153, 145, 144))}  # upper, lower
EYE_LOWER_MID = {"L": 374, "R": 145}
BROW_INNER = {"L": (336, 285, 296, 295), "R": (107, 55, 66, 65)}
BROW_OUTER = {"L": (300, 276, 293, 283), "R": (70, 46, 63, 53)}
MOUTH_CORNER = {"L": 291, "R": 61}
LIP_INNER_UPPER, LIP_INNER_LOWER = 13, 14
NOSE_BASE, NOSE_BRIDGE, CHIN = 2, 168, 152
CHEEK = {"L": (427, 411), "R": (207, 187)}  # mid-cheek points, outside the Procrustes basis

# measure -> (full_down, rest_lo, rest_hi, full_up); see the module doc for how each number was chosen.
CALIBRATION = {
    "eye_open": (0.019, 0.058, 0.113, 0.155),  # lid gap / outer-corner distance
    "lower_lid": (-0.074, -0.045, -0.028, -0.003),  # lower-lid mid height over the corner line / outer-corner d.
    "brow_inner": (0.159, 0.206, 0.283, 0.379),  # inner brow height over the eye corners / outer-corner dist.
    "brow_inner_mean": (0.162, 0.204, 0.279, 0.358),  # the same, both brows averaged
    "brow_outer": (0.145, 0.183, 0.246, 0.336),
    "corner": (-0.061, -0.013, 0.019, 0.095),  # mouth corner height over the inner-lip midpoint / outer-corner
    "lip_gap": (0.0, 0.0, 0.0, 0.370),  # inner-lip gap / outer-corner distance
    "mouth_width": (0.313, 0.521, 0.587, 0.783),  # corner to corner / outer-corner distance
    "mouth_shift": (-0.062, -0.006, 0.006, 0.062),  # mouth centre x (0 = the face midline) / outer-corner dist.
    "jaw_stretch": (1.816, 2.162, 2.240, 2.515),  # (nose bridge to chin - lip gap) / nose length
    "cheek_width": (0.973, 1.056, 1.116, 1.219),  # mid-cheek width / outer-corner distance
}

EXPRESSION_NAMES = (
    "eyeBlinkLeft", "eyeBlinkRight", "eyeWideLeft", "eyeWideRight", "eyeSquintLeft", "eyeSquintRight",
    "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmileLeft", "mouthSmileRight",
    "mouthFrownLeft", "mouthFrownRight", "mouthLeft", "mouthRight", "browDownLeft", "browDownRight",
    "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff",
)


def _dist(face: np.ndarray, a, b) -> np.ndarray:
    return np.linalg.norm(face[..., a, :] - face[..., b, :], axis=-1)


# Face-size distances (landmark pairs) every measure is built from, in this order.
_PAIRS = {
    "iod": (263, 33),
    **{f"lid_L{i}": (a, b) for i, (a, b) in enumerate(zip(*EYE_LIDS["L"]))},
    **{f"lid_R{i}": (a, b) for i, (a, b) in enumerate(zip(*EYE_LIDS["R"]))},
    "gap": (LIP_INNER_UPPER, LIP_INNER_LOWER), "mouth_w": (MOUTH_CORNER["L"], MOUTH_CORNER["R"]),
    "jaw": (NOSE_BRIDGE, CHIN), "nose": (NOSE_BRIDGE, NOSE_BASE), "cheek0": (CHEEK["L"][0], CHEEK["R"][0]),
    "cheek1": (CHEEK["L"][1], CHEEK["R"][1]),
}
MEASURES = ("eye_open_L", "eye_open_R", "lower_lid_L", "lower_lid_R", "brow_inner_L", "brow_inner_R",
            "brow_inner_mean", "brow_outer_L", "brow_outer_R", "corner_L", "corner_R", "lip_gap", "mouth_width",
            "mouth_shift", "jaw_stretch", "cheek_width")


class _Layout:
    """Each measure as (linear combination of pair distances + linear combination of coordinates) divided by
    one pair distance, as matrices, so a face (or a batch) takes a handful of array operations."""

    def __init__(self):
        pair_names = list(_PAIRS)
        per_side = (BROW_INNER, BROW_OUTER, EYE_CORNERS, {s: (EYE_LOWER_MID[s],) for s in "LR"})
        used = sorted({i for pair in _PAIRS.values() for i in pair} | {i for d in per_side for s in "LR" for i in d[s]})
        col = {lm: k for k, lm in enumerate(used)}
        self.landmarks = np.array(used)
        self.pair_a = np.array([col[a] for a, _ in _PAIRS.values()])
        self.pair_b = np.array([col[b] for _, b in _PAIRS.values()])
        n_m, n_p, n_c = len(MEASURES), len(pair_names), len(used) * 3
        self.dist_num = np.zeros((n_m, n_p))
        self.coord_num = np.zeros((n_m, n_c))
        self.denom = np.zeros((n_m, n_p))
        pi = pair_names.index

        def coord(row, landmarks, axis, weight):
            for lm in landmarks:
                self.coord_num[row, col[lm] * 3 + axis] += weight / len(landmarks)

        for side in "LR":
            corners = EYE_CORNERS[side]
            r = MEASURES.index("eye_open_" + side)
            self.dist_num[r, [pi(f"lid_{side}{i}") for i in range(3)]] = 1 / 3
            # Over the outer-corner distance, not the eye's own width: one eye's width is foreshortened
            # differently on the near and far side of a turned head (the model's depth is flatter than a face).
            self.denom[r, pi("iod")] = 1
            r = MEASURES.index("lower_lid_" + side)  # lower-lid mid height over the corner line
            coord(r, (EYE_LOWER_MID[side],), 1, 1.0)
            coord(r, corners, 1, -1.0)
            self.denom[r, pi("iod")] = 1
            for name, brow in (("brow_inner_", BROW_INNER[side]), ("brow_outer_", BROW_OUTER[side])):
                r = MEASURES.index(name + side)  # brow height over the eye corners / outer-corner distance
                coord(r, brow, 1, 1.0)
                coord(r, corners, 1, -1.0)
                self.denom[r, pi("iod")] = 1
            r = MEASURES.index("corner_" + side)  # mouth corner height over the inner-lip midpoint
            coord(r, (MOUTH_CORNER[side],), 1, 1.0)
            coord(r, (LIP_INNER_UPPER, LIP_INNER_LOWER), 1, -1.0)
            self.denom[r, pi("iod")] = 1
        mean_row = MEASURES.index("brow_inner_mean")
        self.coord_num[mean_row] = 0.5 * (self.coord_num[MEASURES.index("brow_inner_L")] +
                                          self.coord_num[MEASURES.index("brow_inner_R")])
        self.denom[mean_row, pi("iod")] = 1
        r = MEASURES.index("lip_gap")
        self.dist_num[r, pi("gap")], self.denom[r, pi("iod")] = 1, 1
        r = MEASURES.index("mouth_width")
        self.dist_num[r, pi("mouth_w")], self.denom[r, pi("iod")] = 1, 1
        # Mouth centre x from the face's midline (x = 0 of the symmetric canonical fit). Not from a nose point:
        # the model's depth is flatter than a real face, so a point far in front of the mouth (the nose)
        # slides sideways against it as the head turns.
        r = MEASURES.index("mouth_shift")
        coord(r, (MOUTH_CORNER["L"], MOUTH_CORNER["R"]), 0, 1.0)
        self.denom[r, pi("iod")] = 1
        # Jaw drop not explained by parted lips, over the nose length (which follows lower-face length
        # across people better than the eye distance does).
        r = MEASURES.index("jaw_stretch")
        self.dist_num[r, pi("jaw")], self.dist_num[r, pi("gap")], self.denom[r, pi("nose")] = 1, -1, 1
        r = MEASURES.index("cheek_width")
        self.dist_num[r, [pi("cheek0"), pi("cheek1")]], self.denom[r, pi("iod")] = 0.5, 1

        # the pair differences as one matrix over the used landmarks, and the maps transposed, for measures()
        self.pair_diff = np.zeros((n_p, len(used)))
        self.pair_diff[np.arange(n_p), self.pair_a] += 1.0
        self.pair_diff[np.arange(n_p), self.pair_b] -= 1.0
        self.dist_num_t = np.ascontiguousarray(self.dist_num.T)
        self.coord_num_t = np.ascontiguousarray(self.coord_num.T)
        self.denom_t = np.ascontiguousarray(self.denom.T)

    def measures(self, face: np.ndarray) -> np.ndarray:
        """(..., 478, 3) -> (..., len(MEASURES))."""
        return self.measures_of_points(face[..., self.landmarks, :])

    def measures_of_points(self, pts: np.ndarray) -> np.ndarray:
        """(..., len(landmarks), 3), the ``landmarks`` rows in order -> (..., len(MEASURES))."""
        diff = self.pair_diff @ pts
        diff *= diff
        dist = np.sqrt(diff.sum(axis=-1))
        num = dist @ self.dist_num_t
        num += pts.reshape(pts.shape[:-2] + (-1,)) @ self.coord_num_t
        num /= dist @ self.denom_t
        return num


_LAYOUT = _Layout()
EXPRESSION_LANDMARKS = _LAYOUT.landmarks  # the landmark ids the measures read


def raw_measures(face: np.ndarray) -> dict[str, np.ndarray]:
    """Scale-free measures of one face (478, 3) or a batch (N, 478, 3) in the canonical face frame, by name
    (MEASURES; CALIBRATION says what each is). Calibration pools the _L/_R pairs."""
    m = _LAYOUT.measures(face)
    return {name: m[..., k] for k, name in enumerate(MEASURES)}


def _coefficient_table():
    """Per base coefficient: (measure row, start, span): coefficient = clip((m - start) / span, 0, 1)."""
    rows, names = [], []

    def up(name, measure, key):
        _, _, hi, full = CALIBRATION[key]
        rows.append((MEASURES.index(measure), hi, full - hi))
        names.append(name)

    def down(name, measure, key):
        full, lo, _, _ = CALIBRATION[key]
        rows.append((MEASURES.index(measure), lo, full - lo))
        names.append(name)

    for side, label in (("L", "Left"), ("R", "Right")):
        down("eyeBlink" + label, "eye_open_" + side, "eye_open")
        up("eyeWide" + label, "eye_open_" + side, "eye_open")
        up("eyeSquint" + label, "lower_lid_" + side, "lower_lid")
        up("mouthSmile" + label, "corner_" + side, "corner")
        down("mouthFrown" + label, "corner_" + side, "corner")
        down("browDown" + label, "brow_inner_" + side, "brow_inner")
        up("browOuterUp" + label, "brow_outer_" + side, "brow_outer")
    up("browInnerUp", "brow_inner_mean", "brow_inner_mean")
    up("jawOpen", "lip_gap", "lip_gap")
    up("mouthLeft", "mouth_shift", "mouth_shift")
    down("mouthRight", "mouth_shift", "mouth_shift")
    # helpers combined below
    up("_stretch", "jaw_stretch", "jaw_stretch")
    down("_narrow", "mouth_width", "mouth_width")
    rows.append((MEASURES.index("lip_gap"), 0.0, 0.25 * CALIBRATION["lip_gap"][3]))  # lips visibly apart
    names.append("_parted")
    up("_cheeks", "cheek_width", "cheek_width")
    idx, start, span = (np.array(v) for v in zip(*rows))
    return names, idx, start.astype(np.float64), span.astype(np.float64)


_BASE_NAMES, _BASE_IDX, _BASE_START, _BASE_SPAN = _coefficient_table()
_B = {n: k for k, n in enumerate(_BASE_NAMES)}
_OUT_FROM_BASE = [_B.get(n, _B["_narrow"]) for n in EXPRESSION_NAMES]  # composites start from a base
_I = {n: k for k, n in enumerate(EXPRESSION_NAMES)}


def expression_coefficients(face: np.ndarray) -> np.ndarray:
    """(22,) coefficients in EXPRESSION_NAMES order for one face (478, 3), or (N, 22) for a batch."""
    return coefficients_of_points(face[..., EXPRESSION_LANDMARKS, :])


def coefficients_of_points(pts: np.ndarray) -> np.ndarray:
    """``expression_coefficients`` from only the EXPRESSION_LANDMARKS rows, in that order ((..., L, 3))."""
    if pts.ndim == 2:  # one face: the per-frame path
        return np.array(_composites(_single_face_base(pts)))
    m = _LAYOUT.measures_of_points(pts)
    base = m[..., _BASE_IDX]
    base -= _BASE_START
    base /= _BASE_SPAN
    np.maximum(base, 0.0, out=base)  # NaN stays NaN
    np.minimum(base, 1.0, out=base)
    rows = [_composites(row) for row in base.reshape(-1, base.shape[-1]).tolist()]
    return np.array(rows).reshape(base.shape[:-1] + (len(EXPRESSION_NAMES),))


def _single_face_matrix() -> tuple[np.ndarray, np.ndarray]:
    """For one face, (pair distances, flattened points) @ this = (numerators | denominators x span) of each
    base coefficient's measure, so base = numerator / denominator - start / span in one product."""
    lay = _LAYOUT
    num = np.vstack([lay.dist_num_t, lay.coord_num_t])[:, _BASE_IDX]
    den = np.vstack([lay.denom_t, np.zeros_like(lay.coord_num_t)])[:, _BASE_IDX] * _BASE_SPAN
    return np.hstack([num, den]), _BASE_START / _BASE_SPAN


_SINGLE_MATRIX, _SINGLE_OFFSET = _single_face_matrix()
_N_BASE = len(_BASE_IDX)


def _single_face_base(pts: np.ndarray) -> list[float]:
    """The base coefficients (clipped to [0, 1], NaN kept) of one face, as floats."""
    diff = _LAYOUT.pair_diff @ pts
    diff *= diff
    features = np.concatenate([np.sqrt(diff.sum(axis=1)), pts.ravel()])
    y = features @ _SINGLE_MATRIX
    base = y[:_N_BASE] / y[_N_BASE:]
    base -= _SINGLE_OFFSET
    return [v if 0.0 <= v <= 1.0 or v != v else (0.0 if v < 0.0 else 1.0) for v in base.tolist()]


def _composites(base: list[float]) -> list[float]:
    """The EXPRESSION_NAMES coefficients of one face from its base coefficients, on floats: the composite
    ones are products of bases."""
    out = [base[k] for k in _OUT_FROM_BASE]
    jaw, narrow, parted = base[_B["jawOpen"]], base[_B["_narrow"]], base[_B["_parted"]]
    out[_I["mouthClose"]] = base[_B["_stretch"]] * (1.0 - jaw)
    out[_I["mouthPucker"]] = narrow * (1.0 - parted)  # narrow, closed lips (a kiss)
    out[_I["mouthFunnel"]] = narrow * parted  # narrow, open lips (an "oo")
    # Cheeks also widen in a broad smile or with the jaw open: a puff is wide cheeks with neither.
    left, right = base[_B["mouthSmileLeft"]], base[_B["mouthSmileRight"]]
    smile = left if left >= right or right != right else right  # np.maximum: NaN if either is NaN
    smile = smile if left == left else left
    out[_I["cheekPuff"]] = base[_B["_cheeks"]] * (1.0 - smile) * (1.0 - jaw)
    return out
