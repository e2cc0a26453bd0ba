"""Live outputs (OSC/VMC, WebSocket, virtual camera) and the lipstick effect.

Each output is a sink opened with ``open_sink(address)`` and attached to the live runner; a bad address or
a port in use is shown on its row in red and tracking goes on. Enabled outputs are re-attached to each new
runner (a new source), since stopping a runner closes its sinks.
"""
from __future__ import annotations

import logging

from PyQt6 import QtCore, QtGui, QtWidgets

from app.widgets import set_state
from pipeline.lipstick import LipstickStyle
from pipeline.sinks import open_sink

log = logging.getLogger(__name__)

OUTPUTS = (  # key, label, default address, tooltip
    ("osc", "OSC / VMC", "osc://127.0.0.1:39539", "head pose, blendshapes and landmarks as OSC (VMC protocol)"),
    ("ws", "WebSocket", "ws://127.0.0.1:8765", "JSON per frame to every connected WebSocket client"),
    ("vcam", "Virtual camera", "vcam", "the annotated video as a virtual webcam other apps can open"),
)


class OutputRow:
    def __init__(self, key: str, label: str, address: str, tip: str):
        self.key = key
        self.box = QtWidgets.QCheckBox(label, toolTip=tip)
        self.address = QtWidgets.QLineEdit(address, toolTip="address: " + tip)
        self.status = QtWidgets.QLabel("off", objectName="outputStatus", wordWrap=True)
        self.status.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.sink = None

    def show(self, text: str, level: str = "") -> None:
        self.status.setText(text)
        self.status.setToolTip(text)
        set_state(self.status, "level", level)


class OutputsPanel(QtWidgets.QGroupBox):
    lipstick_changed = QtCore.pyqtSignal(object)  # LipstickStyle or None

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__("Outputs", parent)
        self.runner = None
        self.rows = {key: OutputRow(key, label, addr, tip) for key, label, addr, tip in OUTPUTS}
        grid = QtWidgets.QGridLayout(self)
        for i, row in enumerate(self.rows.values()):
            grid.addWidget(row.box, 2 * i, 0)
            grid.addWidget(row.address, 2 * i, 1)
            grid.addWidget(row.status, 2 * i + 1, 0, 1, 2)
            row.box.toggled.connect(lambda on, r=row: self._toggled(r, on))
            row.address.editingFinished.connect(lambda r=row: self._readdress(r))
        grid.setColumnStretch(1, 1)
        n = 2 * len(self.rows)
        self.lipstick_box = QtWidgets.QCheckBox("Lipstick", toolTip="recolour the lips (AR effect, also recorded)")
        self.color = QtGui.QColor("#c8102e")
        self.color_button = QtWidgets.QPushButton("Colour…", toolTip="lipstick colour")
        self.opacity = QtWidgets.QDoubleSpinBox(toolTip="how much of the colour is applied", decimals=2)
        self.opacity.setRange(0.0, 1.0)
        self.opacity.setSingleStep(0.05)
        self.opacity.setValue(0.6)
        lip_row = QtWidgets.QHBoxLayout()
        lip_row.addWidget(self.color_button)
        lip_row.addWidget(self.opacity)
        grid.addWidget(self.lipstick_box, n, 0)
        grid.addLayout(lip_row, n, 1)
        self.lipstick_box.toggled.connect(self._lipstick_changed)
        self.opacity.valueChanged.connect(self._lipstick_changed)
        self.color_button.clicked.connect(self._pick_color)
        self._paint_color()

    # ---- outputs ------------------------------------------------------------------------------------
    def bind(self, runner) -> None:
        """A new runner started: attach every enabled output to it."""
        self.runner = runner
        for row in self.rows.values():
            if row.box.isChecked():
                self._open(row)

    def release(self) -> None:
        """The runner is about to stop: detach (close) the outputs, keep them enabled for the next one."""
        for row in self.rows.values():
            if row.sink is not None and self.runner is not None:
                self.runner.detach(row.sink)
            row.sink = None
            if row.box.isChecked():
                row.show("waiting for a source")
        self.runner = None

    def _toggled(self, row: OutputRow, on: bool) -> None:
        if on:
            self._open(row)
        else:
            if row.sink is not None and self.runner is not None:
                self.runner.detach(row.sink)
            row.sink = None
            row.show("off")

    def _readdress(self, row: OutputRow) -> None:
        if row.box.isChecked():
            self._toggled(row, False)
            row.box.setChecked(True)

    def _open(self, row: OutputRow) -> None:
        if self.runner is None:
            row.show("starts with the next source")
            return
        try:
            sink = open_sink(row.address.text().strip())
            self.runner.attach(sink)
        except Exception as e:  # noqa: BLE001 - any failure to start an output is shown; tracking goes on
            row.show(f"⚠ {e}", "error")
            log.warning("%s: %s", row.key, e)
            return
        row.sink = sink
        row.show(self._status_of(sink))

    def handle_sink_error(self, sink, error: Exception) -> bool:
        """The runner dropped ``sink`` after ``error``: show it on its row. False when not one of ours."""
        for row in self.rows.values():
            if row.sink is sink:
                row.sink = None
                row.show(f"⚠ stopped: {error}", "error")
                return True
        return False

    def refresh(self) -> None:
        for row in self.rows.values():
            if row.sink is not None:
                error = getattr(row.sink, "error", None)
                row.show(f"⚠ {error}" if error else self._status_of(row.sink), "error" if error else "ok")

    @staticmethod
    def _status_of(sink) -> str:
        status = getattr(sink, "status", None)
        return str(status()) if callable(status) else f"on: {getattr(sink, 'description', '')}"

    # ---- lipstick -----------------------------------------------------------------------------------
    def lipstick(self):
        if not self.lipstick_box.isChecked():
            return None
        return LipstickStyle((self.color.blue(), self.color.green(), self.color.red()), self.opacity.value())

    def _pick_color(self) -> None:
        color = QtWidgets.QColorDialog.getColor(self.color, self, "Lipstick colour")
        if color.isValid():
            self.set_color(color)

    def set_color(self, color: QtGui.QColor) -> None:
        self.color = color
        self._paint_color()
        self._lipstick_changed()

    def _paint_color(self) -> None:
        self.color_button.setStyleSheet(f"QPushButton {{ border-left: 14px solid {self.color.name()}; }}")

    def _lipstick_changed(self, *_) -> None:
        self.lipstick_changed.emit(self.lipstick())

    # ---- from the command line ----------------------------------------------------------------------
    def apply_args(self, args) -> None:
        """--osc / --ws [--ws-token] / --vcam / --lipstick given to the app: switch those on (over remembered
        settings). A bad value shows on its row like any other address."""
        wanted = {}
        if getattr(args, "osc", None):
            wanted["osc"] = f"osc://{args.osc}"
        if getattr(args, "ws", None):
            token = getattr(args, "ws_token", None)
            wanted["ws"] = f"ws://{args.ws}" + (f"?token={token}" if token else "")
        if getattr(args, "vcam", None) is not None:
            wanted["vcam"] = f"vcam:{args.vcam}" if args.vcam else "vcam"
        for key, address in wanted.items():
            row = self.rows[key]
            row.address.setText(address)
            if row.box.isChecked():
                self._readdress(row)
            else:
                row.box.setChecked(True)
        text = getattr(args, "lipstick", None)
        if text:
            style = LipstickStyle.parse(text)  # a bad colour: one line from main(), before the window
            b, g, r = style.color_bgr
            self.opacity.setValue(style.opacity)
            self.lipstick_box.setChecked(True)
            self.set_color(QtGui.QColor(int(r), int(g), int(b)))

    # ---- remembered ---------------------------------------------------------------------------------
    def save(self, settings: QtCore.QSettings) -> None:
        for row in self.rows.values():
            settings.setValue(f"outputs/{row.key}/on", row.box.isChecked())
            settings.setValue(f"outputs/{row.key}/address", row.address.text())
        settings.setValue("lipstick/on", self.lipstick_box.isChecked())
        settings.setValue("lipstick/color", self.color.name())
        settings.setValue("lipstick/opacity", self.opacity.value())

    def restore(self, settings: QtCore.QSettings) -> None:
        from app.persist import get_bool, get_float
        for row in self.rows.values():
            row.address.setText(str(settings.value(f"outputs/{row.key}/address", row.address.text())))
            row.box.setChecked(get_bool(settings, f"outputs/{row.key}/on", False))
        color = QtGui.QColor(str(settings.value("lipstick/color", self.color.name())))
        if color.isValid():
            self.color = color
            self._paint_color()
        self.opacity.setValue(get_float(settings, "lipstick/opacity", self.opacity.value(), 0.0, 1.0))
        self.lipstick_box.setChecked(get_bool(settings, "lipstick/on", False))
