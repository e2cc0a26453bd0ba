"""Small widgets shared by the panels: a label that elides instead of widening its panel, and a banner."""
from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets


class ElidedLabel(QtWidgets.QLabel):
    """One line of text elided in the middle to the width it is given (a long path never widens the panel);
    the whole text is in the tooltip."""

    def __init__(self, text: str = "", parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(20)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt name)
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(20, self.width() - 2)
        shown = self.fontMetrics().elidedText(self._full, QtCore.Qt.TextElideMode.ElideMiddle, width)
        super().setText(shown)


class Banner(QtWidgets.QFrame):
    """A persistent message strip (errors that matter: recording failed, camera lost, model load failed)
    with a close button; it stays until dismissed or replaced."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent, objectName="errorBanner")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 4, 4)
        self.label = QtWidgets.QLabel(wordWrap=True)
        self.label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        close = QtWidgets.QToolButton(text="✕", autoRaise=True)
        close.setToolTip("dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


def set_state(widget: QtWidgets.QWidget, name: str, value) -> None:
    """Set a dynamic property used by the style sheet and re-polish so the new look applies."""
    widget.setProperty(name, value)
    widget.style().unpolish(widget)
    widget.style().polish(widget)
