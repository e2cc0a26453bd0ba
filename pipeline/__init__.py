"""meshcam's public API: everything per frame, no Qt.

    from pipeline import FaceTracker, PipelineConfig, open_source, open_sink, run_offline

    tracker = FaceTracker.create(PipelineConfig(max_faces=2))
    with open_source("clip.mp4") as source:
        run_offline(source, tracker, [open_sink("annotated.mp4"), open_sink("landmarks.npz")])

Names are imported lazily (PEP 562), so ``import pipeline`` stays cheap and loads no model.
"""
from __future__ import annotations

import importlib

__version__ = "0.2.0"

_EXPORTS = {
    "FaceTracker": "pipeline.face_tracker",
    "PipelineConfig": "pipeline.config",
    "Submodels": "models.variants",
    "open_source": "pipeline.sources",
    "Frame": "pipeline.sources",
    "FrameSource": "pipeline.sources",
    "open_sink": "pipeline.sinks",
    "register_sink": "pipeline.sinks",
    "Sink": "pipeline.sinks",
    "SinkSet": "pipeline.sinks",
    "MemorySink": "pipeline.sinks",
    "StreamInfo": "pipeline.sinks",
    "run_offline": "pipeline.loops",
    "RunSummary": "pipeline.loops",
    "LiveRunner": "pipeline.loops",
    "annotate": "pipeline.drawing",
    "OverlayStyle": "pipeline.drawing",
    "FrameResult": "pipeline.types",
    "TrackedFace": "pipeline.types",
    "FaceSignals": "pipeline.signals",
    "MeshcamError": "pipeline.errors",
    "InputError": "pipeline.errors",
    "OutputError": "pipeline.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
