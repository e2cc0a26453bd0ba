"""The headless CLI: clear one-line errors, outputs, and a recording that survives Ctrl-C."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from tests.conftest import ROOT, require_media


def run_cli(*args, timeout=180):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(proc, *needles):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("meshcam: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_missing_input(tmp_path):
    assert_one_line_error(run_cli("process", tmp_path / "nope.mp4"), "no such file")


def test_zero_byte_and_non_video_files(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert_one_line_error(run_cli("process", empty), "empty")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    assert_one_line_error(run_cli("process", text), "notes.mp4")
    odd = tmp_path / "data.xyz"
    odd.write_bytes(os.urandom(2048))
    assert_one_line_error(run_cli("process", odd), "unsupported")


def test_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    assert_one_line_error(run_cli("process", tmp_path), "no images")


def test_existing_output_needs_overwrite_and_is_left_untouched(tmp_path):
    clip = require_media("videos", "LivePortrait_d19.mp4")
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    assert_one_line_error(run_cli("process", clip, "--output", out), "already exists", "--overwrite")
    assert out.read_bytes() == b"precious"


def test_unwritable_output_folder(tmp_path):
    clip = require_media("videos", "LivePortrait_d19.mp4")
    assert_one_line_error(run_cli("process", clip, "--output", tmp_path / "missing" / "o.mp4"), "does not exist")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert_one_line_error(run_cli("process", clip, "--output", locked / "o.mp4"), "permission denied")
    finally:
        locked.chmod(0o700)


def test_bad_option_values_are_one_line_errors(tmp_path):
    clip = require_media("videos", "LivePortrait_d19.mp4")
    assert_one_line_error(run_cli("process", clip, "--max-faces", "0"), "max_faces")
    assert_one_line_error(run_cli("process", clip, "--landmarks", tmp_path / "x.txt"), "unsupported output type")


def test_image_folder_to_csv_and_jsonl(tmp_path):
    photos = require_media("photos")
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("face_recognition_obama.jpg", "face_recognition_two_people.jpg"):
        (folder / name).write_bytes((photos / name).read_bytes())
    (folder / "zz_notes.txt").write_text("not an image")
    proc = run_cli("process", folder, "--landmarks", tmp_path / "lm.csv", "--max-faces", "2", "--fps", "10")
    assert proc.returncode == 0, proc.stderr
    rows = (tmp_path / "lm.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2  # header + frames x slots
    header = rows[0].split(",")
    assert header[:6] == ["frame", "timestamp_ms", "process_ms", "slot", "face_id", "presence"]
    from pipeline.signals import BLENDSHAPE_NAMES
    signal_cols = 3 + 16 + len(BLENDSHAPE_NAMES) + 4  # euler, matrix, coefficients, gaze
    assert len(header) == 6 + 478 * 3 + signal_cols
    assert header[6 + 478 * 3: 6 + 478 * 3 + 3] == ["pitch_deg", "yaw_deg", "roll_deg"]
    assert header[-4:] == ["gaze_left_yaw_deg", "gaze_left_pitch_deg", "gaze_right_yaw_deg", "gaze_right_pitch_deg"]
    assert "jawOpen" in header and "eyeBlinkLeft" in header
    second_frame = [r.split(",") for r in rows[3:]]
    assert float(second_frame[0][1]) == pytest.approx(100.0)
    assert sum(int(r[4]) >= 0 for r in second_frame) == 2  # two people, two faces
    proc = run_cli("process", folder, "--landmarks", tmp_path / "lm.jsonl")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in (tmp_path / "lm.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and len(lines[0]["landmarks"]) == 478
    assert len(lines[0]["pose_euler_deg"]) == 3 and 0 <= lines[0]["blendshapes"]["jawOpen"] <= 1


def test_ctrl_c_leaves_a_playable_recording(tmp_path):
    clip = require_media("videos", "LivePortrait_d6.mp4")  # 1008 frames: long enough to interrupt
    out, marks = tmp_path / "annotated.mp4", tmp_path / "lm.npz"
    proc = subprocess.Popen([sys.executable, "main.py", "process", str(clip), "--output", str(out),
                             "--landmarks", str(marks)], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "/1008 frames" in line and not line.startswith("meshcam: 1/"):
            break  # a tenth of the clip is done
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.wait(60)
    stderr = "".join(seen) + rest
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    with av.open(str(out)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    data = np.load(marks)
    assert 50 < decoded < 1008
    assert decoded == data["landmarks"].shape[0]  # everything processed was kept, in both files
