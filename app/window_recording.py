"""The window's recording and snapshot actions (R, S): start/stop through the RecordingController, say what
was saved (panel, status bar, terminal) and show failures in the persistent banner."""
from __future__ import annotations

from app.recording import save_snapshot
from pipeline.errors import MeshcamError


class RecordingActions:
    """Mixed into MainWindow; uses its live session, recorder, record panel, transport bar and banner."""

    def toggle_record(self, on: bool) -> None:
        if not on:
            self.stop_recording()
            return
        try:
            rec = self.recorder.start(self.live.runner, self.record_folder, self.record_panel.landmarks_box.isChecked(),
                                      self.record_panel.raw_box.isChecked())
        except MeshcamError as e:
            self._uncheck_record()
            self.record_panel.set_status(str(e), "error")
            self.banner.show_message(str(e), "warn")
            return
        self.record_panel.set_status(f"● recording {rec.video.path.name}", "rec")

    def stop_recording(self, runner=None, error: Exception | None = None, reason: str = "") -> None:
        message = self.recorder.stop(runner or self.live.runner, error, reason)
        self._uncheck_record()
        if message is None:
            return
        failed = message.startswith("recording failed")
        if reason:
            self.banner.show_message(message, "warn")
        self.record_panel.set_status(message, "error" if failed else "ok")
        self.statusBar().showMessage(message, 10000)
        print(f"meshcam: {message}", flush=True)
        if failed:
            self.banner.show_message(message)

    def _uncheck_record(self) -> None:
        button = self.transport.record_button
        button.blockSignals(True)
        button.setChecked(False)
        button.blockSignals(False)

    def _on_sink_failed(self, sink, error: Exception) -> None:
        if self.recorder.owns(sink):
            self.stop_recording(error=error)
        else:
            self.outputs.handle_sink_error(sink, error)

    def snapshot(self) -> None:
        tracker = self.live.tracker
        if self.last is None or tracker is None:
            self.banner.show_message("nothing to snapshot yet: open a camera or a video first", "warn")
            return
        try:
            path = save_snapshot(self.snapshot_folder, *self.last, self.live.config.max_faces,
                                 tracker.blendshape_names)
        except MeshcamError as e:
            self.banner.show_message(f"snapshot failed: {e}")
            return
        self.statusBar().showMessage(f"saved {path} (+ landmarks {path.with_suffix('.npz').name})", 8000)
        print(f"meshcam: saved {path} and {path.with_suffix('.npz').name}", flush=True)

