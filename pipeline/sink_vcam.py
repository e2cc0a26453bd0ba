"""Virtual camera (``vcam`` or ``vcam:DEVICE``): the annotated frames, or with ``clean=True`` the source's own
frames with only the effects (lipstick) applied, as a webcam other apps (video calls, OBS) can pick, at the
source's size and rate. Backends (pyvirtualcam): v4l2loopback on Linux, OBS Virtual Camera (or Unity Capture)
on Windows, OBS on macOS.

``write`` hands the newest frame to a sender thread and returns (the backend's colour conversion and copy
never run on the pipeline's thread); if the sender is still busy with the previous frame, that frame is
replaced, so a slow consumer costs frames, never pipeline time.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque

import cv2
import numpy as np

from pipeline.errors import OutputError
from pipeline.lipstick import LipstickStyle, apply_lipstick
from pipeline.sinks import StreamInfo, register_sink
from pipeline.types import FrameResult

log = logging.getLogger(__name__)


def install_hint() -> str:
    """What to install for a virtual camera on this platform (one line)."""
    if sys.platform.startswith("linux"):
        return ("install v4l2loopback (Debian/Ubuntu: sudo apt install v4l2loopback-dkms) and load it: "
                "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=meshcam")
    if sys.platform == "darwin":
        return "install OBS Studio (26.1 or newer) and start its Virtual Camera once"
    return "install OBS Studio (26 or newer, it brings the OBS Virtual Camera) or Unity Capture"


def parse_vcam_spec(spec: str) -> str | None:
    """``vcam`` -> None (the first free device), ``vcam:NAME`` -> NAME (e.g. /dev/video10)."""
    text = str(spec).strip()
    head, _, device = text.partition(":")
    if head.lower() != "vcam":
        raise OutputError(f"{spec}: use vcam or vcam:DEVICE")
    return device or None


def letterbox(frame_bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """``frame_bgr`` scaled to fit (width, height) with black bars (frames of another size, e.g. photos)."""
    h, w = frame_bgr.shape[:2]
    if (w, h) == (width, height):
        return frame_bgr
    s = min(width / w, height / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    out = np.zeros((height, width, 3), np.uint8)
    x0, y0 = (width - nw) // 2, (height - nh) // 2
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(frame_bgr, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


class VirtualCameraSink:
    """Sends frames to a virtual webcam (module doc)."""
    optional = True

    def __init__(self, spec: str = "vcam", clean: bool = False, lipstick: LipstickStyle | None = None,
                 backend: str | None = None):
        self.device = parse_vcam_spec(spec)
        self.clean = clean
        self.lipstick = lipstick
        self.backend = backend
        self.needs_annotated = not clean  # clean: the source's frames plus effects only, drawn here
        self.description = "virtual camera" + (f" {self.device}" if self.device else "")
        self.error: str | None = None
        self.sent = 0
        self.replaced = 0  # frames replaced by a newer one before the sender got to them
        self._topology = None
        self._cam = None
        self._size = (0, 0)
        self._slot: deque = deque(maxlen=1)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rate: deque[float] = deque()

    def open(self, info: StreamInfo) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise OutputError("virtual camera: pyvirtualcam is not installed (pip install pyvirtualcam)") from None
        self._topology = info.topology
        self._size = (int(info.width), int(info.height))
        fps = float(info.fps) if info.fps and info.fps > 0 else 30.0
        try:
            self._cam = pyvirtualcam.Camera(self._size[0], self._size[1], fps, fmt=pyvirtualcam.PixelFormat.BGR,
                                            device=self.device, backend=self.backend)
        except (RuntimeError, ValueError, OSError) as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if "not found" in reason.lower() or "no backend" in reason.lower() or "modprobe" in reason.lower():
                raise OutputError(f"virtual camera: none available; {install_hint()}") from None
            raise OutputError(f"virtual camera: {reason}") from None
        self.description = f"virtual camera {self._cam.device}"
        self._thread = threading.Thread(target=self._send_loop, name="vcam", daemon=True)
        self._thread.start()

    def write(self, result: FrameResult, annotated_bgr: np.ndarray | None) -> None:
        if self.error:
            raise OutputError(self.error)  # the sink set drops this optional sink and logs the line
        frame = annotated_bgr if self.needs_annotated and annotated_bgr is not None else result.frame_bgr
        if self._slot:
            self.replaced += 1
        self._slot.append((result, frame))
        self._wake.set()

    def render(self, result: FrameResult, frame_bgr: np.ndarray) -> np.ndarray:
        """The picture sent for one frame: clean mode paints the effects on a copy of the source frame."""
        if self.clean and self.lipstick is not None and self._topology is not None and result.faces:
            frame_bgr = frame_bgr.copy()
            for face in result.faces:
                apply_lipstick(frame_bgr, face.landmarks_px, self._topology, self.lipstick)
        return np.ascontiguousarray(letterbox(frame_bgr, *self._size))

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            if not self._wake.wait(0.1):
                continue
            self._wake.clear()
            try:
                result, frame = self._slot.popleft()
            except IndexError:
                continue
            try:
                self._cam.send(self.render(result, frame))
            except Exception as e:  # noqa: BLE001 - reported through write() / status()
                self.error = f"{self.description}: {str(e).strip() or type(e).__name__}"
                log.warning("%s", self.error)
                return
            self.sent += 1
            now = time.monotonic()
            self._rate.append(now)
            while self._rate and self._rate[0] < now - 1.0:
                self._rate.popleft()

    def status(self) -> str:
        if self.error:
            return self.error
        now = time.monotonic()
        rate = sum(1 for t in self._rate if t >= now - 1.0)
        return f"{rate} fps to {self.description.removeprefix('virtual camera ')}"

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(3)
            self._thread = None
        if self._cam is not None:
            try:
                self._cam.close()
            finally:
                self._cam = None


register_sink(VirtualCameraSink, schemes=["vcam"])
