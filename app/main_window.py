"""The meshcam window: composes the panels, routes their requests to the live session and shows its results.
Never loads a model or runs inference itself (see app/live_controller.py)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PyQt6 import QtCore, QtGui, QtWidgets

from app import persist
from app.cameras import CameraInfo
from app.live_controller import LiveController, camera_opener, file_opener
from app.menus import build_menus, fill_recent
from app.outputs_panel import OutputsPanel
from app.overlays import refined_colors
from app.plots import PerformancePlots
from app.record_panel import RecordPanel
from app.recording import RecordingController
from app.settings_panel import SettingsPanel
from app.signals_panel import SignalsPanel
from app.source_panel import SourcePanel
from app.stats import STAGES, LiveStats
from app.transport import TransportBar
from app.video_view import VideoStack
from app.widgets import Banner
from app.window_frames import FrameHandlers
from app.window_recording import RecordingActions
from pipeline.config import PipelineConfig

ASSETS = Path(__file__).resolve().parents[1] / "assets"
Std = QtCore.QStandardPaths


def default_folder(kind: Std.StandardLocation) -> Path:
    return Path(Std.writableLocation(kind) or Path.home()) / "meshcam"


class MainWindow(FrameHandlers, RecordingActions, QtWidgets.QMainWindow):
    frame_shown = QtCore.pyqtSignal(int)  # frames shown so far

    def __init__(self, config: PipelineConfig, source: str | None = None, *, record_dir: Path | None = None,
                 settings: QtCore.QSettings | None = None):
        super().__init__()
        self.store = settings if settings is not None else persist.open_settings()
        self.setWindowIcon(QtGui.QIcon(str(ASSETS / "icon.svg")))
        self.setAcceptDrops(True)
        self.base_style = persist.load_style(self.store)
        self.live = LiveController(config, refined_colors(self.base_style, config.submodels), self)
        self.recorder = RecordingController()
        self.stats: LiveStats | None = None
        self.frames_shown, self.last, self.is_camera = 0, None, True
        self._last_ui = 0.0
        chosen = record_dir or self.store.value("record/folder") or None
        self.record_folder = Path(chosen) if chosen else default_folder(Std.StandardLocation.MoviesLocation)
        self.snapshot_folder = Path(chosen) if chosen else default_folder(Std.StandardLocation.PicturesLocation)
        self._build(config)
        self.actions_ = build_menus(self)
        fill_recent(self, persist.recent_files(self.store))
        self.sources.set_recent(persist.recent_files(self.store))
        self._connect()
        self._restore_geometry()
        self.setWindowTitle("meshcam")
        self.live.load_tracker()
        self.open_spec(source if source is not None else str(self.store.value("source/last", "0")))

    # ---- layout -------------------------------------------------------------------------------------
    def _build(self, config: PipelineConfig) -> None:
        self.banner, self.stack, self.transport = Banner(), VideoStack(), TransportBar()
        video_box = QtWidgets.QWidget()
        vl = QtWidgets.QVBoxLayout(video_box)
        vl.setContentsMargins(0, 0, 0, 0)
        for w, stretch in ((self.banner, 0), (self.stack, 1), (self.transport, 0)):
            vl.addWidget(w, stretch)
        self.plots = PerformancePlots(STAGES)
        self.plot_tabs = QtWidgets.QTabWidget()
        self.plot_tabs.addTab(self.plots, "Performance")
        self.signals_panel = SignalsPanel()  # scrolled: its expression bars are taller than the plot area
        self.plot_tabs.addTab(_scrolled([self.signals_panel], stretch=False), "Signals")
        self.left = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, childrenCollapsible=False)
        self.left.addWidget(video_box)
        self.left.addWidget(self.plot_tabs)
        self.sources = SourcePanel()
        self.sources.loop_box.setChecked(persist.get_bool(self.store, "view/loop", True))
        self.settings_panel = SettingsPanel(config, self.base_style)
        self.record_panel = RecordPanel(self.record_folder)
        self.outputs = OutputsPanel()
        self.outputs.restore(self.store)
        self.side = QtWidgets.QTabWidget(objectName="side")
        for title, widgets in (("Source", (self.sources, self.record_panel)), ("Tracking", (self.settings_panel,)),
                               ("Outputs", (self.outputs,))):
            self.side.addTab(_scrolled(widgets), title)
        self.side.setMinimumWidth(310)
        self.side.setMaximumWidth(380)
        central = QtWidgets.QSplitter(childrenCollapsible=False)
        central.addWidget(self.left)
        central.addWidget(self.side)
        central.setStretchFactor(0, 1)
        self.setCentralWidget(central)
        self.status_labels = {k: QtWidgets.QLabel() for k in ("busy", "provider", "size", "faces", "dropped")}
        for label in self.status_labels.values():
            self.statusBar().addPermanentWidget(label)
        self.status_labels["busy"].hide()

    def _on_busy(self, text: str) -> None:
        label = self.status_labels["busy"]
        label.setText(text)
        label.setVisible(bool(text))  # no empty box in the status bar when nothing is loading

    def _connect(self) -> None:
        live, t = self.live, self.transport
        live.frame.connect(self._on_frame)
        live.started.connect(self._on_started)
        live.failed.connect(self._on_failed)
        live.busy.connect(self._on_busy)
        live.provider_changed.connect(self._on_provider)
        live.config_reverted.connect(self.settings_panel.set_config)
        live.sink_failed.connect(self._on_sink_failed)
        live.camera_status.connect(self._on_camera_status)
        live.ended.connect(self._on_ended)
        live.before_stop.append(lambda runner: (self.stop_recording(runner), self.outputs.release()))
        live.after_start.append(self.outputs.bind)
        self.settings_panel.config_changed.connect(self._on_config)
        self.settings_panel.style_changed.connect(lambda changes: self._set_style(**changes))
        self.outputs.lipstick_changed.connect(lambda lipstick: self._set_style(lipstick=lipstick))
        self.sources.camera_requested.connect(self.open_camera)
        self.sources.file_requested.connect(self.open_file)
        self.sources.mirror_changed.connect(self._set_mirror)
        self.sources.loop_changed.connect(live.set_loop)
        self.stack.open_button.clicked.connect(self.sources.choose_file)
        self.record_panel.folder_changed.connect(self._set_folder)
        t.pause_button.toggled.connect(self._set_paused)
        t.step_button.clicked.connect(self.live_step)
        t.record_button.toggled.connect(self.toggle_record)
        t.snapshot_button.clicked.connect(self.snapshot)
        t.seek_requested.connect(live.seek)
        self._set_style(lipstick=self.outputs.lipstick())

    def _restore_geometry(self) -> None:
        area = (self.screen() or QtWidgets.QApplication.primaryScreen()).availableGeometry()
        saved = self.store.value("window/geometry")
        if not (isinstance(saved, QtCore.QByteArray) and self.restoreGeometry(saved)
                and area.contains(self.frameGeometry())):
            w, h = min(1400, int(area.width() * 0.94)), min(860, int(area.height() * 0.92))
            self.resize(w, h)
            self.move(area.center() - QtCore.QPoint(w // 2, h // 2))
        self.left.setSizes([int(self.height() * 0.7), int(self.height() * 0.3)])

    # ---- sources ------------------------------------------------------------------------------------
    def open_spec(self, spec: str) -> None:
        """A --source string or the remembered source: a camera index, ``camera:<device id>`` or a path."""
        if not (spec.isdigit() or spec.startswith("camera:")):
            self.open_file(spec)
            return
        if spec.isdigit():
            cam = next((c for c in self.sources.cameras if c.index == int(spec)), None)
        else:
            cam = next((c for c in self.sources.cameras if c.device_id == spec[7:]), None)
        if cam is None:  # not listed (no QtMultimedia backend, or unplugged): try it by number anyway
            cam = CameraInfo(int(spec) if spec.isdigit() else 0, f"camera {spec}", "", ())
            self.open_camera(cam)
            return
        self.sources.select_camera(cam.device_id, str(self.store.value("source/format", "")) or None)
        self.open_camera(cam, self.sources.current_format())

    def open_camera(self, cam: CameraInfo, fmt=None) -> None:
        self.is_camera = True
        self.live.open(camera_opener(cam, fmt), cam.name)
        if cam.device_id:
            self.store.setValue("source/last", f"camera:{cam.device_id}")
            self.store.setValue("source/format", fmt.key if fmt else "")

    def open_selected_camera(self) -> None:
        cam = self.sources.current_camera()
        self.open_camera(cam, self.sources.current_format()) if cam else self.open_spec("0")

    def open_file(self, path: str) -> None:
        self.is_camera = False
        self.live.open(file_opener(path), Path(path).name)
        if Path(path).exists():
            paths = persist.add_recent(self.store, path)
            self.store.setValue("source/last", str(Path(path).resolve()))
            fill_recent(self, paths)
            self.sources.set_recent(paths)

    # ---- actions ------------------------------------------------------------------------------------
    def _on_config(self, config: PipelineConfig) -> None:
        self.live.set_config(config)
        self.live.set_style(refined_colors(self.base_style, config.submodels))
        persist.save_config(self.store, config)

    def _set_style(self, **changes) -> None:
        self.base_style = replace(self.base_style, **changes)
        self.live.set_style(refined_colors(self.base_style, self.live.config.submodels))

    def _set_paused(self, paused: bool) -> None:
        self.live.set_paused(paused)
        self.stack.view.set_paused(paused)

    def live_step(self) -> None:
        self.live.step()

    def _set_folder(self, folder: str) -> None:
        self.record_folder = self.snapshot_folder = Path(folder)
        self.store.setValue("record/folder", folder)

    def toggle_fullscreen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:  # noqa: N802 (Qt names)
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_file(paths[0])

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        self.live.timer.stop()
        self.live.stop()  # finalises any recording first (before_stop), then closes outputs and the source
        s = self.store
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("view/loop", self.sources.loop_box.isChecked())
        persist.save_config(s, self.live.config)
        persist.save_style(s, self.base_style)
        self.outputs.save(s)
        s.sync()
        super().closeEvent(event)


def _scrolled(widgets, stretch: bool = True) -> QtWidgets.QScrollArea:
    page = QtWidgets.QWidget()
    layout = QtWidgets.QVBoxLayout(page)
    for w in widgets:
        layout.addWidget(w)
    if stretch:
        layout.addStretch()
    area = QtWidgets.QScrollArea(widgetResizable=True, objectName="sidePage")
    area.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(page)
    return area

