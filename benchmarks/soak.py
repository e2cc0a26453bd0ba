"""Long-run check: `python -m benchmarks.soak [--frames 20000]`.

Runs frames through the threaded live pipeline (capture thread, inference thread, overlays, a recording
and a landmarks file) and reports resident memory after warm-up and at the end, and any thread left
running after shutdown. Exit 1 if memory grew by more than 10% or a thread was left behind.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reference import VIDEOS  # noqa: E402
from pipeline import FaceTracker, LiveRunner, PipelineConfig, open_sink, open_source  # noqa: E402

CLIP = VIDEOS / "LivePortrait_d19.mp4"
POLL_S = 0.05
PROGRESS_FRAMES = 2000


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def soak(frames: int, clip: Path = CLIP, warmup: int = 500, record: bool = True, progress=None) -> dict:
    """``progress(processed, rss_mb)`` is called every PROGRESS_FRAMES frames (the CLI prints a line)."""
    threads_before = set(threading.enumerate())
    tracker = FaceTracker.create(PipelineConfig(provider="cpu", max_faces=2))
    with tempfile.TemporaryDirectory() as tmp:
        runner = LiveRunner(open_source(clip), tracker, realtime=False, loop=True).start()
        if record:
            runner.attach(open_sink(Path(tmp) / "soak.mp4"))
            runner.attach(open_sink(Path(tmp) / "soak.npz"))
        t0 = time.perf_counter()
        rss_warm = None
        samples = []
        next_report = PROGRESS_FRAMES
        while runner.processed < frames:
            time.sleep(POLL_S)
            if rss_warm is None and runner.processed >= warmup:
                rss_warm = rss_mb()
            if rss_warm is not None:
                samples.append(rss_mb())
            if progress is not None and runner.processed >= next_report:
                progress(runner.processed, rss_mb())
                next_report += PROGRESS_FRAMES
            if not runner.running:
                raise RuntimeError(f"pipeline stopped early: {runner.error}")
        errors = runner.stop()
        if errors:
            raise RuntimeError(f"closing the outputs failed: {errors[0]}")
        elapsed = time.perf_counter() - t0
    time.sleep(0.2)
    left = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    rss_end = rss_mb()
    return {"frames": runner.processed, "seconds": elapsed, "rss_after_warmup_mb": rss_warm, "rss_end_mb": rss_end,
            "rss_max_mb": max(samples) if samples else rss_end,
            "growth": (max(samples) if samples else rss_end) / rss_warm - 1, "threads_left": left}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=20000)
    args = p.parse_args()
    print(f"soak: {args.frames} frames through the live pipeline (about {args.frames / 2200:.0f} min on 2 cores)",
          flush=True)
    r = soak(args.frames, progress=lambda n, mb: print(f"  {n} frames, RSS {mb:.0f} MB", flush=True))
    print(f"{r['frames']} frames in {r['seconds']:.0f} s; RSS after warm-up {r['rss_after_warmup_mb']:.0f} MB, "
          f"max {r['rss_max_mb']:.0f} MB, end {r['rss_end_mb']:.0f} MB (growth {r['growth'] * 100:+.1f}%); "
          f"threads left: {r['threads_left'] or 'none'}")
    return 0 if r["growth"] <= 0.10 and not r["threads_left"] else 1


if __name__ == "__main__":
    sys.exit(main())
