"""Crashes, damaged inputs and odd frames: the CLI keeps what it can and never shows a traceback."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest

from tests.conftest import ROOT, require_media
from tests.test_cli import assert_one_line_error, run_cli


def playable_frames(path) -> int:
    """Frames a player gets out of ``path``, stopping at a damaged tail as players do."""
    n = 0
    with av.open(str(path)) as c:
        for packet in c.demux(c.streams.video[0]):
            try:
                n += len(packet.decode())
            except av.error.InvalidDataError:
                break
    return n


def test_recording_killed_with_sigkill_still_plays(tmp_path):
    clip = require_media("videos", "LivePortrait_d6.mp4")  # 1008 frames at 30 fps
    out = tmp_path / "killed.mp4"
    proc = subprocess.Popen([sys.executable, "main.py", "process", str(clip), "--output", str(out)], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    done = 0
    for line in proc.stderr:
        if "/1008 frames" in line:
            done = int(line.split("meshcam: ")[1].split("/")[0])
            if done >= 300:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert done >= 300
    kept = playable_frames(out)
    # at most about a second is lost: one fragment (30 frames) plus the writer's queue (8)
    assert kept >= done - 45, (kept, done)
    cap = cv2.VideoCapture(str(out))
    assert cap.read()[0]  # OpenCV plays it too


def test_truncated_video_keeps_the_frames_before_the_damage(tmp_path):
    clip = require_media("videos", "LivePortrait_s18.mp4")  # index (moov) at the start
    data = clip.read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: len(data) // 2])
    proc = run_cli("process", broken, "--landmarks", tmp_path / "lm.npz")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    warning = [line for line in proc.stderr.splitlines() if "decoding stopped at frame" in line]
    assert len(warning) == 1
    kept = np.load(tmp_path / "lm.npz")["landmarks"].shape[0]
    assert f"stopped at frame {kept} of 282" in warning[0] and 50 < kept < 282


def test_truncated_video_without_its_index_is_one_clear_error(tmp_path):
    clip = require_media("videos", "LivePortrait_d0.mp4")  # index (moov) at the end: lost by truncation
    data = clip.read_bytes()
    broken = tmp_path / "cut.mp4"
    broken.write_bytes(data[: len(data) // 2])
    assert_one_line_error(run_cli("process", broken), "truncated")


@pytest.mark.parametrize("make,faces", [
    ("gray16", 1), ("bgra", 1), ("tiny", 0), ("huge", 1), ("border_cut", 1), ("roll_minus_90", 1), ("roll_plus_90", 1),
    ("upside_down", 1), ("blank", 0)])
def test_odd_frames(make, faces, tmp_path):
    # (BlazeFace is weaker on grayscale: the gray case uses a photo it still finds in gray)
    photo = "face_recognition_obama.jpg" if make == "gray16" else "face_recognition_obama-480p.jpg"
    img = cv2.imread(str(require_media("photos", photo)))
    path = tmp_path / f"{make}.png"
    if make == "gray16":
        frame = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    elif make == "bgra":
        frame = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    elif make == "tiny":
        frame = cv2.resize(img, (32, 24))
    elif make == "huge":
        frame = cv2.resize(img, (7680, 4320))
    elif make == "border_cut":
        h, w = img.shape[:2]
        frame = img[:, int(w * 0.45):]  # the face's left side is outside the frame
    elif make == "roll_minus_90":
        frame = cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    elif make == "roll_plus_90":
        frame = cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    elif make == "upside_down":
        frame = cv2.rotate(img, cv2.ROTATE_180)
    else:
        frame = np.full((480, 640, 3), 128, np.uint8)
    assert cv2.imwrite(str(path), frame)
    # an image repeated as a short sequence: the tracker's rotated search needs a few frames
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(6):
        (folder / f"{i}.png").write_bytes(path.read_bytes())
    proc = run_cli("process", folder, "--landmarks", tmp_path / "lm.npz")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lm = np.load(tmp_path / "lm.npz")["landmarks"][-1, 0]
    assert bool(np.isfinite(lm).all()) == bool(faces)
    if faces:
        assert lm[:, 0].max() < frame.shape[1] + 60 and lm[:, 1].max() < frame.shape[0] + 60


def test_full_disk_ends_the_run_with_one_line_and_a_playable_file(tmp_path, monkeypatch, capsys):
    """Simulated ENOSPC from the muxer after 40 frames (a failing writer stands in for a full disk)."""
    import errno

    from main import main
    from pipeline import recording

    clip = require_media("videos", "LivePortrait_d19.mp4")
    original_open = recording.VideoRecorder._open

    def open_then_fill_up(self, width, height):
        original_open(self, width, height)
        real_mux, calls = self._container.mux, [0]

        class Container:  # PyAV containers are C types: wrap instead of patching
            def __init__(self, inner):
                self._inner = inner

            def mux(self, packet):
                calls[0] += 1
                if calls[0] > 40:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return real_mux(packet)

            def __getattr__(self, name):
                return getattr(self._inner, name)
        self._container = Container(self._container)

    monkeypatch.setattr(recording.VideoRecorder, "_open", open_then_fill_up)
    out = tmp_path / "full.mp4"
    rc = main(["process", str(clip), "--output", str(out), "-q"])
    err = capsys.readouterr().err
    assert rc == 2
    errors = [line for line in err.splitlines() if line.startswith("meshcam: error:")]
    assert len(errors) == 1 and "disk full" in errors[0], err
    assert 0 < playable_frames(out) <= 40


def test_short_soak_keeps_memory_flat_and_leaves_no_thread():
    """The short version of `python -m benchmarks.soak --frames 20000` (a recording and npz included)."""
    require_media("videos", "LivePortrait_d19.mp4")
    from benchmarks.soak import soak
    r = soak(1500, warmup=300)
    assert r["frames"] >= 1500
    assert r["threads_left"] == []
    # the npz writer holds landmarks in memory by design (~5.7 kB per face-frame); allow for that
    assert r["growth"] < 0.10, r


def test_crowd_with_many_small_faces_runs_cleanly(tmp_path):
    clip = require_media("videos", "facenet-pytorch_video.mp4")  # 1080p street, ~40-100 px faces
    proc = run_cli("process", clip, "--max-faces", "12", "--max-frames", "10", "--landmarks", tmp_path / "lm.npz")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    data = np.load(tmp_path / "lm.npz")
    assert data["landmarks"].shape == (10, 12, 478, 3)
    ids = data["face_ids"]
    for row in ids:  # a face is never tracked twice in one frame
        live = row[row >= 0]
        assert len(live) == len(set(live.tolist()))
