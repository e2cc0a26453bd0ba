"""Builds the detector and mesh from the model registry on the chosen provider (the only place that
turns model files into sessions for the pipeline)."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from models.lean_graph import LeanAttention
from models.registry import ATTENTION, ModelSet, ensure_models
from models.runtime import ProviderChoice, choose_provider, make_session, session_provider
from models.variants import PRESETS, Submodels
from pipeline import blazeface
from pipeline.detector import FaceDetector
from pipeline.mesh import FaceMesh

log = logging.getLogger(__name__)

DETECTORS = tuple(blazeface.SPECS)  # "short", "full"
# Opened at start-up (the presets); any other submodel set opens on first use in ~0.1 s.
PRELOAD = tuple(dict.fromkeys(PRESETS.values()))


@dataclass(frozen=True)
class Engine:
    detector: FaceDetector
    mesh: FaceMesh
    provider: ProviderChoice
    topology: dict
    models: ModelSet


def load_engine(provider: str = "auto", threads: int | None = None, min_detection_confidence: float = 0.5,
                detector: str = "short", preload: Iterable[Submodels] = PRELOAD) -> Engine:
    """Convert models if needed and open the sessions: the detector and the preset mesh variants.

    Args:
        detector: "short" (BlazeFace short range, faces over ~1/8 of the frame) or "full" (full range, sparse).
        preload: submodel sets whose sessions open now; others open lazily when first asked for.
    """
    if detector not in blazeface.SPECS:
        raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, not {detector!r}")
    spec = blazeface.SPECS[detector]
    models = ensure_models()
    choice = choose_provider(provider)
    det_session = make_session(models.path(spec.model), choice, threads)
    actual = session_provider(det_session)
    if actual != choice.name:  # the provider loaded but refused these graphs
        choice = ProviderChoice(actual, f"{choice.name} could not run the models; using {actual}")
    log.info("inference on %s (%s)", choice.name.upper(), choice.reason)
    topology = models.topology()
    lean = LeanAttention(models.path(ATTENTION), topology)
    mesh = FaceMesh(lambda s: make_session(lean(s), choice, threads), topology, preload)
    return Engine(FaceDetector(det_session, min_detection_confidence, spec), mesh, choice, topology, models)
