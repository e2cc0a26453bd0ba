"""The front door: the public API, its frame loops and sinks, and the CLI built on them."""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import ROOT, require_media
from tests.test_cli import assert_one_line_error, run_cli

CLIP = ("videos", "LivePortrait_d19.mp4")


def test_public_names_import():
    code = "from pipeline import FaceTracker, PipelineConfig, open_source, open_sink, run_offline, LiveRunner"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def _decoded(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="bgr24") for f in c.decode(video=0)])


def test_ten_line_script_writes_what_process_writes(tmp_path):
    clip = require_media(*CLIP)
    script = tmp_path / "track.py"
    script.write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from pipeline import FaceTracker, PipelineConfig, open_sink, open_source, run_offline

        tracker = FaceTracker.create(PipelineConfig(provider="cpu", max_faces=2))
        with open_source({str(clip)!r}) as source:
            sinks = [open_sink("api.mp4"), open_sink("api.npz")]
            summary = run_offline(source, tracker, sinks, max_frames=45)
        print(summary.frames, summary.frames_with_face)
        """))
    assert len(script.read_text().splitlines()) <= 10
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["45", "45"]
    cli = run_cli("process", clip, "-o", tmp_path / "cli.mp4", "--landmarks", tmp_path / "cli.npz",
                  "--max-faces", "2", "--provider", "cpu", "--max-frames", "45", "-q")
    assert cli.returncode == 0, cli.stderr
    api, ref = np.load(tmp_path / "api.npz"), np.load(tmp_path / "cli.npz")
    timing = {"process_ms"}  # wall-clock, differs run to run
    assert set(api.files) == set(ref.files) and "pose_matrix" in api.files
    for name in set(api.files) - timing:
        np.testing.assert_array_equal(api[name], ref[name], err_msg=name)
    assert np.isfinite(api["landmarks"][:, 0]).all() and np.isnan(api["landmarks"][:, 1]).all()
    np.testing.assert_array_equal(_decoded(tmp_path / "api.mp4"), _decoded(tmp_path / "cli.mp4"))


@pytest.mark.parametrize("order", ["before", "after"])
def test_pipeline_flags_on_either_side_of_the_subcommand(tmp_path, order):
    clip = require_media(*CLIP)
    out = tmp_path / "x.npz"
    flags = ["--max-faces", "3", "--no-lips"]
    tail = ["process", str(clip), "--landmarks", str(out), "--max-frames", "3", "--provider", "cpu", "-q"]
    proc = run_cli(*(flags + tail if order == "before" else tail + flags))
    assert proc.returncode == 0, proc.stderr
    assert np.load(out)["landmarks"].shape == (3, 3, 478, 3)


def test_later_flag_wins_and_flags_that_do_not_apply_are_refused():
    from main import build_parser
    from pipeline.config_cli import config_from_args
    args = build_parser().parse_args(["--max-faces", "3", "process", "x.mp4", "--max-faces", "2"])
    assert config_from_args(args).max_faces == 2
    assert config_from_args(build_parser().parse_args(["process", "x.mp4"])).max_faces == 1
    proc = run_cli("--max-faces", "3", "convert")
    assert proc.returncode == 2 and "--max-faces" in proc.stderr and "convert" in proc.stderr


def test_every_config_field_is_a_flag_with_its_help():
    from main import build_parser
    from pipeline.config import PipelineConfig
    help_text = " ".join(build_parser().format_help().split())
    for f in PipelineConfig.options():
        if f.metadata["cli"]:
            assert "--" + f.name.replace("_", "-") in help_text, f.name
            assert " ".join(f.metadata["help"].split())[:40] in help_text, f.name


def _module_imports(path: Path) -> set[str]:
    """Modules imported at module level (function-level lazy imports cannot form an import-time cycle)."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_no_import_cycle_in_pipeline_and_no_qt_outside_app():
    modules = {f"pipeline.{p.stem}": p for p in (ROOT / "pipeline").glob("*.py") if p.stem != "__init__"}
    graph = {m: {i for i in _module_imports(p) if i in modules} for m, p in modules.items()}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for n in graph[m]:
            assert state.get(n) != 1, f"import cycle: {' -> '.join([*stack, m, n])}"
            if n not in state:
                visit(n, [*stack, m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])
    for folder in ("pipeline", "models", "benchmarks"):
        for p in (ROOT / folder).glob("*.py"):
            assert "PyQt6" not in p.read_text(), f"{p} imports Qt"


class _FailingSink:
    optional, needs_annotated, description = False, False, "disk that fills up"

    def __init__(self, fail_at: int):
        self.fail_at, self.written, self.closed = fail_at, 0, False

    def open(self, info):
        pass

    def write(self, result, annotated):
        if self.written == self.fail_at:
            raise OSError(28, "No space left on device")
        self.written += 1

    def close(self):
        self.closed = True


def test_a_failing_sink_stops_the_run_and_every_sink_is_closed(tracker, tmp_path):
    from pipeline import OutputError, open_sink, open_source, run_offline
    failing = _FailingSink(fail_at=10)
    video, marks = open_sink(tmp_path / "a.mp4"), open_sink(tmp_path / "a.npz")
    with open_source(require_media(*CLIP)) as source, pytest.raises(OutputError, match="No space"):
        run_offline(source, tracker, [video, failing, marks], max_frames=60)
    assert failing.closed
    kept = np.load(tmp_path / "a.npz")["landmarks"]
    assert 10 <= len(kept) < 60  # the frames before the failure, in a complete file
    assert 10 <= len(_decoded(tmp_path / "a.mp4")) < 60


def test_a_bug_in_a_sink_is_raised_not_swallowed(tracker, tmp_path):
    from pipeline import open_sink, open_source, run_offline

    class Broken(_FailingSink):
        def write(self, result, annotated):
            raise RuntimeError("a bug in this sink")

    marks, broken = open_sink(tmp_path / "b.npz"), Broken(0)
    with open_source(require_media(*CLIP)) as source, pytest.raises(RuntimeError, match="a bug"):
        run_offline(source, tracker, [marks, broken], max_frames=20)
    # the run stops at the first frame; every sink is closed and the landmark file is whole with what was done
    assert broken.closed and len(np.load(tmp_path / "b.npz")["landmarks"]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["b.npz"]  # no temporary part files left behind


def test_config_changes_apply_on_the_processing_thread(tracker):
    from pipeline import PipelineConfig, open_source
    base = tracker.config
    frames = [f for f, _ in zip(open_source(require_media(*CLIP)), range(3))]
    tracker.process(frames[0])
    reloads = tracker.reloads
    # another thread asks for a provider change: nothing heavy happens on that thread
    t = threading.Thread(target=tracker.update_config, args=(base.with_changes(provider="auto", max_faces=2),))
    t.start()
    t.join(1.0)
    assert not t.is_alive() and tracker.reloads == reloads and tracker.config == base
    result = tracker.process(frames[1])  # applied before this frame, on this thread
    assert tracker.reloads == reloads + 1 and tracker.config.max_faces == 2 and result.faces
    tracker.update_config(base)
    tracker.process(frames[2])
    assert tracker.config == base
    assert PipelineConfig().needs_reload(PipelineConfig(detector="full"))
    assert not PipelineConfig().needs_reload(PipelineConfig(max_faces=4, smooth=False))


def test_annotate_never_mutates_the_result(tracker):
    from pipeline import OverlayStyle, annotate
    image = cv2.imread(str(require_media("photos", "face_recognition_obama.jpg")))
    result = tracker.detect_image(image)
    timings = dict(result.timings_ms)
    drawn, ms = annotate(result, OverlayStyle(), tracker.topology)
    assert ms > 0 and result.timings_ms == timings and "draw" not in result.timings_ms
    assert not result.frame_bgr.flags.writeable and np.array_equal(result.frame_bgr, image)
    assert np.abs(drawn.astype(int) - image).max() > 50


def test_folder_of_unrelated_photos_matches_each_photo_alone(tracker, tmp_path):
    """A folder is processed like MediaPipe's static image mode: no ROI is carried between photos."""
    import json
    photos = sorted(p for p in require_media("photos").iterdir() if p.suffix.lower() in {".jpg", ".png"})
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in photos:
        (folder / p.name).symlink_to(p)
    out = tmp_path / "faces.jsonl"
    proc = run_cli("process", folder, "--landmarks", out, "--max-faces", "5", "--provider", "cpu", "-q")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    from pipeline import PipelineConfig
    tracker.update_config(PipelineConfig(provider="cpu", threads=2, max_faces=5))
    with_face_folder = with_face_alone = 0
    for i, p in enumerate(photos):
        alone = tracker.detect_image(cv2.imread(str(p))).faces
        mine = [r for r in rows if r["frame"] == i and r["landmarks"] is not None]
        with_face_alone += bool(alone)
        with_face_folder += bool(mine)
        assert len(mine) == len(alone), p.name
        for face, row in zip(alone, mine):
            np.testing.assert_allclose(np.array(row["landmarks"], float), face.landmarks_px, atol=2e-3,
                                       err_msg=p.name)
    tracker.update_config(PipelineConfig(provider="cpu", threads=2))
    assert with_face_folder == with_face_alone >= 25


def test_folder_of_mixed_sizes_to_video_is_letterboxed(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    wide = cv2.imread(str(require_media("photos", "face_recognition_obama-720p.jpg")))
    tall = np.ascontiguousarray(np.rot90(wide)[:, :, :])  # same face turned: a portrait frame
    cv2.imwrite(str(folder / "a.jpg"), wide)
    cv2.imwrite(str(folder / "b.jpg"), tall)
    out = tmp_path / "v.mp4"
    proc = run_cli("process", folder, "-o", out, "--provider", "cpu", "-q")
    assert proc.returncode == 0, proc.stderr
    frames = _decoded(out)
    assert frames.shape[1:3] == wide.shape[:2]
    second = frames[1].astype(int)
    h, w = wide.shape[:2]
    scale = min(w / tall.shape[1], h / tall.shape[0])
    bar = (w - round(tall.shape[1] * scale)) // 2  # the portrait photo fits the height: bars left and right
    assert bar > 100
    assert second[:, : bar - 8].max() < 30 and second[:, w - bar + 8:].max() < 30
    assert second[:, w // 2 - 100: w // 2 + 100].std() > 20  # the photo itself, not squashed across the frame
    # squashing would have filled the whole width with the picture instead
    assert second[:, 8: bar - 8].std() < 5


def test_nothing_to_write_is_refused_up_front():
    proc = run_cli("process", require_media(*CLIP), "--provider", "cpu")
    assert_one_line_error(proc, "nothing to write", "--landmarks")


def test_live_runner_attach_and_detach_while_running(tracker, tmp_path):
    import time

    from pipeline import LiveRunner, open_sink, open_source
    runner = LiveRunner(open_source(require_media(*CLIP)), tracker, realtime=False, loop=True).start()
    try:
        deadline = time.perf_counter() + 60
        while runner.processed < 5 and time.perf_counter() < deadline:
            time.sleep(0.01)
        marks = open_sink(tmp_path / "live.npz")
        broken = _FailingSink(fail_at=3)
        runner.attach(marks)
        runner.attach(broken)
        start = runner.processed
        while runner.processed < start + 30 and time.perf_counter() < deadline:
            time.sleep(0.01)
        errors = runner.detach(marks)
        written = marks.frames
        assert errors == [] and 25 <= written <= runner.processed - start + 2
        sink, error = runner.sink_errors.get(timeout=5)
        assert sink is broken and broken.closed and "No space" in str(error)
        assert runner.running and runner.error is None  # tracking went on
        assert runner.take_latest() is not None or runner.processed > start + 30
    finally:
        assert runner.stop() == []
    assert not runner.running
    assert len(np.load(tmp_path / "live.npz")["landmarks"]) == written


def test_every_sink_kind_opens_whatever_was_imported_first():
    """Importing the file sinks first once hid osc://, ws:// and vcam from open_sink."""
    code = ("import pipeline.file_sinks\nfrom pipeline.sinks import sink_kinds\n"
            "schemes, suffixes = sink_kinds()\nprint(' '.join(schemes), '.npz' in suffixes)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["osc", "vcam", "ws", "True"]


def test_presets_set_the_submodels_and_an_explicit_set_wins():
    from main import build_parser
    from pipeline import Submodels
    from pipeline.config_cli import config_from_args
    parse = build_parser().parse_args
    assert config_from_args(parse(["process", "x.mp4", "--preset", "fast"])).submodels == Submodels.NONE
    assert config_from_args(parse(["--preset", "balanced", "process", "x.mp4"])).submodels == Submodels.LIPS
    explicit = config_from_args(parse(["process", "x.mp4", "--preset", "fast", "--submodels", "irises"]))
    assert explicit.submodels == Submodels.IRISES
    assert config_from_args(parse(["process", "x.mp4", "--no-iris"])).submodels == Submodels.LIPS | Submodels.EYES
