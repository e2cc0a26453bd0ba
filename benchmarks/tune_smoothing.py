"""Choose One Euro defaults on the jitter rig: `python -m benchmarks.tune_smoothing`.

The tracker's ROIs never see smoothed values, so raw landmarks are tracked once per sequence and each
parameter set is applied offline (exactly what the live filter would output).
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.jitter_rig import jitter_percent, lag_frames, make_sequence, to_photo, track_sequence  # noqa: E402
from pipeline.engine import load_engine  # noqa: E402
from pipeline.smoothing import OneEuroLandmarks, object_scale  # noqa: E402

PHOTOS = ["face_recognition_obama.jpg", "face_recognition_biden.jpg", "deepface_img16.jpg",
          "face_recognition_alex-lacamoire.png"]


def smooth_offline(raw, timestamps, min_cutoff, beta, d_cutoff=1.0, stabilize=True):
    f = OneEuroLandmarks(min_cutoff, beta, d_cutoff, stabilize)
    return np.array([f(r, t, object_scale(r)) if np.isfinite(r[:468]).all() else r for r, t in zip(raw, timestamps)])


def main() -> int:
    media = Path(__file__).resolve().parents[2] / "shared" / "media" / "photos"
    engine = load_engine("cpu")
    regions = {"all": np.arange(478)}
    raws = []
    for k, name in enumerate(PHOTOS):
        photo = cv2.imread(str(media / name))
        det = engine.detector(photo, 1)[0]
        for motion in ("still", "sweep"):
            seq = make_sequence(photo, det.box_xyxy, motion, 90, seed=k)
            raws.append((motion, seq, track_sequence(engine, seq, smooth=False)))
    rows = []
    for mc, beta in itertools.product([0.1, 0.3, 0.5, 1.0, 2.0], [0, 2, 5, 10, 20, 40]):
        still, sweep, lag, sweep_raw = [], [], [], []
        for motion, seq, raw in raws:
            sm = smooth_offline(raw, seq.timestamps_ms, mc, beta)
            j = jitter_percent(to_photo(sm, seq.transforms), regions)["all"]
            if motion == "still":
                still.append(j / jitter_percent(to_photo(raw, seq.transforms), regions)["all"])
            else:
                sweep.append(j)
                sweep_raw.append(jitter_percent(to_photo(raw, seq.transforms), regions)["all"])
                lag.append(lag_frames(sm, raw))
        rows.append((mc, beta, np.mean(still), np.mean(sweep) / np.mean(sweep_raw), np.mean(lag)))
    print("min_cutoff beta | still jitter vs raw | sweep jitter vs raw | sweep lag (frames)")
    for r in rows:
        print(f"{r[0]:10.2f} {r[1]:4.0f} | {r[2]:19.2f} | {r[3]:19.2f} | {r[4]:6.2f}")
    ok = [r for r in rows if r[4] <= 1.0 and r[3] <= 1.0]
    best = min(ok, key=lambda r: r[2]) if ok else None
    print("chosen (lowest still jitter with sweep lag <= 1 frame and sweep jitter <= raw):", best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
