"""File sinks: annotated or raw video (.mp4/.m4v/.mov/.mkv), landmarks (.npz/.csv/.jsonl), an image (.png/.jpg).

Each validates its path when built (before any work), writes crash-safe (fragmented video, landmark parts
renamed into place at close) and closes idempotently.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import OutputError
from pipeline.landmarks_io import LANDMARK_FORMATS, LandmarksWriter
from pipeline.output_paths import atomic_write_bytes, check_output_path
from pipeline.recording import VIDEO_CONTAINERS, VideoRecorder
from pipeline.sinks import StreamInfo, register_sink
from pipeline.sources import IMAGE_EXTS
from pipeline.types import FrameResult

IMAGE_OUTPUTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


class VideoSink:
    """Annotated frames (or the source's own frames with ``annotated=False``) as H.264 video."""
    optional = False

    def __init__(self, path: Path, overwrite: bool = False, annotated: bool = True):
        self.path = check_output_path(Path(path), overwrite, VIDEO_CONTAINERS)
        self.overwrite, self.needs_annotated = overwrite, annotated
        self.description = f"{'video' if annotated else 'raw video'} {self.path.name}"
        self.recorder: VideoRecorder | None = None

    def open(self, info: StreamInfo) -> None:
        self.recorder = VideoRecorder(self.path, info.fps, overwrite=self.overwrite)

    def write(self, result: FrameResult, annotated_bgr: np.ndarray | None) -> None:
        frame = annotated_bgr if self.needs_annotated and annotated_bgr is not None else result.frame_bgr
        self.recorder.write(frame, result.timestamp_ms)

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()

    @property
    def frames(self) -> int:
        return self.recorder.frames_written if self.recorder else 0


class LandmarksSink:
    """Per-frame landmarks (and signals when on) in the landmarks-file contract (pipeline/landmarks_io.py).

    A run that processed no frame leaves no file (the partial one is discarded)."""
    optional = False
    needs_annotated = False

    def __init__(self, path: Path, overwrite: bool = False):
        self.path = check_output_path(Path(path), overwrite, LANDMARK_FORMATS)
        self.overwrite = overwrite
        self.description = f"landmarks {self.path.name}"
        self.writer: LandmarksWriter | None = None

    def open(self, info: StreamInfo) -> None:
        self.writer = LandmarksWriter(self.path, info.max_faces, self.overwrite, info.blendshape_names)

    def write(self, result: FrameResult, annotated_bgr: np.ndarray | None) -> None:
        self.writer.write(result.index, result.timestamp_ms, result.timings_ms.get("process", 0.0), result.faces)

    def close(self) -> None:
        if self.writer is None:
            return
        if self.writer.frames:
            self.writer.close()
        else:
            self.writer.discard()

    @property
    def frames(self) -> int:
        return self.writer.frames if self.writer else 0


class ImageSink:
    """The annotated image of a still input (the last frame written wins)."""
    optional = False
    needs_annotated = True

    def __init__(self, path: Path, overwrite: bool = False):
        self.path = check_output_path(Path(path), overwrite, IMAGE_OUTPUTS)
        self.description = f"image {self.path.name}"
        self.frames = 0

    def open(self, info: StreamInfo) -> None:
        if info.frame_count is None or info.frame_count > 1:
            raise OutputError(f"{self.path.name}: an image output needs a single image input; use .mp4 or .mkv")

    def write(self, result: FrameResult, annotated_bgr: np.ndarray | None) -> None:
        ok, data = cv2.imencode(self.path.suffix.lower(), annotated_bgr)
        if not ok:
            raise OutputError(f"cannot encode {self.path.name}")
        atomic_write_bytes(self.path, data.tobytes())
        self.frames += 1

    def close(self) -> None:
        pass


register_sink(VideoSink, suffixes=VIDEO_CONTAINERS)
register_sink(LandmarksSink, suffixes=LANDMARK_FORMATS)
register_sink(ImageSink, suffixes=IMAGE_OUTPUTS & IMAGE_EXTS | IMAGE_OUTPUTS)
