"""Median CPU time of each attention-mesh variant on a real face crop: `python -m benchmarks.variants`."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.registry import ensure_models  # noqa: E402
from models.runtime import ProviderChoice, make_session  # noqa: E402
from pipeline.detector import FaceDetector, detection_to_roi  # noqa: E402
from pipeline.mesh import preprocess  # noqa: E402

ROWS = [("mesh only", (False, False, False)), ("mesh + lips", (True, False, False)),
        ("mesh + eyes & iris", (False, True, True)), ("full attention mesh", (True, True, True))]


def time_session(sess, feeds, runs: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def face_crop(image_path: Path, provider: ProviderChoice) -> np.ndarray:
    models = ensure_models()
    img = cv2.imread(str(image_path))
    det = FaceDetector(make_session(models.path("face_detection_short_range"), provider))(img, 1)[0]
    return preprocess(img, detection_to_roi(det))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--image", default=str(Path(__file__).resolve().parents[2] / "shared/media/photos/face_recognition_obama.jpg"))
    args = p.parse_args()
    provider = ProviderChoice("cpu", "benchmark")
    models = ensure_models()
    tensor = face_crop(Path(args.image), provider)
    results = {}
    for label, variant in ROWS:
        sess = make_session(models.attention_variant(*variant), provider, args.threads)
        results[label] = time_session(sess, {"input_1": tensor}, args.runs)
    full = results["full attention mesh"]
    print(f"attention-mesh variants, CPU, median of {args.runs} runs after warm-up, threads={args.threads or 'default'}")
    for label, ms in results.items():
        print(f"  {label:22s} {ms:6.3f} ms  ({ms / full:4.2f} x full)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
