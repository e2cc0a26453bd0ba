"""PipelineConfig: the one validated set of tracking options. Each field carries its label, help, range and
step as metadata; the CLI flags (``pipeline.cli_options``) and the GUI settings panel are generated from it,
so a new option is one field here."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from models.runtime import PROVIDERS
from models.variants import Submodels
from pipeline.errors import ConfigError
from pipeline.smoothing import DEFAULT_BETA, DEFAULT_D_CUTOFF, DEFAULT_MIN_CUTOFF

# Submodel presets as the user sees them (models.variants.PRESETS holds the sets). Measured by `meshcam bench`
# (1 face, smoothing on, interleaved with MediaPipe on the same frames; accuracy on 8 shared photos) on two 2-core
# VMs; the ratio depends on the CPU (README, Benchmarks).
PRESET_HELP = {
    "full": "every submodel: lips, eyes, irises (0.77-0.81x MediaPipe's time a frame on one 2-core CPU, 0.91-0.94x "
            "on another: it depends on the CPU; its refined output to 0.01 % IOD)",
    "balanced": "lips only, no eye refinement or irises (0.69-0.72x or 0.81-0.83x MediaPipe's time; 0.34 % IOD from "
                "its refined output)",
    "fast": "the mesh alone, no irises (0.57-0.59x or 0.69-0.70x MediaPipe's time; 0.79 % IOD from its refined "
            "output)",
}
DETECTORS = ("short", "full")  # BlazeFace short range (faces >= ~1/8 of the frame) / full range (sparse)
QUALITIES = ("live", "best")  # best: offline zero-lag smoothing + flip test-time augmentation (files only)


def option(default: Any, label: str, help: str, *, group: str = "Tracking", lo: float | None = None,
           hi: float | None = None, step: float | None = None, choices: tuple | None = None,
           cli: bool = True, gui: bool = True, live: bool = True) -> Any:
    """A config field with what the CLI and the GUI need to show it.

    ``live``: the change applies on the next frame without reloading models (provider and detector
    need a reload, which the tracker does off the GUI thread).
    """
    meta = dict(label=label, help=help, group=group, lo=lo, hi=hi, step=step, choices=choices, cli=cli, gui=gui,
                live=live)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class PipelineConfig:
    """Tracking options (see each field's help)."""
    max_faces: int = option(1, "Max faces", "faces tracked at once (the detector runs while fewer are tracked)",
                            lo=1, hi=20, step=1)
    detector: str = option("short", "Detector", "face detector: 'short' range (faces over ~1/8 of the frame, "
                           "fastest) or 'full' range (small and distant faces)", choices=DETECTORS, live=False)
    min_detection_confidence: float = option(0.5, "Detection threshold", "detector score needed for a new face",
                                             lo=0.0, hi=1.0, step=0.05)
    min_presence_confidence: float = option(0.5, "Presence threshold",
                                            "face-flag score under which a tracked face is dropped",
                                            lo=0.0, hi=1.0, step=0.05)
    submodels: Submodels = option(Submodels.ALL, "Submodels",
                                  "attention-mesh submodels to run; off = not computed at all "
                                  "(lips, eyes, irises, per side: left_eye, right_iris, ...; 'none' = mesh only)",
                                  group="Submodels")
    signals: bool = option(True, "Face signals", "head pose, expression coefficients and gaze per face",
                           group="Signals")
    smooth: bool = option(True, "Smoothing", "two-level One Euro smoothing of the landmarks", group="Smoothing")
    # Speeds are measured in units of each face's own landmark noise (estimated online), so one setting holds
    # for any face; see pipeline/smoothing.py and README "Smoothing".
    smooth_min_cutoff: float = option(DEFAULT_MIN_CUTOFF, "Min cutoff (Hz)", "One Euro cutoff of a still face; "
                                      "lower = steadier", group="Smoothing", lo=0.01, hi=30.0, step=0.1)
    smooth_beta: float = option(DEFAULT_BETA, "Beta", "how fast the cutoff opens, in Hz per noise-sigma of speed; "
                                "higher = less lag on fast motion", group="Smoothing", lo=0.0, hi=20.0, step=0.1)
    smooth_d_cutoff: float = option(DEFAULT_D_CUTOFF, "Speed cutoff (Hz)", "One Euro cutoff of the speed estimate",
                                    group="Smoothing", lo=0.01, hi=30.0, step=0.1)
    quality: str = option("live", "Quality", "'best' (files only): the mesh also runs on the mirrored crop "
                          "(2x mesh cost per frame, 4x per photo) and every track is smoothed forwards and "
                          "backwards (zero lag); 'live' for cameras", choices=QUALITIES, gui=False)
    provider: str = option("auto", "Provider", "inference provider: auto (CUDA when usable, else CPU), cpu, cuda",
                           group="Engine", choices=PROVIDERS, live=False)
    threads: int | None = option(None, "Threads",
                                 "onnxruntime threads per session (default: 1, the fastest for these small models)",
                                 group="Engine", lo=1, hi=64, step=1, gui=False, live=False)

    def __post_init__(self):
        for f in fields(self):
            _validate(f, getattr(self, f.name))
        if self.smooth_min_cutoff == 0 or self.smooth_d_cutoff == 0:
            raise ConfigError("smooth_min_cutoff and smooth_d_cutoff must be > 0")

    def with_changes(self, **changes) -> PipelineConfig:
        """A validated copy with ``changes`` applied (unknown names raise TypeError)."""
        return replace(self, **changes)

    def needs_reload(self, other: PipelineConfig) -> bool:
        """True when going from self to ``other`` needs new sessions (provider, threads, detector)."""
        return any(getattr(self, f.name) != getattr(other, f.name) for f in fields(self) if not f.metadata["live"])

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def options(cls) -> list:
        """The fields with their metadata, in declaration order (for CLI/GUI generators)."""
        return list(fields(cls))


def _validate(f, value) -> None:
    m, name = f.metadata, f.name
    if f.type in ("Submodels",) or isinstance(f.default, Submodels):
        if not isinstance(value, Submodels):
            raise ConfigError(f"{name} must be a Submodels flag, not {value!r}")
        return
    if m["choices"] is not None:
        if value not in m["choices"]:
            raise ConfigError(f"{name} must be one of {', '.join(m['choices'])}, not {value!r}")
        return
    if isinstance(f.default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, not {value!r}")
        return
    if value is None and f.default is None:
        return
    integral = isinstance(f.default, int) or f.default is None
    if integral and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{name} must be an integer from {m['lo']:g} to {m['hi']:g}, not {value!r}")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, not {value!r}")
    if (m["lo"] is not None and value < m["lo"]) or (m["hi"] is not None and value > m["hi"]):
        raise ConfigError(f"{name} must be from {m['lo']:g} to {m['hi']:g}, not {value!r}")

