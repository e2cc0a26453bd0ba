"""The live session behind the window: one FaceTracker, one LiveRunner at a time, and the source it plays.

Nothing slow runs on the GUI thread: the first FaceTracker and any reload while nothing plays are built by
the worker thread; a provider/detector change while a runner plays is handed to the tracker
(``update_config``), which reloads its sessions on the inference thread; sources (camera, file) are opened
by the worker too. A timer polls the runner for the newest result and for what went wrong.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PyQt6 import QtCore

from app.cameras import CameraFormat, CameraInfo
from app.seekable import SeekableVideoSource
from app.worker import Worker
from pipeline.config import PipelineConfig
from pipeline.drawing import OverlayStyle
from pipeline.face_tracker import FaceTracker
from pipeline.loops import LiveRunner
from pipeline.sources import VIDEO_EXTS, CameraSource, FrameSource, ReconnectingCamera, open_source

log = logging.getLogger(__name__)
POLL_MS = 8


def camera_opener(camera: CameraInfo, fmt: CameraFormat | None) -> Callable[[], FrameSource]:
    w, h, fps = (fmt.width, fmt.height, fmt.fps) if fmt else (1280, 720, 30.0)
    return lambda: ReconnectingCamera(lambda: CameraSource(camera.index, w, h, fps))


def file_opener(path: str) -> Callable[[], FrameSource]:
    p = Path(path).expanduser()
    if p.suffix.lower() in VIDEO_EXTS and p.is_file():
        return lambda: SeekableVideoSource(p)
    return lambda: open_source(p)


class LiveController(QtCore.QObject):
    frame = QtCore.pyqtSignal(object, object)  # FrameResult, annotated BGR (source orientation)
    started = QtCore.pyqtSignal(object)  # the FrameSource now playing
    failed = QtCore.pyqtSignal(str, str)  # kind ("source", "model", "camera"), one-line message
    busy = QtCore.pyqtSignal(str)  # what is being loaded or opened ("" when done)
    provider_changed = QtCore.pyqtSignal(object)  # the FaceTracker (sessions (re)built)
    config_reverted = QtCore.pyqtSignal(object)  # PipelineConfig the tracker really runs (a reload failed)
    sink_failed = QtCore.pyqtSignal(object, object)  # sink, exception (the runner dropped it)
    camera_status = QtCore.pyqtSignal(str, int)  # camera trouble text ("" when fine), faults so far
    ended = QtCore.pyqtSignal()  # a file played once reached its end

    def __init__(self, config: PipelineConfig, style: OverlayStyle, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.config, self.style = config, style
        self.tracker: FaceTracker | None = None
        self.runner: LiveRunner | None = None
        self.worker = Worker(self)
        self.opener: Callable[[], FrameSource] | None = None
        self.label = ""
        self.paused, self.loop = False, True
        self.before_stop: list[Callable[[LiveRunner], None]] = []  # finalise recordings, close outputs
        self.after_start: list[Callable[[LiveRunner], None]] = []
        self._source: FrameSource | None = None  # opened, waiting for the tracker
        self._source_token = self._tracker_token = None
        self._pending_seek: float | None = None
        self._reloads_seen = 0
        self._camera_state = ("", 0)
        self.timer = QtCore.QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    # ---- models -------------------------------------------------------------------------------------
    def load_tracker(self) -> None:
        config = token = self._tracker_token = self.config
        self.busy.emit(f"loading models on {config.provider}…")
        self.worker.submit(lambda: FaceTracker.create(config), lambda t, e: self._tracker_ready(token, t, e))

    def _tracker_ready(self, token, tracker: FaceTracker | None, error: Exception | None) -> None:
        if token is not self._tracker_token:
            return
        self._tracker_token = None
        if error is not None:
            self.busy.emit("")
            self.failed.emit("model", f"model load failed: {error}")
            return
        if tracker.config.needs_reload(self.config):  # changed again while loading
            self.load_tracker()
            return
        tracker.update_config(self.config)
        self.tracker, self._reloads_seen = tracker, tracker.reloads
        self.busy.emit("")
        self.provider_changed.emit(tracker)
        self._maybe_start()

    def set_config(self, config: PipelineConfig) -> None:
        self.config = config
        if self.tracker is None:
            return  # loading: the new tracker picks this config up
        if self.running:
            if self.tracker.config.needs_reload(config):
                self.busy.emit(f"switching to {config.provider}…")
            self.tracker.update_config(config)  # a reload happens on the inference thread
            if self.paused:
                self.runner.step()  # show the change on the paused frame's successor
        elif self.tracker.config.needs_reload(config):
            self.tracker = None
            self.load_tracker()
        else:
            self.tracker.update_config(config)

    def set_style(self, style: OverlayStyle) -> None:
        self.style = style
        if self.runner is not None:
            self.runner.update_style(style)

    # ---- sources ------------------------------------------------------------------------------------
    def open(self, opener: Callable[[], FrameSource], label: str, seek_ms: float | None = None) -> None:
        self.stop()
        self.opener, self.label, self._pending_seek = opener, label, seek_ms
        token = self._source_token = object()
        self.busy.emit(f"opening {label}…")
        self.worker.submit(opener, lambda s, e: self._source_ready(token, s, e))

    def _source_ready(self, token, source: FrameSource | None, error: Exception | None) -> None:
        if token is not self._source_token:
            if source is not None:
                source.close()
            return
        self._source_token = None
        if error is not None:
            self.busy.emit("")
            self.failed.emit("source", str(error))
            return
        self._source = source
        self._maybe_start()

    def _maybe_start(self) -> None:
        if self.tracker is None or self._source is None or self.runner is not None:
            return
        if self.tracker.config.needs_reload(self.config):  # a reload the last runner never got to: not here
            self.tracker = None
            self.load_tracker()
            return
        source, self._source = self._source, None
        if self._pending_seek is not None and isinstance(source, SeekableVideoSource):
            source.request_seek(self._pending_seek)
        self._pending_seek = None
        self.tracker.reset()  # a new source: nothing tracked carries over
        self.runner = LiveRunner(source, self.tracker, realtime=True, loop=self.loop and not source.live,
                                 style=self.style).start()
        self.runner.set_paused(self.paused)
        if self.paused:
            self.runner.step()  # show the first frame
        self._reloads_seen = self.tracker.reloads
        self._camera_state = ("", 0)
        self.busy.emit("")
        self.started.emit(source)
        for callback in self.after_start:
            callback(self.runner)

    def stop(self) -> None:
        """Stop the runner (after ``before_stop``: recordings are finalised first) and drop any pending source."""
        runner, self.runner = self.runner, None
        self._source_token = None
        if runner is not None:
            for callback in self.before_stop:
                callback(runner)
            for e in runner.stop():
                log.warning("closing an output failed: %s", e)
        if self._source is not None:
            self._source.close()
            self._source = None

    @property
    def running(self) -> bool:
        return self.runner is not None and self.runner.running

    # ---- transport ----------------------------------------------------------------------------------
    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if self.runner is not None:
            self.runner.set_paused(paused)
        elif not paused and self.opener is not None and self._source_token is None and self.tracker is not None:
            self.open(self.opener, self.label)  # a file played to its end: play it again

    def step(self) -> None:
        if self.runner is not None and self.paused:
            self.runner.step()

    def seek(self, position_ms: float) -> None:
        source = self.runner.source if self.runner is not None else None
        if isinstance(source, SeekableVideoSource) and self.running:
            source.request_seek(position_ms)
            if self.paused:
                self.runner.step()
        elif self.opener is not None and self.runner is None:
            self.open(self.opener, self.label, seek_ms=position_ms)

    def set_loop(self, loop: bool) -> None:
        self.loop = loop
        if self.runner is not None:
            self.runner.reader.loop = loop and not self.runner.source.live  # read at the end of each pass

    # ---- the timer ----------------------------------------------------------------------------------
    def poll(self) -> None:
        runner = self.runner
        if runner is None:
            return
        tracker = runner.tracker
        if tracker.reloads != self._reloads_seen:
            self._reloads_seen = tracker.reloads
            self.busy.emit("")
            self.provider_changed.emit(tracker)
        while not runner.sink_errors.empty():
            self.sink_failed.emit(*runner.sink_errors.get_nowait())
        if not runner.running:
            self._runner_ended(runner)
            return
        state = (runner.source.status, runner.source.faults)
        if state != self._camera_state:
            self._camera_state = state
            self.camera_status.emit(*state)
        latest = runner.take_latest()
        if latest is not None:
            self.frame.emit(*latest)

    def _runner_ended(self, runner: LiveRunner) -> None:
        latest = runner.take_latest()
        if latest is not None:
            self.frame.emit(*latest)
        error = runner.error
        self.stop()
        if error is None:
            self.ended.emit()
            return
        if runner.tracker.config.needs_reload(self.config):  # the reload itself failed: keep the old sessions
            self.busy.emit("")
            self.config = runner.tracker.config
            self.config_reverted.emit(self.config)
            self.failed.emit("model", f"model load failed, kept {self.config.provider}: {error}")
            if self.opener is not None:
                self.open(self.opener, self.label)
            return
        self.failed.emit("source", f"the source stopped: {error}")
