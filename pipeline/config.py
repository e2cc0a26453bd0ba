"""PipelineConfig: the one validated set of tracking options behind the CLI, the GUI and the tests."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from models.runtime import PROVIDERS


@dataclass(frozen=True)
class PipelineConfig:
    """Tracking options.

    Attributes:
        max_faces: faces tracked at once (the detector runs while fewer are tracked).
        min_detection_confidence: BlazeFace score threshold for a new face.
        min_presence_confidence: face-flag threshold under which a tracked face is dropped.
        lips / eyes / iris: attention-mesh submodels to run (off = not computed at all).
        smooth: One Euro smoothing of landmarks.
        smooth_min_cutoff: One Euro minimum cutoff (Hz) on scale-normalised motion; lower = steadier.
        smooth_beta: One Euro speed coefficient; higher = less lag on fast motion.
        smooth_d_cutoff: One Euro cutoff (Hz) of the derivative estimate.
        provider: 'auto' (CUDA when usable, else CPU), 'cpu' or 'cuda'.
        threads: onnxruntime intra-op threads per session (None = min(4, cores)).
    """
    max_faces: int = 1
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    lips: bool = True
    eyes: bool = True
    iris: bool = True
    smooth: bool = True
    # Chosen on the jitter rig (`python -m benchmarks.tune_smoothing`, README "Smoothing"): the lowest
    # still-face jitter with <= 1 frame of lag and no more error than raw on a moving face.
    smooth_min_cutoff: float = 0.5
    smooth_beta: float = 40.0
    smooth_d_cutoff: float = 1.0
    provider: str = "auto"
    threads: int | None = None

    def __post_init__(self):
        if not isinstance(self.max_faces, int) or not 1 <= self.max_faces <= 20:
            raise ValueError(f"max_faces must be an integer from 1 to 20, not {self.max_faces!r}")
        for name in ("min_detection_confidence", "min_presence_confidence"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                raise ValueError(f"{name} must be between 0 and 1, not {v!r}")
        for name in ("smooth_min_cutoff", "smooth_beta", "smooth_d_cutoff"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, not {v!r}")
        if self.smooth_min_cutoff == 0 or self.smooth_d_cutoff == 0:
            raise ValueError("smooth_min_cutoff and smooth_d_cutoff must be > 0")
        if self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, not {self.provider!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or not 1 <= self.threads <= 64):
            raise ValueError(f"threads must be an integer from 1 to 64, not {self.threads!r}")

    @property
    def submodels(self) -> tuple[bool, bool, bool]:
        return (self.lips, self.eyes, self.iris)

    def with_changes(self, **changes) -> "PipelineConfig":
        """A validated copy with ``changes`` applied (unknown names raise TypeError)."""
        return replace(self, **changes)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
