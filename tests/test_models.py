"""Converted models: one-pass attention graph, variants, manifest, cache rebuilds, provider choice."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from models import registry
from models.errors import ModelSourceError
from models.runtime import _cuda_usable, choose_provider
from models.variants import all_variants, outputs_for
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


def test_manifest_matches_live_sessions(models):
    manifest = models.manifest
    assert manifest["licence"].startswith("Apache-2.0")
    assert len(manifest["files"]) == 4 + 8
    for fname, info in manifest["files"].items():
        sess = ort.InferenceSession(str(models.directory / fname), providers=["CPUExecutionProvider"])
        assert [{"name": i.name, "shape": i.shape} for i in sess.get_inputs()] == info["inputs"]
        assert [{"name": o.name, "shape": o.shape} for o in sess.get_outputs()] == info["outputs"]
        assert registry.sha256_file(models.directory / fname) == info["sha256"]
    for name, src in registry.source_paths().items():
        assert manifest["sources"][name]["sha256"] == registry.sha256_file(src)


def _face_tensor():
    img = cv2.imread(str(require_media("photos", "face_recognition_obama.jpg")))
    from pipeline.detector import detection_to_roi, FaceDetector
    from pipeline.mesh import preprocess
    from models.runtime import make_session, ProviderChoice
    det = FaceDetector(make_session(registry.ensure_models().path("face_detection_short_range"),
                                    ProviderChoice("cpu", "test")))
    return preprocess(img, detection_to_roi(det(img, 1)[0]))


def test_variants_are_pruned_and_agree_with_the_full_graph(models):
    tensor = _face_tensor()
    full = ort.InferenceSession(str(models.attention_variant(True, True, True)), providers=["CPUExecutionProvider"])
    full_out = dict(zip([o.name for o in full.get_outputs()], full.run(None, {"input_1": tensor})))
    full_nodes = len(onnx.load(models.attention_variant(True, True, True)).graph.node)
    node_counts = {}
    for variant in all_variants():
        path = models.attention_variant(*variant)
        model = onnx.load(path)
        node_counts[variant] = len(model.graph.node)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        assert sorted(names) == sorted(outputs_for(*variant))
        for name, value in zip(names, sess.run(None, {"input_1": tensor})):
            np.testing.assert_allclose(value, full_out[name], atol=1e-4)
        if variant != (True, True, True):
            assert node_counts[variant] < full_nodes
    # mesh only is the smallest; each submodel adds nodes
    assert node_counts[(False, False, False)] == min(node_counts.values())
    assert node_counts[(True, False, False)] > node_counts[(False, False, False)]
    assert node_counts[(False, True, True)] > node_counts[(False, True, False)]


def _copy_cache(models, tmp_path):
    target = tmp_path / "cache"
    target.mkdir()
    for f in models.directory.iterdir():
        if f.is_file() and not f.name.startswith("."):
            (target / f.name).write_bytes(f.read_bytes())
    return target


def test_truncated_model_is_rebuilt(models, tmp_path):
    cache = _copy_cache(models, tmp_path)
    victim = cache / "face_landmark_with_attention.mesh+lips.onnx"
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
