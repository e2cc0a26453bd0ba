"""`main.py process`: track faces in a video, image or image folder with no window.

Threads: a reader decodes ahead into a bounded queue, the main thread runs the tracker, a writer draws
and encodes into another bounded queue (files drop no frames). Ctrl-C or an error closes every output
with the frames processed so far.
"""
from __future__ import annotations

import argparse
import logging
import os
import queue
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline.config import PipelineConfig
from pipeline.errors import InputError, OutputError
from pipeline.landmarks_io import LANDMARK_FORMATS, LandmarksWriter
from pipeline.recording import VIDEO_CONTAINERS, VideoRecorder, check_output_path
from pipeline.sources import IMAGE_EXTS, ImageSource, open_source

log = logging.getLogger(__name__)
_END = object()
STAGES = ("detect", "mesh", "smooth", "process")  # measured on the tracking thread


class Progress:
    """A one-line progress bar on stderr (a line every 10% when stderr is not a terminal)."""

    def __init__(self, total: int | None, enabled: bool):
        self.total, self.enabled = total, enabled
        self.tty = sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1

    def update(self, done: int, faces: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        fps = done / max(now - self.t0, 1e-9)
        if self.tty:
            if now - self._last_draw < 0.1 and done != self.total:
                return
            self._last_draw = now
            if self.total:
                filled = int(30 * done / self.total)
                bar = f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total}"
            else:
                bar = f"{done} frames"
            sys.stderr.write(f"\r{bar}  {fps:5.1f} fps  faces {faces} ")
            sys.stderr.flush()
        elif self.total:
            decile = 10 * done // self.total
            if decile != self._last_decile:
                self._last_decile = decile
                print(f"meshcam: {done}/{self.total} frames ({fps:.1f} fps)", file=sys.stderr)

    def finish(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def _reader(source, frames: queue.Queue, stop: threading.Event, errors: list, limit: int | None) -> None:
    try:
        for frame in source:
            if limit is not None and frame.index >= limit:
                break
            while not stop.is_set():
                try:
                    frames.put(frame, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                break
    except Exception as e:
        errors.append(e)
    finally:
        source.close()
        frames.put(_END)


def _writer(pipeline, results: queue.Queue, recorder, image_out: Path | None, landmarks, errors: list,
            hud_provider: str) -> None:
    try:
        while True:
            item = results.get()
            if item is _END:
                return
            result = item
            if recorder is not None or image_out is not None:
                hud = [f"{len(result.faces)} face(s)  {hud_provider}"]
                annotated = pipeline.annotate(result, hud)
                if recorder is not None:
                    recorder.write(annotated, result.timestamp_ms)
                if image_out is not None:
                    _write_image(image_out, annotated)
            if landmarks is not None:
                landmarks.write(result.index, result.timestamp_ms, result.timings_ms["process"], result.faces)
    except Exception as e:
        errors.append(e)
        while results.get() is not _END:  # keep the producer from blocking on a full queue
            pass


def _write_image(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(path.suffix.lower(), image)
    if not ok:
        raise OutputError(f"cannot encode {path.name}")
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_bytes(data.tobytes())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {e.strerror}") from e


def process_cli(args: argparse.Namespace, config: PipelineConfig) -> int:
    from pipeline.engine import load_engine
    from pipeline.runner import Pipeline

    if args.max_frames is not None and args.max_frames < 1:
        raise InputError("--max-frames must be at least 1")
    # Validate every output before any work, so a bad path costs nothing and leaves nothing behind.
    video_out = image_out = None
    if args.output:
        out = Path(args.output)
        if out.suffix.lower() in IMAGE_EXTS:
            image_out = check_output_path(out, args.overwrite, IMAGE_EXTS)
        else:
            video_out = check_output_path(out, args.overwrite, VIDEO_CONTAINERS)
    if args.landmarks:
        check_output_path(Path(args.landmarks), args.overwrite, LANDMARK_FORMATS)
    if args.output and args.landmarks and Path(args.output).resolve() == Path(args.landmarks).resolve():
        raise OutputError("--output and --landmarks name the same file")

    source = open_source(args.input, fps=args.fps)
    if image_out is not None and not isinstance(source, ImageSource):
        source.close()
        raise OutputError(f"{Path(args.output).name}: an image output needs an image input; use .mp4 or .mkv")
    if Path(args.input).exists() and args.output and Path(args.output).resolve() == Path(args.input).resolve():
        source.close()
        raise OutputError("--output would overwrite the input")
    log.info("input: %s", source.description)

    engine = load_engine(config.provider, config.threads, config.min_detection_confidence)
    pipeline = Pipeline(engine, config)
    recorder = VideoRecorder(video_out, source.fps, overwrite=args.overwrite) if video_out else None
    landmarks = LandmarksWriter(Path(args.landmarks), config.max_faces, args.overwrite) if args.landmarks else None

    frames: queue.Queue = queue.Queue(maxsize=8)
    results: queue.Queue = queue.Queue(maxsize=8)
    stop = threading.Event()
    read_errors: list = []
    write_errors: list = []
    reader = threading.Thread(target=_reader, args=(source, frames, stop, read_errors, args.max_frames),
                              name="reader", daemon=True)
    writer = threading.Thread(target=_writer, name="writer", daemon=True,
                              args=(pipeline, results, recorder, image_out, landmarks, write_errors,
                                    engine.provider.name.upper()))
    total = min(filter(None, (source.frame_count, args.max_frames)), default=None)
    progress = Progress(total, not args.quiet)
    stage_ms = {k: [] for k in STAGES}
    processed = with_face = 0
    interrupted = False
    t_start = time.perf_counter()
    reader.start()
    writer.start()
    try:
        while not write_errors:
            frame = frames.get()
            if frame is _END:
                break
            result = pipeline.process(frame)
            results.put(result)
            processed += 1
            with_face += bool(result.faces)
            for k in STAGES:
                stage_ms[k].append(result.timings_ms[k])
            progress.update(processed, len(result.faces))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop.set()
        _drain(frames)
        results.put(_END)
        writer.join()
        reader.join(5)
        progress.finish()
        close_errors = _close_outputs(recorder, landmarks, keep=processed > 0)
    elapsed = time.perf_counter() - t_start

    summary = (f"{processed} frames, {with_face} with a face, {processed / max(elapsed, 1e-9):.1f} fps on "
               f"{engine.provider.name.upper()}; median ms: " +
               ", ".join(f"{k} {np.median(v):.2f}" for k, v in stage_ms.items() if v))
    print(f"meshcam: {summary}", file=sys.stderr)
    for path, n in ((video_out, recorder.frames_written if recorder else 0), (image_out, 1 if processed else 0)):
        if path is not None and n:
            print(f"meshcam: wrote {path} ({n} frame{'s' if n != 1 else ''})", file=sys.stderr)
    if landmarks is not None and landmarks.frames:
        print(f"meshcam: wrote {landmarks.path} ({landmarks.frames} frames)", file=sys.stderr)
    errors = write_errors + close_errors
    if errors:
        raise errors[0]
    if interrupted:
        print(f"meshcam: interrupted after {processed} frames; outputs hold the frames processed so far",
              file=sys.stderr)
        return 130
    if read_errors:
        raise InputError(str(read_errors[0]))
    broken = getattr(source, "error", None) if args.max_frames is None else None
    if broken:
        print(f"meshcam: warning: {broken}", file=sys.stderr)
        return 3  # partial result written, but the input was damaged
    if processed == 0:
        raise InputError(f"{args.input}: no frames could be read")
    return 0


def _drain(q: queue.Queue) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass


def _close_outputs(recorder, landmarks, keep: bool) -> list:
    errors = []
    for out in (recorder, landmarks):
        if out is None:
            continue
        try:
            if keep or not isinstance(out, LandmarksWriter):
                out.close()
            else:
                out.discard()
        except OutputError as e:
            errors.append(e)
    return errors
