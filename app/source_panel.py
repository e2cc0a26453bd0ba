"""Where frames come from: a camera (by name, with its formats) or a file (open, recent, drag and drop), and
what the source really delivers. Emits requests; the window opens sources (off the GUI thread)."""
from __future__ import annotations

from pathlib import Path

from PyQt6 import QtCore, QtWidgets

from app.cameras import CameraFormat, CameraInfo, list_camera_devices
from app.widgets import ElidedLabel

MEDIA_FILTER = "Media (*.mp4 *.mkv *.avi *.mov *.webm *.m4v *.jpg *.jpeg *.png *.bmp *.webp);;All files (*)"


class SourcePanel(QtWidgets.QGroupBox):
    camera_requested = QtCore.pyqtSignal(object, object)  # CameraInfo, CameraFormat
    file_requested = QtCore.pyqtSignal(str)
    mirror_changed = QtCore.pyqtSignal(bool)
    loop_changed = QtCore.pyqtSignal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__("Source", parent)
        self.cameras: list[CameraInfo] = []
        self.camera_combo = QtWidgets.QComboBox(toolTip="cameras on this machine")
        self.camera_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.camera_combo.setMinimumContentsLength(8)
        self.camera_combo.activated.connect(self._camera_chosen)
        self.format_combo = QtWidgets.QComboBox(toolTip="size and frame rate to ask the camera for")
        self.format_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.format_combo.setMinimumContentsLength(8)
        self.format_combo.activated.connect(self._camera_chosen)
        self.refresh_button = QtWidgets.QPushButton("↻", toolTip="look for cameras again")
        self.refresh_button.setFixedWidth(34)
        self.refresh_button.clicked.connect(self.refresh_cameras)
        self.open_button = QtWidgets.QPushButton("Open file…")
        self.open_button.clicked.connect(self.choose_file)
        self.recent_combo = QtWidgets.QComboBox(toolTip="recently opened files")
        self.recent_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.recent_combo.setMinimumContentsLength(6)
        self.recent_combo.activated.connect(self._recent_chosen)
        self.description = ElidedLabel("")
        self.description.setObjectName("sourceDescription")
        self.mirror_box = QtWidgets.QCheckBox("Mirror view (M)", toolTip="show the video mirrored (selfie view); "
                                              "recordings and landmarks keep the camera's orientation")
        self.mirror_box.toggled.connect(self.mirror_changed)
        self.loop_box = QtWidgets.QCheckBox("Loop video", checked=True, toolTip="play the file again at its end")
        self.loop_box.toggled.connect(self.loop_changed)
        grid = QtWidgets.QGridLayout(self)
        self.camera_label = QtWidgets.QLabel("Camera")
        self.format_label = QtWidgets.QLabel("Format")
        grid.addWidget(self.camera_label, 0, 0)
        grid.addWidget(self.camera_combo, 0, 1)
        grid.addWidget(self.refresh_button, 0, 2)
        grid.addWidget(self.format_label, 1, 0)
        grid.addWidget(self.format_combo, 1, 1, 1, 2)
        grid.addWidget(self.open_button, 2, 0)
        grid.addWidget(self.recent_combo, 2, 1, 1, 2)
        grid.addWidget(self.description, 3, 0, 1, 3)
        grid.addWidget(self.mirror_box, 4, 0, 1, 3)
        grid.addWidget(self.loop_box, 5, 0, 1, 3)
        grid.setColumnStretch(1, 1)
        self.refresh_cameras()

    # ---- cameras ------------------------------------------------------------------------------------
    def refresh_cameras(self, select_id: str | None = None) -> None:
        current = select_id or (self.current_camera().device_id if self.current_camera() else None)
        self.cameras = list_camera_devices()
        self.camera_combo.clear()
        for cam in self.cameras:
            self.camera_combo.addItem(cam.name, cam.device_id)
        if not self.cameras:
            self.camera_combo.addItem("no camera found", None)
        i = self.camera_combo.findData(current) if current else -1
        self.camera_combo.setCurrentIndex(max(i, 0))
        self._fill_formats()

    def _fill_formats(self, select_key: str | None = None) -> None:
        cam = self.current_camera()
        self.format_combo.clear()
        for fmt in cam.formats if cam else ():
            self.format_combo.addItem(fmt.label, fmt.key)
        i = self.format_combo.findData(select_key) if select_key else -1
        if i < 0 and cam:  # prefer 1280x720 at the highest rate, the tracker's sweet spot
            i = next((k for k, f in enumerate(cam.formats) if (f.width, f.height) == (1280, 720)), 0)
        self.format_combo.setCurrentIndex(max(i, 0))
        self.set_kind(live=True)

    def current_camera(self) -> CameraInfo | None:
        data = self.camera_combo.currentData()
        return next((c for c in self.cameras if c.device_id == data), None)

    def current_format(self) -> CameraFormat | None:
        cam = self.current_camera()
        key = self.format_combo.currentData()
        return next((f for f in cam.formats if f.key == key), None) if cam else None

    def select_camera(self, device_id: str | None, format_key: str | None) -> None:
        i = self.camera_combo.findData(device_id) if device_id else -1
        if i >= 0:
            self.camera_combo.setCurrentIndex(i)
        self._fill_formats(format_key)

    def _camera_chosen(self, *_):
        if self.sender() is self.camera_combo:
            self._fill_formats()
        cam = self.current_camera()
        if cam is not None:
            self.camera_requested.emit(cam, self.current_format())

    # ---- files --------------------------------------------------------------------------------------
    def choose_file(self) -> None:
        start = self.recent_combo.itemData(0) or str(Path.home())
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open video or image", str(Path(start).parent),
                                                        MEDIA_FILTER)
        if path:
            self.file_requested.emit(path)

    def set_recent(self, paths: list[str]) -> None:
        self.recent_combo.clear()
        for p in paths:
            self.recent_combo.addItem(Path(p).name, p)
            self.recent_combo.setItemData(self.recent_combo.count() - 1, p, QtCore.Qt.ItemDataRole.ToolTipRole)
        if not paths:
            self.recent_combo.addItem("(no recent files)", None)
        self.recent_combo.setCurrentIndex(0)

    def _recent_chosen(self, index: int) -> None:
        path = self.recent_combo.itemData(index)
        if path:
            self.file_requested.emit(path)

    # ---- what plays ---------------------------------------------------------------------------------
    def set_kind(self, live: bool) -> None:
        """Camera-only controls only while a camera plays; file-only ones only while a file plays."""
        for w in (self.format_label, self.format_combo):
            w.setVisible(live and self.format_combo.count() > 0)
        self.loop_box.setVisible(not live)
