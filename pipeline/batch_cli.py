"""`meshcam batch`: the command line over pipeline.batch (flags, progress bar, dry run, summary table)."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pipeline.batch import (
    LANDMARK_KINDS,
    BatchResult,
    Events,
    Job,
    LocalPool,
    RayExecutor,
    RunIndex,
    batch_options,
    config_hash,
    discover,
    plan,
    run_batch,
)
from pipeline.config import PipelineConfig
from pipeline.errors import InputError

REDRAW_S = 0.2
VERBOSE_STATUS_S = 5.0
SLOWEST = 5


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="video files, folders (searched recursively for videos), glob patterns (quote them: "
                             "'videos/**/*.mp4') and manifests (.txt: one path a line; .csv: a 'path' column)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder: DIR/<path relative to its input>.npz per video, DIR/index.parquet "
                             "and DIR/index.csv (the run index)")
    parser.add_argument("--format", default="npz", metavar="LIST",
                        help=f"landmark files per video, comma-separated: {', '.join(LANDMARK_KINDS)} "
                             "(default %(default)s)")
    parser.add_argument("--annotated", action="store_true", help="also write DIR/<path>.annotated.mp4 per video")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="worker processes, one tracker and one onnxruntime thread each (default: one per "
                             "core); with --ray and no cluster: the local Ray instance's CPUs")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run the videos as Ray tasks: on a local Ray instance, or on the cluster at ADDRESS "
                             "('auto', 'ray://head:10001', or RAY_ADDRESS when set)")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="G",
                        help="Ray: GPUs each task declares (CUDA workers, e.g. 0.25 packs 4 per GPU; default 0)")
    parser.add_argument("--split-minutes", type=float, default=None, metavar="M",
                        help="cut videos longer than M minutes into chunks of about M minutes at keyframes, run "
                             "as separate tasks and joined into the same outputs (each chunk starts with a "
                             "detector pass: see README 'Batch processing'); default: one task per video")
    parser.add_argument("--force", action="store_true", help="redo every video, even those done and unchanged")
    parser.add_argument("--dry-run", action="store_true", help="list what would be processed, and why; do nothing")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar (the summary is still printed)")
    parser.add_argument("--verbose", "-v", action="store_true", help="a line per video and per-worker status")


def batch_cli(args: argparse.Namespace, config: PipelineConfig) -> int:
    if args.workers is not None and args.workers < 1:
        raise InputError("--workers must be at least 1")
    if args.gpus_per_worker < 0:
        raise InputError("--gpus-per-worker must be 0 or more")
    if args.gpus_per_worker > 0 and args.ray is None:
        raise InputError("--gpus-per-worker applies to --ray runs")
    options = batch_options(args.out, config, args.format.split(","), args.annotated, args.split_minutes)
    jobs = discover(args.inputs, options.out_dir)
    if not jobs:
        raise InputError("no videos found in the inputs given")
    if args.dry_run:
        return dry_run(jobs, options, args.force)
    from models.registry import ensure_models
    manifest = ensure_models().manifest  # converted once here, before any worker starts
    workers = args.workers or os.cpu_count() or 1
    if args.ray is not None:
        executor = RayExecutor(args.ray or None, args.workers, args.gpus_per_worker)
        where = f"Ray ({args.ray or os.environ.get('RAY_ADDRESS') or 'local instance'})"
    else:
        executor = LocalPool(workers)
        used = workers if args.split_minutes else min(workers, len(jobs))  # chunks: more tasks than videos
        where = f"{used} worker process{'es' if used > 1 else ''}"
    print(f"meshcam: {len(jobs)} video{'s' if len(jobs) != 1 else ''} -> {options.out_dir} on {where}",
          file=sys.stderr)
    bar = ProgressBar(jobs, enabled=not args.quiet, verbose=args.verbose)
    try:
        result = run_batch(jobs, options, executor, force=args.force, events=bar, model_manifest=manifest)
    finally:
        bar.finish()
    print_summary(result, options.out_dir, workers if args.ray is None else None)
    return result.exit_code


def dry_run(jobs: list[Job], options, force: bool) -> int:
    from models.registry import ensure_models
    index = RunIndex(options.out_dir) if (options.out_dir / "index.parquet").exists() or \
        (options.out_dir / ".index-journal.jsonl").exists() else None
    chash = config_hash(options, ensure_models().manifest)
    planned = plan(jobs, index, options, chash, force) if index else [_new(j) for j in jobs]
    todo = 0
    for p in planned:
        outputs = ", ".join(str(final) for _, final in options.outputs(p.job.rel))
        print(f"{p.action:15} {p.job.input} -> {outputs}")
        todo += p.action != "skip"
    skip = len(planned) - todo
    print(f"meshcam: dry run: {todo} to process, {skip} done and unchanged (skipped); nothing was written",
          file=sys.stderr)
    return 0


def _new(job):
    from pipeline.batch import Planned
    return Planned(job, "new" if job.size >= 0 else "missing-input")


class ProgressBar(Events):
    """One line over all videos: done/total, frames/s, ETA (by bytes still to do), failures so far."""

    def __init__(self, jobs: list[Job], enabled: bool = True, verbose: bool = False):
        self.enabled, self.verbose = enabled, verbose
        self.tty = sys.stderr.isatty()
        self.total = len(jobs)
        self.bytes_total = sum(max(j.size, 0) for j in jobs)
        self.bytes_done = 0  # of videos processed in this run (not skipped)
        self.bytes_skipped = 0
        self.done = self.failed = self.skipped = 0
        self.frames_done = 0  # frames of finished videos
        self.in_progress: dict[str, tuple[Job, int]] = {}  # worker -> (job, frames so far)
        self.t0 = time.perf_counter()
        self._last_draw = 0.0
        self._last_status = time.perf_counter()
        self._last_decile = -1

    def started(self, worker: str, job: Job) -> None:
        if worker != "ray":
            self.in_progress[worker] = (job, 0)
        if self.verbose:
            self._line(f"{worker}: start {job.rel}{f' {job.label}' if hasattr(job, 'label') else ''}")

    def progress(self, worker: str, job: Job, frames: int) -> None:
        self.in_progress[worker] = (job, frames)
        self._draw()

    def finished(self, row: dict) -> None:
        for w, (job, _) in list(self.in_progress.items()):
            if job.input == row["input"]:
                del self.in_progress[w]
        if row["status"] == "skipped":
            self.skipped += 1
            self.bytes_skipped += row["size"]
        else:
            self.bytes_done += row["size"]
            self.frames_done += row["frames"]
            if row["status"] == "done":
                self.done += 1
            else:
                self.failed += 1
                self._line(f"failed: {row['input']}: {row['error']}")
        if self.verbose and row["status"] == "done":
            self._line(f"done {row['output']}: {row['frames']} frames, {row['fps']:.1f} fps ({row['worker']})")
        self._draw(force=True)

    def _frames_per_s(self) -> float:
        frames = self.frames_done + sum(n for _, n in self.in_progress.values())
        return frames / max(time.perf_counter() - self.t0, 1e-9)

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        finished = self.done + self.failed + self.skipped
        if self.verbose and now - self._last_status > VERBOSE_STATUS_S and self.in_progress:
            self._last_status = now
            for w, (job, n) in sorted(self.in_progress.items()):
                self._line(f"{w}: {job.rel} frame {n}")
        if self.tty:
            if not force and now - self._last_draw < REDRAW_S:
                return
            self._last_draw = now
            filled = int(30 * finished / max(self.total, 1))
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {finished}/{self.total} videos  "
                             f"{self._frames_per_s():6.1f} frames/s  ETA {self._eta()}"
                             f"{f'  {self.failed} failed' if self.failed else ''} ")
            sys.stderr.flush()
        else:
            decile = 10 * finished // max(self.total, 1)
            if decile != self._last_decile:
                self._last_decile = decile
                print(f"meshcam: {finished}/{self.total} videos, {self._frames_per_s():.1f} frames/s, "
                      f"ETA {self._eta()}", file=sys.stderr)

    def _eta(self) -> str:
        elapsed = time.perf_counter() - self.t0
        left = self.bytes_total - self.bytes_done - self.bytes_skipped
        if self.bytes_done <= 0 or elapsed <= 0:
            return "--"
        return _duration(left / (self.bytes_done / elapsed))

    def _line(self, text: str) -> None:
        if not self.enabled and not text.startswith("failed"):
            return
        if self.tty:
            sys.stderr.write("\r\033[K")
        print(f"meshcam: {text}", file=sys.stderr)

    def finish(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def print_summary(result: BatchResult, out_dir: Path, workers: int | None) -> None:
    rows = result.rows
    ran = [r for r in rows if r["status"] in ("done", "failed")]
    frames = sum(r["frames"] for r in ran)
    faces = sum(r["frames_with_face"] for r in ran)
    out = sys.stderr
    print(f"meshcam: {len(rows)} videos in {result.seconds:.1f} s", file=out)
    print(f"  {'done':8} {result.count('done'):6}\n  {'failed':8} {result.count('failed'):6}\n"
          f"  {'skipped':8} {result.count('skipped'):6}  (done before, unchanged)", file=out)
    print(f"  frames {frames} ({faces} with a face); throughput {frames / max(result.seconds, 1e-9):.1f} frames/s"
          f"{f' over {workers} workers' if workers else ''}", file=out)
    slowest = sorted((r for r in ran if r["status"] == "done"), key=lambda r: -r["seconds"])[:SLOWEST]
    if slowest:
        print("  slowest:", file=out)
        for r in slowest:
            print(f"    {r['seconds']:8.1f} s {r['frames']:7} frames {r['fps']:7.1f} fps  {r['output']}", file=out)
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        print("  failed:", file=out)
        for r in failed:
            print(f"    {r['input']}: {r['error']}", file=out)
    print(f"  index: {out_dir / 'index.parquet'} (and index.csv)", file=out)
    if result.interrupted:
        print("meshcam: interrupted; run the same command again to finish (done videos are skipped)", file=out)
