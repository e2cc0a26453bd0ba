"""The video pane: paints the newest annotated frame keeping its aspect, mirrored here and only here (a
selfie view for webcams; recordings and landmark files stay in source orientation), with the HUD and a
PAUSED sign painted on top after mirroring so text stays readable. A stack shows a message page
(no camera, cannot open) instead of the video when there is nothing to show."""
from __future__ import annotations

import cv2
import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets


class VideoView(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding)
        self._frame_bgr: np.ndarray | None = None
        self._image: QtGui.QImage | None = None
        self.mirror = False
        self.paused = False
        self.hud_lines: list[str] = []

    def show_frame(self, frame_bgr: np.ndarray) -> None:
        self._frame_bgr = frame_bgr
        self._image = None  # scaled lazily, once per frame, at paint time
        self.update()

    def _scaled(self, target: QtCore.QRectF) -> QtGui.QImage:
        """The frame resized to ``target`` with OpenCV (fast, outside the GIL), wrapped without a copy."""
        w, h = max(1, round(target.width())), max(1, round(target.height()))
        if self._image is None or (self._image.width(), self._image.height()) != (w, h):
            frame = self._frame_bgr
            if (frame.shape[1], frame.shape[0]) != (w, h):
                interp = cv2.INTER_AREA if w < frame.shape[1] else cv2.INTER_LINEAR
                frame = cv2.resize(frame, (w, h), interpolation=interp)
            self._scaled_bgr = np.ascontiguousarray(frame)  # the QImage borrows this buffer
            self._image = QtGui.QImage(self._scaled_bgr.data, w, h, self._scaled_bgr.strides[0],
                                       QtGui.QImage.Format.Format_BGR888)
        return self._image

    def clear(self) -> None:
        self._frame_bgr, self._image = None, None
        self.update()

    def set_mirror(self, on: bool) -> None:
        self.mirror = on
        self.update()

    def set_paused(self, on: bool) -> None:
        self.paused = on
        self.update()

    def displayed_bgr(self) -> np.ndarray | None:
        """The frame as the user sees it (mirrored when mirror is on), for tests and snapshots of the view."""
        if self._frame_bgr is None:
            return None
        return self._frame_bgr[:, ::-1] if self.mirror else self._frame_bgr

    def image_rect(self) -> QtCore.QRectF:
        if self._frame_bgr is None:
            return QtCore.QRectF()
        ih, iw = self._frame_bgr.shape[:2]
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QtCore.QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 (Qt name)
        p = QtGui.QPainter(self)
        p.fillRect(self.rect(), QtGui.QColor("#0d1016"))
        if self._frame_bgr is not None:
            target = self.image_rect()
            image = self._scaled(target)
            p.save()
            if self.mirror:
                p.translate(target.center().x() * 2, 0)
                p.scale(-1, 1)
            p.drawImage(target.topLeft(), image)
            p.restore()
            self._paint_hud(p, target)
        if self.paused:
            self._paint_paused(p)
        p.end()

    def _paint_hud(self, p: QtGui.QPainter, target: QtCore.QRectF) -> None:
        if not self.hud_lines:
            return
        font = p.font()
        font.setPointSizeF(9.5)
        p.setFont(font)
        fm = p.fontMetrics()
        width = max(fm.horizontalAdvance(s) for s in self.hud_lines) + 14
        height = fm.height() * len(self.hud_lines) + 8
        box = QtCore.QRectF(target.left() + 6, target.top() + 6, width, height)
        p.fillRect(box, QtGui.QColor(0, 0, 0, 150))
        p.setPen(QtGui.QColor("#e8ecf4"))
        for i, line in enumerate(self.hud_lines):
            p.drawText(QtCore.QPointF(box.left() + 7, box.top() + 4 + fm.ascent() + i * fm.height()), line)

    def _paint_paused(self, p: QtGui.QPainter) -> None:
        font = p.font()
        font.setPointSizeF(16)
        font.setBold(True)
        p.setFont(font)
        text = "❚❚ PAUSED"
        w = p.fontMetrics().horizontalAdvance(text) + 28
        box = QtCore.QRectF((self.width() - w) / 2, 14, w, p.fontMetrics().height() + 12)
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(QtGui.QColor(20, 20, 20, 190))
        p.drawRoundedRect(box, 8, 8)
        p.setPen(QtGui.QColor("#ffc84a"))
        p.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, text)


class VideoStack(QtWidgets.QStackedWidget):
    """Page 0: the video; page 1: a message with an "Open video or image…" button."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.view = VideoView()
        self.message = QtWidgets.QLabel("", objectName="banner", wordWrap=True)
        self.message.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.message.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.open_button = QtWidgets.QPushButton("Open video or image…")
        page = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(page)
        layout.addStretch()
        layout.addWidget(self.message)
        layout.addWidget(self.open_button, alignment=QtCore.Qt.AlignmentFlag.AlignCenter)
        layout.addStretch()
        self.addWidget(self.view)
        self.addWidget(page)

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.setCurrentIndex(1)

    def show_video(self) -> None:
        self.setCurrentIndex(0)

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 - the message page must not shrink the video's share
        return QtCore.QSize(960, 540)
