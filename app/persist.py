"""Settings remembered between runs (QSettings, INI format in the user's config folder): tracking options,
overlay toggles, camera and format, mirror, loop, window geometry, output folder, outputs, recent files.

Stored values are read defensively: anything missing, of the wrong type or out of range falls back to the
default, so an old or hand-edited file never stops the app from starting.
"""
from __future__ import annotations

import logging
from dataclasses import fields, replace
from pathlib import Path

from PyQt6 import QtCore

from app.overlays import overlay_toggles
from models.variants import Submodels
from pipeline.config import PipelineConfig
from pipeline.drawing import OverlayStyle
from pipeline.errors import ConfigError

log = logging.getLogger(__name__)
MAX_RECENT = 8


def open_settings() -> QtCore.QSettings:
    return QtCore.QSettings(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, "meshcam", "meshcam")


def get_bool(s: QtCore.QSettings, key: str, default: bool) -> bool:
    v = s.value(key, default)
    return v if isinstance(v, bool) else str(v).lower() in ("true", "1", "yes") if v is not None else default


def get_float(s: QtCore.QSettings, key: str, default: float, lo: float | None = None, hi: float | None = None) -> float:
    try:
        v = float(s.value(key, default))
    except (TypeError, ValueError):
        return default
    if (lo is not None and v < lo) or (hi is not None and v > hi) or v != v:
        return default
    return v


def load_config(s: QtCore.QSettings, base: PipelineConfig = PipelineConfig()) -> PipelineConfig:
    """``base`` with every remembered GUI setting that is still valid."""
    config = base
    for f in fields(PipelineConfig):
        key = f"config/{f.name}"
        if not f.metadata["gui"] or not s.contains(key):
            continue
        raw = s.value(key)
        try:
            if isinstance(f.default, Submodels):
                value = Submodels.parse(str(raw))
            elif isinstance(f.default, bool):
                value = get_bool(s, key, f.default)
            elif f.metadata["choices"] is not None:
                value = str(raw)
            elif isinstance(f.default, int):
                value = int(raw)
            else:
                value = float(raw)
            config = config.with_changes(**{f.name: value})
        except (ConfigError, ValueError, TypeError) as e:
            log.debug("ignoring remembered %s=%r: %s", f.name, raw, e)
    return config


def save_config(s: QtCore.QSettings, config: PipelineConfig) -> None:
    for f in fields(PipelineConfig):
        if f.metadata["gui"]:
            value = getattr(config, f.name)
            s.setValue(f"config/{f.name}", value.label if isinstance(value, Submodels) else value)


def load_style(s: QtCore.QSettings, base: OverlayStyle = OverlayStyle()) -> OverlayStyle:
    return replace(base, **{n: get_bool(s, f"overlay/{n}", getattr(base, n)) for n in overlay_toggles()})


def save_style(s: QtCore.QSettings, style: OverlayStyle) -> None:
    for n in overlay_toggles():
        s.setValue(f"overlay/{n}", getattr(style, n))


def recent_files(s: QtCore.QSettings) -> list[str]:
    value = s.value("recent", [])
    paths = [value] if isinstance(value, str) else list(value or [])
    return [p for p in paths if Path(p).exists()][:MAX_RECENT]


def add_recent(s: QtCore.QSettings, path: str) -> list[str]:
    path = str(Path(path).resolve())
    paths = [path, *(p for p in recent_files(s) if p != path)][:MAX_RECENT]
    s.setValue("recent", paths)
    return paths
