"""`meshcam batch`: outputs equal `meshcam process`, bad files fail alone, Ray gives the same outputs, a run
killed with SIGKILL resumes with nothing partial left, a video split at keyframes (--split-minutes) rejoins
into the process output up to bounded seams; input discovery and the run index."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.batch import JOURNAL, Job, RunIndex, discover
from pipeline.errors import InputError
from tests.conftest import ROOT, require_media

# Short shared clips (frame counts from media/PROVENANCE.md, counted by decoding every frame).
CLIPS = {"LivePortrait_d0.mp4": 78, "Thin-Plate-Spline-Motion-Model_driving.mp4": 169, "LivePortrait_d20.mp4": 175}
BAD = {"corrupt.mp4": "not a readable video", "empty.mp4": "empty file"}


def run_batch_cli(*args, timeout=240):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "main.py", "batch", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def batch_here(*args) -> int:
    """`meshcam batch` through main.py's own entry point, in this interpreter (saves a Python start-up)."""
    import main
    return main.run(["batch", *map(str, args)])


def index_rows(out: Path) -> dict[str, dict]:
    return {Path(r["input"]).name: r for r in pq.read_table(out / "index.parquet").to_pylist()}


def assert_same_landmarks(a: Path, b: Path) -> None:
    """Every array of the landmarks contract equal, bit for bit; process_ms (a timing) only in shape."""
    with np.load(a) as x, np.load(b) as y:
        assert sorted(x.files) == sorted(y.files)
        for k in x.files:
            if k == "process_ms":
                assert x[k].shape == y[k].shape
            else:
                assert np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f"), f"{a.name}: {k} differs"


def leftovers(out: Path) -> list[str]:
    """Files in ``out`` that are neither outputs nor the index (partial files, staging folders)."""
    keep = {"index.parquet", "index.csv", ".meshcam-batch.lock"}
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.is_file() and p.name not in keep and p.suffix != ".npz" or p.name.startswith(".staging"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "sub").mkdir()
    for k, name in enumerate(CLIPS):
        shutil.copy(require_media("videos", name), folder / ("sub" if k == 1 else "") / name)
    (folder / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(150_000))
    (folder / "empty.mp4").write_bytes(b"")
    return folder


@pytest.fixture(scope="module")
def pool_run(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("pool")
    return out, batch_here(inputs, "--out", out, "--workers", "2", "--quiet")


def outputs_of(inputs: Path, out: Path) -> dict[str, Path]:
    return {name: out / ("sub" if k == 1 else "") / f"{Path(name).stem}.npz" for k, name in enumerate(CLIPS)}


def test_batch_equals_process_and_bad_files_fail_alone(inputs, pool_run, tmp_path):
    out, exit_code = pool_run
    assert exit_code == 3
    rows = index_rows(out)
    assert set(rows) == set(CLIPS) | set(BAD)
    for name, frames in CLIPS.items():
        assert rows[name]["status"] == "done" and rows[name]["frames"] == frames, rows[name]
        assert rows[name]["frames_with_face"] > 0.9 * frames and rows[name]["fps"] > 0
    for name, reason in BAD.items():
        assert rows[name]["status"] == "failed" and reason in rows[name]["error"], rows[name]
        assert not (out / f"{Path(name).stem}.npz").exists()
    assert leftovers(out) == []
    import main  # the same process command a user runs, in this interpreter (no second model start-up)
    for name, produced in outputs_of(inputs, out).items():
        reference = tmp_path / f"{name}.npz"
        clip = inputs / ("sub" if produced.parent != out else "") / name
        assert main.run(["process", str(clip), "--landmarks", str(reference), "--quiet"]) == 0
        assert_same_landmarks(produced, reference)


def test_rerun_skips_done_videos_and_retries_failed(inputs, pool_run, capsys):
    out, _ = pool_run
    before = {name: p.stat().st_mtime_ns for name, p in outputs_of(inputs, out).items()}
    assert batch_here(inputs, "--out", out, "--workers", "2", "--quiet") == 3
    rows = index_rows(out)
    assert {n: rows[n]["status"] for n in CLIPS} == dict.fromkeys(CLIPS, "skipped")
    assert {n: rows[n]["status"] for n in BAD} == dict.fromkeys(BAD, "failed")
    assert {name: p.stat().st_mtime_ns for name, p in outputs_of(inputs, out).items()} == before
    capsys.readouterr()
    assert batch_here(inputs, "--out", out, "--dry-run", "--no-smooth") == 0  # another config redoes all
    listing = capsys.readouterr().out
    assert listing.count("config ") == len(CLIPS) and listing.count("failed-before ") == len(BAD), listing


def test_ray_local_instance_gives_identical_outputs(inputs, pool_run, tmp_path):
    pytest.importorskip("ray")
    out, _ = pool_run
    proc = run_batch_cli(inputs, "--out", tmp_path, "--ray", "--workers", "2", "--quiet")
    assert proc.returncode == 3, proc.stderr
    rows = index_rows(tmp_path)
    assert [n for n in rows if rows[n]["status"] == "failed"] == sorted(BAD)
    for name, produced in outputs_of(inputs, tmp_path).items():
        assert_same_landmarks(produced, outputs_of(inputs, out)[name])


def test_sigkill_midway_resumes_without_partial_outputs(inputs, pool_run, tmp_path):
    out, _ = pool_run
    args = [sys.executable, "main.py", "batch", str(inputs), "--out", str(tmp_path), "--workers", "1", "--quiet"]
    killed = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    journal = tmp_path / JOURNAL
    deadline = time.monotonic() + 120
    done_before_kill = []
    while time.monotonic() < deadline and not done_before_kill:  # kill right after the first finished video
        time.sleep(0.05)
        if journal.exists():
            done_before_kill = [json.loads(line)["input"] for line in journal.read_text().splitlines()
                                if line.endswith("}") and '"status": "done"' in line]
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(10)
    assert done_before_kill, "no video finished before the deadline"
    assert len(done_before_kill) < len(CLIPS)  # the kill really was midway

    assert batch_here(inputs, "--out", tmp_path, "--workers", "1", "--quiet") == 3
    rows = {r["input"]: r for r in pq.read_table(tmp_path / "index.parquet").to_pylist()}
    for path in done_before_kill:
        assert rows[path]["status"] == "skipped"
    assert sum(r["status"] == "done" for r in rows.values()) == len(CLIPS) - len(done_before_kill)
    assert leftovers(tmp_path) == []
    for name, produced in outputs_of(inputs, tmp_path).items():
        assert_same_landmarks(produced, outputs_of(inputs, out)[name])


def test_url_input_through_pyarrow_fs_gives_the_same_outputs(inputs, pool_run, tmp_path):
    out, _ = pool_run
    name = next(iter(CLIPS))
    assert batch_here(f"file://{inputs / name}", "--out", tmp_path, "--workers", "1", "--quiet") == 0
    assert_same_landmarks(tmp_path / f"{Path(name).stem}.npz", outputs_of(inputs, out)[name])
    assert index_rows(tmp_path)[name]["input"] == f"file://{inputs / name}"


SPLIT_CLIP = "SadTalker_WDA_AlexandriaOcasioCortez_000.mp4"  # 200 frames, 8 s, a keyframe every 0.48 s
SPLIT_MINUTES = 0.05  # 3 s: three chunks


def keyframe_positions(path: Path) -> tuple[list[int], list[float]]:
    """(frame positions of the keyframes, every frame's time in s), from the container's packets."""
    import av
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        packets = sorted((p.pts, p.is_keyframe) for p in c.demux(s) if p.size)
        return [i for i, (_, key) in enumerate(packets) if key], [float(p * s.time_base) for p, _ in packets]


def test_split_minutes_chunks_rejoin_into_the_process_output(tmp_path):
    clip = require_media("videos", SPLIT_CLIP)
    out = tmp_path / "out"
    assert batch_here(clip, "--out", out, "--workers", "2", "--split-minutes", SPLIT_MINUTES, "--format",
                      "npz,csv,jsonl", "--quiet") == 0
    row = index_rows(out)[SPLIT_CLIP]
    assert row["status"] == "done" and row["frames"] == 200, row
    assert len(set(row["worker"].split(","))) == 2, row["worker"]  # the chunks ran on both workers
    stem = Path(SPLIT_CLIP).stem
    assert leftovers(out) == [f"{stem}.csv", f"{stem}.jsonl"]
    import main
    reference = tmp_path / "process.npz"
    assert main.run(["process", str(clip), "--landmarks", str(reference), "--quiet"]) == 0
    with np.load(out / f"{stem}.npz") as x, np.load(reference) as y:
        got, ref = {k: x[k] for k in x.files}, {k: y[k] for k in y.files}
    assert sorted(got) == sorted(ref) and len(got["timestamps_ms"]) == len(ref["timestamps_ms"])
    assert np.array_equal(got["timestamps_ms"], ref["timestamps_ms"])  # the source's own, across the seams
    ids = got["face_ids"][:, 0]
    seams = [int(i) for i in np.flatnonzero(np.diff(ids)) + 1]
    assert ids[0] == 0 and all(ids[s] > ids[s - 1] for s in seams)  # renumbered: unique across chunks
    keyframes, times = keyframe_positions(clip)
    starts = [0, *seams]
    assert len(seams) >= 2 and set(seams) <= set(keyframes)  # cut at keyframes ...
    assert all(times[b] - times[a] >= 60 * SPLIT_MINUTES for a, b in zip(starts, starts[1:]))  # ... every >= M
    first = seams[0]
    for k in ref:  # up to the first seam: bit for bit what `process` gives
        if k not in ("process_ms", "blendshape_names"):
            assert np.array_equal(got[k][:first], ref[k][:first], equal_nan=got[k].dtype.kind == "f"), k
    # After a seam the chunk starts from a detector pass and a fresh smoother: landmarks differ a little and
    # converge back. Per-frame mean landmark distance in % of the inter-ocular distance (measured: 1.5 on the
    # seam frame, <= 1.2 from the next, <= 0.5 fifteen frames on; the live crop moves by the squared share of
    # a still face's step, so two tracks of one still face converge over ~15 frames rather than ~10).
    iod = np.linalg.norm(ref["landmarks"][:, 0, 33, :2] - ref["landmarks"][:, 0, 263, :2], axis=-1)
    error = np.nanmean(np.linalg.norm(got["landmarks"][:, 0, :, :2] - ref["landmarks"][:, 0, :, :2], axis=-1),
                       axis=-1) / iod * 100
    assert np.all(np.isfinite(error))
    for seam, end in zip(seams, [*seams[1:], len(error)]):
        assert 0 < error[seam] <= 3.0, (seam, error[seam])
        assert error[seam + 1:end].max() <= 2.0, (seam, error[seam + 1:end].max())
        assert error[seam + 15:end].max() <= 0.5, (seam, error[seam + 15:end].max())
    with open(out / f"{stem}.csv", newline="") as f:
        rows = [(int(r["frame"]), int(r["face_id"])) for r in csv.DictReader(f)]
    with open(out / f"{stem}.jsonl") as f:
        lines = [json.loads(line) for line in f]
    for merged in (rows, [(r["frame"], r["face_id"]) for r in lines]):  # one slot: a row per frame
        assert merged == list(zip(range(len(ids)), ids.tolist())), "frames not continuous or ids not as in .npz"


# ---- discovery and the index (no model) ---------------------------------------------------------------------
def test_discovery_folders_globs_manifests_and_collisions(tmp_path):
    a = tmp_path / "a"
    (a / "deep").mkdir(parents=True)
    for p in ("x.mp4", "deep/y.MOV", "deep/notes.txt", ".hidden.mp4", "z.mkv", "z.mp4"):
        (a / p).write_bytes(b"v")
    out = a / "results"
    out.mkdir()
    (out / "old.mp4").write_bytes(b"v")  # outputs inside an input folder are never inputs
    rels = {j.rel: Path(j.input).relative_to(a).as_posix() for j in discover([str(a)], out)}
    assert rels == {"x": "x.mp4", "deep/y": "deep/y.MOV", "z.mkv": "z.mkv", "z.mp4": "z.mp4"}
    assert {j.rel for j in discover([f"{a}/**/*.mov", f"{a}/**/*.MOV"], out)} == {"deep/y"}
    (tmp_path / "list.txt").write_text(f"# videos\n{a}/x.mp4\n\na/deep/y.MOV\na/missing.mp4\n")
    jobs = {j.rel: j for j in discover([str(tmp_path / "list.txt")])}
    assert set(jobs) == {"x", "deep/y", "missing"} and jobs["missing"].size == -1  # root: their common folder
    (tmp_path / "list.csv").write_text("id,Path\n1,a/x.mp4\n2,a/deep/y.MOV\n")
    assert {j.rel for j in discover([str(tmp_path / "list.csv")])} == {"x", "deep/y"}
    (tmp_path / "bad.csv").write_text("id,file\n1,a/x.mp4\n")
    with pytest.raises(InputError, match="'path' column"):
        discover([str(tmp_path / "bad.csv")])
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.mp4").write_bytes(b"v")
    with pytest.raises(InputError, match="would both write x"):
        discover([str(a / "x.mp4"), str(tmp_path / "b" / "x.mp4")])
    with pytest.raises(InputError, match="no such file"):
        discover([str(tmp_path / "nope")])
    urls = {j.rel: j.input for j in discover([f"file://{a}/"], out)}  # a prefix listed through pyarrow.fs
    assert urls == {"x": f"file://{a}/x.mp4", "deep/y": f"file://{a}/deep/y.MOV", "z.mkv": f"file://{a}/z.mkv",
                    "z.mp4": f"file://{a}/z.mp4"}


def test_a_failed_chunk_fails_its_video_and_publishes_nothing(tmp_path):
    from pipeline.batch import batch_options
    from pipeline.batch_chunks import ChunkJob
    from pipeline.batch_exec import staging_dir
    from pipeline.batch_merge import ChunkAssembler
    from pipeline.config import PipelineConfig
    options = batch_options(tmp_path / "out", PipelineConfig(), ["npz"], split_minutes=1)
    job = Job(str(tmp_path / "long.mp4"), "long", 10, 1)
    chunks = [ChunkJob(job, n, 2, 1000 * n, 1000 if n == 0 else None, 50 * n, 50, None, 60.0 * n) for n in range(2)]
    assembler = ChunkAssembler(options, "hash", chunks)
    done = staging_dir(options, chunks[0])
    done.mkdir(parents=True)
    (done / "out.npz").write_bytes(b"a finished chunk")
    finished = {"input": job.input, "chunk": 0, "status": "done", "frames": 50, "frames_with_face": 50,
                "seconds": 1.0, "error": "", "worker": "w0", "max_face_id": 0}
    failed = dict(finished, chunk=1, status="failed", frames=0, error="chunk 2/2 (from 60.0 s): decoding stopped")
    assert assembler.add(failed) is None  # waits for every chunk, whatever the order
    row = assembler.add(finished)
    assert row["status"] == "failed" and row["error"] == failed["error"] and row["input"] == job.input
    assert not (tmp_path / "out" / "long.npz").exists() and not staging_dir(options, job).exists()


def test_index_survives_a_torn_journal_line(tmp_path):
    index = RunIndex(tmp_path)
    job = Job(str(tmp_path / "v.mp4"), "v", 10, 1)
    index.record({"input": job.input, "output": "v", "size": 10, "status": "done", "frames": 5})
    with open(tmp_path / JOURNAL, "a") as f:
        f.write('{"input": "/other.mp4", "stat')  # killed while appending
    reloaded = RunIndex(tmp_path)
    assert set(reloaded.rows) == {job.input} and reloaded.rows[job.input]["frames"] == 5
    reloaded.save()
    assert not (tmp_path / JOURNAL).exists()
    assert [r["input"] for r in pq.read_table(tmp_path / "index.parquet").to_pylist()] == [job.input]
    assert RunIndex(tmp_path).rows == reloaded.rows
