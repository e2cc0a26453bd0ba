"""Shared fixtures: paths to ../shared media, the converted models, one CPU engine per test session."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.reference import MEDIA, ROOT, SHARED  # noqa: E402,F401  (one definition of the shared root)

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")


def require_media(*parts: str) -> Path:
    path = MEDIA.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):  # CI always has ../shared: a missing file there is a failure, not a skip
            pytest.fail(f"shared media not found: {path}")
        pytest.skip(f"shared media not found: {path}")
    return path


@pytest.fixture(scope="session")
def models():
    from models.registry import ensure_models
    return ensure_models()


@pytest.fixture(scope="session")
def tracker():
    """One CPU FaceTracker per test session, through the public API (reset before use)."""
    from pipeline import FaceTracker, PipelineConfig
    return FaceTracker.create(PipelineConfig(provider="cpu", threads=2))


@pytest.fixture(scope="session")
def engine(tracker):
    """The tracker's detector + mesh sessions, for stage-level tests (parity, models)."""
    return tracker.engine


@pytest.fixture(scope="session")
def topology(models):
    return models.topology()
