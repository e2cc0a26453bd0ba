"""Video recording with PyAV: H.264 in fragmented MP4 (or Matroska), written as it goes.

A fragment is closed at every keyframe and keyframes come once a second, so a process killed with
SIGKILL leaves a playable file missing at most about the last second; close() (on stop, Ctrl-C,
window close or error) finalises everything. OpenCV's wheels cannot write H.264, hence PyAV.
"""
from __future__ import annotations

import errno
import logging
import os
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.errors import OutputError

log = logging.getLogger(__name__)

VIDEO_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_FRAGMENTED = "frag_keyframe+empty_moov+default_base_moof"


def check_output_path(path: Path, overwrite: bool, allowed: dict | set) -> Path:
    """Validate an output path before any work starts.

    Raises:
        OutputError: exists (without overwrite), unsupported extension, folder missing or unwritable.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() not in allowed:
        raise OutputError(f"{path.name}: unsupported output type (use {', '.join(sorted(allowed))})")
    if path.is_dir():
        raise OutputError(f"{path}: is a directory")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists; pass --overwrite to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{parent}: output folder does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"{path}: permission denied")
    return path


def pick_codec() -> tuple[str, dict]:
    """libx264 where the PyAV build has it (its wheels do), else MPEG-4 Part 2 (said in the log)."""
    if "libx264" in av.codecs_available:
        return "libx264", {"preset": "veryfast", "crf": "20", "tune": "zerolatency"}
    log.warning("this PyAV build has no H.264 encoder; recording MPEG-4 Part 2 instead")
    return "mpeg4", {"qscale": "3"}


class VideoRecorder:
    """Writes BGR frames with their timestamps. Thread-safe; ``close()`` is idempotent.

    Args:
        path: .mp4/.m4v/.mov (fragmented) or .mkv.
        fps: nominal rate (sets the keyframe interval); real timestamps set each frame's time.
    """

    def __init__(self, path: Path, fps: float, overwrite: bool = False):
        self.path = check_output_path(path, overwrite, VIDEO_CONTAINERS)
        self.fps = fps if fps and 1 <= fps <= 240 else 30.0
        self.codec, self._codec_options = pick_codec()
        self.frames_written = 0
        self._container = None
        self._stream = None
        self._size = None
        self._last_pts = -1
        self._t0_ms = None
        self._lock = threading.Lock()
        self._closed = False

    def _open(self, width: int, height: int) -> None:
        fmt = VIDEO_CONTAINERS[self.path.suffix.lower()]
        options = {"movflags": _FRAGMENTED} if fmt in ("mp4", "mov") else {}
        # Push each finished fragment (or Matroska cluster) to the OS at once, so a killed process loses
        # at most the fragment being built, not also what sat in FFmpeg's I/O buffer.
        options["flush_packets"] = "1"
        try:
            self._container = av.open(str(self.path), mode="w", format=fmt, options=options)
        except (OSError, av.error.FFmpegError) as e:
            raise OutputError(f"cannot write {self.path}: {getattr(e, 'strerror', None) or e}") from e
        rate = Fraction(round(self.fps * 1000), 1000)
        stream = self._container.add_stream(self.codec, rate=rate, options=self._codec_options)
        stream.width, stream.height = width + width % 2, height + height % 2  # yuv420p needs even sizes
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.codec_context.gop_size = max(1, round(self.fps))  # a keyframe (and fragment) per second
        self._stream = stream
        self._size = (width, height)

    def write(self, frame_bgr: np.ndarray, timestamp_ms: float) -> None:
        """Encode one frame; the first frame fixes the video size (later frames are resized to it).

        Raises:
            OutputError: the disk is full or the file cannot be written (what was written is kept).
        """
        with self._lock:
            if self._closed:
                return
            h, w = frame_bgr.shape[:2]
            if self._container is None:
                self._open(w, h)
                self._t0_ms = timestamp_ms
            if (w, h) != self._size:
                frame_bgr = cv2.resize(frame_bgr, self._size)
            sw, sh = self._stream.width, self._stream.height
            if (sw, sh) != self._size:
                frame_bgr = cv2.copyMakeBorder(frame_bgr, 0, sh - self._size[1], 0, sw - self._size[0],
                                               cv2.BORDER_REPLICATE)
            pts = max(int(round(timestamp_ms - self._t0_ms)), self._last_pts + 1)
            self._last_pts = pts
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_bgr), format="bgr24")
            frame.pts = pts
            frame.time_base = Fraction(1, 1000)
            try:
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
            except (OSError, av.error.FFmpegError) as e:
                self._fail(e)
            self.frames_written += 1

    def _fail(self, e: Exception) -> None:
        no_space = getattr(e, "errno", None) == errno.ENOSPC or "No space" in str(e)
        try:
            self._close_locked()
        except Exception:  # the disk is the problem; the file so far stays playable (fragmented)
            pass
        why = "disk full" if no_space else f"write failed ({e})"
        raise OutputError(f"{why} while recording {self.path.name}; kept {self.frames_written} frames") from e

    def _close_locked(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()

    def close(self) -> None:
        """Flush the encoder and finalise the file. Safe to call twice and from any thread."""
        with self._lock:
            try:
                self._close_locked()
            except (OSError, av.error.FFmpegError) as e:
                raise OutputError(f"could not finalise {self.path.name}: {e}") from e
        if self.frames_written == 0 and self.path.exists() and self.path.stat().st_size == 0:
            self.path.unlink()  # nothing recorded: leave no empty file behind

    @property
    def closed(self) -> bool:
        return self._closed


class RecordingSession:
    """An annotated recording plus an optional landmarks file, fed from the inference thread.

    write() after a failure stops recording and keeps ``error`` for the UI; stop() finalises both files
    and is safe from any thread (the GUI's stop button, window close, Ctrl-C, a camera fault).
    """

    def __init__(self, video_path: Path, fps: float, landmarks_path: Path | None = None, max_faces: int = 1,
                 overwrite: bool = False, raw_path: Path | None = None):
        from pipeline.landmarks_io import LandmarksWriter  # avoid a module cycle
        self.video = VideoRecorder(video_path, fps, overwrite)
        self.raw = VideoRecorder(raw_path, fps, overwrite) if raw_path else None  # the camera's own frames
        self.landmarks = LandmarksWriter(landmarks_path, max_faces, overwrite) if landmarks_path else None
        self.error: Exception | None = None
        self.first_ms: float | None = None
        self.last_ms: float | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def write(self, result, annotated_bgr: np.ndarray) -> None:
        with self._lock:
            if self._stopped:
                return
            try:
                self.video.write(annotated_bgr, result.timestamp_ms)
                if self.raw is not None:
                    self.raw.write(result.frame_bgr, result.timestamp_ms)
                if self.landmarks is not None:
                    self.landmarks.write(result.index, result.timestamp_ms, result.timings_ms.get("process", 0.0),
                                         result.faces)
            except OutputError as e:
                self.error = e
                self._stop_locked()
                return
            self.first_ms = result.timestamp_ms if self.first_ms is None else self.first_ms
            self.last_ms = result.timestamp_ms

    @property
    def elapsed_s(self) -> float:
        return 0.0 if self.first_ms is None else (self.last_ms - self.first_ms) / 1000.0

    @property
    def active(self) -> bool:
        return not self._stopped

    def _stop_locked(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for out in (self.video, self.raw, self.landmarks):
            if out is None:
                continue
            try:
                out.close()
            except OutputError as e:
                self.error = self.error or e

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()
