"""The meshcam window: live video with overlays, controls, plots, recording. Renders only the newest
result of the pipeline's LiveRunner (polled by a timer); never calls inference itself."""
from __future__ import annotations

import json
import logging
import signal
import sys
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from app.system_check import check_display
from pipeline.config import PipelineConfig
from pipeline.drawing import OverlayStyle
from pipeline.errors import MeshcamError, OutputError
from pipeline.jitter import JitterMeter
from pipeline.recording import RecordingSession

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parents[1] / "assets"
COLORS = json.loads((ASSETS / "colors.json").read_text())
STAGES = ("detect", "mesh", "smooth", "draw")


def _qt():
    from PyQt6 import QtCore, QtGui, QtWidgets
    return QtCore, QtGui, QtWidgets


def build_window_class():
    """Defined lazily so importing this module does not require a display or Qt."""
    QtCore, QtGui, QtWidgets = _qt()
    import pyqtgraph as pg

    from app.plots import RingPlot
    from pipeline.engine import load_engine
    from pipeline.runner import LiveRunner, Pipeline
    from pipeline.sources import list_cameras, open_source

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

    class MainWindow(QtWidgets.QMainWindow):
        def __init__(self, config: PipelineConfig, source: str | None, screenshot: str | None = None,
                     quit_after: int | None = None, record_dir: Path | None = None):
            super().__init__()
            self.setWindowTitle("meshcam")
            self.setWindowIcon(QtGui.QIcon(str(ASSETS / "icon.svg")))
            self.config = config
            self.style_ = OverlayStyle()
            self.engine = load_engine(config.provider, config.threads, config.min_detection_confidence)
            self.pipeline = Pipeline(self.engine, config, self.style_)
            self.topology = self.pipeline.topology
            self.jitter = JitterMeter(self.topology.region_indices())
            self.runner: LiveRunner | None = None
            self.recording: RecordingSession | None = None
            self.record_dir = record_dir or Path.cwd()
            self.source_spec: str | None = None
            self.source_desc = ""
            self.frames_shown = 0
            self.screenshot, self.quit_after = screenshot, quit_after
            self.exit_code = 0
            self._arrivals: deque = deque(maxlen=45)
            self._captures: deque = deque(maxlen=45)
            self._last_result = None
            self._last_annotated = None
            self._last_plot = 0.0
            self._paused = False
            self._build_ui()
            self._build_shortcuts()
            self.timer = QtCore.QTimer(self)
            self.timer.setInterval(8)
            self.timer.timeout.connect(self._poll)
            self.timer.start()
            self.open_source(source if source is not None else "0")

        # ---- layout ---------------------------------------------------------------------------
        def _build_ui(self) -> None:
            self.view = pg.GraphicsLayoutWidget()
            self.view.setBackground("#0d1016")
            self.viewbox = self.view.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
            self.image = pg.ImageItem(axisOrder="row-major")
            self.viewbox.addItem(self.image)
            self.banner = QtWidgets.QLabel("", objectName="banner")
            self.banner.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            self.banner.setWordWrap(True)
            self.banner_button = QtWidgets.QPushButton("Open video or image…")
            self.banner_button.clicked.connect(self.choose_file)
            banner_box = QtWidgets.QWidget()
            bl = QtWidgets.QVBoxLayout(banner_box)
            bl.addStretch()
            bl.addWidget(self.banner)
            bl.addWidget(self.banner_button, alignment=QtCore.Qt.AlignmentFlag.AlignCenter)
            bl.addStretch()
            self.stack = QtWidgets.QStackedWidget()
            self.stack.addWidget(self.view)
            self.stack.addWidget(banner_box)

            colors = COLORS
            self.fps_plot = RingPlot("Frame rate", "fps", {"processed": colors["fps_processed"],
                                                           "capture": colors["fps_capture"]})
            self.latency_plot = RingPlot("Stage latency", "ms", {k: colors["stages"][k] for k in STAGES})
            self.jitter_plot = RingPlot("Jitter (RMS after head-motion removal)", "% IOD",
                                        dict(colors["regions"]))
            plots = QtWidgets.QWidget()
            pl = QtWidgets.QHBoxLayout(plots)
            pl.setContentsMargins(0, 0, 0, 0)
            for p in (self.fps_plot, self.latency_plot, self.jitter_plot):
                pl.addWidget(p)

            left = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
            left.addWidget(self.stack)
            left.addWidget(plots)
            left.setStretchFactor(0, 4)
            left.setStretchFactor(1, 1)

            panel = QtWidgets.QScrollArea()
            panel.setWidgetResizable(True)
            panel.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            panel.setWidget(self._controls())
            panel.setMinimumWidth(300)
            panel.setMaximumWidth(360)

            central = QtWidgets.QSplitter()
            central.addWidget(left)
            central.addWidget(panel)
            central.setStretchFactor(0, 1)
            self.setCentralWidget(central)

            sb = self.statusBar()
            self.status_provider = QtWidgets.QLabel()
            self.status_res = QtWidgets.QLabel()
            self.status_faces = QtWidgets.QLabel()
            self.status_drops = QtWidgets.QLabel()
            for w in (self.status_provider, self.status_res, self.status_faces, self.status_drops):
                sb.addPermanentWidget(w)
            self._update_provider_label()
            self.resize(1400, 860)

        def _controls(self) -> QtWidgets.QWidget:
            c = self.config
            w = QtWidgets.QWidget()
            layout = QtWidgets.QVBoxLayout(w)

            src = QtWidgets.QGroupBox("Source")
            sl = QtWidgets.QGridLayout(src)
            self.camera_combo = QtWidgets.QComboBox()
            self._fill_cameras()
            self.camera_combo.activated.connect(lambda i: self._open_camera())
            self.size_combo = QtWidgets.QComboBox()
            self.size_combo.addItems(["640x480", "1280x720", "1920x1080"])
            self.size_combo.setCurrentText("1280x720")
            self.size_combo.activated.connect(lambda i: self._open_camera())
            refresh = QtWidgets.QPushButton("↻")
            refresh.setToolTip("look for cameras again")
            refresh.clicked.connect(self._fill_cameras)
            open_btn = QtWidgets.QPushButton("Open file…")
            open_btn.clicked.connect(self.choose_file)
            self.source_label = QtWidgets.QLabel("")
            self.source_label.setWordWrap(True)
            self.mirror_box = QtWidgets.QCheckBox("Mirror (M)")
            self.mirror_box.toggled.connect(lambda on: self._set_style(mirror=on))
            sl.addWidget(self.camera_combo, 0, 0)
            sl.addWidget(self.size_combo, 0, 1)
            sl.addWidget(refresh, 0, 2)
            sl.addWidget(open_btn, 1, 0, 1, 3)
            sl.addWidget(self.source_label, 2, 0, 1, 3)
            sl.addWidget(self.mirror_box, 3, 0, 1, 3)
            layout.addWidget(src)

            sub = QtWidgets.QGroupBox("Submodels (skipped when off)")
            subl = QtWidgets.QVBoxLayout(sub)
            self.sub_boxes = {}
            for key, label in (("lips", "Lips (1)"), ("eyes", "Eyes (2)"), ("iris", "Irises (3)")):
                box = QtWidgets.QCheckBox(label)
                box.setChecked(getattr(c, key))
                box.toggled.connect(lambda on, k=key: self._set_config(**{k: on}))
                subl.addWidget(box)
                self.sub_boxes[key] = box
            layout.addWidget(sub)

            ov = QtWidgets.QGroupBox("Overlays")
            ovl = QtWidgets.QVBoxLayout(ov)
            for key, label in (("contours", "Contours"), ("irises", "Iris circles"), ("lips_fill", "Lip fill"),
                               ("tesselation", "Tesselation"), ("hud", "HUD text")):
                box = QtWidgets.QCheckBox(label)
                box.setChecked(getattr(self.style_, key))
                box.toggled.connect(lambda on, k=key: self._set_style(**{k: on}))
                ovl.addWidget(box)
            layout.addWidget(ov)

            sm = QtWidgets.QGroupBox("Smoothing (One Euro)")
            sml = QtWidgets.QFormLayout(sm)
            self.smooth_box = QtWidgets.QCheckBox("On")
            self.smooth_box.setChecked(c.smooth)
            self.smooth_box.toggled.connect(lambda on: self._set_config(smooth=on))
            sml.addRow(self.smooth_box)
            for key, label, lo, hi, step in (("smooth_min_cutoff", "min cutoff (Hz)", 0.01, 30.0, 0.1),
                                             ("smooth_beta", "beta", 0.0, 500.0, 1.0),
                                             ("smooth_d_cutoff", "speed cutoff (Hz)", 0.1, 30.0, 0.1)):
                spin = QtWidgets.QDoubleSpinBox()
                spin.setRange(lo, hi)
                spin.setSingleStep(step)
                spin.setDecimals(2)
                spin.setValue(getattr(c, key))
                spin.valueChanged.connect(lambda v, k=key: self._set_config(**{k: v}))
                sml.addRow(label, spin)
            layout.addWidget(sm)

            tr = QtWidgets.QGroupBox("Tracking")
            trl = QtWidgets.QFormLayout(tr)
            self.faces_spin = QtWidgets.QSpinBox()
            self.faces_spin.setRange(1, 20)
            self.faces_spin.setValue(c.max_faces)
            self.faces_spin.valueChanged.connect(lambda v: self._set_config(max_faces=v))
            trl.addRow("max faces", self.faces_spin)
            self.provider_combo = QtWidgets.QComboBox()
            self.provider_combo.addItems(["auto", "cpu", "cuda"])
            self.provider_combo.setCurrentText(c.provider)
            self.provider_combo.activated.connect(lambda i: self._set_provider(self.provider_combo.currentText()))
            trl.addRow("provider", self.provider_combo)
            self.provider_label = QtWidgets.QLabel("", objectName="provider")
            self.provider_label.setWordWrap(True)
            trl.addRow("running on", self.provider_label)
            layout.addWidget(tr)

            rec = QtWidgets.QGroupBox("Record")
            rl = QtWidgets.QGridLayout(rec)
            self.record_btn = QtWidgets.QPushButton("● Record (R)", objectName="record")
            self.record_btn.setCheckable(True)
            self.record_btn.toggled.connect(self._toggle_record)
            self.landmarks_box = QtWidgets.QCheckBox("also save landmarks (.npz)")
            self.raw_box = QtWidgets.QCheckBox("also save the raw video")
            save_as = QtWidgets.QPushButton("Record to…")
            save_as.clicked.connect(self._record_to)
            self.record_label = QtWidgets.QLabel("not recording")
            self.pause_btn = QtWidgets.QPushButton("Pause (Space)")
            self.pause_btn.setCheckable(True)
            self.pause_btn.toggled.connect(self._set_paused)
            shot_btn = QtWidgets.QPushButton("Screenshot (S)")
            shot_btn.clicked.connect(lambda: self.save_snapshot())
            rl.addWidget(self.record_btn, 0, 0)
            rl.addWidget(self.pause_btn, 0, 1)
            rl.addWidget(save_as, 1, 0, 1, 2)
            rl.addWidget(self.landmarks_box, 2, 0, 1, 2)
            rl.addWidget(self.raw_box, 3, 0, 1, 2)
            rl.addWidget(self.record_label, 4, 0, 1, 2)
            rl.addWidget(shot_btn, 5, 0, 1, 2)
            layout.addWidget(rec)
            layout.addStretch()
            return w

        def _build_shortcuts(self) -> None:
            def bind(key, fn):
                QtGui.QShortcut(QtGui.QKeySequence(key), self, activated=fn)
            bind("Space", lambda: self.pause_btn.toggle())
            bind("R", lambda: self.record_btn.toggle())
            bind("S", lambda: self.save_snapshot())
            bind("M", lambda: self.mirror_box.toggle())
            bind("1", lambda: self.sub_boxes["lips"].toggle())
            bind("2", lambda: self.sub_boxes["eyes"].toggle())
            bind("3", lambda: self.sub_boxes["iris"].toggle())

        # ---- actions --------------------------------------------------------------------------
        def _set_config(self, **changes) -> None:
            try:
                self.config = self.config.with_changes(**changes)
            except ValueError as e:
                self.statusBar().showMessage(str(e), 5000)
                return
            self.pipeline.update_config(self.config)

        def _set_style(self, **changes) -> None:
            self.style_ = replace(self.style_, **changes)
            self.pipeline.update_style(self.style_)

        def _set_provider(self, provider: str) -> None:
            if provider == self.config.provider:
                return
            self.config = self.config.with_changes(provider=provider)
            spec = self.source_spec
            self._stop_runner()
            self.engine = load_engine(provider, self.config.threads, self.config.min_detection_confidence)
            self.pipeline = Pipeline(self.engine, self.config, self.style_)
            self._update_provider_label()
            if spec is not None:
                self.open_source(spec)

        def _update_provider_label(self) -> None:
            p = self.engine.provider
            self.provider_label.setText(f"{p.name.upper()}: {p.reason}")
            self.status_provider.setText(f"  {p.name.upper()}  ")

        def _fill_cameras(self) -> None:
            self.camera_combo.clear()
            cams = list_cameras()
            for i in cams:
                self.camera_combo.addItem(f"Camera {i}", i)
            if not cams:
                self.camera_combo.addItem("no camera found", None)

        def _open_camera(self) -> None:
            index = self.camera_combo.currentData()
            if index is not None:
                self.open_source(str(index))

        def choose_file(self) -> None:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(
                self, "Open video or image", str(Path.cwd()),
                "Media (*.mp4 *.mkv *.avi *.mov *.webm *.jpg *.jpeg *.png *.bmp);;All files (*)")
            if path:
                self.open_source(path)

        def open_source(self, spec) -> None:
            """Open a source string (camera index, path) or an already opened FrameSource."""
            self._stop_runner()
            self.jitter = JitterMeter(self.topology.region_indices())
            self.pipeline.tracker.reset()
            self._faults_seen = 0
            try:
                if isinstance(spec, str):
                    w, h = (int(v) for v in self.size_combo.currentText().split("x"))
                    source = open_source(spec, camera_size=(w, h))
                else:
                    source, spec = spec, getattr(spec, "description", "source")
            except MeshcamError as e:
                self.source_spec = None
                what = "No camera found" if spec.isdigit() else "Cannot open this source"
                self.banner.setText(f"{what}\n{e}")
                self.stack.setCurrentIndex(1)
                self.source_label.setText(str(e))
                return
            self.source_spec = spec
            self.source_desc = source.description
            self.source_label.setText(source.description)
            self.status_res.setText(f"  {source.size[0]}x{source.size[1]}  ")
            self.stack.setCurrentIndex(0)
            self.mirror_box.setChecked(source.live)  # selfie view for webcams by default
            self.runner = LiveRunner(self.pipeline, source, realtime=True, loop=not source.live,
                                     hud=self._hud, on_result=self._on_result)
            self.runner.reader.set_paused(self._paused)

        def _stop_runner(self) -> None:
            if self.runner is not None:
                self.runner.stop()
                self.runner = None

        def _hud(self, result) -> list[str]:
            fps = self._fps()
            return [f"{fps:4.1f} fps  {len(result.faces)} face(s)  {self.engine.provider.name.upper()}"]

        def _on_result(self, result, annotated) -> None:
            rec = self.recording  # runs on the inference thread: only hand the frame over
            if rec is not None:
                rec.write(result, annotated)

        def _set_paused(self, paused: bool) -> None:
            self._paused = paused
            if self.runner is not None:
                self.runner.reader.set_paused(paused)

        def _record_to(self) -> None:
            if self.recording is not None:
                return
            path, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, "Record to", str(self.record_dir / f"meshcam-{time.strftime('%Y%m%d-%H%M%S')}.mp4"),
                "MP4 video (*.mp4);;Matroska video (*.mkv)")
            if path:
                self._next_record_path = Path(path)
                self.record_btn.setChecked(True)

        def _toggle_record(self, on: bool) -> None:
            if on:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                chosen = getattr(self, "_next_record_path", None)
                self._next_record_path = None
                video = chosen or self.record_dir / f"meshcam-{stamp}.mp4"
                if not video.suffix:
                    video = video.with_suffix(".mp4")
                marks = video.with_suffix(".npz") if self.landmarks_box.isChecked() else None
                raw = video.with_name(f"{video.stem}-raw{video.suffix}") if self.raw_box.isChecked() else None
                fps = self.runner.source.fps if self.runner else 30.0
                try:
                    # a file the user picked in the save dialog was confirmed there: replacing it is intended
                    self.recording = RecordingSession(video, fps, marks, self.config.max_faces,
                                                      overwrite=chosen is not None, raw_path=raw)
                except OutputError as e:
                    self.record_btn.setChecked(False)
                    self.statusBar().showMessage(str(e), 8000)
                    return
                self.record_label.setText(f"recording {video.name}")
            else:
                self.stop_recording()

        def stop_recording(self) -> None:
            rec, self.recording = self.recording, None
            if rec is None:
                return
            rec.stop()
            msg = (f"recording failed: {rec.error}" if rec.error else
                   f"saved {rec.video.path} ({rec.video.frames_written} frames, {rec.elapsed_s:.1f} s)")
            self.record_label.setText(msg)
            self.statusBar().showMessage(msg, 8000)
            if self.record_btn.isChecked():
                self.record_btn.blockSignals(True)
                self.record_btn.setChecked(False)
                self.record_btn.blockSignals(False)

        def save_snapshot(self, path: str | None = None) -> None:
            if self._last_annotated is None:
                return
            path = path or str(self.record_dir / f"meshcam-{time.strftime('%Y%m%d-%H%M%S')}.png")
            if cv2.imwrite(path, self._last_annotated):
                self.statusBar().showMessage(f"saved {path}", 5000)

        # ---- the timer: newest result only ----------------------------------------------------
        def _fps(self) -> float:
            if len(self._arrivals) < 2:
                return 0.0
            span = self._arrivals[-1] - self._arrivals[0]
            return (len(self._arrivals) - 1) / span if span > 0 else 0.0

        def _poll(self) -> None:
            runner = self.runner
            if runner is None:
                return
            if runner.error is not None and not runner.running:
                self._source_failed(runner.error)
                return
            self._check_source_health(runner)
            latest = runner.take_latest()
            if latest is None:
                return
            result, annotated = latest
            self._arrivals.append(time.perf_counter())
            self._last_result, self._last_annotated = result, annotated
            self.image.setImage(cv2.cvtColor(annotated, cv2.COLOR_BGR2RGB), autoLevels=False, levels=(0, 255))
            self.frames_shown += 1
            face = result.faces[0] if result.faces else None
            jitter = self.jitter.update(face.face_id if face else None, face.landmarks_px if face else None)
            self.fps_plot.push({"processed": self._fps(), "capture": self._capture_fps(runner)})
            self.latency_plot.push({k: result.timings_ms.get(k, np.nan) for k in STAGES})
            self.jitter_plot.push(jitter)
            now = time.perf_counter()
            if now - self._last_plot > 0.1:  # plots at 10 Hz are plenty and cheap
                self._last_plot = now
                for p in (self.fps_plot, self.latency_plot, self.jitter_plot):
                    p.redraw()
                self.status_faces.setText(f"  faces: {len(result.faces)}  ")
                self.status_drops.setText(f"  dropped: {runner.dropped}  ")
                if self.recording is not None:
                    if self.recording.error is not None:
                        self.stop_recording()
                    else:
                        self.record_label.setText(f"● {self.recording.video.path.name}  "
                                                  f"{self.recording.elapsed_s:5.1f} s")
            if self.quit_after is not None and self.frames_shown >= self.quit_after:
                self._finish_scripted_run()

        def _capture_fps(self, runner) -> float:
            """Frames the source delivered per second (processed or dropped), over the last ~1.5 s."""
            r = runner.reader
            self._captures.append((time.perf_counter(), r.delivered + r.dropped))
            (t0, n0), (t1, n1) = self._captures[0], self._captures[-1]
            return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

        def _check_source_health(self, runner) -> None:
            """A camera that drops out: finalise any recording, say so, keep the window alive."""
            source = runner.source
            faults = getattr(source, "faults", 0)
            if faults > getattr(self, "_faults_seen", 0):
                self._faults_seen = faults
                if self.recording is not None:
                    self.stop_recording()
                    self.statusBar().showMessage(f"camera lost: {self.record_label.text()}", 10000)
            status = getattr(source, "status", "")
            if status:
                self.source_label.setText(f"⚠ {status}")
            elif self.source_label.text().startswith("⚠"):
                self.source_label.setText(source.description)

        def _source_failed(self, error: Exception) -> None:
            self.stop_recording()
            self._stop_runner()
            self.banner.setText(f"The source stopped: {error}")
            self.stack.setCurrentIndex(1)

        def _finish_scripted_run(self) -> None:
            self.quit_after = None
            if self.screenshot:
                for p in (self.fps_plot, self.latency_plot, self.jitter_plot):
                    p.redraw()
                QtWidgets.QApplication.processEvents()
                if not self.grab().save(self.screenshot):
                    log.error("could not save screenshot %s", self.screenshot)
                    self.exit_code = 2
            self.close()

        def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
            self.timer.stop()
            self.stop_recording()  # finalise before anything else can go wrong
            self._stop_runner()
            super().closeEvent(event)

    return MainWindow


def run_app(args, config: PipelineConfig) -> int:
    """Open the window (webcam 0 unless --source) and run the Qt event loop."""
    problem = check_display()
    if problem:
        raise MeshcamError(problem)
    QtCore, QtGui, QtWidgets = _qt()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("meshcam")
    app.setStyleSheet((ASSETS / "style.qss").read_text())
    window_cls = build_window_class()
    window = window_cls(config, args.source, args.screenshot, args.quit_after_frames)
    window.show()
    # Ctrl-C in the terminal closes the window (finalising any recording); the timer lets Python
    # run its signal handler while Qt's loop is in C++.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    signal.signal(signal.SIGTERM, lambda *_: window.close())
    wake = QtCore.QTimer()
    wake.start(200)
    wake.timeout.connect(lambda: None)
    app.exec()
    return window.exit_code
