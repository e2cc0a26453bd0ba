"""The window's responsiveness while a clip plays (benchmarks/gui_responsiveness.py prints it).

A 5 ms Qt timer records the gaps between event-loop turns after a warm-up: a gap is time the GUI thread could
not answer a click or a key.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

WARMUP_S = 3.0


def measure(clip: str, seconds: float) -> dict:
    from PyQt6 import QtCore, QtWidgets

    from app.launch import apply_theme
    from app.main_window import MainWindow
    from pipeline.config import PipelineConfig
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    apply_theme(app)
    # throw-away settings and output folder: a measurement must not change what the user's app remembers
    scratch = tempfile.mkdtemp(prefix="meshcam-responsiveness-")
    settings = QtCore.QSettings(str(Path(scratch) / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(PipelineConfig(provider="cpu"), clip, record_dir=Path(scratch) / "out", settings=settings)
    window.resize(1280, 800)
    window.show()
    ticks: list[float] = []
    shown: list[int] = []
    timer = QtCore.QTimer(interval=5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def start() -> None:
        shown.append(window.frames_shown)
        timer.start()
    QtCore.QTimer.singleShot(int(WARMUP_S * 1000), start)
    QtCore.QTimer.singleShot(int((WARMUP_S + seconds) * 1000), app.quit)
    app.exec()
    frames = window.frames_shown - shown[0]
    window.close()
    shutil.rmtree(scratch, ignore_errors=True)
    gaps = np.diff(ticks) * 1000
    return {"clip": Path(clip).name, "seconds": seconds, "median_gap_ms": float(np.median(gaps)),
            "p99_gap_ms": float(np.percentile(gaps, 99)), "max_gap_ms": float(gaps.max()),
            "frames_shown_per_s": frames / seconds}
