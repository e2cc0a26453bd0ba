"""Hot-loop CPU time of the attention mesh per submodel set, and how long a set not opened yet takes to open
(the stall of a first toggle): `python -m benchmarks.variants [--runs N] [--threads N]`.

Secondary to the per-frame race in benchmarks/bench.py: back-to-back calls keep caches hot.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reference import PHOTOS  # noqa: E402
from models.variants import PRESETS, Submodels  # noqa: E402

SETS = (Submodels.NONE, Submodels.LIPS, Submodels.IRISES, Submodels.LEFT_EYE | Submodels.LEFT_IRIS,
        Submodels.EYES | Submodels.IRISES, Submodels.LIPS | Submodels.EYES, Submodels.ALL)


def label(subs: Submodels) -> str:
    preset = {v: k for k, v in PRESETS.items()}.get(subs)
    return ("mesh + " + subs.label.replace("+", " + ") if subs else "mesh only") + (f" ({preset})" if preset else "")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--image", default=str(PHOTOS / "face_recognition_obama.jpg"))
    args = p.parse_args()
    from pipeline import FaceTracker, PipelineConfig
    from pipeline.detector import detection_to_roi
    engine = FaceTracker.create(PipelineConfig(provider="cpu", threads=args.threads)).engine
    img = cv2.imread(args.image)
    roi = detection_to_roi(engine.detector(img, 1)[0])
    print(f"attention mesh per submodel set, CPU, median of {args.runs} back-to-back calls (crop + session + "
          f"assembly), threads={args.threads or 'default'}")
    for subs in SETS:
        t0 = time.perf_counter()
        engine.mesh(img, roi, subs)
        first = time.perf_counter() - t0
        for _ in range(20):
            engine.mesh(img, roi, subs)
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            engine.mesh(img, roi, subs)
            times.append(time.perf_counter() - t0)
        print(f"  {label(subs):30s} {np.median(times) * 1000:6.3f} ms  (p90 {np.percentile(times, 90) * 1000:6.3f}; "
              f"first call {first * 1000:6.1f} ms{'' if subs in PRESETS.values() else ', opened lazily'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
