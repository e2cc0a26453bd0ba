"""Cost of the live smoother per call, on real tracks: CPU time hot (calls back to back) and paced (a 33 ms
sleep between calls, as behind a 30 fps camera, where caches have gone cold).

    .venv/bin/python -m benchmarks.smoothing_bench
    git show <commit>:pipeline/smoothing.py > /tmp/old_smoothing.py
    .venv/bin/python -m benchmarks.smoothing_bench --reference /tmp/old_smoothing.py   # before/after + max diff

Raw landmark tracks come from shared clips tracked once without smoothing (irises on, and irises off so that
NaN landmarks take the masked path); they are cached in the temp folder. ``--reference`` takes a copy of an
older pipeline/smoothing.py: both run on the same tracks, and the largest output difference is printed.
CPU time is time.thread_time per call (this thread only, so other load on the machine adds little); the
numbers are medians over calls, then the median and spread over ``--repeats`` runs.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.reference import VIDEOS
from pipeline import smoothing
from pipeline.smoothing import DEFAULT_BETA, DEFAULT_D_CUTOFF, DEFAULT_MIN_CUTOFF

CLIPS = ("LivePortrait_d10.mp4", "SadTalker_WDA_AlexandriaOcasioCortez_000.mp4")
PACE_S = 0.033


def raw_tracks(clip: str, irises: bool, frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(landmarks_px (F,478,3) float32, timestamp_ms (F,), face_id (F,)) of every tracked face, cached."""
    cache = Path(tempfile.gettempdir()) / f"meshcam_smoothing_{Path(clip).stem}_{'irises' if irises else 'mesh'}.npz"
    if not cache.exists():
        from pipeline import FaceTracker, PipelineConfig, Submodels, open_source
        config = PipelineConfig(provider="cpu", smooth=False, signals=False,
                                submodels=Submodels.ALL if irises else Submodels.NONE)
        tracker = FaceTracker.create(config)
        landmarks, stamps, ids = [], [], []
        with open_source(str(VIDEOS / clip)) as source:
            for frame in source:
                result = tracker.process(frame)
                for face in result.faces:
                    landmarks.append(face.raw_landmarks_px)
                    stamps.append(result.timestamp_ms)
                    ids.append(face.face_id)
        np.savez(cache, landmarks_px=np.array(landmarks), timestamp_ms=np.array(stamps), face_id=np.array(ids))
    data = np.load(cache)
    return data["landmarks_px"][:frames], data["timestamp_ms"][:frames], data["face_id"][:frames]


def smooth_track(module, landmarks_px, timestamp_ms, face_id, pace_s: float = 0.0):
    """(outputs (F,478,3) float32, per-call CPU ms (F,)) of ``module``'s smoother, one per face id, timed
    as the tracker calls it (object scale included)."""
    filters, outputs, cpu_ms = {}, [], []
    for values, t_ms, fid in zip(landmarks_px, timestamp_ms, face_id):
        f = filters.setdefault(int(fid), module.OneEuroLandmarks(DEFAULT_MIN_CUTOFF, DEFAULT_BETA, DEFAULT_D_CUTOFF))
        if pace_s:
            time.sleep(pace_s)
        t0 = time.thread_time()
        outputs.append(f(values, float(t_ms), module.object_scale(values)))
        cpu_ms.append((time.thread_time() - t0) * 1000)
    return np.array(outputs), np.array(cpu_ms)


def load_module(path: str):
    spec = importlib.util.spec_from_file_location("reference_smoothing", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", help="a copy of an older pipeline/smoothing.py to compare with")
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement (median reported)")
    parser.add_argument("--frames", type=int, default=150, help="frames per clip paced (hot runs all)")
    args = parser.parse_args()
    modules = {"current": smoothing}
    if args.reference:
        modules = {"reference": load_module(args.reference), **modules}
    tracks = {f"{Path(c).stem[:24]} {'irises' if irises else 'irises off'}": raw_tracks(c, irises, 10 ** 6)
              for c in CLIPS for irises in (True, False)}
    outputs = {}
    print(f"per-call CPU ms (median of calls; median [min-max] of {args.repeats} runs)")
    for name, module in modules.items():
        for label, (lm, ts, ids) in tracks.items():
            hot = [np.median(smooth_track(module, lm, ts, ids)[1]) for _ in range(args.repeats)]
            paced = [np.median(smooth_track(module, lm[:args.frames], ts[:args.frames], ids[:args.frames],
                                            PACE_S)[1]) for _ in range(args.repeats)]
            outputs[name, label] = smooth_track(module, lm, ts, ids)[0]
            print(f"  {name:9s} {label:36s} hot {_spread(hot)}   paced {_spread(paced)}")
    if args.reference:
        worst = max(float(np.nanmax(np.abs(outputs["current", k] - outputs["reference", k]))) for k in tracks)
        same_nan = all(np.array_equal(np.isnan(outputs["current", k]), np.isnan(outputs["reference", k]))
                       for k in tracks)
        print(f"max |current - reference| over all tracks: {worst:.2e} px; NaN in the same places: {same_nan}")


def _spread(values) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}-{max(values):.3f}]"


if __name__ == "__main__":
    main()
