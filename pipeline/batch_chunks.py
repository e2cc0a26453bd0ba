"""Long videos in chunks (``--split-minutes``): where to cut a video (at keyframes, found by demuxing
packets without decoding), a frame source that decodes one chunk only, and the chunk task.

A chunk is the frames whose presentation time lies in [its keyframe, the next chunk's keyframe). Its task
seeks straight to its keyframe, tracks with a fresh tracker state (so it starts with a detector pass, and
smoothing starts afresh: the seam, README "Batch processing") and writes partial landmark files into its own
staging folder; ``pipeline.batch_merge`` joins the chunks of a video in order. Frame indices and timestamps
are the whole video's, computed exactly as ``pipeline.sources.VideoFileSource`` does (pts − stream start,
made strictly increasing), and pixels are converted to BGR as OpenCV does (BT.601), so up to the first seam
a chunked video is bit for bit what ``meshcam process`` gives.
"""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.batch_exec import staging_dir
from pipeline.batch_index import base_row, now, worker_name
from pipeline.batch_inputs import BatchOptions, Job, is_url, one_line
from pipeline.errors import InputError, MeshcamError
from pipeline.sources import Frame, FrameSource, MonotonicClock, to_bgr8

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkJob:
    """One chunk of a long video: the frames with pts in [start_pts, end_pts) (stream time base)."""
    job: Job
    number: int  # 0-based, in presentation order
    count: int  # chunks of this video
    start_pts: int  # the chunk's first frame: a keyframe (the video's first frame for chunk 0)
    end_pts: int | None  # the next chunk's keyframe; None: to the end of the video
    first_index: int  # the video frame index of the chunk's first frame
    frames: int  # frames the container holds in the range (one per packet)
    timestamp_before_ms: float | None  # the timestamp of the frame before the chunk (None for chunk 0)
    start_s: float  # where the chunk starts, seconds from the video's start (for messages)

    # What executors and the progress bar read from a task, as from a Job.
    @property
    def input(self) -> str:
        return self.job.input

    @property
    def rel(self) -> str:
        return self.job.rel

    @property
    def size(self) -> int:
        return self.job.size

    @property
    def mtime_ns(self) -> int:
        return self.job.mtime_ns

    @property
    def key(self) -> str:
        return f"{self.job.input}#{self.number}"

    @property
    def staging_part(self) -> str:
        """The chunk's folder inside its video's staging folder."""
        return f"chunk-{self.number:05d}"

    @property
    def label(self) -> str:
        return f"chunk {self.number + 1}/{self.count} (from {self.start_s:.1f} s)"


def video_timeline(path: str) -> tuple[list[int], list[bool], int, float, float]:
    """(pts of every video packet in presentation order, keyframe flags, stream start pts, time base as a
    float, frame rate) by demuxing the first video stream: no frame is decoded. Raises av.error.FFmpegError."""
    import av
    with av.open(path) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, bool(p.is_keyframe)) for p in container.demux(stream) if p.size and p.pts is not None]
        start = stream.start_time or 0
        tb = stream.time_base
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 30.0
    packets.sort()
    return [p for p, _ in packets], [k for _, k in packets], start, tb.numerator / tb.denominator, fps


def pts_to_ms(pts: int, start: int, time_base: float) -> float:
    """OpenCV's CAP_PROP_POS_MSEC for a frame: (pts − stream start) × time base, in ms."""
    return (pts - start) * time_base * 1000


def split_video(job: Job, split_s: float) -> list[ChunkJob] | None:
    """``job`` cut into chunks of about ``split_s`` seconds at keyframes (each chunk starts at the first
    keyframe at least ``split_s`` after the previous chunk's start), or None when it stays one task: shorter
    than ``split_s``, no keyframe to cut at, a URL (workers would each copy the whole file), a video with a
    rotation in its metadata, or a file that cannot be demuxed (the whole-video task then reports why)."""
    if is_url(job.input) or job.size <= 0:
        return None
    try:
        import av
        with av.open(job.input) as container:  # the header only: most videos are short
            duration_s = (container.duration or 0) / 1e6
            if duration_s and duration_s <= split_s:
                return None
            first = next(container.decode(video=0), None)
            if first is not None and getattr(first, "rotation", 0):
                log.info("%s: not split (a rotated video: OpenCV turns its frames upright, the chunk decoder "
                         "would not)", job.input)
                return None
        pts, keyframes, start, time_base, fps = video_timeline(job.input)
    except Exception as e:  # noqa: BLE001 - any demuxer error: process it whole, the task says why
        log.debug("%s: not split (%s)", job.input, e)
        return None
    if not pts:
        return None
    starts = [0]  # packet positions where chunks start
    for i, key in enumerate(keyframes):
        if key and i > 0 and (pts[i] - pts[starts[-1]]) * time_base >= split_s:
            starts.append(i)
    if len(starts) < 2:
        return None
    clock = MonotonicClock(fps)  # the timestamps VideoFileSource gives, to carry the clock across each seam
    stamps = [clock(0.0 if i == 0 else pts_to_ms(p, start, time_base)) for i, p in enumerate(pts)]
    ends = starts[1:] + [len(pts)]
    return [ChunkJob(job, n, len(starts), pts[a], pts[b] if b < len(pts) else None, a, b - a,
                     stamps[a - 1] if a else None, (pts[a] - pts[0]) * time_base)
            for n, (a, b) in enumerate(zip(starts, ends))]


class ChunkSource(FrameSource):
    """The frames of one chunk, decoded with PyAV from its keyframe on; indices and timestamps are the whole
    video's. ``error`` says where decoding stopped early, if it did."""

    def __init__(self, path: str, chunk: ChunkJob):
        import av
        self.path, self.chunk = path, chunk
        try:
            self._container = av.open(path)
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"  # frame threads: same pixels, decoded ahead of the tracker
            tb = self._stream.time_base
            self._time_base = tb.numerator / tb.denominator
            self._start = self._stream.start_time or 0
            self.fps = float(self._stream.average_rate or self._stream.guessed_rate or 0) or 30.0
            if not (1.0 <= self.fps <= 1000.0):
                self.fps = 30.0
            if chunk.number > 0:
                self._container.seek(chunk.start_pts, stream=self._stream, backward=True, any_frame=False)
            self._frames = self._decode()
            self._first = next(self._frames, None)
        except MeshcamError:
            raise
        except Exception as e:  # noqa: BLE001 - av errors: one line
            raise InputError(f"{Path(path).name}: {chunk.label}: not decodable ({one_line(str(e))})") from None
        if self._first is None:
            raise InputError(f"{Path(path).name}: {chunk.label}: no decodable video frames")
        self.size = (self._first[1].shape[1], self._first[1].shape[0])
        self.frame_count = chunk.frames
        self.description = f"{Path(path).name} {chunk.label} {self.size[0]}x{self.size[1]} @ {self.fps:.2f} fps"
        self.frames_read = 0

    def _decode(self) -> Iterator[tuple[int | None, object]]:
        """(pts, BGR image) of the chunk's frames in presentation order."""
        c = self.chunk
        for frame in self._container.decode(self._stream):
            pts = frame.pts
            if pts is not None and pts < c.start_pts:
                continue  # the seek landed before the keyframe
            if pts is not None and c.end_pts is not None and pts >= c.end_pts:
                return
            # src_colorspace DEFAULT (BT.601): OpenCV's conversion, so pixels equal VideoFileSource's.
            yield pts, to_bgr8(frame.reformat(format="bgr24", src_colorspace="DEFAULT").to_ndarray())

    def __iter__(self) -> Iterator[Frame]:
        c = self.chunk
        clock = MonotonicClock(self.fps)
        clock.last = c.timestamp_before_ms
        index = c.first_index
        item, self._first = self._first, None
        try:
            while item is not None:
                pts, image = item
                proposed = 0.0 if index == 0 else None if pts is None else pts_to_ms(pts, self._start, self._time_base)
                yield Frame(index, clock(proposed), image, time.perf_counter())
                index += 1
                self.frames_read += 1
                item = next(self._frames, None)
        except Exception as e:  # noqa: BLE001 - corrupt data mid-chunk: what came before is kept, the chunk fails
            self.error = f"{Path(self.path).name}: {c.label}: decoding stopped at frame {index} ({one_line(str(e))})"
            return
        if self.frames_read < c.frames - 1:
            self.error = (f"{Path(self.path).name}: {c.label}: decoding stopped at frame {index} of "
                          f"{c.first_index + c.frames} (file truncated or corrupt)")

    def close(self) -> None:
        self._container.close()


class FaceIdCounter:
    """A sink that notes the largest face id written (the merge renumbers ids so they stay unique)."""
    needs_annotated = False
    description = "face ids"

    def __init__(self):
        self.max_face_id = -1

    def open(self, info) -> None:
        pass

    def write(self, result, annotated_bgr) -> None:
        for face in result.faces:
            self.max_face_id = max(self.max_face_id, face.face_id)

    def close(self) -> None:
        pass


def process_chunk(chunk: ChunkJob, options: BatchOptions, chash: str, tracker, progress=None) -> dict:
    """Track one chunk into its staging folder (landmark files ``out.<kind>``); returns a chunk result (a row
    with ``chunk`` and ``max_face_id``; never raises for a bad video: the result says failed and why)."""
    from pipeline import open_sink, run_offline
    row = dict(base_row(chunk, options, chash), chunk=chunk.number, max_face_id=-1, worker=worker_name())
    staging = staging_dir(options, chunk)
    shutil.rmtree(staging, ignore_errors=True)  # a killed attempt's leftovers
    try:
        staging.mkdir(parents=True)
        ids = FaceIdCounter()
        sinks = [open_sink(staging / f"out.{kind}", overwrite=True) for kind in options.formats]
        with ChunkSource(chunk.input, chunk) as source:
            summary = run_offline(source, tracker, [*sinks, ids], progress=progress)
        if summary.interrupted:
            raise InputError("interrupted")
        if summary.source_error:
            raise InputError(summary.source_error)
        row.update(status="done", frames=summary.frames, frames_with_face=summary.frames_with_face,
                   seconds=round(summary.seconds, 4), fps=round(summary.fps, 3), max_face_id=ids.max_face_id)
    except MeshcamError as e:
        row["error"] = one_line(f"{chunk.label}: {e}" if chunk.label not in str(e) else str(e))
    except Exception as e:  # noqa: BLE001 - a bug on one chunk must not stop the other videos
        log.debug("%s failed", chunk.key, exc_info=True)
        row["error"] = one_line(f"{chunk.label}: internal error: {type(e).__name__}: {e}")
    finally:
        try:
            tracker.reset()
        except Exception:  # noqa: BLE001 - the next run_offline resets again
            pass
    if row["status"] != "done":
        shutil.rmtree(staging, ignore_errors=True)
    row["finished_at"] = now()
    return row


__all__ = ["ChunkJob", "ChunkSource", "split_video", "process_chunk", "video_timeline"]
