"""A video file the GUI can seek while it plays (pipeline sources stay forward-only).

The seek is done by the capture thread before its next read, so only that thread touches the decoder.
Timestamps stay one frame step apart whatever the seeks, so the runner's real-time pacing and the
trackers see a continuous clock; ``position_ms`` is where in the file the last frame came from.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2

from pipeline.sources import Frame, VideoFileSource, to_bgr8


class SeekableVideoSource(VideoFileSource):
    def __init__(self, path: Path):
        super().__init__(path)
        self._seek_ms: float | None = None
        self._lock = threading.Lock()
        self.position_ms = 0.0
        self.duration_ms = self.frame_count * 1000.0 / self.fps if self.frame_count else None

    def request_seek(self, position_ms: float) -> None:
        """Jump to ``position_ms`` before the next frame (any thread)."""
        with self._lock:
            self._seek_ms = max(0.0, float(position_ms))

    def _take_seek(self) -> float | None:
        with self._lock:
            seek, self._seek_ms = self._seek_ms, None
        return seek

    def __iter__(self) -> Iterator[Frame]:
        step_ms = 1000.0 / self.fps
        frame, self._first = self._first, None
        if frame is None:  # played before (looping): start from the beginning
            self._cap.release()
            self._cap = cv2.VideoCapture(str(self.path))
            ok, frame = self._cap.read()
            frame = frame if ok else None
        index = 0
        while frame is not None:
            self.position_ms = max(0.0, float(self._cap.get(cv2.CAP_PROP_POS_MSEC)))
            yield Frame(index, index * step_ms, to_bgr8(frame), time.perf_counter())
            index += 1
            seek = self._take_seek()
            if seek is not None:
                self._cap.set(cv2.CAP_PROP_POS_MSEC, seek)
            ok, frame = self._cap.read()
            frame = frame if ok else None
