"""Batch execution: one task = one video (or one chunk of a long video, pipeline.batch_chunks), run by a
local pool of spawned worker processes or as Ray tasks; each worker keeps one tracker (reset per task).
A task writes into its own staging folder; a whole video's outputs are renamed into place only when it
succeeded, so nothing partial is ever published."""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.batch_index import base_row, failed_row, now, worker_name
from pipeline.batch_inputs import BatchOptions, Job, content_hash, input_name, is_url, one_line, stat_input
from pipeline.errors import InputError, MeshcamError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]  # the repository (workers import pipeline/ and models/ from here)
STAGING = ".staging"
WORKER_RETRIES = 1  # a video whose worker died (killed, out of memory) is retried this many times


def staging_dir(options: BatchOptions, task) -> Path:
    """A video's staging folder; a chunk's is a folder inside its video's (``staging_part``)."""
    folder = options.out_dir / STAGING / hashlib.sha1(task.rel.encode()).hexdigest()[:16]
    part = getattr(task, "staging_part", None)
    return folder / part if part else folder


def task_key(task) -> str:
    """Unique per task: the input, plus the chunk number for a chunk."""
    return getattr(task, "key", task.input)


def publish(staging: Path, outputs) -> None:
    """Move a finished video's staged outputs ``(name in staging, final path)`` into place (atomic renames)."""
    for out_name, final in outputs:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / out_name, final)


def run_task(task, options: BatchOptions, chash: str, tracker, progress=None) -> dict:
    """A whole video (a Job: its index row) or a chunk of one (a ChunkJob: a chunk result)."""
    if hasattr(task, "staging_part"):
        from pipeline.batch_chunks import process_chunk
        return process_chunk(task, options, chash, tracker, progress)
    return process_video(task, options, chash, tracker, progress)


def failed_result(task, options: BatchOptions, chash: str, error: str) -> dict:
    """What a task that never reported (its worker died, Ray gave up) gives: a failed row or chunk result."""
    row = failed_row(task, options, chash, error)
    if hasattr(task, "staging_part"):
        row.update(chunk=task.number, max_face_id=-1, error=one_line(f"{task.label}: {error}"))
    return row


def process_video(job: Job, options: BatchOptions, chash: str, tracker, progress=None) -> dict:
    """Track every frame of ``job``'s video and write its outputs; returns its index row (never raises for
    a bad video: the row says failed and why). Outputs appear only when the whole video succeeded."""
    from pipeline import open_sink, open_source, run_offline
    row = base_row(job, options, chash)
    row["worker"] = worker_name()
    staging = staging_dir(options, job)
    shutil.rmtree(staging, ignore_errors=True)  # a killed attempt's leftovers
    try:
        name = input_name(job.input)
        try:
            size, mtime = stat_input(job.input)
        except Exception as e:  # noqa: BLE001 - missing, no permission, bucket unreachable: one line
            raise InputError(f"{name}: {getattr(e, 'strerror', None) or one_line(str(e)) or 'cannot read'}") \
                from None
        row.update(size=size, mtime_ns=mtime)
        if size == 0:
            raise InputError(f"{name}: empty file (0 bytes)")
        row["content_hash"] = content_hash(job.input, size)
        staging.mkdir(parents=True)
        local = job.input
        if is_url(job.input):  # decoders need a file: copy it into the staging folder (deleted after)
            import pyarrow.fs as pafs
            (staging / "input").mkdir()
            local = str(staging / "input" / name)
            pafs.copy_files(job.input, local)
        outputs = options.outputs(job.rel)
        sinks = [open_sink(staging / out_name, overwrite=True) for out_name, _ in outputs]
        with open_source(local) as source:
            summary = run_offline(source, tracker, sinks, progress=progress)
        if summary.interrupted:
            raise InputError("interrupted")
        if summary.source_error:  # a partial result is not published: the video counts as failed
            raise InputError(summary.source_error)
        publish(staging, outputs)
        row.update(status="done", frames=summary.frames, frames_with_face=summary.frames_with_face,
                   seconds=round(summary.seconds, 4), fps=round(summary.fps, 3))
    except MeshcamError as e:
        row["error"] = one_line(str(e))
    except Exception as e:  # noqa: BLE001 - a bug on one video must not stop the other videos
        log.debug("%s failed", job.input, exc_info=True)
        row["error"] = one_line(f"internal error: {type(e).__name__}: {e}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        try:
            tracker.reset()
        except Exception:  # noqa: BLE001 - the next run_offline resets again
            pass
    row["finished_at"] = now()
    return row



# ---- execution -------------------------------------------------------------------------------------------
class Events:
    """What executors report while running (the CLI's progress bar overrides these)."""

    def started(self, worker: str, job: Job) -> None:
        pass

    def progress(self, worker: str, job: Job, frames: int) -> None:
        pass

    def finished(self, row: dict) -> None:
        pass


def _set_parent_death_signal() -> None:
    """Linux: die with the batch process, even when it is SIGKILLed (no orphan writing into the output)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _one_thread_per_worker() -> None:
    """OpenCV's own loops (resize, warps) on one thread: one worker per core, so no oversubscription."""
    import cv2
    cv2.setNumThreads(1)


def _pool_worker(conn, options: BatchOptions, chash: str) -> None:
    """A local pool process: one tracker, then one video per message until None."""
    _one_thread_per_worker()
    _set_parent_death_signal()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the batch process's to handle
    parent = os.getppid()
    try:
        from pipeline import FaceTracker
        tracker = FaceTracker.create(options.config)
    except Exception as e:  # noqa: BLE001 - reported by the batch process as one line
        conn.send(("fatal", one_line(f"{type(e).__name__}: {e}") if not isinstance(e, MeshcamError) else str(e)))
        return
    conn.send(("ready", tracker.provider.name))
    while True:
        if not conn.poll(1.0):
            if os.getppid() != parent:
                return
            continue
        job = conn.recv()
        if job is None:
            return
        last = [0.0]

        def progress(done, total, faces, last=last):
            now = time.monotonic()
            if now - last[0] >= 0.5:
                last[0] = now
                conn.send(("progress", done))

        conn.send(("done", run_task(job, options, chash, tracker, progress)))


@dataclass
class _Slot:
    wid: int
    proc: object
    conn: object
    job: Job | None = None
    ready: bool = False


class LocalPool:
    """``workers`` processes (spawn: onnxruntime and threads do not survive fork), one video each at a time.

    A worker that dies (killed, out of memory) is replaced; its video's staging folder is deleted and the
    video retried once, then recorded as failed with the signal that killed it. A script that runs a pool
    needs the ``if __name__ == "__main__":`` guard (spawned workers import the main module).
    """

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))

    def run(self, jobs: Sequence[Job], options: BatchOptions, chash: str, events: Events) -> None:
        import multiprocessing as mp
        from multiprocessing.connection import wait
        ctx = mp.get_context("spawn")
        queue = deque(jobs)
        tries: dict[str, int] = {}
        slots: list[_Slot] = []
        next_id = 0
        deaths_without_job = 0

        def spawn() -> None:
            nonlocal next_id
            parent_conn, child_conn = ctx.Pipe()
            proc = ctx.Process(target=_pool_worker, args=(child_conn, options, chash), name=f"meshcam-w{next_id}",
                               daemon=True)
            proc.start()
            child_conn.close()
            slots.append(_Slot(next_id, proc, parent_conn))
            next_id += 1

        for _ in range(min(self.workers, len(queue))):
            spawn()
        try:
            while queue or any(s.job is not None for s in slots):
                for s in slots:
                    if s.ready and s.job is None and queue:
                        s.job = queue.popleft()
                        s.conn.send(s.job)
                        events.started(f"w{s.wid}", s.job)
                wait([s.conn for s in slots] + [s.proc.sentinel for s in slots], timeout=1.0)
                for s in list(slots):
                    alive = self._drain(s, events)
                    if alive and s.proc.is_alive():
                        continue
                    slots.remove(s)
                    s.proc.join(1)
                    if s.proc.is_alive():  # its pipe broke but it lingers: it gets no more work
                        s.proc.kill()
                        s.proc.join(1)
                    if s.job is None:
                        deaths_without_job += 1
                        if deaths_without_job > 2 * self.workers:
                            raise MeshcamError(f"batch workers keep dying at start-up (exit code {s.proc.exitcode})")
                    else:
                        shutil.rmtree(staging_dir(options, s.job), ignore_errors=True)
                        key = task_key(s.job)
                        tries[key] = tries.get(key, 0) + 1
                        if tries[key] <= WORKER_RETRIES:
                            queue.appendleft(s.job)
                        else:
                            code = s.proc.exitcode
                            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
                            events.finished(failed_result(s.job, options, chash, f"worker died ({how}) on each of "
                                                          f"{tries[key]} tries (out of memory?)"))
                    if queue and len(slots) < self.workers:
                        spawn()
        finally:
            for s in slots:
                try:
                    s.conn.send(None)
                except OSError:
                    pass
            for s in slots:
                s.proc.join(5)
                if s.proc.is_alive():
                    s.proc.kill()
                    s.proc.join(1)
                if s.job is not None:  # interrupted mid-video: leave nothing partial behind
                    shutil.rmtree(staging_dir(options, s.job), ignore_errors=True)

    @staticmethod
    def _drain(s: _Slot, events: Events) -> bool:
        """Handle every message waiting from ``s``; False when its pipe is closed (the worker is gone)."""
        try:
            while s.conn.poll():
                kind, value = s.conn.recv()
                if kind == "ready":
                    s.ready = True
                elif kind == "progress" and s.job is not None:
                    events.progress(f"w{s.wid}", s.job, value)
                elif kind == "done":
                    s.job = None
                    events.finished(value)
                elif kind == "fatal":
                    raise MeshcamError(f"a batch worker could not start: {value}")
        except (EOFError, OSError):
            return False
        return True


# Ray: one tracker per Ray worker process, kept between tasks (a task is one video).
_RAY_TRACKER: dict = {}


def _ray_process(job: Job, options: BatchOptions, chash: str) -> dict:
    from pipeline import FaceTracker
    key = repr(options.config)
    if key not in _RAY_TRACKER:
        _one_thread_per_worker()
        _RAY_TRACKER.clear()
        _RAY_TRACKER[key] = FaceTracker.create(options.config)
    return run_task(job, options, chash, _RAY_TRACKER[key])


class RayExecutor:
    """The same jobs as Ray tasks: ``address`` None starts a local instance (``num_cpus`` = workers), else
    connects (an address, or "auto"/RAY_ADDRESS). Each task declares 1 CPU (and ``gpus_per_worker`` GPUs)
    so Ray packs one tracker per core; a task lost with its node is retried by Ray on another node."""

    def __init__(self, address: str | None, workers: int | None = None, gpus_per_worker: float = 0.0,
                 cpus_per_worker: float = 1.0, max_retries: int = 3):
        self.address = address
        self.workers = workers
        self.gpus_per_worker = gpus_per_worker
        self.cpus_per_worker = cpus_per_worker
        self.max_retries = max_retries

    def run(self, jobs: Sequence[Job], options: BatchOptions, chash: str, events: Events) -> None:
        try:
            import ray
        except ImportError:
            raise MeshcamError("--ray needs Ray: pip install ray") from None
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(**ray_init_kwargs(self.address, self.workers))
        try:
            task = ray.remote(_ray_process).options(num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker,
                                                    max_retries=self.max_retries, retry_exceptions=False)
            options_ref = ray.put(options)
            queue = deque(jobs)
            cpus = int(ray.cluster_resources().get("CPU", 1))
            limit = max(4, 2 * int(cpus / max(self.cpus_per_worker, 1e-3)))  # tasks in flight: all busy, few queued
            in_flight: dict = {}
            while queue or in_flight:
                while queue and len(in_flight) < limit:
                    job = queue.popleft()
                    in_flight[task.remote(job, options_ref, chash)] = job
                    events.started("ray", job)
                done, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
                for ref in done:
                    job = in_flight.pop(ref)
                    try:
                        row = ray.get(ref)
                    except Exception as e:  # noqa: BLE001 - worker/node lost beyond the retries
                        shutil.rmtree(staging_dir(options, job), ignore_errors=True)
                        row = failed_result(job, options, chash, f"Ray task failed: {type(e).__name__}: "
                                                              f"{str(e).splitlines()[0] if str(e) else ''}")
                    events.finished(row)
        except BaseException:
            for ref in list(locals().get("in_flight", {})):
                ray.cancel(ref, force=True)
            raise
        finally:
            if started_here:
                ray.shutdown()


RAY_OBJECT_STORE_BYTES = 256 << 20  # tasks pass file names and small rows, never frames: no 30 %-of-RAM store


def ray_init_kwargs(address: str | None, workers: int | None) -> dict:
    """ray.init arguments: quiet, no dashboard, workers import meshcam from this checkout."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("GLOG_", "OPENCV_", "MESHCAM_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=True, runtime_env={"env_vars": env})
    if address:
        kwargs["address"] = address
    elif os.environ.get("RAY_ADDRESS"):
        kwargs["address"] = os.environ["RAY_ADDRESS"]
    else:
        kwargs["num_cpus"] = workers or os.cpu_count() or 1
        kwargs["logging_level"] = logging.ERROR  # our own instance: its start-up notices are noise here
        kwargs["object_store_memory"] = RAY_OBJECT_STORE_BYTES
        # Ray starts workers at nice 15; on a machine shared with other work they would lose to everything
        # else (measured 30 % slower than the local pool). Our own instance's workers run at normal priority.
        os.environ.setdefault("RAY_worker_niceness", "0")
    return kwargs

