"""The menu bar and the keyboard shortcuts (one table, also shown in Help > Keyboard shortcuts)."""
from __future__ import annotations

from PyQt6 import QtGui, QtWidgets

import pipeline

SHORTCUTS = (
    ("Space", "pause / resume"), (".", "one frame forward while paused"), ("R", "record / stop"),
    ("S", "snapshot: PNG + landmarks"), ("M", "mirror the view"), ("1 / 2 / 3", "lips / eyes / irises submodels"),
    ("F / F11", "full screen"), ("Ctrl+O", "open a file"), ("Ctrl+Q", "quit"),
)


def build_menus(window) -> dict[str, QtGui.QAction]:
    """File/View/Help menus wired to the window's methods; returns the actions by name."""
    bar = window.menuBar()
    actions: dict[str, QtGui.QAction] = {}

    def add(menu, name, text, slot, shortcut=None, checkable=False):
        action = QtGui.QAction(text, window, checkable=checkable)
        if shortcut:
            action.setShortcuts([QtGui.QKeySequence(s) for s in shortcut.split("|")])
        action.triggered.connect(slot)
        menu.addAction(action)
        actions[name] = action
        return action

    file_menu = bar.addMenu("&File")
    add(file_menu, "open", "&Open video or image…", window.sources.choose_file, "Ctrl+O")
    add(file_menu, "camera", "Open &camera", window.open_selected_camera)
    window.recent_menu = file_menu.addMenu("Open &recent")
    file_menu.addSeparator()
    add(file_menu, "record", "&Record", window.transport.record_button.toggle, "R")
    add(file_menu, "snapshot", "&Snapshot", window.snapshot, "S")
    file_menu.addSeparator()
    add(file_menu, "quit", "&Quit", window.close, "Ctrl+Q")

    view = bar.addMenu("&View")
    add(view, "plots", "&Plots", lambda on: window.plot_tabs.setVisible(on), checkable=True).setChecked(True)
    add(view, "panel", "Side &panel", lambda on: window.side.setVisible(on), checkable=True).setChecked(True)
    add(view, "fullscreen", "&Full screen", window.toggle_fullscreen, "F|F11")

    help_menu = bar.addMenu("&Help")
    add(help_menu, "keys", "&Keyboard shortcuts", lambda: QtWidgets.QMessageBox.information(
        window, "Keyboard shortcuts", "\n".join(f"{k}\t{what}" for k, what in SHORTCUTS)))
    add(help_menu, "about", "&About meshcam", lambda: QtWidgets.QMessageBox.about(
        window, "About meshcam", f"<b>meshcam {pipeline.__version__}</b><p>Real-time 478-point face tracking "
        "(MediaPipe Attention Mesh on onnxruntime).</p>"))

    for key, slot in ((" ", window.transport.pause_button.toggle), (".", window.live_step),
                      ("M", window.sources.mirror_box.toggle)):
        QtGui.QShortcut(QtGui.QKeySequence(key), window, activated=slot)
    from models.variants import Submodels
    for key, members in (("1", Submodels.LIPS), ("2", Submodels.EYES), ("3", Submodels.IRISES)):
        QtGui.QShortcut(QtGui.QKeySequence(key), window,
                        activated=lambda m=members: window.settings_panel.toggle_submodels(m))
    return actions


def fill_recent(window, paths: list[str]) -> None:
    window.recent_menu.clear()
    for p in paths:
        window.recent_menu.addAction(p, lambda p=p: window.open_file(p))
    window.recent_menu.setEnabled(bool(paths))
