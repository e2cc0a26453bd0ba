"""The window's side of the live session: a source started or failed, sessions (re)built, a camera in
trouble, and each new frame (video, HUD, plots, stage numbers, signals, status bar)."""
from __future__ import annotations

import time

from app import persist
from app.seekable import SeekableVideoSource
from app.stats import STAGES, LiveStats


class FrameHandlers:
    """Mixed into MainWindow; uses its view stack, plots, panels and status labels."""

    def _set_mirror(self, on: bool) -> None:
        """Display only: what is recorded or sent stays in source orientation."""
        self.stack.view.set_mirror(on)
        self.store.setValue(getattr(self, "_mirror_key", "view/mirror_camera"), on)

    def _on_started(self, source) -> None:
        self.stack.show_video()
        self.banner.hide()
        if self.stats is not None:
            self.stats.reset()
        self.plots.reset()
        self.signals_panel.clear()
        self.last, self._faults_seen = None, 0
        self.setWindowTitle(f"meshcam — {self.live.label}")
        self.sources.description.setText(source.description)
        self.sources.set_kind(source.live)
        self._mirror_key = "view/mirror_camera" if source.live else "view/mirror_file"
        box = self.sources.mirror_box  # selfie view for cameras by default, files as they are
        box.blockSignals(True)
        box.setChecked(persist.get_bool(self.store, self._mirror_key, source.live))
        box.blockSignals(False)
        self.stack.view.set_mirror(box.isChecked())
        self.transport.set_seekable(getattr(source, "duration_ms", None))
        self.status_labels["size"].setText(f"  {source.size[0]}×{source.size[1]}  ")
        self.left.setSizes([int(self.left.height() * 0.7), int(self.left.height() * 0.3)])

    def _on_ended(self) -> None:
        """A file played once reached its end: stay on its last frame, paused; Space plays it again."""
        self.statusBar().showMessage("end of the video (Space plays it again)")
        self.transport.pause_button.setChecked(True)

    def _on_failed(self, kind: str, message: str) -> None:
        if kind == "source" and self.last is None:
            what = "No camera found" if self.is_camera else "Cannot open this source"
            self.stack.show_message(f"{what}\n{message}")
            self.sources.description.setText(message)
        else:
            self.banner.show_message(message)

    def _on_camera_status(self, text: str, faults: int) -> None:
        self.sources.description.setText(f"⚠ {text}" if text else self.live.runner.source.description)
        lost, self._faults_seen = faults > getattr(self, "_faults_seen", 0), faults
        if lost:
            self.banner.show_message(f"camera lost: {text}", "warn")
            if self.recorder.active is not None:  # finalise now: the file stays playable whatever happens next
                self.stop_recording(reason=f"camera lost: {text}")

    def _on_provider(self, tracker) -> None:
        if self.stats is None:
            self.stats = LiveStats(tracker.topology.region_indices())
        self.stats.reset()
        self.plots.reset()
        p, asked = tracker.provider, tracker.config.provider
        self.settings_panel.set_provider_status(f"{p.name.upper()}: {p.reason}", asked not in ("auto", p.name))
        self.status_labels["provider"].setText(f"  {p.name.upper()}  ")

    # ---- frames -------------------------------------------------------------------------------------
    def _on_frame(self, result, annotated) -> None:
        runner, now = self.live.runner, time.perf_counter()
        self.last = (result, annotated)
        self.frames_shown += 1
        if runner is not None and self.stats is not None:
            self.stats.on_counts(now, runner.processed, runner.reader.delivered + runner.reader.dropped)
            jitter = self.stats.on_result(result)
            fps = self.stats.processed.rate
            self.plots.fps.push(now, {"processed": fps, "capture": self.stats.captured.rate})
            self.plots.latency.push(now, {k: result.timings_ms.get(k, float("nan")) for k in STAGES})
            self.plots.jitter.push(now, jitter)
            self.stack.view.hud_lines = [f"{fps:4.1f} fps   {len(result.faces)} face(s)   "
                                         f"{runner.tracker.provider.name.upper()}"] if self.base_style.hud else []
        self.stack.view.show_frame(annotated)
        if self.signals_panel.isVisible():  # its redraw is not free
            face = result.faces[0] if result.faces else None
            self.signals_panel.update_signals(face.signals if face else None, now)
        if now - self._last_ui > 0.2:  # numbers and plots at 5 Hz are plenty (and cheap)
            self._last_ui = now
            self._refresh(now, result, runner)
        self.frame_shown.emit(self.frames_shown)

    def _refresh(self, now: float, result, runner) -> None:
        self.plots.redraw(now)
        if self.stats is not None:
            self.settings_panel.set_stage_ms(self.stats.stage_medians())
            self.settings_panel.update_measured(self.stats.mesh_ms)
        self.status_labels["faces"].setText(f"  faces: {len(result.faces)}  ")
        if runner is not None:
            self.status_labels["dropped"].setText(f"  dropped: {runner.dropped}  ")
            if isinstance(runner.source, SeekableVideoSource):
                self.transport.set_position(runner.source.position_ms)
        if self.recorder.active is not None:
            self.record_panel.set_status(f"● {self.recorder.active.video.path.name}  "
                                         f"{self.recorder.active.elapsed_s:.0f} s", "rec")
        self.outputs.refresh()

