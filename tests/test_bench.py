"""`bench` on a tiny input: the report has its sections and every number came from the run."""
from __future__ import annotations

import json

import pytest

from tests.conftest import require_media


def test_bench_report_structure_on_a_tiny_run(tmp_path):
    pytest.importorskip("mediapipe")
    for clip in ("LivePortrait_d10.mp4", "SadTalker_WDA_AlexandriaOcasioCortez_000.mp4"):
        require_media("videos", clip)
    from benchmarks.bench import BenchSize, run_bench
    size = BenchSize(frames=12, faces=(1, 2), process_rounds=0, hot_runs=5, accuracy=False)
    results = run_bench(tmp_path, size, quick=True)
    report = (tmp_path / "report.md").read_text()
    for heading in ("## Speed", "## Presets", "## Faces in one batch", "## Submodel cost"):
        assert heading in report
    saved = json.loads((tmp_path / "results.json").read_text())
    races = saved["race"]
    assert {(r["faces"], r["smooth"], r["mode"]) for r in races} == {
        (f, s, m) for f in (1, 2) for s in (True, False) for m in ("interleaved", "paced")}
    for r in races:
        assert r["meshcam"]["frames"] == r["mediapipe"]["frames"] == 12 - 5
        assert r["ratio"] == pytest.approx(r["meshcam"]["median_ms"] / r["mediapipe"]["median_ms"])
        assert f"{r['ratio']:.2f}" in report  # the report prints the measured numbers, not constants
        assert r["faces_found"]["meshcam"] == pytest.approx(r["faces"], abs=0.3)  # the tiles really hold faces
    paced = next(r for r in races if r["mode"] == "paced")
    assert paced["meshcam"]["median_ms"] < 33  # a paced call still fits its tick
    presets = {p["preset"]: p for p in saved["presets"]}
    assert set(presets) == {"full", "balanced", "fast"}
    assert presets["full"]["irises"] and not presets["fast"]["irises"]
    error = {k: p["error_vs_mediapipe_pct_iod"]["mean"] for k, p in presets.items()}
    assert 0 < error["full"] < error["fast"]  # the refinements bring us closer to MediaPipe's refined output
    assert {b["faces"] for b in saved["batch"]} == {1, 2}
    assert len(saved["hot"]) == 7 and all(h["median_ms"] > 0 for h in saved["hot"])
    assert results["seconds"] > 0
