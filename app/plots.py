"""Live plots over the last seconds: x in seconds (0 = now), y from 0 with a sensible minimum span, fixed
units (no SI prefixes), the legend in the title (never on the data), NaN gaps where a series is off."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtWidgets

GAP_S = 1.0  # samples further apart than this are not joined by a line
COLORS = json.loads((Path(__file__).resolve().parents[1] / "assets" / "colors.json").read_text())


class TimePlot(pg.PlotWidget):
    """Named series against wall time, drawn over the last ``seconds``."""

    def __init__(self, title: str, units: str, series: dict[str, str], min_span: float, seconds: float = 10.0,
                 capacity: int = 1500):
        super().__init__(background=COLORS["plot_background"])
        legend = "  ".join(f"<span style='color:{c}'>■ {n}</span>" for n, c in series.items())
        self.setTitle(f"<span style='color:#c9d2e3'>{title}</span><br><span style='font-size:7.5pt'>{legend}</span>",
                      size="9pt")
        self.setLabel("left", units)
        self.setLabel("bottom", "seconds")
        for axis in ("left", "bottom"):
            self.getAxis(axis).enableAutoSIPrefix(False)
        # no grid: grid lines belong to the axes, which would then repaint with every curve update
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.getPlotItem().setClipToView(True)
        self.getPlotItem().setContentsMargins(2, 2, 10, 2)  # the newest sample is at the right edge: keep it visible
        self.setXRange(-seconds, 0, padding=0)
        self.setMinimumHeight(150)
        self.seconds, self.min_span, self.capacity = seconds, min_span, capacity
        self.t = np.full(capacity, np.nan)
        self.data = {name: np.full(capacity, np.nan) for name in series}
        self.curves = {name: self.plot(pen=pg.mkPen(color, width=2)) for name, color in series.items()}
        self._n = 0
        self._top = 0.0

    def reset(self) -> None:
        self.t[:] = np.nan
        for buf in self.data.values():
            buf[:] = np.nan
        self._n = 0

    def push(self, t: float, values: dict[str, float]) -> None:
        last = self.t[(self._n - 1) % self.capacity] if self._n else np.nan
        if t - last > GAP_S:  # paused or stalled: break the lines instead of joining across the gap
            self._append(last + 1e-3, {})
        self._append(t, values)

    def _append(self, t: float, values: dict[str, float]) -> None:
        i = self._n % self.capacity
        self.t[i] = t
        for name, buf in self.data.items():
            buf[i] = values.get(name, np.nan)
        self._n += 1

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(seconds relative to the newest sample, values), oldest first."""
        order = np.roll(np.arange(self.capacity), -(self._n % self.capacity))
        t, v = self.t[order], self.data[name][order]
        keep = np.isfinite(t)
        return t[keep], v[keep]

    def redraw(self, now: float) -> None:
        top = 0.0
        for name, curve in self.curves.items():
            t, v = self.series(name)
            x = t - now
            shown = x >= -self.seconds
            curve.setData(x[shown], v[shown], connect="finite")
            finite = v[shown][np.isfinite(v[shown])]
            if len(finite):
                top = max(top, float(np.percentile(finite, 98)))
        top = _nice_ceiling(max(self.min_span, top * 1.15))
        if top != self._top:  # a new range re-lays the axis out: only when it really changes
            self._top = top
            self.setYRange(0, top, padding=0)


def _nice_ceiling(value: float) -> float:
    """The next 1, 1.5, 2, 3, 5, 7.5 x 10^k at or above ``value`` (axis tops that do not creep)."""
    scale = 10.0 ** np.floor(np.log10(value))
    return float(next(m * scale for m in (1, 1.5, 2, 3, 5, 7.5, 10) if m * scale >= value))


class PerformancePlots(QtWidgets.QWidget):
    """Frame rate, per-stage latency and jitter side by side."""

    def __init__(self, stages: tuple[str, ...], parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        c = COLORS
        self.fps = TimePlot("Frame rate", "fps", {"processed": c["fps_processed"], "capture": c["fps_capture"]},
                            min_span=30.0)
        self.latency = TimePlot("Stage latency", "ms", {k: c["stages"][k] for k in stages}, min_span=10.0)
        self.jitter = TimePlot("Jitter", "% IOD", dict(c["regions"]), min_span=1.0)
        self.jitter.setToolTip("frame-to-frame landmark noise per region after removing head motion (RMS, % of the "
                               "eye-corner distance); on a still face this is jitter")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for p in self.plots:
            layout.addWidget(p)

    @property
    def plots(self) -> tuple[TimePlot, TimePlot, TimePlot]:
        return self.fps, self.latency, self.jitter

    def reset(self) -> None:
        for p in self.plots:
            p.reset()

    def redraw(self, now: float) -> None:
        if self.isVisible():
            for p in self.plots:
                p.redraw(now)
