"""`bench` on a tiny input: one report with its sections, a failed section reported as such, and every number
printed (report.md and the console) equal to the one in results.json. No timing assertions."""
from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pytest

from tests.conftest import require_media


def _table_rows(text: str, first_cells: int, first=str.isdigit) -> dict[tuple[str, ...], list[str]]:
    """Markdown table rows whose first cell passes ``first``, keyed by their first cells (bold marks dropped)."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip().replace("**", "") for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) > first_cells and first(cells[0]):
            rows[tuple(cells[:first_cells])] = cells[first_cells:]
    return rows


def _pair(cell: str) -> tuple[float, float]:
    a, b = cell.split(" / ")
    return float(a), float(b)


def test_bench_one_report_numbers_match_results_json(tmp_path, monkeypatch, capsys):
    pytest.importorskip("mediapipe")
    pytest.importorskip("matplotlib")
    for clip in ("LivePortrait_d10.mp4", "SadTalker_WDA_AlexandriaOcasioCortez_000.mp4"):
        require_media("videos", clip)
    from benchmarks import bench

    real_runners = bench._section_runners

    def runners_with_a_broken_section(size, quick, out):
        runners = real_runners(size, quick, out)

        def broken():
            raise RuntimeError("broken on purpose\nsecond line")
        runners["outputs"] = broken
        return runners

    monkeypatch.setattr(bench, "_section_runners", runners_with_a_broken_section)
    size = bench.BenchSize(frames=12, faces=(1, 2), process_rounds=0, hot_runs=5, preset_photos=2,
                           sections=("speed", "outputs"))
    results = bench.run_bench(tmp_path, size, quick=True)
    bench.print_summary(results, tmp_path)
    printed = capsys.readouterr().out
    report = (tmp_path / "report.md").read_text()
    saved = json.loads((tmp_path / "results.json").read_text())

    # one report: the sections, the failed one with its one-line error, the others still run
    for heading in ("## Sections", "## Targets", "## Headline", "## Speed race", "### Presets", "## Live outputs"):
        assert heading in report, heading
    assert saved["sections"]["speed"]["status"] == "ok"
    failed = saved["sections"]["outputs"]
    assert failed["status"] == "failed" and failed["error"] == "RuntimeError: broken on purpose"
    assert "**FAILED**: RuntimeError: broken on purpose" in report and "second line" not in report
    assert "outputs: failed" in printed and "broken on purpose" in (tmp_path / "errors.log").read_text()

    # the race grid, and the numbers printed in both places are results.json's
    races = saved["sections"]["speed"]["data"]["race"]
    assert {(r["faces"], r["smooth"], r["mode"]) for r in races} == {
        (f, s, m) for f in (1, 2) for s in (True, False) for m in ("interleaved", "paced")}
    for text in (report, printed):
        rows = _table_rows(text, 3)
        for r in races:
            cells = rows[(str(r["faces"]), "on" if r["smooth"] else "off", r["mode"])]
            assert _pair(cells[0]) == pytest.approx((r["meshcam"]["median_ms"], r["meshcam"]["p90_ms"]), abs=0.006)
            assert _pair(cells[1]) == pytest.approx((r["mediapipe"]["median_ms"], r["mediapipe"]["p90_ms"]), abs=0.006)
            assert float(cells[2]) == pytest.approx(r["ratio"], abs=0.006)
            assert _pair(cells[4]) == pytest.approx((r["per_face_ms"]["meshcam"], r["per_face_ms"]["mediapipe"]),
                                                    abs=0.006)
            assert float(cells[7]) == pytest.approx(r["mesh_stage_ratio"], abs=0.006)
    for r in races:
        assert r["meshcam"]["frames"] == r["mediapipe"]["frames"] == 12 - 5
        assert r["ratio"] == pytest.approx(r["meshcam"]["median_ms"] / r["mediapipe"]["median_ms"])
        assert r["per_face_ms"]["meshcam"] == pytest.approx(r["meshcam"]["median_ms"] / r["faces"])
        assert r["faces_found"]["meshcam"] == pytest.approx(r["faces"], abs=0.3)  # the tiles really hold faces
        # the mesh stage is part of every frame, so its median is at most the frame's: the floor under the ratio
        assert 0 < r["mesh_stage_ratio"] <= r["ratio"]

    # targets: judged from this run's numbers, printed as stored
    checks = [c for c in saved["checks"] if c["section"] == "speed"]
    assert len(checks) == 4
    for c, mode in zip(checks, ("interleaved", "paced")):
        row = next(r for r in races if (r["faces"], r["smooth"], r["mode"]) == (1, True, mode))
        assert c["value"] == row["ratio"] and c["met"] == (row["ratio"] <= c["limit"])
        assert f"{row['ratio']:.2f}×" in c["text"] and ("not met" in c["text"]) != c["met"]
        assert c["text"] in report and c["text"].replace("**", "") in printed
        assert f"(the mesh stage alone: {row['mesh_stage_ratio']:.2f}×)" in c["text"]

    presets = {p["preset"]: p for p in saved["sections"]["speed"]["data"]["presets"]}
    assert set(presets) == {"full", "balanced", "fast"}
    fast_check, four_faces_check = checks[2:]
    assert fast_check["value"] == presets["fast"]["interleaved"]["ratio"] and fast_check["limit"] == 0.5
    assert four_faces_check["value"] is None and "not measured" in four_faces_check["text"]  # this run: 1, 2 faces
    assert presets["full"]["irises"] and not presets["fast"]["irises"]
    modes = ("interleaved", "paced")
    assert all(0 < p[m]["mesh_stage_ratio"] <= p[m]["ratio"] for p in presets.values() for m in modes)
    assert f"onnxruntime {onnxruntime.__version__}" in saved["machine"] and saved["machine"] in report
    error = {k: p["error_vs_mediapipe_pct_iod"]["mean"] for k, p in presets.items()}
    assert 0 <= error["full"] < error["fast"]  # the refinements bring us closer to MediaPipe's refined output
    preset_rows = _table_rows(report, 1, first=presets.__contains__)
    for name, p in presets.items():
        cells = preset_rows[(name,)]
        assert cells[1].startswith(f"{p['interleaved']['meshcam']['median_ms']:.2f} ({p['interleaved']['ratio']:.2f})")
        assert cells[3].startswith(f"{error[name]:.2f} (")
        assert cells[5] == f"{p['interleaved']['mesh_stage_ratio']:.2f} / {p['paced']['mesh_stage_ratio']:.2f}"

    # the plots of the sections that ran, referenced by the report, real PNGs
    assert {"speed.png", "presets.png"} <= set(saved["plots"])
    for name in saved["plots"]:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({name})" in report


def test_plot_labels_are_cut_at_a_word_boundary_never_inside_the_extension():
    from benchmarks.bench_plots import short_label
    assert short_label("LivePortrait_d10.mp4") == "LivePortrait_d10"
    label = short_label("SadTalker_WDA_AlexandriaOcasioCortez_000.mp4", 24)
    assert label == "SadTalker_WDA…"
    assert ".mp" not in short_label("face_recognition_lin-manuel-miranda.png", 24)


def test_model_profile_splits_the_model_by_kind_of_node():
    require_media("photos", "face_recognition_obama.jpg")
    from benchmarks.model_profile import profile
    from benchmarks.reference import PHOTOS
    r = profile("fast", runs=6, sleep_ms=0, image=str(PHOTOS / "face_recognition_obama.jpg"))
    kinds = r["kinds"]
    # every PReLU is two 1x1 depthwise passes (models/lean_graph.py), one with Relu fused, one with the Sum fused
    passes = r["prelu_passes"]
    assert passes["relu"] == passes["sum"] > 0
    assert kinds["PReLU passes (1x1 depthwise)"]["nodes"] == 2 * passes["relu"]
    assert kinds["first (uint8 input) convolution"]["nodes"] == 1
    assert kinds["depthwise 3x3"]["nodes"] > 0 and kinds["pointwise / full convolutions"]["nodes"] > 0
    # the nodes' times are parts of the model run (the mesh-only graph has no GridSample: no refinement crops)
    assert 0 < sum(k["us"] for k in kinds.values()) <= r["model_run_us"]
    assert "other: GridSample" not in kinds


def test_race_stage_times_are_the_timed_frames_of_that_race(monkeypatch):
    """The stage medians (and the mesh stage's floor) are taken over the same frames as the race's times: its own
    race's, less the first 5, although a rival's stage lists run on over races."""
    from benchmarks import bench

    class Ours:  # what bench_race reads of its Meshcam rival; the mesh stage "time" is the call's number
        calls = 0

        def __init__(self, faces, smooth, submodels):
            self.tracker = type("T", (), {"reset": lambda self: None})()
            self.stages = {"detect": [], "mesh": [], "smooth": []}
            self.found = []

        def __call__(self, i, frame):
            Ours.calls += 1
            for k, v in self.stages.items():
                v.append(float(Ours.calls) if k == "mesh" else 0.0)
            self.found.append(1)

    class Theirs:
        def __init__(self, faces):
            self.found = []

        def prepare(self, frames):
            pass

        def __call__(self, i, frame):
            self.found.append(1)

        def close(self):
            pass

    monkeypatch.setattr(bench, "Meshcam", Ours)
    monkeypatch.setattr(bench, "MediaPipe", Theirs)
    monkeypatch.setattr(bench, "TICK_S", 0.001)
    n = 9
    rows = bench.bench_race(bench.BenchSize(frames=n, faces=(1,), process_rounds=0, hot_runs=1, preset_photos=0),
                            {1: [None] * n})
    # one Ours per smoothing setting, each raced interleaved then paced: calls 1..9, 10..18 | 19..27, 28..36
    for race_index, row in enumerate(rows):
        first_call = race_index * n + 1
        assert row["stages_ms"]["mesh"] == float(np.median(np.arange(first_call + 5, first_call + n)))
