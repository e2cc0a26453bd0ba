"""Video-mode parity with MediaPipe on every shared clip: `python -m benchmarks.video_parity [--frames 150]`.

Our tracker (no smoothing) against FaceMesh(refine_landmarks=True, video mode) on the same frames: per clip,
frames with a face for each, and the median / max per-frame mean 478-point distance as % of IOD.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reference import VIDEOS, mean_error_iod, mediapipe_face_mesh, mediapipe_faces_px  # noqa: E402
from pipeline import FaceTracker, PipelineConfig, open_source  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=150)
    args = p.parse_args()
    from benchmarks.bench import prime_mediapipe_logs
    prime_mediapipe_logs()
    tracker = FaceTracker.create(PipelineConfig(provider="cpu", smooth=False, signals=False))
    print(f"{'clip':44s} {'frames':>6s} {'ours':>5s} {'mp':>5s} {'median %IOD':>11s} {'max %IOD':>9s}")
    for clip in sorted(VIDEOS.glob("*.mp4")):
        tracker.reset()
        errors, ours, theirs, n = [], 0, 0, 0
        with mediapipe_face_mesh(static=False, max_faces=1) as fm, open_source(clip) as source:
            for frame in source:
                if frame.index >= args.frames:
                    break
                n += 1
                faces = tracker.process(frame).faces
                res = mediapipe_faces_px(fm, frame.frame_bgr)
                ours += bool(faces)
                theirs += bool(res)
                if faces and res:
                    errors.append(mean_error_iod(faces[0].landmarks_px, res[0]) * 100)
        med = f"{np.median(errors):11.3f}" if errors else f"{'-':>11s}"
        mx = f"{np.max(errors):9.3f}" if errors else f"{'-':>9s}"
        print(f"{clip.name[:44]:44s} {n:6d} {ours:5d} {theirs:5d} {med} {mx}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
