"""Property tests: arbitrary bytes as inputs, arbitrary face sets through the landmark writers."""
from __future__ import annotations

import csv
import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import InputError
from pipeline.geometry import RotatedRect
from pipeline.landmarks_io import LandmarksWriter
from pipeline.sources import open_source
from pipeline.types import TrackedFace

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.binary(max_size=4096), ext=st.sampled_from([".mp4", ".mkv", ".avi", ".jpg", ".png", ".bmp", ".bin", ""]))
def test_any_bytes_either_open_or_fail_with_one_clear_error(tmp_path, data, ext):
    path = tmp_path / f"input{ext}"
    path.write_bytes(data)
    try:
        source = open_source(str(path))
    except InputError as e:
        assert str(e) and "\n" not in str(e)
        return
    try:
        for frame in source:  # whatever decodes must be a proper frame
            assert frame.frame_bgr.ndim == 3 and frame.frame_bgr.shape[2] == 3
            assert frame.frame_bgr.dtype == np.uint8
            break
    except InputError:
        pass
    finally:
        source.close()


face_sets = st.lists(
    st.tuples(st.integers(0, 50), st.floats(0.5, 1.0), st.booleans()),  # id, presence, iris present
    max_size=3, unique_by=lambda t: t[0])


def _faces(spec, rng):
    out = []
    for fid, presence, iris in spec:
        lm = rng.uniform(-50, 2000, (478, 3)).astype(np.float32)
        if not iris:
            lm[468:] = np.nan
        out.append(TrackedFace(fid, lm, lm, presence, RotatedRect(0, 0, 1, 1, 0), False))
    return out


@FUZZ
@given(frames=st.lists(face_sets, min_size=1, max_size=5), k=st.integers(1, 3))
def test_landmark_files_round_trip(tmp_path, frames, k):
    rng = np.random.default_rng(len(frames))
    written = [_faces(spec, rng) for spec in frames]
    paths = {ext: tmp_path / f"lm{ext}" for ext in (".npz", ".csv", ".jsonl")}
    for path in paths.values():
        w = LandmarksWriter(path, k, overwrite=True)
        for i, faces in enumerate(written):
            w.write(i, i * 33.3, 1.5, faces)
        w.close()
    npz = np.load(paths[".npz"])
    assert npz["landmarks"].shape == (len(frames), k, 478, 3)
    rows = list(csv.reader(paths[".csv"].open()))[1:]
    lines = [json.loads(line) for line in paths[".jsonl"].read_text().splitlines()]
    assert len(rows) == len(lines) == len(frames) * k
    for i, faces in enumerate(written):
        ids = npz["face_ids"][i]
        kept = [f for f in faces if f.face_id in ids]
        assert len(kept) == min(len(faces), k)  # more faces than slots: the first k keep theirs
        for f in kept:
            slot = int(np.where(ids == f.face_id)[0][0])
            np.testing.assert_array_equal(npz["landmarks"][i, slot], f.landmarks_px)
            row = rows[i * k + slot]
            assert int(row[4]) == f.face_id
            np.testing.assert_allclose(np.array(row[6:], float).reshape(478, 3), f.landmarks_px, atol=6e-4)
            js = lines[i * k + slot]
            assert js["face_id"] == f.face_id
            got = np.array([[np.nan if v is None else v for v in p] for p in js["landmarks"]], float)
            np.testing.assert_allclose(got, f.landmarks_px, atol=6e-4)
        for slot in np.where(ids < 0)[0]:
            assert np.isnan(npz["landmarks"][i, slot]).all() and lines[i * k + slot]["landmarks"] is None
