"""Converted models: one-pass attention graph, variants, manifest, cache rebuilds, provider choice."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from models import registry
from models.errors import ModelSourceError
from models.lean_graph import LeanAttention
from models.runtime import _cuda_usable, choose_provider
from models.variants import HEAD_FLAG, Submodels
from tests.conftest import ROOT, require_media

ATTENTION_OUTPUTS = {"output_mesh_identity": [1, 1, 1, 1404], "output_lips": [1, 1, 1, 160],
                     "output_left_eye": [1, 1, 1, 142], "output_right_eye": [1, 1, 1, 142],
                     "output_left_iris": [1, 1, 1, 10], "output_right_iris": [1, 1, 1, 10],
                     "conv_faceflag": [1, 1, 1, 1]}


def test_attention_mesh_is_one_standard_onnx_graph_with_seven_outputs(models):
    model = onnx.load(models.path("face_landmark_with_attention"))
    assert {n.domain for n in model.graph.node} == {""}
    assert {o.domain for o in model.opset_import} == {""}
    assert not {"Landmarks2TransformMatrix", "TransformTensorBilinear", "TransformLandmarks"} & {
        n.op_type for n in model.graph.node}
    sess = ort.InferenceSession(str(models.path("face_landmark_with_attention")), providers=["CPUExecutionProvider"])
    assert {o.name: o.shape for o in sess.get_outputs()} == ATTENTION_OUTPUTS
    assert [i.shape for i in sess.get_inputs()] == [[1, 192, 192, 3]]


def test_cache_lives_in_the_user_cache_folder_unless_overridden(monkeypatch, tmp_path):
    from platformdirs import user_cache_dir
    monkeypatch.delenv("MESHCAM_MODEL_DIR", raising=False)
    assert registry.model_dir() == Path(user_cache_dir("meshcam")) / "models"
    monkeypatch.setenv("MESHCAM_MODEL_DIR", str(tmp_path / "elsewhere"))
    assert registry.model_dir() == tmp_path / "elsewhere"


def test_manifest_matches_live_sessions(models):
    manifest = models.manifest
    assert manifest["licence"].startswith("Apache-2.0")
    assert len(manifest["files"]) == len(registry.SOURCES)  # the faithful conversions; lean graphs live in memory
    for fname, info in manifest["files"].items():
        sess = ort.InferenceSession(str(models.directory / fname), providers=["CPUExecutionProvider"])
        assert [{"name": i.name, "shape": i.shape} for i in sess.get_inputs()] == info["inputs"]
        assert [{"name": o.name, "shape": o.shape} for o in sess.get_outputs()] == info["outputs"]
        assert registry.sha256_file(models.directory / fname) == info["sha256"]
    for name, src in registry.source_paths().items():
        assert manifest["sources"][name]["sha256"] == registry.sha256_file(src)


def _face(engine):
    img = cv2.imread(str(require_media("photos", "face_recognition_obama.jpg")))
    from pipeline.detector import detection_to_roi
    return img, detection_to_roi(engine.detector(img, 1)[0])


def _faithful(models, img, roi) -> dict[str, np.ndarray]:
    from pipeline.mesh import preprocess
    full = ort.InferenceSession(str(models.path(registry.ATTENTION)), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in full.get_outputs()], full.run(None, {"input_1": preprocess(img, roi)})))


SETS = [Submodels.ALL, Submodels.NONE, Submodels.LIPS, Submodels.LEFT_EYE, Submodels.RIGHT_IRIS,
        Submodels.LEFT_EYE | Submodels.RIGHT_IRIS, Submodels.EYES | Submodels.LIPS, Submodels.IRISES]


def test_lean_graphs_match_the_faithful_graph_for_any_submodel_set(models, engine):
    """Merged branches, batched crop transforms, uint8 BGR input: same 478 points as the faithful conversion
    (each head through MediaPipe's TransformLandmarks), only what the set needs computed."""
    img, roi = _face(engine)
    want = _faithful(models, img, roi)
    ref = engine.mesh._refinement
    lean = LeanAttention(models.path(registry.ATTENTION), models.topology())
    faithful_nodes = len(onnx.load(models.path(registry.ATTENTION)).graph.node)
    nodes, weights = {}, {}
    for subs in SETS:
        model = onnx.load_from_string(lean(subs))
        nodes[subs] = len(model.graph.node)
        weights[subs] = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
        assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
        got = engine.mesh(img, roi, subs).landmarks_px
        # Submodels name the subject's side: 468-472 is the subject's right iris (MediaPipe's FACEMESH_RIGHT_IRIS)
        assert np.isnan(got[468:473]).all() == (Submodels.RIGHT_IRIS not in subs)
        assert np.isnan(got[473:]).all() == (Submodels.LEFT_IRIS not in subs)
        # 192-space reference from the faithful outputs, projected like ours
        pts = np.full((478, 3), np.nan, np.float32)
        pts[:468] = want["output_mesh_identity"].reshape(468, 3)
        for head, flag in HEAD_FLAG.items():
            if flag in subs:
                pts[ref.indices[head], :2] = want[f"output_{head}"].reshape(-1, 2)
                if head in ref.iris_z:
                    pts[ref.indices[head], 2] = pts[ref.iris_z[head], 2].mean()
        from pipeline.geometry import project_from_crop
        expected = project_from_crop(pts / 192.0, roi)
        scale = roi.width / 192.0
        np.testing.assert_allclose(got, expected, atol=2e-4 * scale * 192)  # ~0.04 px of the crop
    assert nodes[Submodels.ALL] < 0.45 * faithful_nodes  # the faithful graph's nodes -> ~40 %
    assert nodes[Submodels.NONE] == min(nodes.values())
    # merged heads keep the node count; what a set leaves out is not computed (weights, so MACs, drop)
    assert weights[Submodels.NONE] < weights[Submodels.LEFT_EYE] < weights[Submodels.LEFT_EYE | Submodels.RIGHT_IRIS]
    assert weights[Submodels.LEFT_EYE | Submodels.RIGHT_IRIS] < weights[Submodels.ALL]


def test_faces_in_one_batch_give_the_landmarks_of_one_at_a_time(engine):
    img, roi = _face(engine)
    other = cv2.imread(str(require_media("photos", "face_recognition_biden.jpg")))
    from pipeline.detector import detection_to_roi
    roi2 = detection_to_roi(engine.detector(other, 1)[0])
    tiled = np.zeros((max(img.shape[0], other.shape[0]), img.shape[1] + other.shape[1], 3), np.uint8)
    tiled[:img.shape[0], :img.shape[1]] = img
    tiled[:other.shape[0], img.shape[1]:] = other
    roi2 = type(roi2)(roi2.center_x + img.shape[1], roi2.center_y, roi2.width, roi2.height, roi2.rotation)
    for subs in (Submodels.ALL, Submodels.NONE, Submodels.LIPS | Submodels.LEFT_IRIS):
        one = [engine.mesh(tiled, r, subs) for r in (roi, roi2, roi)]
        batch = engine.mesh.run_batch(tiled, [roi, roi2, roi], subs)
        for a, b in zip(one, batch):
            np.testing.assert_allclose(a.landmarks_px, b.landmarks_px, atol=1e-3)
            assert a.presence == pytest.approx(b.presence, abs=1e-6)
        assert np.nanmax(np.abs(batch[0].landmarks_px - batch[1].landmarks_px)) > 50  # two different faces


def test_inputs_bound_again_before_every_run_give_the_same_landmarks(engine):
    """On CUDA onnxruntime copies a bound CPU input to the device once, when it is bound, so there the mesh binds
    its inputs again before every run. That path, forced here on the CPU (no GPU in CI), must give the same
    landmarks as the in-place one, frame after frame."""
    img, roi = _face(engine)
    other = cv2.imread(str(require_media("photos", "face_recognition_biden.jpg")))
    from pipeline.detector import detection_to_roi
    roi2 = detection_to_roi(engine.detector(other, 1)[0])
    want = [engine.mesh(im, r).landmarks_px for im, r in ((img, roi), (other, roi2), (img, roi))]
    variant = engine.mesh.variant(Submodels.ALL)
    variant.rebind_inputs = True
    try:
        got = [engine.mesh(im, r).landmarks_px for im, r in ((img, roi), (other, roi2), (img, roi))]
    finally:
        variant.rebind_inputs = False
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)
    assert np.nanmax(np.abs(got[0] - got[1])) > 50  # each run saw its own frame


def test_full_range_detector_finds_small_faces_the_short_one_misses(tracker):
    """`--detector full` (BlazeFace full range, sparse weights densified), end to end through FaceTracker, on a
    WIDER group photo with faces ~60 px wide that the short-range default misses."""
    from pipeline import FaceTracker, PipelineConfig
    img = cv2.imread(str(require_media("photos", "pytorch_face_landmark_12_Group_Group_12_Group_Group_12_24.jpg")))
    config = PipelineConfig(provider="cpu", max_faces=20, signals=False)
    short = FaceTracker(tracker.engine, config).detect_image(img).faces  # the default detector's sessions
    found = FaceTracker.create(replace(config, detector="full")).detect_image(img).faces
    assert short == () and len(found) >= 5
    centres = np.array([np.nanmean(f.landmarks_px[:468, :2], axis=0) for f in found])
    widths = np.array([np.ptp(f.landmarks_px[:468, 0]) for f in found])
    assert all(f.presence > 0.5 for f in found)  # each is a face: the mesh agrees
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + np.eye(len(found)) * 1e9
    assert (gaps.min(axis=1) > widths / 2).all()  # and none is found twice


def _copy_cache(models, tmp_path):
    target = tmp_path / "cache"
    target.mkdir()
    for f in models.directory.iterdir():
        if f.is_file() and not f.name.startswith("."):
            (target / f.name).write_bytes(f.read_bytes())
    return target


def test_truncated_model_is_rebuilt(models, tmp_path):
    cache = _copy_cache(models, tmp_path)
    victim = cache / "face_landmark_with_attention.onnx"
    victim.write_bytes(victim.read_bytes()[:1000])
    rebuilt = registry.ensure_models(cache)
    assert registry.sha256_file(victim) == rebuilt.manifest["files"][victim.name]["sha256"]
    ort.InferenceSession(str(victim), providers=["CPUExecutionProvider"])


def test_missing_model_and_other_converter_version_are_rebuilt(models, tmp_path):
    cache = _copy_cache(models, tmp_path)
    (cache / "face_detection_short_range.onnx").unlink()
    registry.ensure_models(cache)
    assert (cache / "face_detection_short_range.onnx").is_file()
    manifest = json.loads((cache / "manifest.json").read_text())
    manifest["converter_version"] = "0-old"
    (cache / "manifest.json").write_text(json.dumps(manifest))
    mtime = (cache / "iris_landmark.onnx").stat().st_mtime_ns
    fresh = registry.ensure_models(cache)
    assert fresh.manifest["converter_version"] != "0-old"
    assert (cache / "iris_landmark.onnx").stat().st_mtime_ns != mtime


def test_missing_tflite_gives_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(registry.SOURCES, "iris_landmark", "modules/iris_landmark/not_there.tflite")
    with pytest.raises(ModelSourceError, match=r"pip install mediapipe==0\.10\.21"):
        registry.ensure_models(tmp_path / "c")


def test_convert_command_builds_into_an_empty_cache(tmp_path):
    env = {"MESHCAM_MODEL_DIR": str(tmp_path / "m"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "main.py", "convert"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "models ready" in out.stdout
    assert (tmp_path / "m" / "manifest.json").is_file()
    assert "Traceback" not in out.stderr


def test_provider_choice_says_what_runs():
    usable, why = _cuda_usable()
    auto = choose_provider("auto")
    asked = choose_provider("cuda")
    assert choose_provider("cpu").name == "cpu"
    if usable:
        assert auto.name == asked.name == "cuda"
    else:
        assert auto.name == asked.name == "cpu"
        assert "CUDA requested but unusable" in asked.reason and why in asked.reason
    with pytest.raises(ValueError, match="provider must be one of"):
        choose_provider("tpu")


def test_the_crop_is_the_frame_warped_for_any_roi():
    """crop_into copies each ROI's bound out of the frame before warping it (cheaper on a frame that is cold in
    cache): the pixels must be OpenCV's warp of the whole frame by the ROI's corners, for ROIs turned any way,
    larger than the frame or partly and wholly outside it, and for a frame that is a view."""
    from pipeline.geometry import RotatedRect, crop_matrix
    from pipeline.mesh import crop_into
    rng = np.random.default_rng(7)
    for name in ("face_recognition_obama.jpg", "face_recognition_biden.jpg"):
        img = cv2.imread(str(require_media("photos", name)))
        h, w = img.shape[:2]
        scratch = np.empty(img.size, np.uint8)
        for k in range(40):
            side = w * rng.uniform(0.05, 1.6)
            roi = RotatedRect(w * rng.uniform(-0.4, 1.4), h * rng.uniform(-0.4, 1.4), side,
                              side * rng.uniform(0.8, 1.2), rng.uniform(-math.pi, math.pi))
            frame = img if k % 4 else img[:, ::-1]  # a mirrored view is not contiguous: warped directly
            want = cv2.warpAffine(frame, crop_matrix(roi, 192, 192), (192, 192), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
            got = np.zeros((192, 192, 3), np.uint8)
            crop_into(frame, roi, got, scratch)
            # the copy's origin is subtracted from the warp's translation: OpenCV's fixed-point rounding can
            # then put a rare pixel one level off (measured: 4 of 330 random ROIs, 5e-7 of the pixels)
            diff = np.abs(got.astype(int) - want)
            assert diff.max() <= 1 and (diff > 0).mean() < 1e-4, (name, roi)
        corners = np.hstack([RotatedRect(300, 200, 180, 120, 0.4).corners(), np.ones((4, 1), np.float32)])
        np.testing.assert_allclose(corners @ crop_matrix(RotatedRect(300, 200, 180, 120, 0.4), 192, 192).T,
                                   [[0, 192], [0, 0], [192, 0], [192, 192]], atol=1e-3)
