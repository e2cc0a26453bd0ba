"""Joining a split video's chunks (``pipeline.batch_chunks``) into its one set of outputs, in order.

The merged files keep the landmarks contract of ``meshcam process``: one row per frame, frame indices
continuous from 0, the source's timestamps. Face ids are renumbered so they stay unique across chunks: each
chunk starts afresh at 0, so chunk k's ids are offset by (the largest id after renumbering chunks 0..k-1) + 1;
a face seen across a seam therefore changes id there, as a face re-acquired after being lost does.
The .npz members are streamed chunk by chunk (memory holds one chunk's arrays, whatever the video's length).
"""
from __future__ import annotations

import csv
import json
import logging
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.batch_exec import publish, staging_dir
from pipeline.batch_index import base_row, now
from pipeline.batch_inputs import BatchOptions, content_hash, one_line, stat_input
from pipeline.errors import InputError, MeshcamError

log = logging.getLogger(__name__)

PER_FILE_MEMBERS = {"blendshape_names"}  # .npz members that are not one row per frame


def face_id_offsets(max_face_ids: Sequence[int]) -> list[int]:
    """What to add to each chunk's face ids: chunk k's ids start after every id of chunks 0..k-1."""
    offsets, next_id = [], 0
    for top in max_face_ids:
        offsets.append(next_id)
        next_id += top + 1
    return offsets


def merge_npz(parts: Sequence[Path], offsets: Sequence[int], target: Path) -> None:
    """Concatenate the per-frame members of ``parts`` along frames into ``target`` (an uncompressed .npz,
    like np.savez writes), face ids offset per part."""
    from numpy.lib import format as npy
    with np.load(parts[0]) as first:
        members = {k: (first[k].dtype, first[k].shape[1:]) for k in first.files}
        per_file = {k: first[k] for k in first.files if k in PER_FILE_MEMBERS}
    counts = []
    for part in parts:
        with np.load(part) as z:
            if set(z.files) != set(members):
                raise InputError(f"{part.parent.name}: its members differ from the first chunk's")
            counts.append(len(z["timestamps_ms"]))
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, (dtype, row_shape) in members.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
                if key in per_file:
                    npy.write_array(f, per_file[key], allow_pickle=False)
                    continue
                npy.write_array_header_1_0(f, {"descr": npy.dtype_to_descr(dtype), "fortran_order": False,
                                                "shape": (sum(counts), *row_shape)})
                for part, offset in zip(parts, offsets):
                    with np.load(part) as z:
                        values = z[key]
                    if values.shape[1:] != row_shape:
                        raise InputError(f"{part.parent.name}: {key} has rows of shape {values.shape[1:]}, "
                                         f"not {row_shape}")
                    if key == "face_ids":
                        values = np.where(values >= 0, values + offset, values)
                    f.write(np.ascontiguousarray(values, dtype).tobytes())


def merge_csv(parts: Sequence[Path], offsets: Sequence[int], target: Path) -> None:
    """One header, then every part's rows with ``frame`` renumbered continuously and ``face_id`` offset."""
    frames = 0
    with open(target, "w", newline="") as out:
        writer = csv.writer(out)
        for k, (part, offset) in enumerate(zip(parts, offsets)):
            with open(part, newline="") as f:
                reader = csv.reader(f)
                header = next(reader)
                if k == 0:
                    writer.writerow(header)
                frame_col, id_col = header.index("frame"), header.index("face_id")
                first = last = None
                for row in reader:
                    frame = int(row[frame_col])
                    first = frame if first is None else first
                    last = frame
                    row[frame_col] = str(frame - first + frames)
                    face_id = int(row[id_col])
                    row[id_col] = str(face_id + offset if face_id >= 0 else face_id)
                    writer.writerow(row)
            frames += 0 if first is None else last - first + 1


def merge_jsonl(parts: Sequence[Path], offsets: Sequence[int], target: Path) -> None:
    """Every part's lines, ``frame`` renumbered continuously and ``face_id`` offset."""
    frames = 0
    with open(target, "w") as out:
        for part, offset in zip(parts, offsets):
            first = last = None
            with open(part) as f:
                for line in f:
                    row = json.loads(line)
                    first = row["frame"] if first is None else first
                    last = row["frame"]
                    row["frame"] = row["frame"] - first + frames
                    if row["face_id"] >= 0:
                        row["face_id"] += offset
                    out.write(json.dumps(row, allow_nan=False) + "\n")
            frames += 0 if first is None else last - first + 1


MERGERS = {"npz": merge_npz, "csv": merge_csv, "jsonl": merge_jsonl}


class ChunkAssembler:
    """Collects chunk results (from any worker, in any order); when a video's last chunk is in, merges its
    chunks into the video's outputs (or fails the video if any chunk failed) and returns its index row."""

    def __init__(self, options: BatchOptions, chash: str, tasks: Sequence = ()):
        self.options, self.chash = options, chash
        self._chunks: dict[str, list] = {}  # input -> its ChunkJobs in order
        self._results: dict[str, dict[int, dict]] = {}
        self.expect(tasks)

    def expect(self, tasks: Sequence) -> None:
        """Note the chunks among ``tasks`` (whole-video tasks are ignored)."""
        for task in sorted((t for t in tasks if hasattr(t, "staging_part")), key=lambda t: t.number):
            self._chunks.setdefault(task.input, []).append(task)

    def add(self, result: dict) -> dict | None:
        """The video's row when ``result`` was its last chunk, else None."""
        got = self._results.setdefault(result["input"], {})
        got[result["chunk"]] = result
        chunks = self._chunks[result["input"]]
        if len(got) < len(chunks):
            return None
        del self._results[result["input"]]
        return self.finish(chunks, [got[c.number] for c in chunks])

    def finish(self, chunks: Sequence, results: list[dict]) -> dict:
        options = self.options
        job = chunks[0].job
        row = base_row(job, options, self.chash)
        row["worker"] = ",".join(dict.fromkeys(r["worker"] for r in results if r["worker"]))
        staging = staging_dir(options, job)
        try:
            failed = [r for r in results if r["status"] != "done"]
            if failed:
                more = f" (and {len(failed) - 1} more chunks)" if len(failed) > 1 else ""
                raise InputError(f"{failed[0]['error']}{more}")
            size, mtime = stat_input(job.input)
            row.update(size=size, mtime_ns=mtime, content_hash=content_hash(job.input, size))
            offsets = face_id_offsets([r["max_face_id"] for r in results])
            chunk_dirs = [staging_dir(options, c) for c in chunks]
            for kind in options.formats:
                MERGERS[kind]([d / f"out.{kind}" for d in chunk_dirs], offsets, staging / f"out.{kind}")
            publish(staging, options.outputs(job.rel))
            seconds = sum(r["seconds"] for r in results)  # tracking time over all workers, as for one video
            frames = sum(r["frames"] for r in results)
            row.update(status="done", frames=frames, frames_with_face=sum(r["frames_with_face"] for r in results),
                       seconds=round(seconds, 4), fps=round(frames / seconds, 3) if seconds > 0 else 0.0)
        except MeshcamError as e:
            row["error"] = one_line(str(e))
        except Exception as e:  # noqa: BLE001 - a bug on one video must not stop the other videos
            log.debug("%s: merge failed", job.input, exc_info=True)
            row["error"] = one_line(f"merging the chunks: {type(e).__name__}: {e}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        row["finished_at"] = now()
        return row
