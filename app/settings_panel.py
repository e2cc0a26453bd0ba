"""Tracking settings generated from PipelineConfig's field metadata (label, help, range, choices, group), plus
the overlay toggles from OverlayStyle. A new config field shows up here by itself; fields marked gui=False
are hidden. Emits a validated PipelineConfig on every change; never touches the tracker itself."""
from __future__ import annotations

import math

from PyQt6 import QtCore, QtWidgets

from app.overlays import OVERLAY_LABELS, overlay_toggles
from app.plots import COLORS
from app.stats import STAGES
from app.widgets import set_state
from models.variants import PRESETS, Submodels
from pipeline.config import PRESET_HELP, PipelineConfig
from pipeline.drawing import OverlayStyle
from pipeline.errors import ConfigError

# (member, label, what it does). What switching one off saves: the mesh stage per face on 2 shared CPU cores,
# medians of 117 tracked frames of LivePortrait_d10 per submodel set (all on: 2.6 ms; mesh only: 1.8 ms). An iris
# needs its eye's branch, so an eye contour saves most together with its iris.
SUBMODEL_BOXES = (
    (Submodels.LIPS, "Lips", "the lips submodel refines the 80 lip points (off: the mesh's own lip points)"),
    (Submodels.LEFT_EYE, "Left eye", "refines the subject's left eye contour (71 points)"),
    (Submodels.RIGHT_EYE, "Right eye", "refines the subject's right eye contour (71 points)"),
    (Submodels.LEFT_IRIS, "Left iris", "5 iris points of the subject's left eye (off: NaN, no circle)"),
    (Submodels.RIGHT_IRIS, "Right iris", "5 iris points of the subject's right eye (off: NaN, no circle)"),
)
SAVES_MS = {Submodels.LIPS: "0.3 ms", Submodels.LEFT_EYE: "0.3 ms together with its iris",
            Submodels.RIGHT_EYE: "0.3 ms together with its iris", Submodels.LEFT_IRIS: "0.15 ms",
            Submodels.RIGHT_IRIS: "0.15 ms"}


class SettingsPanel(QtWidgets.QWidget):
    config_changed = QtCore.pyqtSignal(object)  # PipelineConfig
    style_changed = QtCore.pyqtSignal(dict)  # OverlayStyle bool field -> value

    def __init__(self, config: PipelineConfig, style: OverlayStyle, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.config = config
        self.widgets: dict[str, QtWidgets.QWidget] = {}
        self.submodel_boxes: dict[Submodels, QtWidgets.QCheckBox] = {}
        self.overlay_boxes: dict[str, QtWidgets.QCheckBox] = {}
        layout = QtWidgets.QVBoxLayout(self)
        groups: dict[str, QtWidgets.QFormLayout] = {}
        for f in PipelineConfig.options():
            if not f.metadata["gui"]:
                continue
            group = f.metadata["group"]
            if group not in groups:
                box = QtWidgets.QGroupBox(group)
                groups[group] = QtWidgets.QFormLayout(box)
                groups[group].setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
                layout.addWidget(box)
            self._add_field(groups[group], f)
        self.stage_label = QtWidgets.QLabel(objectName="stages", wordWrap=True)
        self.stage_label.setToolTip("median milliseconds per frame over the last 30 frames")
        if "Submodels" in groups:
            groups["Submodels"].addRow(self.stage_label)
            groups["Submodels"].addRow(_legend())
        self.provider_label = QtWidgets.QLabel(objectName="provider", wordWrap=True)
        self.provider_label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                                          QtWidgets.QSizePolicy.Policy.Preferred)
        groups.get("Engine", next(iter(groups.values()))).addRow("running on", self.provider_label)
        overlays = QtWidgets.QGroupBox("Overlays")
        grid = QtWidgets.QGridLayout(overlays)
        for i, name in enumerate(overlay_toggles()):
            label, tip = OVERLAY_LABELS.get(name, (name.replace("_", " ").capitalize(), ""))
            box = QtWidgets.QCheckBox(label, toolTip=tip, checked=getattr(style, name))
            box.toggled.connect(lambda on, n=name: self.style_changed.emit({n: on}))
            grid.addWidget(box, i // 2, i % 2)
            self.overlay_boxes[name] = box
        layout.addWidget(overlays)
        layout.addStretch()
        self.set_stage_ms({})

    # ---- generated widgets --------------------------------------------------------------------------
    def _add_field(self, form: QtWidgets.QFormLayout, f) -> None:
        m, value = f.metadata, getattr(self.config, f.name)
        if isinstance(f.default, Submodels):
            self.preset_combo = QtWidgets.QComboBox(objectName="preset")
            self.preset_combo.addItems([*PRESETS, "custom"])
            for i, name in enumerate(PRESETS):
                self.preset_combo.setItemData(i, PRESET_HELP[name], QtCore.Qt.ItemDataRole.ToolTipRole)
            self.preset_combo.setToolTip("\n".join(f"{k}: {v}" for k, v in PRESET_HELP.items()))
            self.preset_combo.activated.connect(lambda i: self._apply_preset(self.preset_combo.currentText()))
            form.addRow("Preset", self.preset_combo)
            grid = QtWidgets.QGridLayout()
            for i, (member, label, tip) in enumerate(SUBMODEL_BOXES):  # lips; left | right eye; left | right iris
                box = QtWidgets.QCheckBox(label, checked=member in value)
                box.setToolTip(self._submodel_tip(member, tip))
                box.toggled.connect(self._submodels_changed)
                grid.addWidget(box, (i + 1) // 2, (i + 1) % 2 if i else 0)
                self.submodel_boxes[member] = box
            form.addRow(grid)
            return
        if isinstance(f.default, bool):
            w = QtWidgets.QCheckBox(m["label"], checked=value)
            w.toggled.connect(lambda on, n=f.name: self._changed(n, on))
            form.addRow(w)
        elif m["choices"] is not None:
            w = QtWidgets.QComboBox()
            w.addItems([str(c) for c in m["choices"]])
            w.setCurrentText(str(value))
            w.activated.connect(lambda _i, n=f.name, w=w: self._changed(n, w.currentText()))
            form.addRow(m["label"], w)
        else:
            integral = isinstance(f.default, int)
            w = QtWidgets.QSpinBox() if integral else QtWidgets.QDoubleSpinBox()
            if not integral:
                w.setDecimals(max(1, -int(math.floor(math.log10(m["step"])))) if m["step"] else 2)
            lo, hi = m["lo"], m["hi"]
            w.setRange(int(lo) if integral else lo, int(hi) if integral else hi)
            w.setSingleStep(int(m["step"] or 1) if integral else (m["step"] or 0.1))
            w.setValue(value if value is not None else w.minimum())
            w.setKeyboardTracking(False)
            w.valueChanged.connect(lambda v, n=f.name: self._changed(n, v))
            form.addRow(m["label"], w)
        w.setToolTip(m["help"])
        self.widgets[f.name] = w

    def _submodel_tip(self, member: Submodels, tip: str) -> str:
        saves = SAVES_MS.get(member)
        return tip + (f".\nOff saves about {saves} per face (of 2.6 ms with all on; 2 CPU cores)" if saves else "")

    def _changed(self, name: str, value) -> None:
        try:
            config = self.config.with_changes(**{name: value})
        except ConfigError as e:
            QtWidgets.QToolTip.showText(self.mapToGlobal(QtCore.QPoint(0, 0)), str(e), self)
            return
        self.config = config
        self.config_changed.emit(config)

    def _submodels_changed(self) -> None:
        value = Submodels.NONE
        for member, box in self.submodel_boxes.items():
            if box.isChecked():
                value |= member
        self._show_preset(value)
        self._changed("submodels", value)

    def _show_preset(self, value: Submodels) -> None:
        name = next((k for k, v in PRESETS.items() if v == value), "custom")
        self.preset_combo.setCurrentText(name)

    def _apply_preset(self, name: str) -> None:
        if name not in PRESETS:
            return
        for member, box in self.submodel_boxes.items():
            box.blockSignals(True)
            box.setChecked(member in PRESETS[name])
            box.blockSignals(False)
        self._submodels_changed()

    # ---- from the window ----------------------------------------------------------------------------
    def toggle_submodels(self, members: Submodels) -> None:
        """Keys 1/2/3: all of ``members`` off if any is on, else all on."""
        boxes = [b for m, b in self.submodel_boxes.items() if m in members]
        on = not any(b.isChecked() for b in boxes)
        for b in boxes:
            b.blockSignals(True)
            b.setChecked(on)
            b.blockSignals(False)
        self._submodels_changed()

    def set_config(self, config: PipelineConfig) -> None:
        """Show ``config`` without emitting (a reverted provider, remembered settings)."""
        self.config = config
        for name, w in self.widgets.items():
            w.blockSignals(True)
            value = getattr(config, name)
            if isinstance(w, QtWidgets.QCheckBox):
                w.setChecked(value)
            elif isinstance(w, QtWidgets.QComboBox):
                w.setCurrentText(str(value))
            elif value is not None:
                w.setValue(value)
            w.blockSignals(False)
        for member, box in self.submodel_boxes.items():
            box.blockSignals(True)
            box.setChecked(member in config.submodels)
            box.blockSignals(False)
        if self.submodel_boxes:
            self._show_preset(config.submodels)

    def set_provider_status(self, text: str, warn: bool) -> None:
        self.provider_label.setText(text)
        set_state(self.provider_label, "warn", warn)

    def set_stage_ms(self, medians: dict[str, float]) -> None:
        cells = []
        for k in STAGES:
            v = medians.get(k, float("nan"))
            shown = "–" if not math.isfinite(v) else f"{v:.1f}" if v < 100 else f"{v:.0f}"
            cells.append(f"<td style='color:{COLORS['stages'][k]}'>{k}</td><td align=right><b>{shown}</b></td>")
        rows = "".join(f"<tr>{a}{b}</tr>" for a, b in zip(cells[::2], [*cells[1::2], ""]))
        self.stage_label.setText(f"<table cellspacing=3>{rows}</table><span style='color:#8a93a6'>median ms per "
                                 "frame</span>")

    def update_measured(self, mesh_ms) -> None:
        """Tooltips say what this machine measured: mesh ms per face with everything on and with this off."""
        full = mesh_ms(Submodels.ALL)
        for member, _label, tip in SUBMODEL_BOXES:
            without = mesh_ms(Submodels.ALL & ~member)
            extra = ""
            if full is not None and without is not None:
                extra = f"\nmeasured here: mesh {full:.2f} ms per face with it, {without:.2f} ms without"
            self.submodel_boxes[member].setToolTip(self._submodel_tip(member, tip) + extra)


def _legend() -> QtWidgets.QLabel:
    c = COLORS["overlay"]
    return QtWidgets.QLabel(
        f"<span style='color:{c['lips_submodel']}'>■</span><span style='color:{c['eyes_submodel']}'>■</span>"
        f"<span style='color:{c['iris_submodel']}'>■</span> from a submodel &nbsp; "
        f"<span style='color:{c['mesh_only']}'>■</span> mesh only", wordWrap=True)

