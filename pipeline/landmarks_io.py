"""Landmark files (a stable contract other tools read; documented in the README).

.npz: landmarks float32 (F, K, 478, 3) [x, y source pixels; z = MediaPipe z x image width, same pixel
scale as x], NaN where no face; presence float32 (F, K); face_ids int32 (F, K), -1 where empty;
timestamps_ms float64 (F,); process_ms float32 (F,). K = max faces. A face keeps its slot k while tracked.
With face signals on (the default) also: pose_matrix float32 (F, K, 4, 4) [canonical face model (cm) ->
camera space (cm)], pose_euler_deg float32 (F, K, 3) as (pitch, yaw, roll), blendshapes float32 (F, K, C)
in [0, 1], blendshape_names str (C,), gaze_deg float32 (F, K, 2, 2) as (left eye, right eye) x (yaw, pitch);
NaN where a slot is empty (gaze also NaN when irises are off).
.csv / .jsonl: one row per frame and slot with the same values (empty slots: face_id -1, NaN / null).
Files are written to a temporary name and renamed at close, so a partial file never passes for a whole one.
The .npz rows stream to hidden files beside the output while running (memory stays flat on long runs)
and are packed into the archive at close.
"""
from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from pipeline.errors import OutputError
from pipeline.output_paths import check_output_path, default_file_mode
from pipeline.types import NUM_LANDMARKS, TrackedFace

LANDMARK_FORMATS = {".npz", ".csv", ".jsonl"}


class SlotAssigner:
    """Keeps each tracked face in the same slot 0..K-1; a new face takes the lowest free slot."""

    def __init__(self, slots: int):
        self.slots = slots
        self._slot_of: dict[int, int] = {}

    def assign(self, faces: tuple[TrackedFace, ...] | list[TrackedFace]) -> list[TrackedFace | None]:
        live = {f.face_id for f in faces}
        self._slot_of = {fid: s for fid, s in self._slot_of.items() if fid in live}
        out: list[TrackedFace | None] = [None] * self.slots
        for f in faces:
            if f.face_id not in self._slot_of:
                used = set(self._slot_of.values())
                free = [s for s in range(self.slots) if s not in used]
                if not free:
                    continue
                self._slot_of[f.face_id] = free[0]
            out[self._slot_of[f.face_id]] = f
        return out


class LandmarksWriter:
    """Writes per-frame landmarks in the format named by the path's extension."""

    def __init__(self, path: Path, max_faces: int, overwrite: bool = False,
                 blendshape_names: tuple[str, ...] | None = None):
        self.path = check_output_path(path, overwrite, LANDMARK_FORMATS)
        self.names = tuple(blendshape_names) if blendshape_names is not None else None
        self.kind = self.path.suffix.lower()
        self.slots = SlotAssigner(max_faces)
        self.max_faces = max_faces
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part")
        os.close(fd)
        self._tmp = Path(tmp)
        self._parts: dict[str, tuple] = {}  # npz member -> (open file, dtype, row shape)
        self._file = None
        self._csv = None
        self.frames = 0
        self._closed = False
        if self.kind == ".csv":
            self._file = open(self._tmp, "w", newline="")
            self._csv = csv.writer(self._file)
            coords = [f"{a}{i}" for i in range(NUM_LANDMARKS) for a in "xyz"]
            signal_cols = []
            if self.names is not None:
                signal_cols = ["pitch_deg", "yaw_deg", "roll_deg", *(f"m{r}{c}" for r in range(4) for c in range(4)),
                               *self.names, "gaze_left_yaw_deg", "gaze_left_pitch_deg", "gaze_right_yaw_deg",
                               "gaze_right_pitch_deg"]
            self._csv.writerow(["frame", "timestamp_ms", "process_ms", "slot", "face_id", "presence", *coords,
                                *signal_cols])
        elif self.kind == ".jsonl":
            self._file = open(self._tmp, "w")
        else:
            k = max_faces
            members = [("landmarks", np.float32, (k, NUM_LANDMARKS, 3)), ("presence", np.float32, (k,)),
                       ("face_ids", np.int32, (k,)), ("timestamps_ms", np.float64, ()), ("process_ms", np.float32, ())]
            if self.names is not None:
                members += [("pose_matrix", np.float32, (k, 4, 4)), ("pose_euler_deg", np.float32, (k, 3)),
                            ("blendshapes", np.float32, (k, len(self.names))), ("gaze_deg", np.float32, (k, 2, 2))]
            for name, dtype, shape in members:
                part = self._tmp.with_name(f"{self._tmp.name}.{name}")
                self._parts[name] = (open(part, "wb"), dtype, shape, part)

    def write(self, frame_index: int, timestamp_ms: float, process_ms: float, faces) -> None:
        slots = self.slots.assign(faces)
        lms = np.full((self.max_faces, NUM_LANDMARKS, 3), np.nan, np.float32)
        pres = np.full(self.max_faces, np.nan, np.float32)
        ids = np.full(self.max_faces, -1, np.int32)
        values = [lms, pres, ids, timestamp_ms, process_ms]
        if self.names is not None:
            k, c = self.max_faces, len(self.names)
            pose = np.full((k, 4, 4), np.nan, np.float32)
            euler = np.full((k, 3), np.nan, np.float32)
            shapes = np.full((k, c), np.nan, np.float32)
            gaze = np.full((k, 2, 2), np.nan, np.float32)
        for k, f in enumerate(slots):
            if f is not None:
                lms[k], pres[k], ids[k] = f.landmarks_px, f.presence, f.face_id
                if self.names is not None and f.signals is not None:
                    sig = f.signals
                    pose[k], euler[k], shapes[k], gaze[k] = sig.pose_matrix, sig.pose_euler_deg, sig.blendshapes, \
                        sig.gaze_deg
        if self.names is not None:
            values += [pose, euler, shapes, gaze]
        try:
            if self.kind == ".npz":
                for (f, dtype, _, _), value in zip(self._parts.values(), values):
                    f.write(np.asarray(value, dtype).tobytes())
            elif self.kind == ".csv":
                for k in range(self.max_faces):
                    extra = []
                    if self.names is not None:
                        extra = [_num(v) for v in (*euler[k], *pose[k].ravel(), *shapes[k], *gaze[k].ravel())]
                    self._csv.writerow([frame_index, f"{timestamp_ms:.3f}", f"{process_ms:.3f}", k, ids[k],
                                        _num(pres[k]), *(_num(v) for v in lms[k].ravel()), *extra])
            else:
                for k in range(self.max_faces):
                    row = {"frame": frame_index, "timestamp_ms": round(timestamp_ms, 3),
                           "process_ms": round(process_ms, 3), "slot": k, "face_id": int(ids[k]),
                           "presence": None if np.isnan(pres[k]) else round(float(pres[k]), 5),
                           "landmarks": None if ids[k] < 0 else [[_json_num(v) for v in p] for p in lms[k]]}
                    if self.names is not None:
                        empty = ids[k] < 0 or np.isnan(euler[k]).all()
                        row.update({
                            "pose_euler_deg": None if empty else [_json_num(v) for v in euler[k]],
                            "pose_matrix": None if empty else [[_json_num(v, 5) for v in r] for r in pose[k]],
                            "blendshapes": None if empty else {
                                n: _json_num(v, 4) for n, v in zip(self.names, shapes[k])},
                            "gaze_deg": None if empty else [[_json_num(v) for v in e] for e in gaze[k]]})
                    self._file.write(json.dumps(row, allow_nan=False) + "\n")
        except OSError as e:
            raise OutputError(f"cannot write {self.path.name}: {e.strerror}") from e
        self.frames += 1

    def close(self) -> None:
        """Finish the file and move it into place (also after Ctrl-C: the frames so far are kept)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.kind == ".npz":
                arrays = {}
                for name, (f, dtype, shape, part) in self._parts.items():
                    f.close()
                    n = part.stat().st_size // (np.dtype(dtype).itemsize * int(np.prod(shape, dtype=np.int64)))
                    arrays[name] = (np.memmap(part, dtype, "r", shape=(n, *shape)) if n else
                                    np.zeros((0, *shape), dtype))
                if self.names is not None:
                    arrays["blendshape_names"] = np.array(self.names, dtype=str)
                with open(self._tmp, "wb") as f:
                    np.savez(f, **arrays)
                del arrays
                self._remove_parts()
            else:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
            default_file_mode(self._tmp)
            os.replace(self._tmp, self.path)
        except OSError as e:
            self._tmp.unlink(missing_ok=True)
            self._remove_parts()
            raise OutputError(f"cannot write {self.path.name}: {e.strerror}") from e

    def _remove_parts(self) -> None:
        for f, _, _, part in self._parts.values():
            f.close()
            part.unlink(missing_ok=True)

    def discard(self) -> None:
        """Drop the partial file (used when the run failed before producing anything)."""
        self._closed = True
        if self._file:
            self._file.close()
        self._remove_parts()
        self._tmp.unlink(missing_ok=True)


def _num(v) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) or (
        isinstance(v, np.floating) and np.isnan(v)) else f"{float(v):.3f}"


def _json_num(v, digits: int = 3):
    return None if np.isnan(v) else round(float(v), digits)
