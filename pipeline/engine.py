"""Builds the detector and mesh from the model registry on the chosen provider (the only place that
turns model files into sessions for the pipeline)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from models.registry import ModelSet, ensure_models
from models.runtime import ProviderChoice, choose_provider, make_session, session_provider
from models.variants import all_variants
from pipeline.detector import FaceDetector
from pipeline.mesh import FaceMesh

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Engine:
    detector: FaceDetector
    mesh: FaceMesh
    provider: ProviderChoice
    topology: dict
    models: ModelSet


def load_engine(provider: str = "auto", threads: int | None = None, min_detection_confidence: float = 0.5,
                variants=None) -> Engine:
    """Convert models if needed and open every session (all mesh variants, so toggles never stall)."""
    models = ensure_models()
    choice = choose_provider(provider)
    det_session = make_session(models.path("face_detection_short_range"), choice, threads)
    sessions = {v: make_session(models.attention_variant(*v), choice, threads) for v in (variants or all_variants())}
    actual = session_provider(det_session)
    if actual != choice.name:  # the provider loaded but refused these graphs
        choice = ProviderChoice(actual, f"{choice.name} could not run the models; using {actual}")
    log.info("inference on %s (%s)", choice.name.upper(), choice.reason)
    topology = models.topology()
    return Engine(FaceDetector(det_session, min_detection_confidence), FaceMesh(sessions, topology), choice,
                  topology, models)
