"""``run_app``: check the display, start Qt, open the window, and make sure recordings are finalised however
the app ends (window closed, Ctrl-C / SIGTERM in the terminal, an unexpected exception).

Scripted runs (``--screenshot PNG --quit-after-frames N``) save a picture of the window after N frames and
exit 0, or print one line and exit 2 when the source or the models cannot be opened (never hang).
"""
from __future__ import annotations

import logging
import signal
import sys
import traceback
from pathlib import Path

from app.system_check import check_display
from pipeline.config import PipelineConfig
from pipeline.errors import MeshcamError

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parents[1] / "assets"
SCRIPTED_TIMEOUT_S = 120  # a scripted run that shows no frame by then fails instead of hanging
WORKER_EXIT_WAIT_S = 60  # at exit, how long a model load or a camera open still running may take to finish


def apply_theme(app) -> None:
    """Fusion with a dark palette (so natively drawn check marks and spin arrows are light on dark), plus
    the style sheet."""
    from PyQt6 import QtGui
    app.setStyle("Fusion")
    palette = QtGui.QPalette()
    roles = QtGui.QPalette.ColorRole
    for role, color in ((roles.Window, "#171b24"), (roles.WindowText, "#d8dce6"), (roles.Base, "#0f131a"),
                        (roles.AlternateBase, "#1c2230"), (roles.Text, "#e8ecf4"), (roles.Button, "#263042"),
                        (roles.ButtonText, "#e8ecf4"), (roles.Highlight, "#3d7bfd"),
                        (roles.HighlightedText, "#ffffff"), (roles.ToolTipBase, "#202837"),
                        (roles.ToolTipText, "#e8ecf4"), (roles.PlaceholderText, "#7d8799"), (roles.Mid, "#3a4660"),
                        (roles.Dark, "#0b0e13"), (roles.Light, "#8a98b3")):
        palette.setColor(role, QtGui.QColor(color))
    app.setPalette(palette)
    app.setStyleSheet((ASSETS / "style.qss").read_text())


def install_exit_paths(app, window) -> None:
    """Ctrl-C and SIGTERM close the window (finalising recordings); an uncaught exception is logged, shown,
    and recordings are finalised before anything else can go wrong."""
    from PyQt6 import QtCore, QtWidgets

    def on_signal(signum, _frame):
        print(f"meshcam: {signal.Signals(signum).name}: closing", file=sys.stderr, flush=True)
        window.close()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    wake = QtCore.QTimer(window, interval=200)  # lets Python run its signal handlers while Qt's loop waits
    wake.timeout.connect(lambda: None)
    wake.start()

    def excepthook(kind, value, tb):
        text = "".join(traceback.format_exception(kind, value, tb))
        log.error("unexpected error:\n%s", text)
        try:
            window.stop_recording()
        except Exception:  # noqa: BLE001 - finalising is best effort here
            log.exception("could not finalise the recording")
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Critical, "meshcam: unexpected error",
                                    f"{kind.__name__}: {value}\n\nAny recording was finalised; the details are in "
                                    "the terminal log.", parent=window)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # not exec(): the app keeps running (and a scripted run keeps its deadline)

    sys.excepthook = excepthook


class ScriptedRun:
    """--quit-after-frames / --screenshot: finish after N frames, or fail with one line and exit code 2."""

    def __init__(self, window, frames: int | None, screenshot: str | None):
        from PyQt6 import QtCore
        self.window, self.frames, self.screenshot = window, frames or 1, screenshot
        self.exit_code = 0
        window.frame_shown.connect(self._on_frame)
        window.live.failed.connect(self._on_failed)
        QtCore.QTimer.singleShot(SCRIPTED_TIMEOUT_S * 1000, lambda: self._fail(
            f"no frame after {SCRIPTED_TIMEOUT_S} s"))

    def _on_frame(self, shown: int) -> None:
        if shown < self.frames or self.exit_code:
            return
        self.frames = 1 << 62
        if self.screenshot:
            from PyQt6 import QtWidgets
            self.window.plots.redraw(__import__("time").perf_counter())
            QtWidgets.QApplication.processEvents()
            if not self.window.grab().save(self.screenshot):
                self._fail(f"could not save the screenshot {self.screenshot}")
                return
        self.window.close()

    def _on_failed(self, kind: str, message: str) -> None:
        self._fail(message)

    def _fail(self, message: str) -> None:
        if self.exit_code or not self.window.isVisible():
            return
        self.exit_code = 2
        print(f"meshcam: error: {message}", file=sys.stderr, flush=True)
        self.window.close()


def run_app(args, config: PipelineConfig) -> int:
    """Open the window (the last source used, else camera 0, unless --source) and run the Qt event loop."""
    problem = check_display()
    if problem:
        raise MeshcamError(problem)
    from PyQt6 import QtGui, QtWidgets

    from app import persist
    from app.main_window import MainWindow
    from pipeline.config_cli import config_from_args

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("meshcam")
    app.setOrganizationName("meshcam")
    app.setWindowIcon(QtGui.QIcon(str(ASSETS / "icon.svg")))
    apply_theme(app)
    store = persist.open_settings()
    config = config_from_args(args, persist.load_config(store, config))  # flags given now beat remembered ones
    record_dir = Path(args.record_dir).expanduser() if getattr(args, "record_dir", None) else None
    if getattr(args, "lipstick", None):
        from pipeline.lipstick import LipstickStyle
        LipstickStyle.parse(args.lipstick)  # a bad colour is one line on the terminal, before any window
    window = MainWindow(config, getattr(args, "source", None), record_dir=record_dir, settings=store)
    window.outputs.apply_args(args)
    scripted = None
    if getattr(args, "quit_after_frames", None) or getattr(args, "screenshot", None):
        scripted = ScriptedRun(window, args.quit_after_frames, args.screenshot)
    install_exit_paths(app, window)
    window.show()
    app.exec()
    if not window.live.worker.wait(WORKER_EXIT_WAIT_S):
        log.warning("a model load or source open was still running at exit")
    return scripted.exit_code if scripted else 0
