"""The bar under the video: pause/step, record, snapshot (always visible, never scrolled away), and for
files a seek bar with the time."""
from __future__ import annotations

from PyQt6 import QtCore, QtWidgets


def _time(ms: float) -> str:
    s = int(ms // 1000)
    return f"{s // 60}:{s % 60:02d}"


class TransportBar(QtWidgets.QWidget):
    seek_requested = QtCore.pyqtSignal(float)  # milliseconds

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.pause_button = QtWidgets.QPushButton("❚❚ Pause", objectName="pause", checkable=True,
                                                  toolTip="pause / resume (Space)")
        self.step_button = QtWidgets.QPushButton("Step ›", toolTip="one frame while paused (.)", enabled=False)
        self.record_button = QtWidgets.QPushButton("● Record", objectName="record", checkable=True,
                                                   toolTip="record the annotated video (R)")
        self.snapshot_button = QtWidgets.QPushButton("Snapshot", toolTip="save this frame as PNG + landmarks (S)")
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal, toolTip="seek")
        self.slider.setRange(0, 1000)
        self.time_label = QtWidgets.QLabel("0:00 / 0:00")
        self.pause_button.toggled.connect(lambda on: self.step_button.setEnabled(on))
        self.slider.sliderReleased.connect(self._seek)
        self.slider.sliderMoved.connect(self._preview)
        self._duration_ms: float | None = None
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        for w in (self.pause_button, self.step_button, self.record_button, self.snapshot_button):
            layout.addWidget(w)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.time_label)
        self.set_seekable(None)

    def set_seekable(self, duration_ms: float | None) -> None:
        """A file with a known length gets the seek bar; cameras and images do not."""
        self._duration_ms = duration_ms
        for w in (self.slider, self.time_label):
            w.setVisible(duration_ms is not None)

    def set_position(self, position_ms: float) -> None:
        if self._duration_ms and not self.slider.isSliderDown():
            self.slider.setValue(int(1000 * min(1.0, position_ms / self._duration_ms)))
            self.time_label.setText(f"{_time(position_ms)} / {_time(self._duration_ms)}")

    def _preview(self, value: int) -> None:
        if self._duration_ms:
            self.time_label.setText(f"{_time(value / 1000 * self._duration_ms)} / {_time(self._duration_ms)}")

    def _seek(self) -> None:
        if self._duration_ms:
            self.seek_requested.emit(self.slider.value() / 1000 * self._duration_ms)
