"""The window, offscreen (QT_QPA_PLATFORM=offscreen), on real clips from ../shared/media.

Each test names the issue item it guards (issue 9: worker threads, display-only mirror; issue 14: GUI
items 2-10). Settings go to a temporary INI file per test, never the user's own.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline.config import PipelineConfig
from tests.conftest import ROOT, require_media

pytestmark = pytest.mark.skipif(os.environ.get("QT_QPA_PLATFORM") != "offscreen",
                                reason="GUI tests run with QT_QPA_PLATFORM=offscreen (make test sets it)")
CLIP = ("videos", "LivePortrait_d10.mp4")  # 512x512, 30 fps, 14 s, one face


@pytest.fixture(scope="module")
def qapp():
    from PyQt6 import QtWidgets

    from app.launch import apply_theme
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    apply_theme(app)
    yield app


@pytest.fixture
def settings(tmp_path):
    from PyQt6 import QtCore
    return QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)


@pytest.fixture
def window_factory(qapp, settings, tmp_path):
    from app.main_window import MainWindow
    made = []

    def make(source, config=PipelineConfig(provider="cpu"), record_dir=None, resize=True):
        w = MainWindow(config, source, record_dir=record_dir or tmp_path / "out", settings=settings)
        if resize:
            w.resize(1280, 800)
        w.show()
        made.append(w)
        return w
    yield make
    for w in made:
        w.close()


def wait_for(qapp, predicate, timeout):
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        qapp.processEvents()
        if predicate():
            return True
        time.sleep(0.002)
    return False


def wait(qapp, seconds):
    wait_for(qapp, lambda: False, seconds)


def frames_after(qapp, window, n, timeout=20):
    target = window.frames_shown + n
    assert wait_for(qapp, lambda: window.frames_shown >= target, timeout), "no frames"


def activate(combo, text):
    """What a user's pick in a combo box does (``activated`` is only emitted for user interaction)."""
    combo.setCurrentText(text)
    combo.activated.emit(combo.currentIndex())


# ---- issue 9: models load off the GUI thread; the window stays responsive ------------------------------
def test_provider_switch_keeps_the_event_loop_responsive(qapp, window_factory, monkeypatch):
    from PyQt6 import QtCore

    import pipeline.face_tracker as ft
    threads = []
    real_load = ft._load

    def traced_load(config):  # records where sessions are built; the real models are loaded
        threads.append(threading.current_thread() is threading.main_thread())
        return real_load(config)
    monkeypatch.setattr(ft, "_load", traced_load)

    window = window_factory(str(require_media(*CLIP)))
    frames_after(qapp, window, 10)
    tracker = window.live.tracker
    reloads0 = tracker.reloads
    ticks = []
    timer = QtCore.QTimer(interval=5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    wait(qapp, 2.0)  # the same window playing, no switch: how noisy this machine's scheduling is right now
    baseline_ms = np.diff(ticks).max() * 1000
    combo = window.settings_panel.widgets["provider"]
    bound_ms = max(100.0, 1.5 * baseline_ms + 20)
    # < 100 ms; on a machine so overloaded that playback alone stalls the loop longer than that, the switch
    # must at least add nothing of its own (a model load on the GUI thread stalls it for over a second, on every
    # switch). A shared VM can stall any process once for ~130 ms (seen once in a full test run): a second try decides.
    worst = []
    for attempt in range(2):
        ticks.clear()
        for i, provider in enumerate(("auto", "cpu")):
            activate(combo, provider)
            done = reloads0 + 2 * attempt + i + 1
            assert wait_for(qapp, lambda done=done: tracker.reloads >= done, 20), provider
            frames_after(qapp, window, 5)
        gaps_ms = np.diff(ticks) * 1000
        worst.append(gaps_ms.max())
        print(f"\nevent loop during cpu->auto->cpu: {len(ticks)} ticks, median gap {np.median(gaps_ms):.1f} ms, "
              f"max {gaps_ms.max():.1f} ms (same window playing without a switch: max {baseline_ms:.1f} ms)")
        if worst[-1] < bound_ms:
            break
    timer.stop()
    assert min(worst) < bound_ms, worst
    assert window.live.tracker is tracker and tracker.config.provider == "cpu"
    assert threads and not any(threads), "sessions were built on the GUI thread"
    assert "CPU" in window.settings_panel.provider_label.text()

    # no source playing: a provider change builds a new tracker on the worker thread
    window.live.stop()
    ticks.clear()
    timer.start()
    activate(combo, "auto")
    assert wait_for(qapp, lambda: window.live.tracker is not None and window.live.tracker is not tracker, 20)
    timer.stop()
    idle_gap_ms = np.diff(ticks).max() * 1000
    print(f"event loop while a tracker loads with nothing playing: max gap {idle_gap_ms:.1f} ms")
    assert idle_gap_ms < max(100.0, 1.5 * baseline_ms + 20) and not any(threads)


# ---- issue 9: mirroring only at display time; issue 14.2 panel not clipped; 14.10 terminal report -----
class _WebcamLike:
    """A live source (like a webcam: frames paced in real time, ``live``) playing a real clip."""

    def __init__(self, clip):
        from pipeline.sources import FrameSource, VideoFileSource

        class Cam(FrameSource):
            live = True

            def __init__(self):
                self.video = VideoFileSource(clip)
                self.size, self.fps, self.description = self.video.size, 30.0, "webcam-like 512x512 @ 30 fps"

            def __iter__(self):
                for f in self.video:
                    time.sleep(1 / 30)
                    yield f

            def close(self):
                self.video.close()
        self.open = Cam


def test_recording_keeps_source_orientation_while_the_view_is_mirrored(qapp, window_factory, tmp_path, capsys):
    clip = require_media(*CLIP)
    deep = tmp_path / ("a-rather-long-folder-name-for-recordings-" * 3) / "and-another-level-of-folders-here"
    window = window_factory("7", record_dir=deep)  # no camera 7: then a webcam-like source
    window.live.open(_WebcamLike(clip).open, "webcam-like")
    frames_after(qapp, window, 10)
    assert window.sources.mirror_box.isChecked() and window.stack.view.mirror  # selfie view for live sources
    result, annotated = window.last
    assert np.array_equal(window.stack.view.displayed_bgr(), annotated[:, ::-1])  # the view is mirrored

    side = window.side
    width_before = side.width()
    window.record_panel.raw_box.setChecked(True)
    window.transport.record_button.setChecked(True)
    recording = window.recorder.active
    frames_after(qapp, window, 30)
    window.transport.record_button.setChecked(False)
    wait(qapp, 0.2)
    video = recording.video.path
    out = capsys.readouterr().out
    assert f"saved {video}" in out  # said on the terminal too
    assert window.record_panel.status.full_text().startswith(f"saved {video}")

    # 14.2: a long "saved ..." line is elided: the panel keeps its width, every button stays inside it
    from PyQt6 import QtWidgets
    assert side.width() == width_before
    page = side.currentWidget()
    for button in page.widget().findChildren(QtWidgets.QAbstractButton):
        if button.isVisible():
            right = button.mapTo(page.viewport(), button.rect().topRight()).x()
            assert right <= page.viewport().width(), button.text()

    with av.open(str(video)) as c:
        recorded = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    with av.open(str(video.with_name(video.stem + "-raw.mp4"))) as c:
        raw = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    marks = np.load(video.with_suffix(".npz"))
    assert len(recorded) == len(raw) == marks["landmarks"].shape[0] >= 25
    cap = cv2.VideoCapture(str(clip))
    source = [cap.read()[1] for _ in range(60)]
    # the raw recording is the source in its own orientation: some source frame matches it unflipped
    straight = min(np.abs(raw[0].astype(int) - s.astype(int)).mean() for s in source)
    flipped = min(np.abs(raw[0].astype(int) - s[:, ::-1].astype(int)).mean() for s in source)
    assert straight < 4 and flipped > 2 * straight + 4, (straight, flipped)
    # the annotated recording is the same picture plus overlays, not mirrored
    same = np.abs(recorded[0].astype(int) - raw[0].astype(int)).mean()
    mirrored = np.abs(recorded[0].astype(int) - raw[0][:, ::-1].astype(int)).mean()
    assert same < mirrored / 2, (same, mirrored)
    # landmarks in source orientation: the subject's right eye corner (33) is on the image's left
    lm = marks["landmarks"][:, 0]
    ok = np.isfinite(lm[:, [33, 263], 0]).all(axis=1)
    assert ok.any() and (lm[ok, 33, 0] < lm[ok, 263, 0]).all()


# ---- 14.3, 14.9 (title, camera-only controls, spelling), 14.10 refusal, drag and drop ---------------------
def test_no_camera_then_a_file_gets_the_full_video_pane(qapp, window_factory, tmp_path):
    from PyQt6 import QtCore, QtGui, QtWidgets
    out = tmp_path / "out"
    window = window_factory("7", record_dir=out)
    assert wait_for(qapp, lambda: window.stack.currentIndex() == 1, 10)
    assert "No camera found" in window.stack.message.text() and window.stack.open_button.isVisible()
    # 14.10: R with no source is refused with a message; nothing claims to be saved
    window.transport.record_button.setChecked(True)
    assert not window.transport.record_button.isChecked()
    assert "nothing to record" in window.banner.text()
    assert "saved" not in window.record_panel.status.full_text() and not out.exists()
    assert window.sources.camera_combo.isVisible()  # camera controls while the camera is what was asked for

    clip = require_media(*CLIP)
    window.open_file(str(clip))
    frames_after(qapp, window, 10)
    wait(qapp, 0.1)
    view = window.stack.view
    # 14.3: the video gets most of the left column, whatever the message page's size was
    assert view.height() >= 0.55 * window.left.height(), (view.height(), window.left.height())
    assert view.image_rect().height() >= 0.55 * window.left.height()
    # 14.9: the title names the source; camera-only controls hidden while a file plays; file controls shown
    assert clip.name in window.windowTitle()
    assert not window.sources.format_combo.isVisible() and window.transport.slider.isVisible()
    assert window.sources.loop_box.isVisible()
    texts = [w.text() for w in window.findChildren(QtWidgets.QAbstractButton)]
    assert "Tessellation" in texts and not any("Tesselation" in t for t in texts)

    # play once: the end of the file pauses on its last frame; Space plays it again
    window.sources.loop_box.setChecked(False)
    window.live.seek(13_000)
    assert wait_for(qapp, lambda: window.live.runner is None, 10) and window.transport.pause_button.isChecked()
    assert window.stack.view.paused and window.last is not None
    window.transport.pause_button.setChecked(False)
    frames_after(qapp, window, 3)
    window.sources.loop_box.setChecked(True)

    # drag and drop of a file onto the window opens it
    other = require_media("videos", "LivePortrait_d19.mp4")
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(other))])
    drop = QtGui.QDropEvent(QtCore.QPointF(50, 50), QtCore.Qt.DropAction.CopyAction, mime,
                            QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    assert wait_for(qapp, lambda: other.name in window.windowTitle(), 10)
    frames_after(qapp, window, 3)
    assert window.sources.recent_combo.itemData(0) == str(other.resolve())  # recent files, newest first


def test_recordings_default_to_the_users_video_and_picture_folders(qapp, settings):
    from PyQt6.QtCore import QStandardPaths as Std

    from app.main_window import MainWindow
    window = MainWindow(PipelineConfig(provider="cpu"), "7", settings=settings)  # no --record-dir given
    try:
        movies = Path(Std.writableLocation(Std.StandardLocation.MoviesLocation))
        pictures = Path(Std.writableLocation(Std.StandardLocation.PicturesLocation))
        assert window.record_folder == movies / "meshcam" and window.snapshot_folder == pictures / "meshcam"
        assert Path.cwd() not in (window.record_folder, window.snapshot_folder)
    finally:
        window.close()


# ---- 14.4 + 14.8: counters and plots reset per runner; rates from intervals; axes ------------------------
def test_rate_meter_uses_per_frame_intervals():
    from app.stats import RateMeter
    meter = RateMeter(window=15)
    meter.update(0.0, 0)
    meter.update(1 / 30, 1)
    assert np.isnan(meter.rate)  # one interval is not a rate: nothing shown rather than a ramp from 0
    t, n = 1 / 30, 1
    for i in range(30):
        t += 0.5 if i == 10 else 1 / 30  # one 0.5 s hitch
        n += 1
        meter.update(t, n)
        if i >= 2:
            assert abs(meter.rate - 30) < 0.5, (i, meter.rate)
    meter.update(t + 0.03, 0)  # a new reader's counter starts again at 0
    meter.update(t + 0.06, 1)
    assert np.isnan(meter.rate) or meter.rate > 0


def test_plots_reset_on_new_runner_and_keep_sane_axes(qapp, window_factory):
    from models.variants import Submodels
    window = window_factory(str(require_media(*CLIP)))
    frames_after(qapp, window, 10)
    t0, n0 = time.perf_counter(), window.live.runner.processed
    frames_after(qapp, window, 40)
    counted = (window.live.runner.processed - n0) / (time.perf_counter() - t0)
    plots = window.plots
    plots.redraw(time.perf_counter())
    t, fps = plots.fps.series("processed")
    finite = fps[np.isfinite(fps)]
    assert len(finite) > 20 and (finite > 0).all()  # never negative
    # the clip is paced at 30 fps, so no more can be processed; the median per-frame interval ignores hitches,
    # so it is at least the frames counted over wall time (which every hitch lowers)
    assert 0.9 * counted <= np.median(finite[-30:]) <= 34, (np.median(finite[-30:]), counted)
    lo, hi = plots.fps.viewRange()[1]
    assert lo == 0 and hi >= 30  # a +-1 fps wobble is not blown up to fill the plot
    assert plots.jitter.viewRange()[1][1] >= 1.0 and plots.latency.viewRange()[1][1] >= 10
    for p in plots.plots:
        assert not p.getAxis("left").autoSIPrefix and p.getAxis("bottom").style["showValues"]
        assert p.getAxis("bottom").labelText == "seconds"
        assert p.height() >= 150

    # irises off: the iris jitter line stops (NaN), it is not drawn from stale values
    window.settings_panel.toggle_submodels(Submodels.IRISES)
    assert wait_for(qapp, lambda: window.last and Submodels.IRISES & window.last[0].submodels == Submodels.NONE, 10)
    frames_after(qapp, window, 10)
    _, iris = plots.jitter.series("iris")
    assert np.isnan(iris[-5:]).all()

    # the signals panel (its own module) gets the first face's signals while its tab is shown
    if window.signals_panel is not None:
        window.plot_tabs.setCurrentIndex(1)
        frames_after(qapp, window, 10)
        _, pose = window.signals_panel.pose_series()
        assert np.isfinite(pose).all(axis=1).sum() >= 5
        window.plot_tabs.setCurrentIndex(0)

    # a new source (and the provider switch test's reload) starts the counters and plots from scratch
    t_switch = time.perf_counter()
    window.open_file(str(require_media("videos", "LivePortrait_d19.mp4")))
    frames_after(qapp, window, 20)
    t, fps = plots.fps.series("processed")
    assert (t >= t_switch).all() and (fps[np.isfinite(fps)] > 0).all()


# ---- 14.7: per-stage numbers drop when submodels are off; refined regions in their own colours ------------
def test_stage_numbers_and_colours_follow_the_submodels(qapp, window_factory):
    from app.overlays import bgr
    from app.plots import COLORS
    from models.variants import Submodels
    window = window_factory(str(require_media(*CLIP)))
    frames_after(qapp, window, 45)
    panel = window.settings_panel
    text = panel.stage_label.text()
    medians = window.stats.stage_medians()
    for stage in ("detect", "mesh", "signals", "smooth"):  # "draw" too once the runner reports it
        assert stage in text and np.isfinite(medians[stage]), stage
    import re
    shown = float(re.search(r"mesh</td><td align=right><b>([\d.]+)</b>", text).group(1))
    recent = window.stats.stage_ms["mesh"]  # the number on screen is a median of recent per-frame mesh times
    assert min(recent) - 0.05 <= shown <= max(recent) + 0.05, (shown, list(recent))
    style = window.live.runner.style
    assert style.lips_bgr == bgr(COLORS["overlay"]["lips_submodel"])
    for member, box in panel.submodel_boxes.items():
        assert "saves" in box.toolTip() and "ms" in box.toolTip(), member
    # every submodel off and on again, twice: the mesh stage is timed per submodel set, interleaved so the
    # machine's load drifts alike over both
    for _ in range(2):
        for on in (False, True):
            for box in panel.submodel_boxes.values():
                box.setChecked(on)
            wanted = Submodels.ALL if on else Submodels.NONE
            assert wait_for(qapp, lambda w=wanted: window.last[0].submodels == w, 10)
            frames_after(qapp, window, 25)
    for box in panel.submodel_boxes.values():
        box.setChecked(False)
    assert wait_for(qapp, lambda: window.last[0].submodels == Submodels.NONE, 10)
    frames_after(qapp, window, 5)
    full, mesh_only = window.stats.mesh_ms(Submodels.ALL), window.stats.mesh_ms(Submodels.NONE)
    full_q1, mesh_only_q1 = window.stats.mesh_ms(Submodels.ALL, 25), window.stats.mesh_ms(Submodels.NONE, 25)
    print(f"\nmesh stage per face, median: {full:.2f} ms with every submodel, {mesh_only:.2f} ms mesh only; "
          f"lower quartile {full_q1:.2f} / {mesh_only_q1:.2f}")
    assert mesh_only_q1 < full_q1  # the lower quartile: the machine's load (other processes, the GIL) inflates it least
    style = window.live.runner.style
    grey = bgr(COLORS["overlay"]["mesh_only"])
    assert style.lips_bgr == grey and style.eye_bgr == grey
    # the drawn lip line really is in the mesh-only colour now
    result, annotated = window.last
    lips = result.faces[0].landmarks_px[[61, 291, 0, 17], :2]
    near = [annotated[max(0, int(y) - 2):int(y) + 3, max(0, int(x) - 2):int(x) + 3].reshape(-1, 3) for x, y in lips]
    assert any((np.abs(px.astype(int) - grey).sum(axis=1) < 60).any() for px in near)


# ---- 14.5: a scripted run with a source that cannot be opened exits with one line -------------------------
@pytest.mark.parametrize("source", ["/no/such/clip.mp4", "7"])
def test_scripted_run_with_a_bad_source_exits_nonzero(tmp_path, source):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "--source", source, "--provider", "cpu",
                           "--screenshot", str(tmp_path / "x.png"), "--quit-after-frames", "5"],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)  # not an abort at exit (134)
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("meshcam: error")]
    assert len(errors) == 1 and ("no such file" in errors[0] or "camera 7" in errors[0]), proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.png").exists()


# ---- 14.9 layout and look; 14.10 snapshot; desktop: settings remembered, menus, outputs -------------------
def _contrast(image) -> float:
    gray = image.convertToFormat(image.Format.Format_Grayscale8)
    a = np.frombuffer(gray.constBits().asstring(gray.sizeInBytes()), np.uint8).reshape(gray.height(), -1)
    a = a[:, :gray.width()].astype(int)
    return float(np.percentile(a, 99) - np.percentile(a, 1))


def test_look_pause_snapshot_outputs_and_remembered_settings(qapp, window_factory, tmp_path, settings):
    from PyQt6 import QtWidgets

    import pipeline
    from app import persist
    out = tmp_path / "shots"
    window = window_factory(str(require_media(*CLIP)), record_dir=out, resize=False)
    frames_after(qapp, window, 10)
    area = window.screen().availableGeometry()  # 800x800 offscreen: smaller than the 1400x860 of old
    assert area.contains(window.geometry()), (area, window.geometry())

    # pause: amber, not the record red, and PAUSED on the video; step while paused shows one more frame
    t = window.transport
    t.pause_button.setChecked(True)
    t.record_button.setChecked(True)
    wait(qapp, 0.2)
    pause_rgb = t.pause_button.grab().toImage().pixelColor(8, t.pause_button.height() // 2)
    record_rgb = t.record_button.grab().toImage().pixelColor(8, t.record_button.height() // 2)
    assert pause_rgb.red() > 150 and pause_rgb.green() > 100 and record_rgb.green() < 80, (pause_rgb.name(),
                                                                                           record_rgb.name())
    t.record_button.setChecked(False)
    assert window.stack.view.paused
    shown = -1
    while shown != window.frames_shown:  # a frame already being tracked when Pause was pressed may still come
        shown = window.frames_shown
        wait(qapp, 0.4)
    t.step_button.click()
    assert wait_for(qapp, lambda: window.frames_shown == shown + 1, 5)
    wait(qapp, 0.3)
    assert window.frames_shown == shown + 1
    view_image = window.stack.view.grab().toImage()
    top = [view_image.pixelColor(x, 30) for x in range(view_image.width() // 2 - 40, view_image.width() // 2 + 40)]
    assert any(c.red() > 200 and c.green() > 150 and c.blue() < 120 for c in top)  # the amber PAUSED sign

    # seek while paused: the next stepped frame comes from there
    window.live.seek(10_000)
    assert wait_for(qapp, lambda: window.live.runner.source.position_ms > 9_000, 5)

    # S: the annotated frame as PNG and its landmarks beside it
    window.snapshot()
    pngs = list(out.glob("*.png"))
    assert len(pngs) == 1 and cv2.imread(str(pngs[0])).shape == (512, 512, 3)
    marks = np.load(pngs[0].with_suffix(".npz"))
    assert marks["landmarks"].shape[:1] == (1,) and np.isfinite(marks["landmarks"][0, 0, :468]).all()

    # unchecked checkboxes and spin-box arrows are visible on the dark theme
    box = window.record_panel.raw_box
    assert not box.isChecked() and _contrast(box.grab(box.rect().adjusted(0, 0, -box.width() + 22, 0)).toImage()) > 90
    spin = window.settings_panel.widgets["smooth_beta"]
    arrows = spin.grab(spin.rect().adjusted(spin.width() - 18, 0, 0, 0)).toImage()
    assert _contrast(arrows) > 90

    # a bad output address, or a port in use, is shown on its row; tracking goes on
    row = window.outputs.rows["osc"]
    row.address.setText("osc://127.0.0.1:99999")
    row.box.setChecked(True)
    assert "⚠" in row.status.text() and row.status.property("level") == "error"
    row.box.setChecked(False)
    row.address.setText("osc://127.0.0.1:39539")
    row.box.setChecked(True)
    assert row.sink is not None and row.status.property("level") != "error", row.status.text()
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ws = window.outputs.rows["ws"]
        ws.address.setText(f"ws://127.0.0.1:{taken.getsockname()[1]}")
        ws.box.setChecked(True)
        assert ws.sink is None and "⚠" in ws.status.text(), ws.status.text()
    t.pause_button.setChecked(False)
    frames_after(qapp, window, 5)
    window.outputs.lipstick_box.setChecked(True)
    assert wait_for(qapp, lambda: window.live.runner.style.lipstick is not None, 2)

    # menus: File/View/Help with the usual shortcuts; About names the version
    acts = window.actions_
    assert acts["quit"].shortcut().toString() == "Ctrl+Q" and acts["open"].shortcut().toString() == "Ctrl+O"
    assert {"record", "snapshot", "camera", "plots", "panel", "fullscreen", "about", "keys"} <= set(acts)
    assert pipeline.__version__

    # settings remembered: change some, close, read them back as the next start would
    panel = window.settings_panel
    panel.widgets["smooth_beta"].setValue(12.0)
    panel.overlay_boxes["tessellation"].setChecked(True)
    window.sources.mirror_box.setChecked(True)
    window.close()
    assert persist.load_config(settings).smooth_beta == 12.0
    assert persist.load_style(settings).tessellation
    assert persist.get_bool(settings, "view/mirror_file", False)
    assert settings.value("outputs/osc/address") == "osc://127.0.0.1:39539"
    assert persist.get_bool(settings, "outputs/osc/on", False)
    assert isinstance(settings.value("window/geometry"), (bytes, type(window.saveGeometry())))
    assert QtWidgets.QApplication.instance() is qapp


def test_provider_fallback_is_a_warning(qapp, window_factory):
    """Asking for CUDA where it is unusable runs on the CPU and says so in the warning colour."""
    from models.runtime import choose_provider
    if choose_provider("cuda").name == "cuda":
        pytest.skip("CUDA is usable here: no fallback to show")
    window = window_factory(str(require_media(*CLIP)), config=PipelineConfig(provider="cuda"))
    frames_after(qapp, window, 3)
    label = window.settings_panel.provider_label
    assert label.property("warn") is True and label.text().startswith("CPU")


# ---- an unexpected exception and Ctrl-C both finalise the recording and say what was saved ---------------------
def test_exception_and_ctrl_c_finalise_the_recording(qapp, window_factory, tmp_path, capsys):
    import signal

    from PyQt6 import QtWidgets

    from app.launch import install_exit_paths
    window = window_factory(str(require_media(*CLIP)), record_dir=tmp_path / "rec")
    frames_after(qapp, window, 5)
    saved = (sys.excepthook, signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    try:
        install_exit_paths(qapp, window)
        window.transport.record_button.setChecked(True)
        first = window.recorder.active.video.path
        frames_after(qapp, window, 10)
        try:
            raise RuntimeError("a bug somewhere in a slot")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
        assert window.recorder.active is None and f"saved {first}" in capsys.readouterr().out
        boxes = [w for w in qapp.topLevelWidgets() if isinstance(w, QtWidgets.QMessageBox) and w.isVisible()]
        assert boxes and "a bug somewhere" in boxes[0].text()
        boxes[0].close()
        window.transport.record_button.setChecked(True)
        second = window.recorder.active.video.path
        frames_after(qapp, window, 10)
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # what Ctrl-C in the terminal runs
        assert not window.isVisible() and window.recorder.active is None
        assert f"saved {second}" in capsys.readouterr().out
        with av.open(str(second)) as c:
            assert sum(1 for _ in c.decode(video=0)) >= 5
    finally:
        sys.excepthook = saved[0]
        signal.signal(signal.SIGINT, saved[1])
        signal.signal(signal.SIGTERM, saved[2])


# ---- camera faults: the recording is finalised, the window says so and resumes ----------------------------
class _FlakyCamera:
    """Fault injection: a 'camera' that plays a real clip, fails after ``fail_after`` frames, stays
    unplugged for ``absent_tries`` reconnect attempts, then comes back."""

    def __init__(self, clip, fail_after=40, absent_tries=3):
        self.clip, self.fail_after, self.absent_tries = clip, fail_after, absent_tries
        self.opened = self.failed_opens = 0

    def open(self):
        from pipeline.errors import InputError
        from pipeline.sources import FrameSource, VideoFileSource
        if self.opened >= 1 and self.failed_opens < self.absent_tries:
            self.failed_opens += 1
            raise InputError("camera 0 could not be opened (not connected, or in use by another app)")
        self.opened += 1
        flaky, first = self, self.opened == 1

        class Cam(FrameSource):
            live = True

            def __init__(self):
                self.video = VideoFileSource(flaky.clip)
                self.size, self.fps, self.description = self.video.size, 30.0, "fake camera 0"

            def __iter__(self):
                for i, f in enumerate(self.video):
                    if first and i == flaky.fail_after:
                        raise InputError("camera 0 stopped delivering frames (unplugged?)")
                    time.sleep(1 / 30)
                    yield f

            def close(self):
                self.video.close()
        return Cam()


def test_camera_unplugged_mid_recording_is_survived(qapp, window_factory, tmp_path):
    from pipeline.sources import ReconnectingCamera
    flaky = _FlakyCamera(require_media(*CLIP))
    window = window_factory("7", record_dir=tmp_path / "rec")
    window.live.open(lambda: ReconnectingCamera(flaky.open, retry_s=0.1), "fake camera")
    frames_after(qapp, window, 10)
    window.transport.record_button.setChecked(True)
    recording = window.recorder.active
    assert recording is not None
    assert wait_for(qapp, lambda: window.recorder.active is None, 20)  # unplugged: finalised at once
    assert "camera lost" in window.banner.text() and f"saved {recording.video.path}" in window.banner.text()
    assert wait_for(qapp, lambda: "retrying" in window.sources.description.full_text()
                    or flaky.opened == 2, 5)
    shown = window.frames_shown
    frames_after(qapp, window, 10)  # ... and resumed
    assert window.frames_shown > shown and flaky.failed_opens == 3 and flaky.opened == 2
    with av.open(str(recording.video.path)) as c:
        assert sum(1 for _ in c.decode(video=0)) > 0
    assert Path(recording.video.path).stat().st_size > 0
