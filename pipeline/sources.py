"""Frame sources: webcam, video file, still image, folder of images. Each yields Frame values with an
index and a monotonic timestamp; frames are normalised to 3-channel uint8 BGR. No threads here."""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import InputError

log = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
VIDEO_EXTS = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
MAX_PIXELS = 8192 * 8192  # larger frames are downscaled to fit: 8K stays, gigapixel scans do not exhaust memory


@dataclass(frozen=True, slots=True)
class Frame:
    index: int
    timestamp_ms: float  # strictly increasing within a source
    frame_bgr: np.ndarray  # (H, W, 3) uint8
    t_capture: float  # time.perf_counter() when the frame was read


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any decoded image (gray, BGRA, 16-bit, float) -> contiguous (H, W, 3) uint8 BGR.

    Raises:
        InputError: empty or unsupported layout.
    """
    if image is None or image.size == 0 or image.ndim not in (2, 3):
        raise InputError("empty or malformed image")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2 or image.shape[2] == 1:
        image = cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.shape[2] != 3:
        raise InputError(f"unsupported channel count {image.shape[2]}")
    h, w = image.shape[:2]
    if h * w > MAX_PIXELS:
        scale = (MAX_PIXELS / (h * w)) ** 0.5
        image = cv2.resize(image, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


class MonotonicClock:
    """Turns a source's own timestamps into strictly increasing ones (broken files repeat or jump back)."""

    def __init__(self, fps: float):
        self.step_ms = 1000.0 / fps if fps and fps > 0 else 1000.0 / 30
        self.last: float | None = None

    def __call__(self, proposed_ms: float | None) -> float:
        if self.last is None:
            ts = proposed_ms if proposed_ms is not None and np.isfinite(proposed_ms) and proposed_ms >= 0 else 0.0
        elif proposed_ms is None or not np.isfinite(proposed_ms) or proposed_ms <= self.last:
            ts = self.last + self.step_ms
        else:
            ts = proposed_ms
        self.last = ts
        return ts


class FrameSource:
    """Base: iterate to get frames; ``close()`` releases the device/file; a context manager.

    Attributes every source has:
        live: a camera (frames are dropped when the consumer is slow; never paced).
        stills: unrelated still images (each processed on its own, like MediaPipe's static image mode).
        fps, size (width, height) as really delivered, frame_count (None if unknown), description.
        status: a camera's current trouble ("" when fine); faults: how many interruptions so far.
        error: set when a file broke partway (what came before it was delivered).
    """
    live = False
    stills = False
    fps: float = 30.0
    size: tuple[int, int] = (0, 0)
    frame_count: int | None = None
    description = ""
    status = ""
    faults = 0
    error: str | None = None

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def interrupt(self) -> None:
        """Ask an iteration on another thread to stop soon (a camera waiting to reconnect)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VideoFileSource(FrameSource):
    """A video file decoded with OpenCV. ``error`` says where decoding stopped early, if it did."""

    def __init__(self, path: Path):
        self.path = Path(path)
        _check_file(self.path)
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise InputError(f"{self.path.name}: not a readable video (truncated, corrupt or unsupported format)")
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise InputError(f"{self.path.name}: no decodable video frames")
        self._first = first
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS)) or 30.0
        if not (1.0 <= self.fps <= 1000.0):
            self.fps = 30.0
        n = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = n if n > 0 else None
        self.size = (first.shape[1], first.shape[0])
        self.description = f"{self.path.name} {self.size[0]}x{self.size[1]} @ {self.fps:.2f} fps"
        self.error: str | None = None
        self.frames_read = 0

    def __iter__(self) -> Iterator[Frame]:
        clock = MonotonicClock(self.fps)
        frame, index = self._first, 0
        self._first = None
        if frame is None:  # iterated before (looping playback): start again from the beginning
            self._cap.release()
            self._cap = cv2.VideoCapture(str(self.path))
            ok, frame = self._cap.read()
            if not ok:
                frame = None
        while frame is not None:
            pos = self._cap.get(cv2.CAP_PROP_POS_MSEC)
            yield Frame(index, clock(pos if index else 0.0), to_bgr8(frame), time.perf_counter())
            index += 1
            self.frames_read = index
            ok, frame = self._cap.read()
            if not ok:
                frame = None
        if self.frame_count and self.frames_read < self.frame_count - 1:
            # The container promised more frames than decoded: truncated or corrupt data.
            self.error = (f"{self.path.name}: decoding stopped at frame {self.frames_read} of "
                          f"{self.frame_count} (file truncated or corrupt); kept the frames before it")

    def close(self) -> None:
        self._cap.release()


class ImageSource(FrameSource):
    """One still image, yielded once (or ``repeat`` times, for the GUI to show it live)."""
    stills = True

    def __init__(self, path: Path, repeat: int = 1):
        self.path = Path(path)
        _check_file(self.path)
        self._image = to_bgr8(_read_image(self.path))
        self.size = (self._image.shape[1], self._image.shape[0])
        self.frame_count = repeat
        self.description = f"{self.path.name} {self.size[0]}x{self.size[1]}"
        self._repeat = repeat

    def __iter__(self) -> Iterator[Frame]:
        clock = MonotonicClock(self.fps)
        for i in range(self._repeat):
            yield Frame(i, clock(i * 1000.0 / self.fps), self._image, time.perf_counter())


class ImageFolderSource(FrameSource):
    """Images in a folder, sorted by name; files that are not images are skipped with a warning.

    By default the images are unrelated photos (``stills``: each is processed on its own). With
    ``sequence=True`` they are consecutive video frames (tracked from one to the next).
    """

    def __init__(self, path: Path, fps: float = 30.0, sequence: bool = False):
        self.path = Path(path)
        self.stills = not sequence
        if not self.path.is_dir():
            raise InputError(f"{self.path}: not a directory")
        if not fps or not np.isfinite(fps) or fps <= 0:
            raise InputError(f"--fps must be > 0, not {fps}")
        self.fps = fps
        self.files = sorted(p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
        if not self.files:
            raise InputError(f"{self.path}: no images ({', '.join(sorted(IMAGE_EXTS))}) in this folder")
        self.frame_count = len(self.files)
        self.skipped: list[str] = []
        kind = "frames" if sequence else "images"
        self.description = f"{self.path.name}/ ({len(self.files)} {kind})"

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        for p in self.files:
            try:
                image = to_bgr8(_read_image(p))
            except InputError as e:
                self.skipped.append(p.name)
                log.warning("skipping %s: %s", p.name, e)
                continue
            if not self.size[0]:
                self.size = (image.shape[1], image.shape[0])
            yield Frame(index, index * 1000.0 / self.fps, image, time.perf_counter())
            index += 1


class CameraSource(FrameSource):
    """A webcam by index. Reports the size and fps the camera really gives, not the ones asked for."""
    live = True

    def __init__(self, index: int, width: int = 1280, height: int = 720, fps: float = 30.0):
        self.index = index
        self._cap = cv2.VideoCapture(index)
        if not self._cap.isOpened():
            raise InputError(f"camera {index} could not be opened (not connected, or in use by another app)")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._cap.set(cv2.CAP_PROP_FPS, fps)
        self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # best effort: a stale driver queue adds latency
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self._cap.release()
            raise InputError(f"camera {index} opened but gives no frames")
        self.size = (frame.shape[1], frame.shape[0])
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS)) or fps
        self.description = (f"camera {index}: {self.size[0]}x{self.size[1]} @ {self.fps:.0f} fps "
                            f"(asked {width}x{height} @ {fps:.0f})")
        self.read_failures = 0

    def __iter__(self) -> Iterator[Frame]:
        t0 = time.perf_counter()
        clock = MonotonicClock(self.fps)
        index = 0
        while True:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                self.read_failures += 1
                raise InputError(f"camera {self.index} stopped delivering frames (unplugged?)")
            now = time.perf_counter()
            yield Frame(index, clock((now - t0) * 1000.0), to_bgr8(frame), now)
            index += 1

    def close(self) -> None:
        self._cap.release()


class ReconnectingCamera(FrameSource):
    """A live camera that survives read failures and unplugging: it says what happened (``status``),
    retries every ``retry_s`` seconds, and resumes when the camera is back. ``faults`` counts the
    interruptions so a consumer can react (e.g. finalise a recording). Timestamps stay monotonic
    across reconnects.

    Args:
        opener: opens the camera; raises InputError while it is absent.
    """
    live = True

    def __init__(self, opener: Callable[[], FrameSource], retry_s: float = 1.0):
        self._opener = opener
        self.retry_s = retry_s
        self._interrupt = threading.Event()
        self._current = opener()  # an absent camera at start is the caller's "no camera" case
        self.size, self.fps = self._current.size, self._current.fps
        self.description = self._current.description
        self.status = ""
        self.faults = 0

    def __iter__(self) -> Iterator[Frame]:
        t0 = time.perf_counter()
        clock = MonotonicClock(self.fps)
        index = 0
        while not self._interrupt.is_set():
            try:
                for f in self._current:
                    yield Frame(index, clock((f.t_capture - t0) * 1000.0), f.frame_bgr, f.t_capture)
                    index += 1
                    self.status = ""
                    if self._interrupt.is_set():
                        return
                raise InputError("camera stream ended")
            except InputError as e:
                self.faults += 1
                self.status = f"{e}; retrying every {self.retry_s:g} s"
                log.warning(self.status)
                self._current.close()
                while not self._interrupt.wait(self.retry_s):
                    try:
                        self._current = self._opener()
                        self.status = "camera reconnected"
                        log.info("camera reconnected")
                        break
                    except InputError as again:
                        self.status = f"{again}; retrying every {self.retry_s:g} s"

    def interrupt(self) -> None:
        """Ask the iteration (on the capture thread) to stop, also while it waits to reconnect."""
        self._interrupt.set()

    def close(self) -> None:
        self._interrupt.set()
        self._current.close()


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory (give the folder itself as INPUT for an image sequence)")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name}: file is empty (0 bytes)")


def _read_image(path: Path) -> np.ndarray:
    data = np.fromfile(str(path), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InputError(f"{path.name}: not a readable image (corrupt or unsupported format)")
    return image


def list_cameras(limit: int = 10) -> list[int]:
    """Camera indices that exist on this machine (Linux: /dev/videoN; elsewhere 0..3, unprobed)."""
    dev = Path("/dev")
    if dev.is_dir() and os.name == "posix":
        found = sorted(int(p.name[5:]) for p in dev.glob("video*") if p.name[5:].isdigit())
        return [i for i in found if i < limit]
    return list(range(4))


def open_source(spec: str | int | Path, fps: float | None = None, image_repeat: int = 1,
                camera_size: tuple[int, int] = (1280, 720), sequence: bool = False) -> FrameSource:
    """Open a camera index, video file, image file or image folder from a CLI/GUI source string.

    Args:
        fps: timestamps for image folders (default 30); ignored by cameras and videos (they say their own).
        sequence: a folder holds consecutive video frames (tracked), not unrelated photos.
    Returns:
        A FrameSource; use it as a context manager (``with open_source(x) as source: for frame in source``).

    Raises:
        InputError: with one line saying what is wrong.
    """
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        index = int(spec)
        return ReconnectingCamera(lambda: CameraSource(index, *camera_size))
    path = Path(spec).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, 30.0 if fps is None else fps, sequence)
    _check_file(path)
    ext = path.suffix.lower()
    if ext in IMAGE_EXTS:
        return ImageSource(path, image_repeat)
    if ext in VIDEO_EXTS or not ext:
        return VideoFileSource(path)
    # Unknown extension: sniff. Try as an image first (cheap), then as a video.
    try:
        return ImageSource(path, image_repeat)
    except InputError:
        pass
    try:
        return VideoFileSource(path)
    except InputError:
        raise InputError(f"{path.name}: unsupported file type (not an image or video OpenCV can decode)") from None
