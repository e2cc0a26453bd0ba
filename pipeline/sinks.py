"""Outputs as sinks: one protocol for every place results go (files, network, virtual camera).

A sink is opened once with the stream's description, gets every processed frame in order, and is closed
once, whatever happened. ``open_sink(spec)`` picks the sink by URL scheme (``osc://``, ``ws://``, ``vcam``)
or file suffix (``.mp4``, ``.npz``, ...); a new kind of output is one module that calls ``register_sink``
plus one import line in ``_load_builtin_sinks``.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from pipeline.errors import OutputError
from pipeline.types import FrameResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamInfo:
    """What a sink knows before the first frame."""
    width: int  # source frame size in pixels (frames may still change size, e.g. a folder of photos)
    height: int
    fps: float  # nominal frame rate (sets keyframe intervals, OSC/WS pacing hints)
    max_faces: int  # number of landmark slots (K) in files
    description: str = ""  # the source, for logs and file metadata
    frame_count: int | None = None  # known length, if any
    topology: object | None = None  # pipeline.topology.Topology, for sinks that draw for themselves
    blendshape_names: tuple[str, ...] | None = None  # names of FaceSignals.blendshapes; None = signals off


@runtime_checkable
class Sink(Protocol):
    """Where results go. Called from one thread (the loop's writer thread); never from the GUI thread.

    ``needs_annotated``: True when ``write`` wants the drawn frame; the loop draws only if some sink does.
    ``write`` must not block for long (network sinks drop rather than wait); it raises ``OutputError``
    when the output is broken for good (disk full), after which the loop closes every sink.
    ``close`` finalises (idempotent) and must leave a complete, valid output or none.
    """
    needs_annotated: bool
    description: str

    def open(self, info: StreamInfo) -> None: ...

    def write(self, result: FrameResult, annotated_bgr: np.ndarray | None) -> None: ...

    def close(self) -> None: ...


class SinkSet:
    """Writes each frame to several sinks; ``close()`` closes all of them even if some fail.

    A sink that raises in ``write`` is closed and dropped (its error kept in ``errors``) when it is
    optional (network, virtual camera); a failing file sink stops the set (``failed``), since a
    recording that silently stops is a lost recording.
    """

    def __init__(self, sinks: Iterable[Sink] = ()):
        self.sinks: list[Sink] = list(sinks)
        self.errors: list[Exception] = []
        self.failed: Exception | None = None
        self._opened = False

    @property
    def needs_annotated(self) -> bool:
        return any(s.needs_annotated for s in self.sinks)

    def open(self, info: StreamInfo) -> None:
        opened = []
        try:
            for s in self.sinks:
                s.open(info)
                opened.append(s)
        except Exception:
            for s in opened:
                _close_quietly(s, [])
            raise
        self._opened = True

    def add(self, sink: Sink, info: StreamInfo | None = None) -> None:
        if info is not None:
            sink.open(info)
        self.sinks.append(sink)

    def remove(self, sink: Sink) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)
            _close_quietly(sink, self.errors)

    def write(self, result: FrameResult, annotated_bgr: np.ndarray | None) -> list[tuple[Sink, Exception]]:
        """Write to every sink; returns the (sink, error) pairs of sinks that failed and were closed."""
        dropped = []
        for s in list(self.sinks):
            try:
                s.write(result, annotated_bgr)
            except Exception as e:  # noqa: BLE001 - every sink is closed whatever fails
                self.errors.append(e)
                self.sinks.remove(s)
                _close_quietly(s, self.errors)
                dropped.append((s, e))
                if not getattr(s, "optional", False):
                    self.failed = self.failed or e
                else:
                    log.warning("%s stopped: %s", s.description, e)
        return dropped

    def close(self) -> list[Exception]:
        """Close every sink; returns the errors met while closing (also kept in ``errors``)."""
        errors: list[Exception] = []
        for s in self.sinks:
            _close_quietly(s, errors)
        self.errors += errors
        return errors

    def __iter__(self):
        return iter(self.sinks)

    def __len__(self) -> int:
        return len(self.sinks)


class MemorySink:
    """Keeps every result in a list (``results``): for scripts, tests and offline analysis of short inputs.
    Holds each frame's picture too, so mind the memory on long videos."""
    optional, needs_annotated, description = False, False, "memory"

    def __init__(self):
        self.results: list[FrameResult] = []
        self.info: StreamInfo | None = None

    def open(self, info: StreamInfo) -> None:
        self.info = info

    def write(self, result: FrameResult, annotated_bgr: np.ndarray | None) -> None:
        self.results.append(result)

    def close(self) -> None:
        pass


def _close_quietly(sink: Sink, errors: list) -> None:
    try:
        sink.close()
    except Exception as e:  # noqa: BLE001
        errors.append(e)


# ---- the registry: spec -> sink -------------------------------------------------------------------
SinkFactory = Callable[..., Sink]
_SCHEMES: dict[str, SinkFactory] = {}  # "osc", "ws", "vcam"
_SUFFIXES: dict[str, SinkFactory] = {}  # ".mp4", ".npz", ...


def register_sink(factory: SinkFactory, *, schemes: Iterable[str] = (), suffixes: Iterable[str] = ()) -> None:
    """Make ``open_sink`` build ``factory(spec, **options)`` for these URL schemes or file suffixes."""
    for s in schemes:
        _SCHEMES[s.lower()] = factory
    for s in suffixes:
        _SUFFIXES[s.lower()] = factory


_builtins_loaded = False


def _load_builtin_sinks() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    import pipeline.file_sinks  # noqa: F401  (video, landmarks, image)
    import pipeline.sink_osc  # noqa: F401
    import pipeline.sink_vcam  # noqa: F401  (pyvirtualcam is imported when a virtual camera opens)
    import pipeline.sink_ws  # noqa: F401


def open_sink(spec: str | Path, **options) -> Sink:
    """A sink for ``spec``: ``osc://HOST:PORT``, ``ws://HOST:PORT``, ``vcam[:NAME]``, or a file path whose
    suffix says what it is (.mp4/.mkv video, .npz/.csv/.jsonl landmarks, .png/.jpg image).

    Options (e.g. ``overwrite=True``) go to the sink's constructor. Raises OutputError with one line.
    """
    _load_builtin_sinks()  # once; importing pipeline.file_sinks first must not hide osc/ws/vcam
    text = str(spec)
    scheme = text.split("://", 1)[0].lower() if "://" in text else text.split(":", 1)[0].lower()
    if scheme in _SCHEMES and ("://" in text or scheme == "vcam"):
        return _SCHEMES[scheme](text, **options)
    suffix = Path(text).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix](Path(text), **options)
    known = sorted(_SUFFIXES) + [f"{s}://" if s != "vcam" else "vcam" for s in sorted(_SCHEMES)]
    raise OutputError(f"{Path(text).name}: unsupported output type (use {', '.join(known)})")


def sink_kinds() -> tuple[list[str], list[str]]:
    """(schemes, suffixes) that open_sink understands (for help texts)."""
    _load_builtin_sinks()
    return sorted(_SCHEMES), sorted(_SUFFIXES)
