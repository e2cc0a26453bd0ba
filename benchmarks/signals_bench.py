"""Face-signal measurements: head pose against AFLW2000-3D, exactness checks (in-plane rotation, flip),
blink events against hand marks, jaw opening, head-turn invariance, jitter with/without smoothing, cost.

    .venv/bin/python -m benchmarks.signals_bench            # full
    .venv/bin/python -m benchmarks.signals_bench --quick    # fewer photos/frames
    .venv/bin/python -m benchmarks.signals_bench --calibrate  # recompute pipeline.expressions.CALIBRATION

``run(quick) -> dict`` is what the main bench includes.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.reference import LANDMARKS, PHOTOS, VIDEOS
from pipeline.head_pose import aflw2000_angles_deg, euler_deg_to_rotation, landmarks_from_metric, rotation_of
from pipeline.signals import BLENDSHAPE_NAMES, SignalEstimator

AFLW = LANDMARKS / "prnet_aflw2000"
PUBLISHED_MAE = {"HopeNet": 6.16, "FSA-Net": 5.07, "6DRepNet": 3.97}

# Blink events marked by hand: every frame of each clip was cut out around the eyes, tiled with its frame
# number and looked at; each tuple is the first and last frame with both eyes closed (lids touching or nearly).
HAND_BLINKS = {
    "SadTalker_WDA_AlexandriaOcasioCortez_000.mp4": [(10, 12), (34, 36), (56, 58), (80, 82), (97, 98), (110, 111),
                                                     (129, 131), (150, 151), (177, 178)],
    "LivePortrait_s32.mp4": [(4, 7), (42, 45), (66, 69), (175, 178)],
}
JAW_CLIPS = ("LivePortrait_d12.mp4", "LivePortrait_d11.mp4")  # wide mouth openings
TURN_CLIPS = ("LivePortrait_d12.mp4", "LivePortrait_d3.mp4", "LivePortrait_d11.mp4", "LivePortrait_d20.mp4")
FLIP_PHOTOS = ("face_recognition_obama.jpg", "deepface_img20.jpg", "face_recognition_alex-lacamoire.png",
               "face_recognition_lin-manuel-miranda.png", "deepface_img16.jpg", "face_recognition_johnsnow_test1.jpg")


def make_tracker(smooth: bool = False, **changes):
    from pipeline import FaceTracker, PipelineConfig
    return FaceTracker.create(PipelineConfig(provider="cpu", smooth=smooth, **changes))


def largest_face(result):
    faces = [f for f in result.faces if f.signals is not None]
    if not faces:
        return None
    return max(faces, key=lambda f: np.ptp(f.landmarks_px[:468, 0]))


def track_clip(tracker, path: Path, limit: int | None = None) -> dict:
    """Per frame of a clip (video mode): landmarks (raw and shown), signals of the first face; NaN without one."""
    from pipeline import open_source
    tracker.reset()
    shown, raw, blend, euler, size = [], [], [], [], None
    with open_source(str(path)) as source:
        for frame in source:
            if limit is not None and frame.index >= limit:
                break
            result = tracker.process(frame)
            size = (frame.frame_bgr.shape[1], frame.frame_bgr.shape[0])
            face = result.faces[0] if result.faces else None
            nan = np.full((478, 3), np.nan, np.float32)
            shown.append(face.landmarks_px if face else nan)
            raw.append(face.raw_landmarks_px if face else nan)
            ok = face is not None and face.signals is not None
            blend.append(face.signals.blendshapes if ok else np.full(len(BLENDSHAPE_NAMES), np.nan))
            euler.append(face.signals.pose_euler_deg if ok else np.full(3, np.nan))
    return {"landmarks": np.array(shown), "raw": np.array(raw), "blendshapes": np.array(blend),
            "euler": np.array(euler), "size": size}


# ---- head pose --------------------------------------------------------------------------------------------
def aflw_pose(tracker) -> dict:
    """MAE (deg) per angle against AFLW2000-3D Pose_Para, mapped with head_pose.aflw2000_angles_deg."""
    rows = []
    for path in sorted(AFLW.glob("*.jpg")):
        gt = json.loads(path.with_suffix("").with_suffix(".landmarks.json").read_text())
        truth = np.degrees(np.asarray(gt["Pose_Para"], np.float64).ravel()[:3])
        face = largest_face(tracker.detect_image(cv2.imread(str(path))))
        if face is None:
            rows.append({"image": path.name, "detected": False})
            continue
        pred = aflw2000_angles_deg(rotation_of(face.signals.pose_matrix.astype(np.float64)))
        rows.append({"image": path.name, "detected": True, "truth": truth.round(2).tolist(),
                     "pred": pred.round(2).tolist(), "abs_err": np.abs(pred - truth).round(2).tolist()})
    errs = np.array([r["abs_err"] for r in rows if r["detected"]])
    mae = errs.mean(axis=0)
    return {"faces": len(rows), "detected": len(errs), "mae_pitch": float(mae[0]), "mae_yaw": float(mae[1]),
            "mae_roll": float(mae[2]), "mae_mean": float(mae.mean()), "rows": rows,
            "over_10": [r for r in rows if r["detected"] and max(r["abs_err"]) > 10]}


def rotate_image(image: np.ndarray, degrees_ccw: float) -> np.ndarray:
    """Turn an image counter-clockwise on screen about its centre (same size; the camera centre stays put)."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees_ccw, 1.0)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def settled(tracker, image: np.ndarray, frames: int = 3):
    """The largest face after ``frames`` video-mode steps on the same still image: from the second step on the
    crop comes from the landmarks, as in live use (detect_image's crop comes from the detector box, which
    moves with the image and adds several degrees of pitch noise of its own)."""
    from pipeline.sources import Frame
    tracker.reset()
    result = None
    for i in range(frames):
        result = tracker.process(Frame(i, i * 33.3, image, time.perf_counter()))
    return largest_face(result)


def rotation_and_flip_errors(tracker, image: np.ndarray, angles=(-30.0, -15.0, 15.0, 30.0)):
    """(pitch, yaw, roll) of the photo, [(theta, roll error, max yaw/pitch change)] per in-plane turn and
    (|pitch change|, |yaw + yaw'|, |roll + roll'|) for the horizontal flip; degrees. None where no face."""
    base = settled(tracker, image)
    if base is None:
        return None, [], None
    p0, y0, r0 = base.signals.pose_euler_deg.astype(np.float64)
    turns = []
    for theta in angles:
        face = settled(tracker, rotate_image(image, theta))
        if face is not None:
            p, y, r = face.signals.pose_euler_deg.astype(np.float64)
            turns.append((theta, abs((r - r0 - theta + 180) % 360 - 180), max(abs(p - p0), abs(y - y0))))
    face = settled(tracker, cv2.flip(image, 1))
    flip = None
    if face is not None:
        p, y, r = face.signals.pose_euler_deg.astype(np.float64)
        flip = (abs(p - p0), abs(y + y0), abs(r + r0))
    return (p0, y0, r0), turns, flip


def crop_nudges(roi) -> list:
    """The crop turned by +-1 deg and moved by 1% of its size along x and y: the size of the differences
    between the crops the tracker takes of one face from frame to frame, or of one photo turned in-plane."""
    turn = np.radians(1.0)
    return [dataclasses.replace(roi, rotation=roi.rotation + turn),
            dataclasses.replace(roi, rotation=roi.rotation - turn),
            dataclasses.replace(roi, center_x=roi.center_x + 0.01 * roi.width),
            dataclasses.replace(roi, center_y=roi.center_y + 0.01 * roi.height)]


def coefficient_view_changes(tracker, photos: list[Path], angles=(-30.0, -15.0, 15.0, 30.0)) -> dict:
    """How far the expression coefficients move between views of one still photo that show the same expression:
    turned in-plane by theta (nothing should move) and mirrored (Left and Right should swap). Per view the
    largest |change| over the coefficients (eyeLook* left out: gaze is measured against the eye, not the face);
    median and 90th percentile over views. Faces turned over 45 deg are left out, as in ``exactness``.

    The control (``nudge_*``): the same largest change between the mesh on the unchanged photo's own crop and
    on that crop turned by 1 deg or moved by 1% (``crop_nudges``), with no turn at all: the landmark model's
    own answer to a slightly different crop, the floor under any view change."""
    keep = [k for k, n in enumerate(BLENDSHAPE_NAMES) if not n.startswith("eyeLook")]
    mirror = [BLENDSHAPE_NAMES.index(n.replace("Left", "#").replace("Right", "Left").replace("#", "Right"))
              for n in BLENDSHAPE_NAMES]
    turned, flipped, nudged, worst = [], [], [], {}
    estimator = SignalEstimator()
    for path in photos:
        image = cv2.imread(str(path))
        base = settled(tracker, image)
        if base is None or abs(base.signals.pose_euler_deg[1]) > 45:
            continue
        c0 = base.signals.blendshapes.astype(np.float64)
        size = (image.shape[1], image.shape[0])
        plain = estimator(tracker.mesh(image, base.roi).landmarks_px, size).blendshapes.astype(np.float64)
        for roi in crop_nudges(base.roi):  # the control: the same picture, no turn, the crop moved a little
            c = estimator(tracker.mesh(image, roi).landmarks_px, size).blendshapes.astype(np.float64)
            nudged.append(float(np.abs(c - plain)[keep].max()))
        views = [(turned, rotate_image(image, theta), None) for theta in angles]
        views.append((flipped, cv2.flip(image, 1), mirror))
        for into, view, order in views:
            face = settled(tracker, view)
            if face is None:
                continue
            c = face.signals.blendshapes.astype(np.float64)
            change = np.abs((c if order is None else c[order]) - c0)[keep]
            into.append(float(change.max()))
            name = BLENDSHAPE_NAMES[keep[int(change.argmax())]]
            worst[name] = worst.get(name, 0) + 1
    return {"turns": len(turned), "flips": len(flipped),
            "turn_max_change_median": float(np.median(turned)), "turn_max_change_p90": float(np.percentile(turned, 90)),
            "turn_share_within_0.15": float(np.mean(np.array(turned) <= 0.15)),
            "flip_max_change_median": float(np.median(flipped)),
            "flip_max_change_p90": float(np.percentile(flipped, 90)),
            "nudges": len(nudged), "nudge_max_change_median": float(np.median(nudged)),
            "nudge_max_change_p90": float(np.percentile(nudged, 90)),
            "largest_most_often": sorted(worst.items(), key=lambda kv: -kv[1])[:4]}


def exactness(tracker, photos: list[Path]) -> dict:
    """In-plane rotation by theta: roll changes by theta, yaw/pitch stay; horizontal flip: yaw and roll change
    sign, pitch stays. Errors in degrees over photos; faces turned over 45 deg (near profile, where the mesh
    model itself is least consistent) are reported apart."""
    rot_roll, rot_other, flip_err, profile = [], [], [], []
    for path in photos:
        pose, turns, flip = rotation_and_flip_errors(tracker, cv2.imread(str(path)))
        if pose is None:
            continue
        if abs(pose[1]) > 45:
            profile.append({"photo": path.name, "pose": np.round(pose, 1).tolist(),
                            "turn_errors": [np.round(t, 2).tolist() for t in turns],
                            "flip_errors": None if flip is None else np.round(flip, 2).tolist()})
            continue
        rot_roll += [t[1] for t in turns]
        rot_other += [t[2] for t in turns]
        if flip is not None:
            flip_err.append(flip)
    flip = np.array(flip_err).reshape(-1, 3)
    return {"photos": len(photos) - len(profile), "rotations": len(rot_roll), "profile_faces": profile,
            "rotation_roll_err_median": float(np.median(rot_roll)),
            "rotation_yaw_pitch_err_median": float(np.median(rot_other)),
            "flip_pitch_err_median": float(np.median(flip[:, 0])), "flip_yaw_err_median": float(np.median(flip[:, 1])),
            "flip_roll_err_median": float(np.median(flip[:, 2])),
            "rotation_roll_err_max": float(max(rot_roll)), "rotation_roll_err_mean": float(np.mean(rot_roll)),
            "rotation_yaw_pitch_err_max": float(max(rot_other)),
            "rotation_yaw_pitch_err_mean": float(np.mean(rot_other)), "flips": len(flip),
            "flip_pitch_err_max": float(flip[:, 0].max()), "flip_yaw_err_max": float(flip[:, 1].max()),
            "flip_roll_err_max": float(flip[:, 2].max()), "flip_err_mean": float(flip.mean())}


# ---- coefficients -----------------------------------------------------------------------------------------
def events(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True as (first, last) frame."""
    out, start = [], None
    for i, v in enumerate(list(mask) + [False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            out.append((start, i - 1))
            start = None
    return out


def match_events(found: list[tuple[int, int]], marked: list[tuple[int, int]], slack: int = 1) -> dict:
    """A found event matches a marked one when they overlap (within ``slack`` frames)."""
    def hit(a, b):
        return a[0] <= b[1] + slack and b[0] <= a[1] + slack
    missed = [m for m in marked if not any(hit(f, m) for f in found)]
    false = [f for f in found if not any(hit(f, m) for m in marked)]
    return {"marked": len(marked), "found": len(found), "missed": missed, "false": false}


def blinks(tracker) -> dict:
    """Blink events = runs of frames where the mean of eyeBlinkLeft and eyeBlinkRight is > 0.5 (a blink closes
    both eyes; the model often reads one eye a little more open than the other), against HAND_BLINKS."""
    left, right = BLENDSHAPE_NAMES.index("eyeBlinkLeft"), BLENDSHAPE_NAMES.index("eyeBlinkRight")
    out = {}
    for clip, marked in HAND_BLINKS.items():
        b = track_clip(tracker, VIDEOS / clip)["blendshapes"]
        out[clip] = match_events(events(0.5 * (b[:, left] + b[:, right]) > 0.5), marked)
    return out


def image_lip_gap(landmarks_px: np.ndarray) -> np.ndarray:
    """Inner-lip gap (13-14) in image pixels over the outer-eye-corner distance: a 2-D measure independent of
    the 3-D normalisation jawOpen reads."""
    gap = np.linalg.norm(landmarks_px[:, 13, :2] - landmarks_px[:, 14, :2], axis=1)
    return gap / np.linalg.norm(landmarks_px[:, 33, :2] - landmarks_px[:, 263, :2], axis=1)


def binned_monotonic(x: np.ndarray, y: np.ndarray, bins: int = 8) -> tuple[list[float], bool]:
    """Mean y per x-quantile bin and whether those means never decrease."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    edges = np.quantile(x, np.linspace(0, 1, bins + 1))
    means = [float(y[(x >= lo) & (x <= hi)].mean()) for lo, hi in zip(edges[:-1], edges[1:])]
    return means, bool(np.all(np.diff(means) >= -1e-6))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    rx, ry = np.argsort(np.argsort(x[ok])), np.argsort(np.argsort(y[ok]))
    return float(np.corrcoef(rx, ry)[0, 1])


def jaw_opening(tracker) -> dict:
    jaw = BLENDSHAPE_NAMES.index("jawOpen")
    out = {}
    for clip in JAW_CLIPS:
        t = track_clip(tracker, VIDEOS / clip)
        gap = image_lip_gap(t["landmarks"])
        means, mono = binned_monotonic(gap, t["blendshapes"][:, jaw])
        out[clip] = {"spearman": spearman(gap, t["blendshapes"][:, jaw]), "bin_means": [round(m, 3) for m in means],
                     "monotonic": mono}
    return out


def _placed(mesh_cm: np.ndarray, distance_cm: float, size) -> np.ndarray:
    """A centred metric mesh put ``distance_cm`` in front of the virtual camera, as landmarks in pixels."""
    return landmarks_from_metric(mesh_cm + [0.0, 0.0, -distance_cm], size).astype(np.float32)


def synthetic_turn(estimator: SignalEstimator, landmarks: np.ndarray, size, degrees: float = 30.0,
                   distance_cm: float = 60.0) -> np.ndarray:
    """Max |change| per coefficient when each face's metric mesh, placed ``distance_cm`` in front of the
    virtual camera, is turned by +-degrees (yaw, then pitch) about its centre and shown to the estimator
    again (perspective projection; at 60 cm, a webcam user at arm's length)."""
    worst = np.zeros(len(BLENDSHAPE_NAMES))
    for lm in landmarks:
        if not np.isfinite(lm[:468]).all():
            continue
        mesh = estimator(lm, size).metric_landmarks.astype(np.float64)
        mesh = mesh - mesh[:468].mean(axis=0)
        s0 = estimator(_placed(mesh, distance_cm, size), size)
        for pitch, yaw in ((0, degrees), (0, -degrees), (degrees, 0), (-degrees, 0)):
            turned = estimator(_placed(mesh @ euler_deg_to_rotation(pitch, yaw, 0.0).T, distance_cm, size), size)
            worst = np.maximum(worst, np.nan_to_num(np.abs(turned.blendshapes - s0.blendshapes)))
    return worst


def _slope_30(x: np.ndarray, v: np.ndarray) -> float:
    """|least-squares slope of v against x (degrees)| x 30: the change a 30-degree turn explains."""
    return float(abs(np.polyfit(x, v, 1)[0]) * 30)


def real_turn(tracker, clips=TURN_CLIPS) -> dict:
    """On real head-turn clips, least-squares slopes against yaw (and pitch), times 30 deg:

    - ``asym_*``: of each left-minus-right coefficient difference (and mouthLeft - mouthRight). A pose artefact
      shows up here (the turned-away half of the face reads differently), while people's expressions are
      mostly symmetric, so this isolates the artefact;
    - ``any_*``: of each coefficient itself, an upper bound that also counts expressions which happen to
      coincide with the turns (people smile or open the mouth while turning).
    - ``pooled``: the asymmetry slopes with every clip's own mean removed and all clips fitted together,
      signed. A pose artefact is a function of the pose, the same in every clip, so it survives pooling; an
      expression that happens to go with one person's turns has its own sign per clip and partly cancels.
      ``signs`` says per pair whether the clips agree in sign.
    eyeLook* are left out: gaze is relative to the head, and people keep looking at the camera while they
    turn, so the eyes really do counter-rotate.
    """
    pairs = [(BLENDSHAPE_NAMES.index(n), BLENDSHAPE_NAMES.index(n.replace("Left", "Right")), n.replace("Left", ""))
             for n in BLENDSHAPE_NAMES if n.endswith("Left") and not n.startswith(("eyeLook", "mouthLeft"))]
    pairs.append((BLENDSHAPE_NAMES.index("mouthLeft"), BLENDSHAPE_NAMES.index("mouthRight"), "mouthLeft-Right"))
    keep = [k for k, n in enumerate(BLENDSHAPE_NAMES) if not n.startswith("eyeLook")]
    out: dict = {}
    pooled_x, pooled_y, signed = [], {label: [] for *_, label in pairs}, {label: [] for *_, label in pairs}
    for clip in clips:
        t = track_clip(tracker, VIDEOS / clip)
        e, b = t["euler"], t["blendshapes"]
        ok = np.isfinite(e).all(axis=1)
        e, b = e[ok].astype(np.float64), b[ok].astype(np.float64)
        row = {"frames": int(ok.sum()), "yaw_range": [float(e[:, 1].min()), float(e[:, 1].max())],
               "pitch_range": [float(e[:, 0].min()), float(e[:, 0].max())]}
        for axis, name in ((1, "yaw"), (0, "pitch")):
            x = e[:, axis] - e[:, axis].mean()
            if x.std() < 3:
                continue
            asym = {label: _slope_30(x, b[:, i] - b[:, j]) for i, j, label in pairs}
            worst = max(asym, key=asym.get)
            row[f"asym_{name}"] = (round(asym[worst], 3), worst)
            anyc = {BLENDSHAPE_NAMES[k]: _slope_30(x, b[:, k]) for k in keep}
            worst = max(anyc, key=anyc.get)
            row[f"any_{name}"] = (round(anyc[worst], 3), worst)
            if name == "yaw":
                pooled_x.append(x)
                for i, j, label in pairs:
                    d = b[:, i] - b[:, j]
                    pooled_y[label].append(d - d.mean())
                    signed[label].append(float(np.polyfit(x, d, 1)[0] * 30))
        out[clip] = row
    if len(pooled_x) >= 2:
        x = np.concatenate(pooled_x)
        slopes = {label: float(np.concatenate(ys) @ x / (x @ x) * 30) for label, ys in pooled_y.items()}
        worst = max(slopes, key=lambda k: abs(slopes[k]))
        out["pooled"] = {"clips": len(pooled_x), "slopes": {k: round(v, 3) for k, v in slopes.items()},
                         "worst": (round(slopes[worst], 3), worst),
                         "signs": {k: "agree" if len({np.sign(v) for v in vs}) == 1 else "differ"
                                   for k, vs in signed.items()},
                         "per_clip": {k: [round(v, 3) for v in vs] for k, vs in signed.items()}}
    return out


def turn_across_photos(tracker, max_yaw: float = 45.0, boot: int = 500) -> dict:
    """Across every face in the shared photos (|yaw| <= max_yaw, |pitch| <= 30, eye distance >= 20 px), the
    least-squares fit of each coefficient on yaw + yaw^2, as the change at +-30 deg.

    Unlike a clip, a population has no expression that goes with the turns: which way a photographed person
    faces is independent of their expression, so the yaw-odd (linear) part estimates the pose artefact
    without that confound (its 95% bootstrap interval says how well). The yaw-even (quadratic) part is still
    confounded: turned faces come mostly from other datasets (AFLW2000, AFW) than frontal portraits.
    """
    yaw, coef = [], []
    paths = sorted(PHOTOS.glob("*")) + sorted(p for p in LANDMARKS.glob("*/*") if p.suffix.lower() in (".jpg", ".png"))
    for path in paths:
        image = cv2.imread(str(path))
        if image is None:
            continue
        for f in tracker.detect_image(image).faces:
            pitch, y, _ = f.signals.pose_euler_deg
            iod = float(np.linalg.norm(f.landmarks_px[33, :2] - f.landmarks_px[263, :2]))
            if abs(y) <= max_yaw and abs(pitch) <= 30 and iod >= 20:
                yaw.append(float(y))
                coef.append(f.signals.blendshapes.astype(np.float64))
    yaw, coef = np.array(yaw), np.array(coef)
    keep = [k for k, n in enumerate(BLENDSHAPE_NAMES) if not n.startswith("eyeLook")]
    rng = np.random.default_rng(0)
    design = np.stack([np.ones_like(yaw), yaw / 30, (yaw / 30) ** 2], axis=1)
    draws = [rng.integers(0, len(yaw), len(yaw)) for _ in range(boot)]
    rows = {}
    for k in keep:
        fit = np.linalg.lstsq(design, coef[:, k], rcond=None)[0]
        lin = np.array([np.linalg.lstsq(design[i], coef[i, k], rcond=None)[0][1] for i in draws])
        rows[BLENDSHAPE_NAMES[k]] = {"linear": round(float(fit[1]), 3), "quadratic": round(float(fit[2]), 3),
                                     "linear_95": [round(float(v), 3) for v in np.percentile(lin, [2.5, 97.5])]}
    worst = max(rows, key=lambda n: abs(rows[n]["linear"]))
    return {"faces": len(yaw), "yaw_range": [float(yaw.min()), float(yaw.max())], "coefficients": rows,
            "worst_linear": (rows[worst]["linear"], worst),
            "worst_quadratic": max(((v["quadratic"], n) for n, v in rows.items()), key=lambda t: abs(t[0]))}


# ---- jitter and cost --------------------------------------------------------------------------------------
def jitter(quick: bool) -> dict:
    """Still face + sensor noise (benchmarks.jitter_rig 'still'): mean |value - its mean| of pitch/yaw/roll (deg)
    and of the coefficients, from raw landmarks and from the live-smoothed ones (what the tracker shows)."""
    from benchmarks.jitter_rig import live_smooth, make_sequence, rig_photos
    tracker = make_tracker(smooth=False)
    estimator = SignalEstimator()
    names = ["face_recognition_obama.jpg", "deepface_img20.jpg", "face_recognition_lin-manuel-miranda.png"]
    photos = rig_photos(tracker.detector, names=names[:1] if quick else names)
    n = 60 if quick else 120
    rows = []
    for name, photo, box in photos:
        seq = make_sequence(photo, box, "still", n, seed=1)
        raw = np.full((n, 478, 3), np.nan)
        tracker.reset()
        from pipeline.sources import Frame
        for i, (frame, ts) in enumerate(zip(seq.frames, seq.timestamps_ms)):
            result = tracker.process(Frame(i, float(ts), frame, time.perf_counter()))
            if result.faces:
                raw[i] = result.faces[0].raw_landmarks_px
        smoothed = live_smooth(raw, seq.timestamps_ms)
        size = (frame.shape[1], frame.shape[0])
        row = {"photo": name}
        for label, track in (("raw", raw), ("smoothed", smoothed)):
            sig = [estimator(lm.astype(np.float32), size) for lm in track[10:] if np.isfinite(lm[:468]).all()]
            eul = np.array([s.pose_euler_deg for s in sig], np.float64)
            bs = np.array([s.blendshapes for s in sig], np.float64)
            dev_e = np.abs(eul - eul.mean(axis=0)).mean(axis=0)
            dev_b = np.nanmean(np.abs(bs - np.nanmean(bs, axis=0)), axis=0)
            row[label] = {"pitch_deg": float(dev_e[0]), "yaw_deg": float(dev_e[1]), "roll_deg": float(dev_e[2]),
                          "coef_mean": float(np.nanmean(dev_b)), "coef_max": float(np.nanmax(dev_b)),
                          "coef_max_name": BLENDSHAPE_NAMES[int(np.nanargmax(dev_b))]}
        rows.append(row)
    keys = ("pitch_deg", "yaw_deg", "roll_deg", "coef_mean", "coef_max")
    summary = {label: {k: float(np.mean([r[label][k] for r in rows])) for k in keys} for label in ("raw", "smoothed")}
    return {"frames": n, "photos": rows, "mean": summary}


def cost(landmarks: np.ndarray, size, repeats: int = 5) -> dict:
    """Per-face cost of SignalEstimator.__call__ (the whole signals stage): median of ``repeats`` passes over
    the landmark sets, in CPU time of the calling thread (thread_time: what the tracking thread pays; other
    threads of this process, e.g. a rival's graph, are not counted) and wall time (perf_counter: includes
    waiting for the CPU on a shared machine)."""
    estimator = SignalEstimator()
    sets = [lm for lm in landmarks if np.isfinite(lm[:468]).all()]
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.thread_time(), time.perf_counter()
        for lm in sets:
            estimator(lm, size)
        cpu.append((time.thread_time() - c0) / len(sets) * 1000)
        wall.append((time.perf_counter() - w0) / len(sets) * 1000)
    return {"faces": len(sets), "repeats": repeats, "cpu_ms_median": float(np.median(cpu)),
            "cpu_ms_min": float(min(cpu)), "cpu_ms_max": float(max(cpu)), "wall_ms_median": float(np.median(wall)),
            "wall_ms_min": float(min(wall)), "wall_ms_max": float(max(wall))}


# ---- calibration ------------------------------------------------------------------------------------------
# Signed measures that a mirror image negates (the mouth's sideways shift): calibrated on each value and its
# negation, so that mouthLeft and mouthRight get mirror-image ranges and a face and its mirror image read
# mirrored coefficients; per-side measures (_L/_R) are pooled over both sides for the same reason.
MIRROR_SIGNED = ("mouth_shift",)


def calibrate() -> dict:
    """Recompute pipeline.expressions.CALIBRATION and the eyeLook full angles from every shared clip and photo
    (the rules are in pipeline.expressions' module doc)."""
    from pipeline.expressions import MEASURES, expression_coefficients, raw_measures
    tracker = make_tracker(smooth=False, max_faces=1)
    estimator = SignalEstimator()
    groups = []  # one normalised-face array per clip, and one for all photos
    for clip in sorted(VIDEOS.glob("*.mp4")):
        if "facenet" in clip.name:  # a crowd of tiny faces: no usable expression data
            continue
        t = track_clip(tracker, clip)
        groups.append(np.array([estimator.normalised_face(lm, t["size"]) for lm in t["raw"]
                                if np.isfinite(lm[:468]).all()]))
    photo_tracker = make_tracker(smooth=False, max_faces=10)
    faces = []
    for path in sorted(PHOTOS.glob("*")) + sorted(LANDMARKS.glob("*/*.jpg")):
        image = cv2.imread(str(path))
        if image is None:
            continue
        for f in photo_tracker.detect_image(image).faces:
            faces.append(estimator.normalised_face(f.landmarks_px, (image.shape[1], image.shape[0])))
    groups.append(np.array(faces))
    per = [raw_measures(g) for g in groups]
    table = {}
    for key in dict.fromkeys(m.rsplit("_", 1)[0] if m[-2:] in ("_L", "_R") else m for m in MEASURES):
        names = [key + "_L", key + "_R"] if key + "_L" in per[0] else [key]
        medians = np.array([np.median(p[n]) for p in per for n in names])
        pooled = np.concatenate([p[n] for p in per for n in names])
        if key in MIRROR_SIGNED:  # a mirror image negates it: pool each value with its mirror's
            medians, pooled = np.concatenate([medians, -medians]), np.concatenate([pooled, -pooled])
        q25, q75 = np.percentile(medians, [25, 75])
        p1, p99 = np.percentile(pooled, [1, 99])
        if key == "eye_open":  # an open eye must never read as a blink: rest starts at the narrowest open eye
            q25 = medians.min()
        if key == "lip_gap":  # rest = lips touching
            p1 = q25 = q75 = 0.0
        table[key] = tuple(round(float(v), 3) for v in (p1, q25, q75, p99))
    from pipeline.gaze import RESTING_PITCH_DEG
    gaze, per_group = [], []
    for g in groups:  # open-eye faces with irises (a closed eye's iris is a guess)
        rows = [estimator.gaze(f) for f in g
                if np.isfinite(f[468:]).all() and (expression_coefficients(f)[:2] < 0.5).all()]
        gaze += rows
        per_group.append(np.median([r[:, 1] for r in rows]))
    gaze = np.array(gaze)  # pitch already minus gaze.RESTING_PITCH_DEG
    look = {"horizontal": round(float(np.percentile(np.abs(gaze[:, :, 0]), 99)), 1),
            "up": round(float(np.percentile(gaze[:, :, 1], 99)), 1),
            "down": round(float(-np.percentile(gaze[:, :, 1], 1)), 1),
            "RESTING_PITCH_DEG (raw median of clip medians)": round(float(np.median(per_group)) + RESTING_PITCH_DEG, 1)}
    return {"groups": len(groups), "faces": int(sum(len(g) for g in groups)),
            "CALIBRATION (full_down, rest_lo, rest_hi, full_up)": table, "EYE_LOOK_FULL_DEG": look}


# ---- report -----------------------------------------------------------------------------------------------
def run(quick: bool = False) -> dict:
    tracker = make_tracker(smooth=False)
    out = {"aflw2000": aflw_pose(tracker)}
    photos = [PHOTOS / n for n in (FLIP_PHOTOS[:3] if quick else FLIP_PHOTOS)]
    photos += sorted(AFLW.glob("*.jpg"))[: 4 if quick else 16]
    # Views of one photo through the tracker as the app runs it (smoothing on: the crop is stabilised and
    # bounded along the roll) and through MediaPipe's own loop (--no-smooth), bounded along the image axes.
    live = make_tracker(smooth=True)
    out["exactness"] = exactness(live, photos)
    out["coefficient_views"] = coefficient_view_changes(live, photos)
    out["exactness_mediapipe_crop"] = exactness(tracker, photos)
    out["coefficient_views_mediapipe_crop"] = coefficient_view_changes(tracker, photos)
    out["blinks"] = blinks(tracker)
    out["jaw_open"] = jaw_opening(tracker)
    t = track_clip(tracker, VIDEOS / "LivePortrait_d12.mp4", limit=60 if quick else None)
    estimator = SignalEstimator()
    out["synthetic_turn_30deg"] = {}
    for distance in (60.0, 40.0):
        worst = synthetic_turn(estimator, t["landmarks"][:: 10 if quick else 3], t["size"], distance_cm=distance)
        out["synthetic_turn_30deg"][f"{distance:.0f}cm"] = {"max_change": float(worst.max()),
                                                           "worst": BLENDSHAPE_NAMES[int(worst.argmax())],
                                                           "per_coefficient": dict(zip(BLENDSHAPE_NAMES,
                                                                                       worst.round(4).tolist()))}
    out["real_turn"] = real_turn(tracker, TURN_CLIPS[:1] if quick else TURN_CLIPS)
    if not quick:
        out["turn_across_photos"] = turn_across_photos(make_tracker(smooth=False, max_faces=10))
    out["jitter_still"] = jitter(quick)
    out["cost_per_face"] = cost(t["landmarks"], t["size"])
    return out


def report(r: dict) -> str:
    a = r["aflw2000"]
    lines = [f"AFLW2000-3D head pose ({a['detected']}/{a['faces']} faces): MAE pitch {a['mae_pitch']:.2f}, "
             f"yaw {a['mae_yaw']:.2f}, roll {a['mae_roll']:.2f}, mean {a['mae_mean']:.2f} deg "
             f"(published mean: " + ", ".join(f"{k} {v}" for k, v in PUBLISHED_MAE.items()) + ")"]
    for row in a["over_10"]:
        lines.append(f"  over 10 deg: {row['image']} truth {row['truth']} ours {row['pred']} err {row['abs_err']}")
    for suffix, label in (("", "live crop (default)"), ("_mediapipe_crop", "MediaPipe's crop (--no-smooth)")):
        if "exactness" + suffix not in r:
            continue
        e = r["exactness" + suffix]
        lines.append(f"{label}:")
        lines.append(f"  in-plane rotation +-15/30 deg ({e['rotations']} turns of {e['photos']} photos, |yaw| <= "
                     f"45): roll error median {e['rotation_roll_err_median']:.2f} mean "
                     f"{e['rotation_roll_err_mean']:.2f} max {e['rotation_roll_err_max']:.2f}; yaw/pitch change "
                     f"median {e['rotation_yaw_pitch_err_median']:.2f} mean {e['rotation_yaw_pitch_err_mean']:.2f} "
                     f"max {e['rotation_yaw_pitch_err_max']:.2f} deg")
        lines.append(f"  horizontal flip ({e['flips']}): |pitch change| median {e['flip_pitch_err_median']:.2f} max "
                     f"{e['flip_pitch_err_max']:.2f}; |yaw + yaw'| median {e['flip_yaw_err_median']:.2f} max "
                     f"{e['flip_yaw_err_max']:.2f}; |roll + roll'| median {e['flip_roll_err_median']:.2f} max "
                     f"{e['flip_roll_err_max']:.2f} deg")
        v = r.get("coefficient_views" + suffix)
        if v:
            lines.append(f"  coefficients between views of one photo (largest change per view): in-plane +-15/30 "
                         f"deg ({v['turns']}) median {v['turn_max_change_median']:.3f}, p90 "
                         f"{v['turn_max_change_p90']:.3f}, {v['turn_share_within_0.15']:.0%} within 0.15; mirrored "
                         f"({v['flips']}, Left/Right swapped) median {v['flip_max_change_median']:.3f}, p90 "
                         f"{v['flip_max_change_p90']:.3f}; largest most often: "
                         + ", ".join(f"{n} {k}" for n, k in v["largest_most_often"]))
            if "nudges" in v:
                lines.append(f"  control, no turn: the same photo's crop turned 1 deg or moved 1% ({v['nudges']}) "
                             f"median {v['nudge_max_change_median']:.3f}, p90 {v['nudge_max_change_p90']:.3f}")
    e = r["exactness"]
    for p in e["profile_faces"]:
        lines.append(f"  near-profile {p['photo']} pose {p['pose']}: turns (theta, roll err, yaw/pitch err) "
                     f"{p['turn_errors']}, flip {p['flip_errors']}")
    for clip, m in r["blinks"].items():
        lines.append(f"blinks {clip}: marked {m['marked']}, found {m['found']}, missed {m['missed']}, "
                     f"false {m['false']}")
    for clip, j in r["jaw_open"].items():
        lines.append(f"jawOpen vs image lip gap {clip}: Spearman {j['spearman']:.3f}, bin means {j['bin_means']}, "
                     f"monotonic {j['monotonic']}")
    for distance, s in r["synthetic_turn_30deg"].items():
        lines.append(f"synthetic +-30 deg turn of the metric mesh at {distance}: max coefficient change "
                     f"{s['max_change']:.3f} ({s['worst']})")
    for clip, t in r["real_turn"].items():
        if clip == "pooled":
            lines.append(f"real turn pooled over {t['clips']} clips (each clip's mean removed; signed change per "
                         f"30 deg of yaw, clips' signs): " + "; ".join(
                             f"{k} {v:+.3f} ({t['signs'][k]}: {t['per_clip'][k]})" for k, v in t["slopes"].items()))
            continue
        parts = [f"{k} {v[0]:.3f} ({v[1]})" for k, v in t.items() if k.startswith(("asym_", "any_"))]
        lines.append(f"real turn {clip}: yaw {t['yaw_range'][0]:.0f}..{t['yaw_range'][1]:.0f}, pitch "
                     f"{t['pitch_range'][0]:.0f}..{t['pitch_range'][1]:.0f} deg; change per 30 deg: "
                     + ("; ".join(parts) or "range too small"))
    if "turn_across_photos" in r:
        t = r["turn_across_photos"]
        lines.append(f"turn across {t['faces']} photo faces (yaw {t['yaw_range'][0]:.0f}..{t['yaw_range'][1]:.0f}): "
                     f"change at +30 deg, yaw-odd part (95% interval): " + "; ".join(
                         f"{n} {v['linear']:+.3f} ({v['linear_95'][0]:+.3f}..{v['linear_95'][1]:+.3f})"
                         for n, v in t["coefficients"].items()))
        (lin, lin_name), (quad, quad_name) = t["worst_linear"], t["worst_quadratic"]
        lines.append(f"  worst yaw-odd {lin:+.3f} ({lin_name}); yaw-even part (confounded with who is photographed "
                     f"turned) worst {quad:+.3f} ({quad_name})")
    j = r["jitter_still"]["mean"]
    for label in ("raw", "smoothed"):
        lines.append(f"still-face jitter {label}: pitch {j[label]['pitch_deg']:.3f}, yaw {j[label]['yaw_deg']:.3f}, "
                     f"roll {j[label]['roll_deg']:.3f} deg; coefficients mean {j[label]['coef_mean']:.4f}, "
                     f"max {j[label]['coef_max']:.4f}")
    c = r["cost_per_face"]
    lines.append(f"signals cost per face: CPU {c['cpu_ms_median']:.3f} ms median ({c['cpu_ms_min']:.3f}.."
                 f"{c['cpu_ms_max']:.3f}), wall {c['wall_ms_median']:.3f} ms ({c['wall_ms_min']:.3f}.."
                 f"{c['wall_ms_max']:.3f}) over {c['repeats']} passes of {c['faces']} faces")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--calibrate", action="store_true", help="print the expression calibration table")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.calibrate:
        result = calibrate()
        print(json.dumps(result, default=float).replace("], ", "],\n "))
    else:
        result = run(args.quick)
        print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
