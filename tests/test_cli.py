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


def _run_with_umask(mask, *args):
    old = os.umask(mask)  # the CLI child inherits it, as from a shell
    try:
        return run_cli(*args)
    finally:
        os.umask(old)


def test_landmark_files_and_videos_are_written_with_the_same_permissions(tmp_path):
    """Landmark files go through mkstemp (0600) and a rename: they must end up with the mode any new file gets
    under the user's umask, like the video and image outputs written with a plain open()."""
    import stat
    clip = require_media("videos", "LivePortrait_d10.mp4")
    photo = require_media("photos", "face_recognition_obama.jpg")
    runs = [(0o022, clip, "out.mp4", "out.npz"), (0o022, clip, "out.mkv", "out.csv"),
            (0o022, photo, "out.png", "out.jsonl"), (0o027, clip, "group.mp4", "group.npz")]
    for mask, source, video, marks in runs:
        proc = _run_with_umask(mask, "process", source, "-o", tmp_path / video, "--landmarks", tmp_path / marks,
                               "--max-frames", 3, "-q")
        assert proc.returncode == 0, proc.stderr
        for name in (video, marks):
            mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
            assert mode == 0o666 & ~mask, f"{name}: {oct(mode)} under umask {oct(mask)}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for r in runs for n in r[2:])  # no .part left


def _help_text(*args) -> str:
    proc = run_cli(*args, "--help", timeout=60)
    assert proc.returncode == 0, proc.stderr
    return " ".join(proc.stdout.split())  # argparse wraps to the terminal width


def test_help_lists_shortcuts_examples_version_and_formats():
    import re

    from models.runtime import default_threads
    top = _help_text()
    for key in ("Space pause/resume", "R record", "S snapshot", "M mirror"):
        assert key in top, key
    assert "examples:" in top
    assert "meshcam process clip.mp4 -o out.mp4 --landmarks out.npz" in top
    assert "meshcam process photos/ --landmarks faces.jsonl" in top
    version = run_cli("--version", timeout=60)
    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert version.returncode == 0 and version.stdout == f"meshcam {declared}\n", version
    process = _help_text("process")
    assert f"--threads N onnxruntime threads per session (default: {default_threads()}," in process
    outputs = re.search(r"annotated output: (.*?) --landmarks", process).group(1)
    for ext in (".mp4", ".mkv", ".png", ".jpg"):
        assert ext in outputs, outputs
    marks = re.search(r"--landmarks FILE (.*?) --sequence", process).group(1)
    for ext in (".npz", ".csv", ".jsonl"):
        assert ext in marks, marks


def test_sequence_folder_is_tracked_like_the_video_it_came_from(tmp_path, tracker):
    """A folder of consecutive frames with --sequence gives exactly the video's landmarks (PNG is lossless,
    --fps matches, smoothing off); without --sequence each image is detected alone and the landmarks differ."""
    import cv2

    from pipeline import MemorySink, open_source, run_offline
    clip = require_media("videos", "LivePortrait_d10.mp4")
    frames = tmp_path / "frames"
    frames.mkdir()
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS)
    for i in range(20):
        ok, image = cap.read()
        assert ok
        cv2.imwrite(str(frames / f"{i:04d}.png"), image)
    cap.release()
    common = ("--no-smooth", "--fps", fps, "-q")
    for name, args in (("video", (clip, "--max-frames", 20)), ("seq", (frames, "--sequence")), ("stills", (frames,))):
        proc = run_cli("process", *args, "--landmarks", tmp_path / f"{name}.npz", *common)
        assert proc.returncode == 0, proc.stderr
    video, seq, stills = (np.load(tmp_path / f"{n}.npz") for n in ("video", "seq", "stills"))
    assert video["landmarks"].shape == seq["landmarks"].shape == stills["landmarks"].shape == (20, 1, 478, 3)
    assert np.isfinite(video["landmarks"]).all()
    np.testing.assert_allclose(seq["landmarks"], video["landmarks"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(seq["timestamps_ms"], video["timestamps_ms"], atol=1e-3)
    np.testing.assert_allclose(seq["blendshapes"], video["blendshapes"], atol=1e-5)
    apart = np.abs(stills["landmarks"] - video["landmarks"])[:, 0, :, :2].max(axis=(1, 2))
    assert apart[0] < 1e-3  # the first frame is a detection in both
    assert (apart[1:] > 1.0).all(), apart  # later ones: a fresh detection is not the tracked crop
    # Why: with --sequence the detector runs once and the previous mesh gives every later crop.
    for sequence in (True, False):
        sink = MemorySink()
        with open_source(frames, sequence=sequence) as source:
            run_offline(source, tracker, [sink])
        ran = [r.detector_ran for r in sink.results]
        tracked = [r.faces[0].from_detector for r in sink.results]
        assert len(ran) == 20
        assert ran == tracked == ([True] + [False] * 19 if sequence else [True] * 20), (sequence, ran, tracked)
