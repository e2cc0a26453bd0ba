"""Recording = file sinks attached to the live runner; stopping detaches (finalises) them. Snapshots too.

A recording writes the annotated video in source orientation (the mirror is a display-only effect),
optionally the landmarks (.npz, the landmarks-file contract) and the raw video. Every finalised recording
is reported by the returned message, which the window also prints to the terminal.
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import OutputError
from pipeline.file_sinks import LandmarksSink, VideoSink
from pipeline.landmarks_io import LandmarksWriter
from pipeline.output_paths import atomic_write_bytes
from pipeline.types import FrameResult


def unique_path(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/stem.suffix``, or ``stem-2.suffix``... when taken (two recordings in the same second)."""
    path = folder / f"{stem}{suffix}"
    n = 2
    while path.exists() or path.with_suffix(".npz").exists():
        path = folder / f"{stem}-{n}{suffix}"
        n += 1
    return path


def ensure_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the output folder {folder}: {e.strerror}") from None
    return folder


class Recording:
    """The annotated video plus optional landmarks and raw video, attached to the runner as ONE sink, so every
    file of a recording holds exactly the same frames (attached and detached between the same two frames)."""
    optional = False
    needs_annotated = True

    def __init__(self, video: VideoSink, extras: list):
        self.video, self.extras = video, extras
        self.description = f"recording {video.path.name}"
        self.started = time.perf_counter()

    @property
    def sinks(self) -> list:
        return [self.video, *self.extras]

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def open(self, info) -> None:
        opened = []
        try:
            for sink in self.sinks:
                sink.open(info)
                opened.append(sink)
        except Exception:
            for sink in opened:
                _close(sink)
            raise

    def write(self, result: FrameResult, annotated_bgr: np.ndarray | None) -> None:
        for sink in self.sinks:
            sink.write(result, annotated_bgr)

    def close(self) -> None:
        errors = [e for sink in self.sinks for e in _close(sink)]
        if errors:
            raise errors[0]


class RecordingController:
    def __init__(self):
        self.active: Recording | None = None
        self.failed: str | None = None

    def start(self, runner, folder: Path, landmarks: bool, raw: bool, path: Path | None = None) -> Recording:
        """Attach a recording to ``runner``. Raises OutputError (nothing running, folder or file problems)."""
        if runner is None or not runner.running:
            raise OutputError("nothing to record: open a camera or a video first")
        if path is None:
            path = unique_path(ensure_folder(folder), f"meshcam-{time.strftime('%Y%m%d-%H%M%S')}", ".mp4")
        video = VideoSink(path, overwrite=path.exists())  # a path chosen in a save dialog was confirmed there
        extras = []
        if landmarks:
            extras.append(LandmarksSink(video.path.with_suffix(".npz"), overwrite=True))
        if raw:
            extras.append(VideoSink(video.path.with_name(f"{video.path.stem}-raw{video.path.suffix}"),
                                    overwrite=True, annotated=False))
        recording = Recording(video, extras)
        try:
            runner.attach(recording)
        except OutputError:
            raise
        except Exception as e:  # noqa: BLE001 - any other failure to start is still one line for the user
            raise OutputError(f"cannot record: {e}") from None
        self.active, self.failed = recording, None
        return recording

    def owns(self, sink) -> bool:
        return sink is not None and sink is self.active

    def stop(self, runner, error: Exception | None = None, reason: str = "") -> str | None:
        """Detach and finalise; returns what happened in one line (None when nothing was recording).
        ``reason``: why it stopped when the user did not stop it (a camera lost)."""
        recording, self.active = self.active, None
        if recording is None:
            return None
        errors = runner.detach(recording) if runner is not None else _close(recording)
        error = error or (errors[0] if errors else None)
        frames = recording.video.frames
        also = ", ".join(s.path.name for s in recording.extras if s.frames)
        if error is not None:
            self.failed = f"recording failed: {error}" + (f" (kept {frames} frames in {recording.video.path})"
                                                          if frames else "")
            return self.failed
        if frames == 0:
            return f"recording stopped before the first frame; nothing saved ({recording.video.path.name})"
        return ((f"recording stopped ({reason}): " if reason else "")
                + f"saved {recording.video.path} ({frames} frames, {recording.elapsed_s:.1f} s)"
                + (f" + {also}" if also else ""))


def _close(sink) -> list[Exception]:
    try:
        sink.close()
    except Exception as e:  # noqa: BLE001
        return [e]
    return []


def save_snapshot(folder: Path, result: FrameResult, annotated_bgr: np.ndarray, max_faces: int,
                  blendshape_names: tuple[str, ...] | None) -> Path:
    """The annotated frame as PNG and that frame's landmarks as .npz beside it (same contract as a
    recording's landmarks, one frame). Returns the PNG path. Raises OutputError."""
    png = unique_path(ensure_folder(folder), f"meshcam-{time.strftime('%Y%m%d-%H%M%S')}", ".png")
    ok, data = cv2.imencode(".png", annotated_bgr)
    if not ok:
        raise OutputError(f"cannot encode {png.name}")
    atomic_write_bytes(png, data.tobytes())
    writer = LandmarksWriter(png.with_suffix(".npz"), max(max_faces, len(result.faces), 1),
                             blendshape_names=blendshape_names)
    writer.write(result.index, result.timestamp_ms, result.timings_ms.get("process", 0.0), result.faces)
    writer.close()
    return png
