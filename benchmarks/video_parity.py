"""Video-mode parity with MediaPipe on every shared clip: `python -m benchmarks.video_parity [--frames 150]`.

Our tracker (no smoothing) against FaceMesh(refine_landmarks=True, video mode) on the same frames: per clip,
frames with a face for each, and the median / max per-frame mean 478-point distance as % of IOD.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.config import PipelineConfig  # noqa: E402
from pipeline.engine import load_engine  # noqa: E402
from pipeline.sources import VideoFileSource  # noqa: E402
from pipeline.tracker import FaceTracker  # noqa: E402

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "media" / "videos"


def main() -> int:
    import mediapipe as mp
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=150)
    args = p.parse_args()
    engine = load_engine("cpu")
    print(f"{'clip':44s} {'frames':>6s} {'ours':>5s} {'mp':>5s} {'median %IOD':>11s} {'max %IOD':>9s}")
    for clip in sorted(VIDEOS.glob("*.mp4")):
        tracker = FaceTracker(engine.detector, engine.mesh, PipelineConfig(smooth=False))
        errors, ours, theirs, n = [], 0, 0, 0
        with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, refine_landmarks=True, max_num_faces=1) as fm:
            for frame in VideoFileSource(clip):
                if frame.index >= args.frames:
                    break
                n += 1
                faces = tracker.step(frame.frame_bgr, frame.timestamp_ms).faces
                h, w = frame.frame_bgr.shape[:2]
                res = fm.process(cv2.cvtColor(frame.frame_bgr, cv2.COLOR_BGR2RGB)).multi_face_landmarks
                ours += bool(faces)
                theirs += bool(res)
                if faces and res:
                    ref = np.array([[q.x * w, q.y * h] for q in res[0].landmark])
                    iod = np.linalg.norm(ref[33] - ref[263])
                    errors.append(np.linalg.norm(faces[0].landmarks_px[:, :2] - ref, axis=1).mean() / iod * 100)
        med = f"{np.median(errors):11.3f}" if errors else f"{'-':>11s}"
        mx = f"{np.max(errors):9.3f}" if errors else f"{'-':>9s}"
        print(f"{clip.name[:44]:44s} {n:6d} {ours:5d} {theirs:5d} {med} {mx}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
