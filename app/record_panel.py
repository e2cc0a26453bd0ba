"""Recording options: what to save alongside the annotated video and where; the last result on one
elided line (a long path never widens the panel)."""
from __future__ import annotations

from pathlib import Path

from PyQt6 import QtCore, QtWidgets

from app.widgets import ElidedLabel, set_state


class RecordPanel(QtWidgets.QGroupBox):
    folder_changed = QtCore.pyqtSignal(str)

    def __init__(self, folder: Path, parent: QtWidgets.QWidget | None = None):
        super().__init__("Record", parent)
        self.folder = folder
        self.landmarks_box = QtWidgets.QCheckBox("also save landmarks (.npz)", checked=True)
        self.raw_box = QtWidgets.QCheckBox("also save the raw video")
        self.folder_label = ElidedLabel(str(folder))
        choose = QtWidgets.QPushButton("Folder…", toolTip="where recordings (R) and snapshots (S) go")
        choose.clicked.connect(self._choose)
        self.status = ElidedLabel("not recording")
        self.status.setObjectName("recordStatus")
        grid = QtWidgets.QGridLayout(self)
        grid.addWidget(self.landmarks_box, 0, 0, 1, 2)
        grid.addWidget(self.raw_box, 1, 0, 1, 2)
        grid.addWidget(choose, 2, 0)
        grid.addWidget(self.folder_label, 2, 1)
        grid.addWidget(self.status, 3, 0, 1, 2)
        grid.setColumnStretch(1, 1)

    def set_folder(self, folder: Path) -> None:
        self.folder = folder
        self.folder_label.setText(str(folder))

    def _choose(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder for recordings and snapshots",
                                                          str(self.folder))
        if path:
            self.set_folder(Path(path))
            self.folder_changed.emit(path)

    def set_status(self, text: str, level: str = "") -> None:
        self.status.setText(text)
        set_state(self.status, "level", level)
