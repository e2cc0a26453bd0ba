"""Cameras with their names and formats, from QtMultimedia (falls back to numbered /dev/video nodes).

Devices that list no video format (Linux metadata nodes) are skipped. The OpenCV index is the N of
/dev/videoN on Linux, else the device's position in Qt's list.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)
DEFAULT_FORMATS = ((1280, 720, 30.0), (640, 480, 30.0), (1920, 1080, 30.0))


@dataclass(frozen=True)
class CameraFormat:
    width: int
    height: int
    fps: float
    pixel_format: str = ""

    @property
    def label(self) -> str:
        pixel = f" ({self.pixel_format})" if self.pixel_format else ""
        return f"{self.width}×{self.height} @ {self.fps:g} fps{pixel}"

    @property
    def key(self) -> str:
        return f"{self.width}x{self.height}@{self.fps:g}"


@dataclass(frozen=True)
class CameraInfo:
    index: int  # what OpenCV opens
    name: str
    device_id: str
    formats: tuple[CameraFormat, ...]


def list_camera_devices() -> list[CameraInfo]:
    try:
        from PyQt6.QtCore import QLoggingCategory
        QLoggingCategory.setFilterRules("qt.multimedia*=false")  # its backend probing is noise for users
        from PyQt6.QtMultimedia import QMediaDevices
        devices = QMediaDevices.videoInputs()
    except Exception as e:  # noqa: BLE001 - no QtMultimedia backend: numbered nodes still work
        log.debug("QtMultimedia unavailable: %s", e)
        devices = None
    if not devices:
        return _fallback()
    out = []
    for position, dev in enumerate(devices):
        formats = _formats(dev.videoFormats())
        if not formats:
            continue  # metadata node or a device that cannot capture
        device_id = bytes(dev.id()).decode(errors="replace")
        m = re.search(r"video(\d+)$", device_id)
        out.append(CameraInfo(int(m.group(1)) if m else position, dev.description() or f"Camera {position}",
                              device_id, formats))
    return out


def _formats(qt_formats) -> tuple[CameraFormat, ...]:
    seen: dict[tuple, CameraFormat] = {}
    for f in qt_formats:
        size = f.resolution()
        fps = round(float(f.maxFrameRate()), 2)
        pixel = f.pixelFormat().name.replace("Format_", "") if hasattr(f.pixelFormat(), "name") else ""
        key = (size.width(), size.height(), fps)
        if size.width() > 0 and key not in seen:
            seen[key] = CameraFormat(size.width(), size.height(), fps, pixel)
    return tuple(sorted(seen.values(), key=lambda c: (-c.width * c.height, -c.fps)))


def _fallback() -> list[CameraInfo]:
    from pipeline.sources import list_cameras
    formats = tuple(CameraFormat(w, h, fps) for w, h, fps in DEFAULT_FORMATS)
    return [CameraInfo(i, f"Camera {i}", f"/dev/video{i}", formats) for i in list_cameras()]
