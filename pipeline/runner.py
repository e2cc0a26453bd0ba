"""Threaded frame flow: capture thread (newest frame only) -> inference thread -> newest result.

Pipeline does one frame's work; LatestFrameReader owns a source on its own thread; LiveRunner ties
them together for the GUI with no unbounded queue anywhere. Qt-free: the GUI polls take_latest().
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from pipeline.config import PipelineConfig
from pipeline.drawing import OverlayStyle, draw_face, draw_hud
from pipeline.engine import Engine
from pipeline.errors import MeshcamError
from pipeline.sources import Frame, FrameSource
from pipeline.topology import Topology
from pipeline.tracker import FaceTracker
from pipeline.types import FrameResult, frozen_array

log = logging.getLogger(__name__)


class Pipeline:
    """Tracks faces in one frame at a time and draws overlays. Owned by one thread; other threads
    only call update_config()/update_style(), which take effect on the next frame."""

    def __init__(self, engine: Engine, config: PipelineConfig, style: OverlayStyle = OverlayStyle()):
        self.engine = engine
        self.config = config
        self.style = style
        self.topology = Topology.from_json(engine.topology)
        self.tracker = FaceTracker(engine.detector, engine.mesh, config)
        self._pending: PipelineConfig | None = None
        self._lock = threading.Lock()

    def update_config(self, config: PipelineConfig) -> None:
        with self._lock:
            self._pending = config

    def update_style(self, style: OverlayStyle) -> None:
        self.style = style  # a single reference swap: atomic in CPython

    def _apply_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None and pending != self.config:
            self.config = pending
            self.tracker.set_config(pending)

    def process(self, frame: Frame) -> FrameResult:
        """Detector (when needed) + mesh + smoothing on one frame. timings_ms has capture_age, detect,
        mesh, smooth and process (frame in -> landmarks out)."""
        self._apply_pending()
        t0 = time.perf_counter()
        step = self.tracker.step(frame.frame_bgr, frame.timestamp_ms)
        t1 = time.perf_counter()
        timings = dict(step.timings_ms, capture_age=(t0 - frame.t_capture) * 1000, process=(t1 - t0) * 1000)
        return FrameResult(frame.index, frame.timestamp_ms, frozen_array(frame.frame_bgr), tuple(step.faces),
                           timings, step.detector_ran, self.config.submodels)

    def annotate(self, result: FrameResult, hud_lines: list[str] | None = None) -> np.ndarray:
        """A new BGR frame with overlays (and HUD when the style asks for it); adds timings_ms['draw']."""
        t0 = time.perf_counter()
        out = result.frame_bgr.copy()
        style = self.style
        for face in result.faces:
            draw_face(out, face.landmarks_px, self.topology, style)
        if style.mirror:
            out = np.ascontiguousarray(out[:, ::-1])
        if style.hud and hud_lines:
            draw_hud(out, hud_lines)
        result.timings_ms["draw"] = (time.perf_counter() - t0) * 1000
        return out


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
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
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
                while self._paused.is_set() and not self._stop.is_set():
                    time.sleep(0.02)
                    start_wall = None  # resume pacing from here
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
        except Exception as e:  # surfaced to the consumer, which decides what the user sees
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

    def close(self, timeout: float = 3.0) -> None:
        self._stop.set()
        interrupt = getattr(self.source, "interrupt", None)
        if interrupt is not None:
            interrupt()  # a source waiting to reconnect must not hold up the join
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


class LiveRunner:
    """Capture thread + inference thread; the newest annotated result waits in a one-slot holder.

    ``on_result`` (optional) runs on the inference thread after each frame, e.g. to feed a recorder.
    The GUI calls take_latest() from its timer; nothing here blocks it.
    """

    def __init__(self, pipeline: Pipeline, source: FrameSource, realtime: bool = True, loop: bool = False,
                 hud: Callable[[FrameResult], list[str]] | None = None,
                 on_result: Callable[[FrameResult, np.ndarray], None] | None = None):
        self.pipeline = pipeline
        self.source = source
        self.reader = LatestFrameReader(source, realtime=realtime, loop=loop)
        self.hud = hud
        self.on_result = on_result
        self.error: Exception | None = None
        self.processed = 0
        self._latest: tuple[FrameResult, np.ndarray] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._thread.start()

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
                result = self.pipeline.process(frame)
                annotated = self.pipeline.annotate(result, self.hud(result) if self.hud else None)
                if self.on_result is not None:
                    self.on_result(result, annotated)
                with self._lock:
                    self._latest = (result, annotated)
                self.processed += 1
        except MeshcamError as e:
            self.error = e
        except Exception as e:
            log.exception("inference thread failed")
            self.error = e

    def take_latest(self) -> tuple[FrameResult, np.ndarray] | None:
        """Swap out the newest (result, annotated frame), or None if nothing new arrived."""
        with self._lock:
            latest, self._latest = self._latest, None
        return latest

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def dropped(self) -> int:
        return self.reader.dropped

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        self.reader.close(timeout)
        self._thread.join(timeout)
