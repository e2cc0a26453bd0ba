"""`bench` on a tiny input: the report has its sections and every number came from the run."""
from __future__ import annotations

import json
import math

import pytest

from tests.conftest import require_media


def test_bench_report_structure_on_a_tiny_run(tmp_path):
    pytest.importorskip("mediapipe")
    require_media("videos", "LivePortrait_d19.mp4")
    from benchmarks.bench import BenchSize, run_bench
    size = BenchSize(("LivePortrait_d19.mp4",), 12, 5, ("face_recognition_obama.jpg",), 12,
                     ("300w_helen_testset",), 2)
    results = run_bench(tmp_path, size, quick=True)
    report = (tmp_path / "report.md").read_text()
    for heading in ("## Speed", "## Submodel cost", "## Jitter", "## Accuracy (NME)"):
        assert heading in report
    for png in ("speed.png", "jitter.png", "nme_vs_speed.png"):
        assert (tmp_path / png).stat().st_size > 1000
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["speed"]["clips"][0]["frames"] == 12
    clip = saved["speed"]["clips"][0]
    assert clip["meshcam_ms"] > 0 and clip["mediapipe_ms"] > 0
    assert clip["ratio"] == pytest.approx(clip["meshcam_ms"] / clip["mediapipe_ms"])
    assert f"{clip['ratio']:.2f}" in report  # the report prints the measured numbers, not constants
    costs = {r["model"]: r["ms"] for r in saved["submodels"]["rows"]}
    assert len(costs) == 5 and all(v > 0 for v in costs.values())
    jit = saved["jitter"]["percent_iod"]
    assert set(jit) == {"still", "shake", "sweep"}
    assert all(math.isfinite(v) and v >= 0 for m in jit.values() for meth in m.values() for v in meth.values())
    assert saved["accuracy"]["faces"] == 2
    assert results["seconds"] > 0
