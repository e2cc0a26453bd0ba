"""Batch processing: many videos on all cores (a local process pool) or on a Ray cluster, resumable.

One job per input video (``pipeline.batch_inputs`` finds them). Each job is processed through the public API
(one tracker per worker process, reset between videos; ``pipeline.batch_exec``) into a hidden staging folder
``DIR/.staging/<key>/``; only when the whole video succeeded are its outputs renamed into place
(``DIR/<relative path>.npz`` ...). With ``split_minutes`` a long video is cut at keyframes into chunks that
run as separate tasks and are merged into the same outputs (``pipeline.batch_chunks``). A run index
(``DIR/index.parquet`` + ``DIR/index.csv``; ``pipeline.batch_index``) says per video what was done with which
input and config, so a re-run skips what is done and unchanged. Finished rows are first appended (and
fsync'd) to a journal ``DIR/.index-journal.jsonl`` and folded into the parquet/csv files every few seconds
and at the end: a run killed at any moment (SIGKILL included) loses only the videos in progress, whose
staging folders are deleted by the next run. Qt-free; the command line is in ``pipeline.batch_cli``.
"""
from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.batch_exec import STAGING, Events, LocalPool, RayExecutor, process_video
from pipeline.batch_index import JOURNAL, Planned, RunIndex, config_hash, failed_row, plan
from pipeline.batch_inputs import LANDMARK_KINDS, BatchOptions, Job, batch_options, content_hash, discover
from pipeline.batch_merge import ChunkAssembler
from pipeline.config import PipelineConfig
from pipeline.errors import OutputError

LOCK = ".meshcam-batch.lock"


@dataclass
class BatchResult:
    rows: list[dict]  # this run's row per job, in job order (skipped ones with status "skipped")
    seconds: float
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.rows)

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else 3 if self.count("failed") else 0


def run_batch(jobs: Sequence[Job], options: BatchOptions, executor, *, force: bool = False,
              events: Events | None = None, model_manifest: dict | None = None) -> BatchResult:
    """Process every job not already done; returns this run's rows. Holds a lock on the output folder.

    Raises:
        OutputError: the output folder cannot be created or another batch is writing to it.
    """
    from filelock import FileLock, Timeout
    events = events or Events()
    out_dir = options.out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {out_dir}: {e.strerror}") from None
    if not os.access(out_dir, os.W_OK):
        raise OutputError(f"{out_dir}: permission denied")
    lock = FileLock(str(out_dir / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise OutputError(f"another meshcam batch is writing to {out_dir}; wait for it or use another --out") \
            from None
    t0 = time.perf_counter()
    try:
        shutil.rmtree(out_dir / STAGING, ignore_errors=True)  # what a killed run was writing
        index = RunIndex(out_dir)
        chash = config_hash(options, model_manifest)
        planned = plan(jobs, index, options, chash, force)
        rows: dict[str, dict] = {}
        for p in planned:
            if p.action == "skip":
                row = dict(p.previous, status="skipped", mtime_ns=p.job.mtime_ns)  # a touch: no re-hash next time
                rows[p.job.input] = row
                index.record(row, durable=False)
                events.finished(row)
            elif p.action == "missing-input":
                row = failed_row(p.job, options, chash, f"{p.job.input}: no such file")
                rows[p.job.input] = row
                index.record(row, durable=False)
                events.finished(row)
        todo = sorted((p.job for p in planned if p.job.input not in rows), key=lambda j: -j.size)  # longest first
        chunks = ChunkAssembler(options, chash)

        class _Recording(Events):
            def started(self, worker, job):
                events.started(worker, job)

            def progress(self, worker, job, frames):
                events.progress(worker, job, frames)

            def finished(self, row):
                if "chunk" in row:  # one chunk of a split video: the video's row comes with its last chunk
                    row = chunks.add(row)
                    if row is None:
                        return
                rows[row["input"]] = row
                index.record(row)
                events.finished(row)

        interrupted = False
        previous_term = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, _raise_interrupt)
        except ValueError:  # not the main thread
            previous_term = None
        try:
            tasks = split_tasks(todo, options)  # in here: Ctrl-C while scanning long videos is an interruption too
            chunks.expect(tasks)
            if tasks:
                executor.run(tasks, options, chash, _Recording())
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if previous_term is not None:
                signal.signal(signal.SIGTERM, previous_term)
            index.close()
            shutil.rmtree(out_dir / STAGING, ignore_errors=True)
        ordered = [rows[j.input] for j in jobs if j.input in rows]
        return BatchResult(ordered, time.perf_counter() - t0, interrupted)
    finally:
        lock.release()


def split_tasks(jobs: Sequence[Job], options: BatchOptions) -> list:
    """The tasks for ``jobs``: each video whole, or (``options.split_s``) a long one as its chunks, in order."""
    if not options.split_s:
        return list(jobs)
    from pipeline.batch_chunks import split_video
    tasks: list = []
    for job in jobs:
        tasks.extend(split_video(job, options.split_s) or [job])
    return tasks


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def add_batch_arguments(parser) -> None:
    """The `batch` subcommand's own flags (the tracking options are added by main.py)."""
    from pipeline.batch_cli import add_batch_arguments as add
    add(parser)


def batch_cli(args, config: PipelineConfig) -> int:
    from pipeline.batch_cli import batch_cli as run
    return run(args, config)


__all__ = ["Job", "BatchOptions", "BatchResult", "RunIndex", "LocalPool", "RayExecutor", "Events", "Planned",
           "JOURNAL", "LANDMARK_KINDS", "discover", "plan", "run_batch", "process_video", "content_hash",
           "config_hash", "batch_options", "failed_row"]
