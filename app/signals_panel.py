"""Live face signals: one bar per expression coefficient and head pitch/yaw/roll over the last seconds.

Cheap at 30 Hz: the bars are one pyqtgraph BarGraphItem whose widths are replaced, the pose plot keeps a
numpy ring buffer and redraws three curves; nothing is re-laid out per update.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from pipeline.signals import BLENDSHAPE_NAMES, FaceSignals

_COLORS = json.loads((Path(__file__).resolve().parents[1] / "assets" / "colors.json").read_text())
_BACKGROUND = _COLORS.get("plot_background", "#11141b")
_POSE_COLORS = {"pitch": "#ff7b7b", "yaw": "#5ad1ff", "roll": "#8cff9c"}  # the axes' colours in the overlay
_BAR_COLOR, _BAR_OFF_COLOR = "#ff7bd5", "#3a3f4b"


class SignalsPanel(QtWidgets.QWidget):
    """Expression bars (ARKit names; "Left" = the subject's own left) and a pose plot over ``seconds``."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, seconds: float = 10.0, capacity: int = 1024,
                 names: tuple[str, ...] = BLENDSHAPE_NAMES):
        super().__init__(parent)
        self.names = tuple(names)
        self.seconds, self.capacity = seconds, capacity
        self._t = np.full(capacity, np.nan)
        self._pose = np.full((capacity, 3), np.nan)
        self._n = 0

        self.pose_label = QtWidgets.QLabel("no face", objectName="signalsPose")
        self.pose_label.setTextFormat(QtCore.Qt.TextFormat.PlainText)

        self.pose_plot = pg.PlotWidget(background=_BACKGROUND)
        legend = "  ".join(f"<span style='color:{c}'>■ {n}</span>" for n, c in _POSE_COLORS.items())
        self.pose_plot.setTitle(f"<span style='color:#c9d2e3'>Head pose</span><br>"
                                f"<span style='font-size:7.5pt'>{legend}</span>", size="9pt")
        self.pose_plot.setLabel("left", "degrees")
        self.pose_plot.setLabel("bottom", "seconds")
        for axis in ("left", "bottom"):
            self.pose_plot.getAxis(axis).enableAutoSIPrefix(False)
        self.pose_plot.setMouseEnabled(x=False, y=False)
        self.pose_plot.hideButtons()
        self.pose_plot.setMenuEnabled(False)
        self.pose_plot.setXRange(-seconds, 0, padding=0)
        self._span = 45.0
        self.pose_plot.setYRange(-self._span, self._span, padding=0)
        self.pose_plot.addLine(y=0, pen=pg.mkPen("#3a3f4b"))
        self.pose_plot.setMinimumHeight(150)
        self._curves = [self.pose_plot.plot(pen=pg.mkPen(c, width=2)) for c in _POSE_COLORS.values()]

        self.bars_plot = pg.PlotWidget(background=_BACKGROUND)
        self.bars_plot.setTitle("<span style='color:#c9d2e3'>Expression coefficients</span>", size="9pt")
        self.bars_plot.setMouseEnabled(x=False, y=False)
        self.bars_plot.hideButtons()
        self.bars_plot.setMenuEnabled(False)
        self.bars_plot.setXRange(0, 1, padding=0.02)
        self.bars_plot.setYRange(-0.6, len(self.names) - 0.4, padding=0)
        self.bars_plot.getPlotItem().invertY(True)
        left = self.bars_plot.getAxis("left")
        left.setTicks([[(i, n) for i, n in enumerate(self.names)]])
        left.setStyle(tickFont=_small_font())
        self.bars_plot.getAxis("bottom").setTicks([[(0, "0"), (0.5, "0.5"), (1, "1")]])
        self.bars_plot.setMinimumHeight(14 * len(self.names) + 40)
        self._y = np.arange(len(self.names), dtype=float)
        self._bars = pg.BarGraphItem(x0=np.zeros(len(self.names)), y=self._y, height=0.7,
                                     width=np.zeros(len(self.names)), brush=_BAR_COLOR, pen=None)
        self._off = pg.BarGraphItem(x0=np.zeros(len(self.names)), y=self._y, height=0.7,
                                    width=np.zeros(len(self.names)), brush=_BAR_OFF_COLOR, pen=None)
        self.bars_plot.addItem(self._off)
        self.bars_plot.addItem(self._bars)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pose_label)
        layout.addWidget(self.pose_plot)
        layout.addWidget(self.bars_plot, 1)

    def update_signals(self, signals: FaceSignals | None, timestamp_s: float) -> None:
        """Show one face's signals at ``timestamp_s`` (any monotonic clock, seconds); None = no face (a gap)."""
        i = self._n % self.capacity
        self._t[i] = timestamp_s
        if signals is None:
            self._pose[i] = np.nan
            values = np.zeros(len(self.names))
            unknown = np.zeros(len(self.names))
            self.pose_label.setText("no face")
        else:
            self._pose[i] = signals.pose_euler_deg
            raw = np.asarray(signals.blendshapes, np.float64)[: len(self.names)]
            unknown = np.where(np.isnan(raw), 1.0, 0.0)  # e.g. eyeLook* with irises off: a grey bar
            values = np.nan_to_num(raw)
            p, y, r = signals.pose_euler_deg
            self.pose_label.setText(f"pitch {p:+5.1f}°   yaw {y:+5.1f}°   roll {r:+5.1f}°")
        self._n += 1
        self._bars.setOpts(width=values)
        self._off.setOpts(width=unknown)
        self._redraw(timestamp_s)

    def clear(self) -> None:
        self._t[:] = np.nan
        self._pose[:] = np.nan
        self._n = 0
        for curve in self._curves:
            curve.setData([], [])
        self._bars.setOpts(width=np.zeros(len(self.names)))
        self._off.setOpts(width=np.zeros(len(self.names)))
        self.pose_label.setText("no face")

    def pose_series(self) -> tuple[np.ndarray, np.ndarray]:
        """(times oldest first, (N, 3) pitch/yaw/roll) currently held (for tests and export)."""
        order = np.roll(np.arange(self.capacity), -(self._n % self.capacity))
        t, pose = self._t[order], self._pose[order]
        keep = np.isfinite(t)
        return t[keep], pose[keep]

    def bar_values(self) -> np.ndarray:
        return np.asarray(self._bars.opts["width"], np.float64)

    def _redraw(self, now: float) -> None:
        if not self.isVisible():
            return
        t, pose = self.pose_series()
        x = t - now
        shown = x >= -self.seconds
        for k, curve in enumerate(self._curves):
            curve.setData(x[shown], pose[shown, k], connect="finite")
        finite = np.abs(pose[shown][np.isfinite(pose[shown])])
        span = 90.0 if len(finite) and finite.max() > 45 else 45.0
        if span != self._span:  # a new range re-lays the axis out: only when it really changes
            self._span = span
            self.pose_plot.setYRange(-span, span, padding=0)


def _small_font():
    from PyQt6 import QtGui
    font = QtGui.QFont()
    font.setPointSizeF(7.0)
    return font
