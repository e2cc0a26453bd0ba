"""The two frame loops every client shares.

``run_offline``: every frame of a file, none dropped. A reader thread decodes ahead into a bounded queue,
the caller's thread tracks, a writer thread draws (only if a sink wants pictures) and writes to the sinks
through another bounded queue. Ctrl-C or an error closes every sink with the frames processed so far.

``LiveRunner``: newest frame wins. A capture thread keeps only the newest frame, an inference thread
tracks, draws and feeds the attached sinks, and the newest (result, picture) waits in a one-slot holder
that the GUI polls. No unbounded queue anywhere; nothing here blocks the caller.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.drawing import OverlayStyle
from pipeline.errors import InputError, MeshcamError, OutputError
from pipeline.face_tracker import FaceTracker
from pipeline.sinks import Sink, SinkSet, StreamInfo
from pipeline.sources import Frame, FrameSource
from pipeline.types import FrameResult

log = logging.getLogger(__name__)

QUEUE_FRAMES = 8  # decoded frames held ahead of the tracker, and results held for the writer
STAGES = ("detect", "mesh", "smooth", "signals", "process")  # measured on the tracking thread
_END = object()
ZERO_LAG_CHUNK, ZERO_LAG_MARGIN = 60, 30  # frames (--quality best on video)

Progress = Callable[[int, "int | None", int], None]  # (frames done, total or None, faces in the last frame)


@dataclass
class RunSummary:
    """What ``run_offline`` did."""
    frames: int = 0
    frames_with_face: int = 0
    seconds: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)  # median per stage
    interrupted: bool = False  # Ctrl-C: the outputs hold the frames processed so far
    source_error: str | None = None  # the input broke partway (truncated file); what came before is kept
    provider: str = ""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def stream_info(source: FrameSource, tracker: FaceTracker) -> StreamInfo:
    return StreamInfo(width=source.size[0], height=source.size[1], fps=source.fps,
                      max_faces=tracker.config.max_faces, description=source.description,
                      frame_count=source.frame_count, topology=tracker.topology,
                      blendshape_names=tracker.blendshape_names)


def run_offline(source: FrameSource, tracker: FaceTracker, sinks: Iterable[Sink] | SinkSet, *,
                max_frames: int | None = None, style: OverlayStyle = OverlayStyle(),
                hud: Callable[[FrameResult], list[str]] | None = None, progress: Progress | None = None,
                stills: bool | None = None) -> RunSummary:
    """Track every frame of ``source`` and write each result to every sink, in order.

    Args:
        stills: process each frame as its own image (static mode, nothing carried between frames). Default:
            the source's ``stills`` (True for an image or a folder of photos, False for video and for a
            folder opened as a sequence).
    Returns:
        RunSummary; ``interrupted`` after Ctrl-C, ``source_error`` if the input broke partway.
    Raises:
        InputError: the source gave no frame at all (or failed before its first frame).
        OutputError: a sink failed (every sink is closed first; files keep what was written).
    """
    sink_set = sinks if isinstance(sinks, SinkSet) else SinkSet(sinks)
    stills = source.stills if stills is None else stills
    zero_lag = tracker.config.quality == "best" and not stills  # smooth whole tracks on the writer thread
    tracker.reset()
    sink_set.open(stream_info(source, tracker))
    frames: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
    results: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
    stop = threading.Event()
    read_errors: list[Exception] = []
    reader = threading.Thread(target=_read, args=(source, frames, stop, read_errors, max_frames), name="reader",
                              daemon=True)
    writer = threading.Thread(target=_write, args=(tracker, sink_set, results, style, hud, zero_lag),
                              name="writer", daemon=True)
    total = min(filter(None, (source.frame_count, max_frames)), default=None)
    summary = RunSummary(provider=tracker.provider.name)
    stage_ms: dict[str, list[float]] = {k: [] for k in STAGES}
    t_start = time.perf_counter()
    reader.start()
    writer.start()
    try:
        while sink_set.failed is None:
            frame = frames.get()
            if frame is _END:
                break
            if stills:
                result = tracker.detect_image(frame.frame_bgr, frame.index, frame.timestamp_ms)
            else:
                result = tracker.process(frame)
            results.put(result)
            summary.frames += 1
            summary.frames_with_face += bool(result.faces)
            for k in STAGES:
                stage_ms[k].append(result.timings_ms.get(k, 0.0))
            if progress is not None:
                progress(summary.frames, total, len(result.faces))
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        stop.set()
        _drain(frames)
        results.put(_END)
        writer.join()
        reader.join(5)
        close_errors = sink_set.close()
    summary.seconds = time.perf_counter() - t_start
    summary.stage_ms = {k: float(np.median(v)) for k, v in stage_ms.items() if v}
    _raise_for(sink_set, close_errors)
    if read_errors and not summary.interrupted:
        if summary.frames == 0:
            raise InputError(str(read_errors[0]))
        summary.source_error = str(read_errors[0])
    elif max_frames is None:
        summary.source_error = source.error
    if summary.frames == 0 and not summary.interrupted:
        raise InputError(f"{source.description or 'input'}: no frames could be read")
    return summary


def _raise_for(sink_set: SinkSet, close_errors: list[Exception]) -> None:
    failed = sink_set.failed or next((e for e in close_errors if isinstance(e, MeshcamError)), None)
    if failed is None and close_errors:
        failed = close_errors[0]
    if failed is None:
        return
    if isinstance(failed, MeshcamError):
        raise failed
    if isinstance(failed, OSError):  # a sink's own I/O (disk full, network gone): the user's problem
        raise OutputError(f"{failed.strerror or failed}") from failed
    raise failed  # a bug: the caller reports it as one (with the traceback kept)


def _read(source: FrameSource, frames: queue.Queue, stop: threading.Event, errors: list, limit: int | None) -> None:
    try:
        for frame in source:
            if limit is not None and frame.index >= limit:
                break
            while not stop.is_set():
                try:
                    frames.put(frame, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                break
    except Exception as e:  # noqa: BLE001 - reported by the caller as one line
        errors.append(e)
    finally:
        source.close()
        frames.put(_END)


def _write_one(tracker: FaceTracker, sink_set: SinkSet, result: FrameResult, style: OverlayStyle, hud) -> None:
    annotated = None
    if sink_set.needs_annotated:
        annotated, _ = tracker.annotate(result, style, hud(result) if hud else None)
    sink_set.write(result, annotated)


def _queued(results: queue.Queue) -> Iterator[FrameResult]:
    while (item := results.get()) is not _END:
        yield item


def _write(tracker, sink_set: SinkSet, results: queue.Queue, style, hud, zero_lag: bool = False) -> None:
    stream: Iterable[FrameResult] = _queued(results)
    if zero_lag:
        # Forward-backward smoothing over ~1 s of context either side (bounded memory: at most
        # ZERO_LAG_CHUNK + 2 * ZERO_LAG_MARGIN results held); signals follow the smoothed points.
        from pipeline.offline_smoothing import smooth_stream
        stream = map(tracker.with_signals, smooth_stream(stream, chunk=ZERO_LAG_CHUNK, margin=ZERO_LAG_MARGIN))
    for item in stream:
        if sink_set.failed is None:
            try:
                _write_one(tracker, sink_set, item, style, hud)
            except Exception as e:  # noqa: BLE001 - drawing broke: stop the run, never exit 0 with nothing
                log.debug("writer failed", exc_info=True)
                sink_set.failed = e


def _drain(q: queue.Queue) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass


# ---- live ----------------------------------------------------------------------------------------------
class LatestFrameReader:
    """Reads a source on its own thread and keeps only the newest frame.

    A live camera outruns a slow consumer: old frames are dropped (and counted) rather than queued, so
    latency stays one frame. File sources can be paced to their own frame rate (``realtime``) so a video
    plays at its speed in the GUI. Only this thread touches the source; close() joins it.
    """

    def __init__(self, source: FrameSource, realtime: bool = False, loop: bool = False):
        self.source = source
        self.realtime = realtime and not source.live
        self.loop = loop
        self.dropped = 0
        self.delivered = 0
        self.error: Exception | None = None
        self.finished = False
        self._latest: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._step = threading.Event()  # one frame while paused
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _frames(self) -> Iterator[Frame]:
        offset_ms, index = 0.0, 0
        while True:
            last_ts = None
            for f in self.source:
                last_ts = f.timestamp_ms
                yield Frame(index, f.timestamp_ms + offset_ms, f.frame_bgr, f.t_capture)
                index += 1
            if not self.loop or last_ts is None or self._stop.is_set():
                return
            offset_ms += last_ts + 1000.0 / self.source.fps

    def _run(self) -> None:
        start_wall, start_ts = None, None
        try:
            for frame in self._frames():
                while self._paused.is_set() and not self._stop.is_set() and not self._step.is_set():
                    time.sleep(0.02)
                    start_wall = None  # resume pacing from here
                self._step.clear()
                if self._stop.is_set():
                    break
                if self.realtime:
                    if start_wall is None:
                        start_wall, start_ts = time.perf_counter(), frame.timestamp_ms
                    wait = (frame.timestamp_ms - start_ts) / 1000.0 - (time.perf_counter() - start_wall)
                    if wait > 0 and self._stop.wait(wait):
                        break
                    frame = Frame(frame.index, frame.timestamp_ms, frame.frame_bgr, time.perf_counter())
                with self._cond:
                    if self._latest is not None:
                        self.dropped += 1
                    self._latest = frame
                    self._cond.notify_all()
        except Exception as e:  # noqa: BLE001 - surfaced to the consumer, which decides what the user sees
            self.error = e
        finally:
            self.source.close()
            with self._cond:
                self.finished = True
                self._cond.notify_all()

    def get(self, timeout: float = 0.1) -> Frame | None:
        """The newest unread frame, or None after ``timeout`` (or when finished)."""
        with self._cond:
            if self._latest is None and not self.finished:
                self._cond.wait(timeout)
            frame, self._latest = self._latest, None
        if frame is not None:
            self.delivered += 1
        return frame

    def set_paused(self, paused: bool) -> None:
        (self._paused.set if paused else self._paused.clear)()

    def step(self) -> None:
        """While paused: let exactly one more frame through."""
        self._step.set()

    def close(self, timeout: float = 3.0) -> None:
        self._stop.set()
        self.source.interrupt()  # a source waiting to reconnect must not hold up the join
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


class LiveRunner:
    """Capture thread + inference thread; the newest (result, annotated picture) waits for ``take_latest``.

    Sinks attached while running get every processed frame from the inference thread. A sink that fails is
    detached and closed; its error waits in ``sink_errors`` for the GUI to show.
    """

    def __init__(self, source: FrameSource, tracker: FaceTracker, *, realtime: bool = True, loop: bool = False,
                 style: OverlayStyle = OverlayStyle(), hud: Callable[[FrameResult], list[str]] | None = None):
        self.source = source
        self.tracker = tracker
        self.reader = LatestFrameReader(source, realtime=realtime, loop=loop)
        self.style = style
        self.hud = hud
        self.error: Exception | None = None
        self.processed = 0
        self.sink_errors: queue.Queue = queue.Queue()  # (sink, exception) pairs
        self._sinks = SinkSet()
        self._sinks_lock = threading.Lock()
        self._latest: tuple[FrameResult, np.ndarray] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self.stream_info = stream_info(source, tracker)

    def start(self) -> LiveRunner:
        self.reader.start()
        self._thread.start()
        return self

    def attach(self, sink: Sink) -> None:
        """Open ``sink`` now (errors raise here, in the caller) and feed it from the next frame on."""
        sink.open(stream_info(self.source, self.tracker))
        with self._sinks_lock:
            self._sinks.sinks.append(sink)

    def detach(self, sink: Sink) -> list[Exception]:
        """Stop feeding ``sink`` and close it (after the frame being written, if any)."""
        with self._sinks_lock:
            if sink not in self._sinks.sinks:
                return []
            self._sinks.sinks.remove(sink)
        errors: list[Exception] = []
        try:
            sink.close()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        return errors

    @property
    def sinks(self) -> list[Sink]:
        return list(self._sinks.sinks)

    def update_style(self, style: OverlayStyle) -> None:
        self.style = style  # one reference swap: atomic in CPython

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.reader.get(0.1)
                if frame is None:
                    if self.reader.finished:
                        if self.reader.error is not None:
                            self.error = self.reader.error
                        break
                    continue
                result = self.tracker.process(frame)
                annotated, draw_ms = self.tracker.annotate(result, self.style, self.hud(result) if self.hud else None)
                # a new (frozen) result with the draw time, before anything else sees it
                result = replace(result, timings_ms={**result.timings_ms, "draw": draw_ms})
                self._feed(result, annotated)
                with self._lock:
                    self._latest = (result, annotated)
                self.processed += 1
        except MeshcamError as e:
            self.error = e
        except Exception as e:  # noqa: BLE001 - the GUI shows it; the log keeps the traceback
            log.exception("inference thread failed")
            self.error = e

    def _feed(self, result: FrameResult, annotated: np.ndarray) -> None:
        with self._sinks_lock:
            if not self._sinks.sinks:
                return
            dropped = self._sinks.write(result, annotated)
            self._sinks.failed = None  # live: a failed recording stops alone; tracking and other outputs go on
        for sink, error in dropped:
            self.sink_errors.put((sink, error))

    def take_latest(self) -> tuple[FrameResult, np.ndarray] | None:
        """Swap out the newest (result, annotated frame), or None if nothing new arrived."""
        with self._lock:
            latest, self._latest = self._latest, None
        return latest

    def set_paused(self, paused: bool) -> None:
        self.reader.set_paused(paused)

    def step(self) -> None:
        self.reader.step()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def dropped(self) -> int:
        return self.reader.dropped

    def stop(self, timeout: float = 3.0) -> list[Exception]:
        """Stop both threads, then close every attached sink (their close errors are returned)."""
        self._stop.set()
        self.reader.close(timeout)
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._sinks_lock:
            errors = self._sinks.close()
            self._sinks.sinks.clear()
        return errors
