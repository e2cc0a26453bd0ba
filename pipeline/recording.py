"""Video recording with PyAV: H.264 in fragmented MP4 (or Matroska), written as it goes.

A fragment is closed at every keyframe and keyframes come once a second, so a process killed with
SIGKILL leaves a playable file missing at most about the last second; close() (on stop, Ctrl-C,
window close or error) finalises everything. OpenCV's wheels cannot write H.264, hence PyAV.
"""
from __future__ import annotations

import errno
import logging
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.errors import OutputError
from pipeline.output_paths import check_output_path

log = logging.getLogger(__name__)

VIDEO_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_FRAGMENTED = "frag_keyframe+empty_moov+default_base_moof"


def pick_codec() -> tuple[str, dict]:
    """libx264 where the PyAV build has it (its wheels do), else MPEG-4 Part 2 (said in the log)."""
    if "libx264" in av.codecs_available:
        return "libx264", {"preset": "veryfast", "crf": "20", "tune": "zerolatency"}
    log.warning("this PyAV build has no H.264 encoder; recording MPEG-4 Part 2 instead")
    return "mpeg4", {"qscale": "3"}


def letterbox(image_bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image_bgr`` scaled to fit ``size`` (w, h) with its aspect kept, centred on black bars."""
    w, h = size
    ih, iw = image_bgr.shape[:2]
    scale = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    out = np.zeros((h, w, 3), np.uint8)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(image_bgr, (nw, nh), interpolation=interp)
    return out


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
        """Encode one frame; the first frame fixes the video size (later frames of another size are
        letterboxed into it, never squashed).

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
                frame_bgr = letterbox(frame_bgr, self._size)
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
        except Exception:  # noqa: BLE001 - the disk is the problem; the file so far stays playable (fragmented)
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
