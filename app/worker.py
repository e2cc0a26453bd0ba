"""Blocking calls (loading models, opening a camera or a file) on a plain thread, answered on the GUI thread.

The GUI thread must never wait on a model load or a device: ``submit`` starts a daemon thread and the
callback runs later on the GUI thread through a queued Qt signal. Each call gets a ticket so an answer that
is no longer wanted (the user already picked another source) can be dropped by the caller.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from PyQt6 import QtCore

log = logging.getLogger(__name__)


class Worker(QtCore.QObject):
    _answered = QtCore.pyqtSignal(int, object, object)  # ticket, result, exception or None

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self._callbacks: dict[int, Callable[[object, Exception | None], None]] = {}
        self._threads: list[threading.Thread] = []
        self._next = 0
        self._answered.connect(self._deliver)

    def submit(self, fn: Callable[[], object], on_done: Callable[[object, Exception | None], None]) -> int:
        """Run ``fn()`` off the GUI thread; ``on_done(result, error)`` runs on the GUI thread."""
        self._next += 1
        ticket = self._next
        self._callbacks[ticket] = on_done

        def run() -> None:
            try:
                result, error = fn(), None
            except Exception as e:  # noqa: BLE001 - handed to the GUI, which says what failed
                result, error = None, e
            try:
                self._answered.emit(ticket, result, error)
            except RuntimeError:  # the window is gone: nobody wants the answer any more
                _dispose(result)

        thread = threading.Thread(target=run, name=f"worker-{ticket}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return ticket

    def wait(self, timeout_s: float) -> bool:
        """Wait (at exit) for calls still running: a model load cut off by the interpreter's exit aborts the
        process inside onnxruntime. True when none is left."""
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    @property
    def busy(self) -> bool:
        return bool(self._callbacks)

    def _deliver(self, ticket: int, result: object, error: Exception | None) -> None:
        callback = self._callbacks.pop(ticket, None)
        if callback is None:
            _dispose(result)
            return
        callback(result, error)


def _dispose(result: object) -> None:
    close = getattr(result, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # noqa: BLE001
            log.debug("closing an unwanted result failed", exc_info=True)
