"""Live pyqtgraph plots: fixed-length ring buffers, one curve per series, updated in place."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg


class RingPlot(pg.PlotWidget):
    """A scrolling plot of named series over the last ``length`` samples."""

    def __init__(self, title: str, units: str, series: dict[str, str], length: int = 300, background="#11141b"):
        super().__init__(background=background)
        self.setTitle(f"<span style='color:#a9b3c7'>{title}</span>")
        self.setLabel("left", units)
        self.showGrid(x=False, y=True, alpha=0.2)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.addLegend(offset=(6, 4), labelTextSize="8pt", brush=pg.mkBrush(17, 20, 27, 200))
        self.getPlotItem().setClipToView(True)
        self.getPlotItem().setDownsampling(mode="peak")
        self.getAxis("bottom").setStyle(showValues=False)
        self.setMinimumHeight(120)
        self.length = length
        self.data = {name: np.full(length, np.nan) for name in series}
        self.curves = {name: self.plot(name=name, pen=pg.mkPen(color, width=2)) for name, color in series.items()}
        self.x = np.arange(length)

    def push(self, values: dict[str, float]) -> None:
        for name, buf in self.data.items():
            buf[:-1] = buf[1:]
            buf[-1] = values.get(name, np.nan)

    def redraw(self) -> None:
        for name, curve in self.curves.items():
            curve.setData(self.x, self.data[name], connect="finite")
