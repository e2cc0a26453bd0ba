"""FaceTracker: the one object every client holds (CLI, GUI, batch, benchmarks, tests).

It owns the models' sessions (through the engine), the tracking state, smoothing and the per-face signals
stage. One thread calls ``process``/``detect_image``; any thread may call ``update_config``, which is applied
before the next frame (a provider or detector change reloads the sessions on the processing thread, never
on the caller's, so a GUI never blocks on it).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

import numpy as np

from pipeline.config import PipelineConfig
from pipeline.drawing import OverlayStyle, annotate
from pipeline.engine import Engine, load_engine
from pipeline.errors import MeshcamError
from pipeline.sources import Frame
from pipeline.topology import Topology
from pipeline.tracker import MultiFaceTracker, TrackStep
from pipeline.types import FrameResult, frozen_array

log = logging.getLogger(__name__)


def _signal_estimator():
    """The per-face signals stage, or None (with one warning) when MediaPipe's canonical face geometry is not
    found: tracking works without it, head pose cannot."""
    from pipeline.signals import SignalEstimator
    try:
        return SignalEstimator()
    except MeshcamError as e:
        log.warning("face signals off: %s", e)
        return None


def _load(config: PipelineConfig) -> Engine:
    return load_engine(config.provider, config.threads, config.min_detection_confidence, detector=config.detector)


class FaceTracker:
    """Faces in, landmarks + signals out.

    Example::

        tracker = FaceTracker.create(PipelineConfig(max_faces=2))
        with open_source("clip.mp4") as source:
            for frame in source:
                result = tracker.process(frame)
    """

    def __init__(self, engine: Engine, config: PipelineConfig = PipelineConfig()):
        self._engine = engine
        self._config = config
        self.topology = Topology.from_json(engine.topology)
        self._estimator = _signal_estimator()
        self._tracker = MultiFaceTracker(engine.detector, engine.mesh, config, self._estimator)
        self._pending: PipelineConfig | None = None
        self._lock = threading.Lock()
        self.reloads = 0  # how many times sessions were rebuilt for a provider/detector change

    @classmethod
    def create(cls, config: PipelineConfig = PipelineConfig()) -> FaceTracker:
        """Convert the models if needed (once, cached), open the sessions on the configured provider."""
        return cls(_load(config), config)

    # ---- what the caller may read ------------------------------------------------------------------
    @property
    def config(self) -> PipelineConfig:
        return self._config

    @property
    def provider(self):
        """models.runtime.ProviderChoice: ``name`` ('cpu'/'cuda') and ``reason`` (why that one)."""
        return self._engine.provider

    @property
    def mesh(self):
        return self._engine.mesh

    @property
    def detector(self):
        return self._engine.detector

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def blendshape_names(self) -> tuple[str, ...] | None:
        """Names of ``FaceSignals.blendshapes``; None when signals are off (then faces carry no signals)."""
        if self._estimator is None or not self._config.signals:
            return None
        from pipeline.signals import BLENDSHAPE_NAMES
        return tuple(BLENDSHAPE_NAMES)

    # ---- control -----------------------------------------------------------------------------------
    def update_config(self, config: PipelineConfig) -> None:
        """Thread-safe: takes effect before the next frame."""
        with self._lock:
            self._pending = config

    def reset(self) -> None:
        """Forget every tracked face (a new video, a scene the caller knows is unrelated)."""
        self._apply_pending()
        self._tracker.reset()

    def _apply_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None or pending == self._config:
            return
        if pending.quality != self._config.quality and not self._config.needs_reload(pending):
            self._tracker = MultiFaceTracker(self._engine.detector, self._engine.mesh, pending, self._estimator)
        elif self._config.needs_reload(pending):
            t0 = time.perf_counter()
            self._engine = _load(pending)
            self._tracker = MultiFaceTracker(self._engine.detector, self._engine.mesh, pending, self._estimator)
            self.reloads += 1
            log.info("sessions reloaded on %s in %.1f s", self._engine.provider.name.upper(),
                     time.perf_counter() - t0)
        else:
            self._tracker.set_config(pending)
        self._config = pending

    # ---- work --------------------------------------------------------------------------------------
    def process(self, frame: Frame) -> FrameResult:
        """Video mode: the previous frame's mesh is this frame's crop; the detector runs only while fewer
        faces are tracked than wanted. ``timings_ms``: capture_age, detect, mesh, smooth, signals, process."""
        self._apply_pending()
        t0 = time.perf_counter()
        step = self._tracker.step(frame.frame_bgr, frame.timestamp_ms)
        return self._result(frame.index, frame.timestamp_ms, frame.frame_bgr, step, t0,
                            capture_age=(t0 - frame.t_capture) * 1000)

    def detect_image(self, image_bgr: np.ndarray, index: int = 0, timestamp_ms: float = 0.0) -> FrameResult:
        """Static-image mode (MediaPipe's static_image_mode): every face in this image on its own; no tracking
        state is read or changed, no smoothing."""
        self._apply_pending()
        t0 = time.perf_counter()
        step = self._tracker.detect_faces(image_bgr)
        return self._result(index, timestamp_ms, image_bgr, step, t0, capture_age=0.0)

    def _result(self, index: int, timestamp_ms: float, frame_bgr: np.ndarray, step: TrackStep, t0: float,
                capture_age: float) -> FrameResult:
        timings = dict(step.timings_ms, capture_age=capture_age, process=(time.perf_counter() - t0) * 1000)
        return FrameResult(index, timestamp_ms, frozen_array(frame_bgr), tuple(step.faces), timings,
                           step.detector_ran, self._config.submodels)

    def with_signals(self, result: FrameResult) -> FrameResult:
        """``result`` with each face's signals computed again from its (e.g. offline-smoothed) landmarks."""
        if self._estimator is None or not self._config.signals or not result.faces:
            return result
        size = (result.frame_bgr.shape[1], result.frame_bgr.shape[0])
        faces = tuple(replace(f, signals=self._estimator(f.landmarks_px, size)) for f in result.faces)
        return replace(result, faces=faces)

    def annotate(self, result: FrameResult, style: OverlayStyle = OverlayStyle(),
                 hud_lines: list[str] | None = None) -> tuple[np.ndarray, float]:
        """``pipeline.drawing.annotate`` with this tracker's topology: (new BGR image, draw ms)."""
        return annotate(result, style, self.topology, hud_lines)
