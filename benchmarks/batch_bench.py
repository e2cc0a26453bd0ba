"""Batch throughput and worker memory: `python -m benchmarks.batch_bench [--repeat 3] [--soak 40]`.

Throughput: the shared clips through `run_batch` with 1 local worker, 2 local workers and Ray (a local
instance with 2 CPUs), interleaved and repeated; frames/s = frames / wall time of the whole run (worker
start-up, Ray start-up and shutdown included), plus the steady rate (frames / the span between the first
video starting in a worker and the last finishing) and, for the local pool, frames per CPU-second of the workers.
Modes: local1 (1 worker, free to use both cores: its decode and writer threads overlap the tracking),
core1 (1 worker pinned to one core: the per-core baseline of a one-worker-per-core design), localN (N
workers), rayN (Ray, a local instance with N CPUs). Scaling efficiency = fps(localN) / (N x fps(core1)), and
the same against local1; Ray against the pool = fps(rayN) / fps(localN). On a bigger node:
`--modes core1,local16,ray16`.

Soak (the method of benchmarks/soak.py, per worker): a long batch of N copies of one clip (one clip, so
every video needs the same memory and growth means a leak, not a bigger frame size), 2 workers; each
worker's resident memory is sampled every 0.2 s; growth = max after its first video / RSS after its first
video - 1. Exit 1 if a worker grew by more than 10 %.

Seams (`--seams CLIP... [--split-minutes M] [--workers N]`): each clip through `run_batch` whole (one task:
bit for bit `meshcam process`) and split at keyframes into chunks of about M minutes on N workers; prints
the wall time of both and, per seam, the per-frame mean landmark distance between the two in % of the
inter-ocular distance (33-263) on the seam frame, the next frame, the worst frame from the next one on, and
the worst and median from ten frames on (to the next seam).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reference import VIDEOS  # noqa: E402
from pipeline.batch import Events, LocalPool, RayExecutor, batch_options, discover, run_batch  # noqa: E402
from pipeline.config import PipelineConfig  # noqa: E402
from pipeline.topology import inter_ocular_px  # noqa: E402

SAMPLE_S = 0.2
SOAK_CLIP = VIDEOS / "LivePortrait_d19.mp4"  # the clip of benchmarks/soak.py


class Timing(Events):
    """When the first video really started and the last one finished (the steady span), and the frames done.

    A video's start is taken as its row's arrival minus its tracking seconds, for every mode alike: the
    driver's ``started`` event comes when a job is handed out, which for Ray is before the task's worker
    process exists (its start-up would count as steady time) and for the pool after it."""

    def __init__(self):
        self.first_start = None
        self.last_finish = None
        self.frames = 0

    def finished(self, row):
        t = time.perf_counter()
        self.last_finish = t
        start = t - float(row.get("seconds") or 0.0)
        self.first_start = start if self.first_start is None else min(self.first_start, start)
        self.frames += row["frames"]


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def workers_of(mode: str) -> int:
    """core1 -> 1, localN -> N, rayN -> N."""
    return int("".join(c for c in mode if c.isdigit()) or 1)


def one_run(mode: str, inputs: list[str], config: PipelineConfig, manifest: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as out:
        options = batch_options(out, config)
        jobs = discover(inputs, options.out_dir)
        n = workers_of(mode)
        executor = RayExecutor(None, workers=n) if mode.startswith("ray") else LocalPool(n)
        events = Timing()
        affinity = os.sched_getaffinity(0)
        if mode == "core1":  # workers inherit the driver's affinity
            os.sched_setaffinity(0, {min(affinity)})
        cpu0, t0 = children_cpu_s(), time.perf_counter()
        try:
            result = run_batch(jobs, options, executor, events=events, model_manifest=manifest)
        finally:
            os.sched_setaffinity(0, affinity)
        wall = time.perf_counter() - t0
        cpu = children_cpu_s() - cpu0
    failed = [r["input"] for r in result.rows if r["status"] != "done"]
    if result.interrupted or events.first_start is None:
        raise RuntimeError(f"{mode}: the run was interrupted before a video finished")
    if failed:
        raise RuntimeError(f"{mode}: {len(failed)} videos failed: {failed[:3]}")
    steady = events.last_finish - events.first_start
    return {"mode": mode, "frames": events.frames, "wall_s": wall, "fps": events.frames / wall,
            "steady_fps": events.frames / steady, "startup_s": events.first_start - t0,
            "frames_per_cpu_s": events.frames / cpu if not mode.startswith("ray") and cpu > 0 else None}


def throughput(clips: list[Path], repeat: int, modes: list[str]) -> dict:
    from models.registry import ensure_models
    manifest = ensure_models().manifest
    config = PipelineConfig(provider="cpu", threads=1)
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for k in range(repeat):  # interleaved: a burst of load from elsewhere hits every mode alike
        for mode in modes:
            r = one_run(mode, [str(c) for c in clips], config, manifest)
            runs[mode].append(r)
            print(f"  run {k + 1} {mode:6} {r['frames']} frames in {r['wall_s']:.1f} s: {r['fps']:.1f} frames/s "
                  f"(steady {r['steady_fps']:.1f}, start-up {r['startup_s']:.1f} s"
                  + (f", {r['frames_per_cpu_s']:.1f} frames per CPU-s" if r["frames_per_cpu_s"] else "") + ")",
                  flush=True)
    summary = {}
    for mode, rs in runs.items():
        summary[mode] = {k: statistics.median(r[k] for r in rs) for k in ("fps", "steady_fps", "wall_s", "startup_s")}
        summary[mode]["fps_min"] = min(r["fps"] for r in rs)
        summary[mode]["fps_max"] = max(r["fps"] for r in rs)
        cpu = [r["frames_per_cpu_s"] for r in rs if r["frames_per_cpu_s"]]
        summary[mode]["frames_per_cpu_s"] = statistics.median(cpu) if cpu else None
    for mode in [m for m in modes if m.startswith("local") and workers_of(m) > 1]:
        n = workers_of(mode)
        for base in ("core1", "local1"):
            if base in summary:
                for key in ("fps", "steady_fps"):
                    summary[f"scaling_efficiency_{mode}_{key}_vs_{base}"] = \
                        summary[mode][key] / (n * summary[base][key])
        if f"ray{n}" in summary:
            for key in ("fps", "steady_fps"):
                summary[f"ray_vs_pool_{n}_{key}"] = summary[f"ray{n}"][key] / summary[mode][key]
    return {"runs": runs, "summary": summary}


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_pids() -> list[int]:
    """This process's pool workers (spawned children running spawn_main)."""
    me, pids = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me and b"spawn_main" in cmd:
            pids.append(int(entry.name))
    return pids


def soak(clip: Path, videos: int, workers: int = 2) -> dict:
    from models.registry import ensure_models
    manifest = ensure_models().manifest
    samples: dict[int, list[tuple[int, float]]] = {}  # pid -> (videos finished by then, RSS MB)
    finished = [0]
    stop = threading.Event()

    class Count(Events):
        def finished(self, row):
            finished[0] += 1

    def sample():
        while not stop.wait(SAMPLE_S):
            for pid in worker_pids():
                mb = rss_mb(pid)
                if mb is not None:
                    samples.setdefault(pid, []).append((finished[0], mb))

    with tempfile.TemporaryDirectory(prefix="batch-soak-") as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for k in range(videos):
            shutil.copy(clip, src / f"{k:04d}_{clip.name}")
        options = batch_options(Path(tmp) / "out", PipelineConfig(provider="cpu", threads=1))
        jobs = discover([str(src)], options.out_dir)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        result = run_batch(jobs, options, LocalPool(workers), events=Count(), model_manifest=manifest)
        wall = time.perf_counter() - t0
        stop.set()
        sampler.join()
    per_worker = {}
    for pid, ss in samples.items():
        warm = [mb for n, mb in ss if n >= workers]  # after every worker finished its first video
        if len(warm) < 2:
            continue
        per_worker[pid] = {"rss_warm_mb": warm[0], "rss_max_mb": max(warm), "rss_end_mb": warm[-1],
                           "growth": max(warm) / warm[0] - 1}
    frames = sum(r["frames"] for r in result.rows)
    return {"videos": videos, "frames": frames, "wall_s": wall, "failed": result.count("failed"),
            "workers": per_worker}


def nme_pct(landmarks: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per frame: mean 2D distance over the landmarks of slot 0, in % of the reference's inter-ocular distance."""
    a, b = landmarks[:, 0, :, :2], reference[:, 0, :, :2]
    iod = inter_ocular_px(b)
    with warnings.catch_warnings():  # frames without a face in one of the two: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.linalg.norm(a - b, axis=-1), axis=-1) / iod * 100


def seams(clips: list[Path], split_minutes: float, workers: int, smooth: bool = True) -> list[dict]:
    from models.registry import ensure_models
    from pipeline.batch_chunks import split_video
    manifest = ensure_models().manifest
    config = PipelineConfig(provider="cpu", threads=1, smooth=smooth)
    report = []
    for clip in clips:
        arrays, walls = {}, {}
        for mode, split in (("whole", None), ("split", split_minutes)):
            with tempfile.TemporaryDirectory(prefix="batch-seams-") as out:
                options = batch_options(out, config, split_minutes=split)
                jobs = discover([str(clip)], options.out_dir)
                t0 = time.perf_counter()
                result = run_batch(jobs, options, LocalPool(workers), model_manifest=manifest)
                walls[mode] = time.perf_counter() - t0
                if result.count("done") != 1:
                    raise RuntimeError(f"{clip.name} {mode}: {result.rows[0]['error']}")
                with np.load(Path(out) / f"{clip.stem}.npz") as z:
                    arrays[mode] = {k: z[k] for k in ("landmarks", "face_ids", "timestamps_ms")}
        whole, split = arrays["whole"], arrays["split"]
        same_timestamps = bool(np.array_equal(whole["timestamps_ms"], split["timestamps_ms"]))
        chunks = split_video(discover([str(clip)])[0], split_minutes * 60) or []
        starts = [c.first_index for c in chunks[1:]]
        error = nme_pct(split["landmarks"], whole["landmarks"])  # NaN where either has no face
        first = starts[0] if starts else len(error)
        r = {"clip": clip.name, "frames": len(error), "seams": starts, "same_timestamps": same_timestamps,
             "equal_before_first_seam": bool(np.array_equal(split["landmarks"][:first], whole["landmarks"][:first],
                                                            equal_nan=True)),
             "whole_wall_s": walls["whole"], "split_wall_s": walls["split"], "per_seam": []}
        face_in_whole = np.isfinite(whole["landmarks"][:, 0, 0, 0])
        face_in_split = np.isfinite(split["landmarks"][:, 0, 0, 0])

        def worst(values: np.ndarray, how=np.nanmax) -> float | None:
            return float(how(values)) if np.isfinite(values).any() else None

        for seam, end in zip(starts, [*starts[1:], len(error)]):
            r["per_seam"].append({"frame": seam, "at_seam": worst(error[seam:seam + 1]),
                                  "next": worst(error[seam + 1:seam + 2]), "max_from_next": worst(error[seam + 1:end]),
                                  "max_from_10": worst(error[seam + 10:end]),
                                  "median_from_10": worst(error[seam + 10:end], np.nanmedian),
                                  "frames_with_face_in_one_only": int(np.sum(face_in_whole[seam:end] !=
                                                                             face_in_split[seam:end]))})
        report.append(r)
        print(f"{clip.name}: {r['frames']} frames, seams at {starts}; timestamps identical {same_timestamps}, "
              f"landmarks bit-equal before the first seam {r['equal_before_first_seam']}; wall {walls['whole']:.1f} s "
              f"whole vs {walls['split']:.1f} s split on {workers} workers")
        def pct(v: float | None) -> str:
            return "--" if v is None else f"{v:.2f}"

        for p in r["per_seam"]:
            print(f"  seam at frame {p['frame']}: % IOD {pct(p['at_seam'])} on it, {pct(p['next'])} next, "
                  f"<= {pct(p['max_from_next'])} from the next on, <= {pct(p['max_from_10'])} (median "
                  f"{pct(p['median_from_10'])}) from 10 frames on; {p['frames_with_face_in_one_only']} frames with a "
                  "face in one output only", flush=True)
    return report


QUICK_CLIPS = ("LivePortrait_d10.mp4", "LivePortrait_d19.mp4", "LivePortrait_s18.mp4", "LivePortrait_d13.mp4")


def run(quick: bool = False) -> dict:
    """The bench's batch section: throughput of 1 pinned worker, 2 workers and Ray with 2 CPUs (quick: four
    clips, one run per mode; full: every shared clip, two interleaved runs)."""
    clips = [VIDEOS / c for c in QUICK_CLIPS] if quick else sorted(VIDEOS.glob("*.mp4"))
    modes = ["core1", "local2", "ray2"]
    result = throughput(clips, 1 if quick else 2, modes)
    result["clips"] = [c.name for c in clips]
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--modes", default="core1,local1,local2,ray2",
                   help="comma-separated: core1 (1 worker on one core), localN (N workers), rayN (Ray, N CPUs)")
    p.add_argument("--clips", nargs="*", help="videos (default: every shared clip)")
    p.add_argument("--soak", type=int, default=0, metavar="N", help="also a long batch of N videos for RSS")
    p.add_argument("--soak-clip", default=str(SOAK_CLIP), help="the clip copied N times (default %(default)s)")
    p.add_argument("--seams", nargs="*", metavar="CLIP", help="measure the seams of --split-minutes on these clips")
    p.add_argument("--split-minutes", type=float, default=0.05, help="chunk length for --seams (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="workers for --seams (default %(default)s)")
    p.add_argument("--no-smooth", action="store_true", help="--seams without smoothing (the tracking part alone)")
    p.add_argument("--json", help="write the numbers here")
    args = p.parse_args()
    clips = [Path(c) for c in args.clips] if args.clips else sorted(VIDEOS.glob("*.mp4"))
    report: dict = {"clips": [c.name for c in clips], "cores": os.cpu_count(), "load_avg_start": os.getloadavg()}
    modes = [m for m in args.modes.split(",") if m]
    if modes and args.repeat > 0:
        print(f"throughput over {len(clips)} clips, {args.repeat} interleaved runs per mode:")
        report["throughput"] = throughput(clips, args.repeat, modes)
        s = report["throughput"]["summary"]
        for mode in modes:
            m = s[mode]
            print(f"{mode:6} median {m['fps']:.1f} frames/s (runs {m['fps_min']:.1f}-{m['fps_max']:.1f}); steady "
                  f"{m['steady_fps']:.1f}; start-up {m['startup_s']:.1f} s"
                  + (f"; {m['frames_per_cpu_s']:.1f} frames per CPU-second" if m["frames_per_cpu_s"] else ""))
        for key in sorted(k for k in s if k.startswith(("scaling", "ray_vs"))):
            print(f"{key}: {s[key]:.3f}")
    code = 0
    if args.seams:
        report["seams"] = seams([Path(c) for c in args.seams], args.split_minutes, args.workers,
                                 not args.no_smooth)
    if args.soak:
        print(f"soak: {args.soak} copies of {Path(args.soak_clip).name}, 2 workers ...", flush=True)
        r = soak(Path(args.soak_clip), args.soak)
        report["soak"] = r
        print(f"soak: {r['videos']} videos, {r['frames']} frames in {r['wall_s']:.0f} s, {r['failed']} failed")
        for pid, w in r["workers"].items():
            print(f"  worker {pid}: RSS after its first video {w['rss_warm_mb']:.0f} MB, max {w['rss_max_mb']:.0f} MB, "
                  f"end {w['rss_end_mb']:.0f} MB (growth {w['growth'] * 100:+.1f}%)")
        code = 0 if r["workers"] and all(w["growth"] <= 0.10 for w in r["workers"].values()) and not r["failed"] else 1
    report["load_avg_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
