"""Each lowered custom op against a literal numpy port of MediaPipe's kernel; TF SAME padding rules."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from models import custom_ops
from models.convert import same_pads
from models.onnx_builder import GraphBuilder, value_info
from tests import op_reference as ref
from tests.conftest import SHARED

LIPS = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409]


def _session(build, inputs: dict[str, tuple], outputs: dict[str, tuple]):
    gb = GraphBuilder()
    names = {k: gb.reserve(k) for k in inputs}
    result = build(gb, names)
    out_name = next(iter(outputs))
    gb.op("Identity", [result], outputs=[gb.reserve(out_name)])
    model = gb.model("t", [value_info(k, s) for k, s in inputs.items()], [value_info(k, s) for k, s in outputs.items()])
    onnx.checker.check_model(model)
    assert all(n.domain == "" for n in model.graph.node)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _random_mesh(rng, roll):
    base = rng.uniform(40, 150, size=(468, 3))
    c, s = np.cos(roll), np.sin(roll)
    base[:, :2] = (base[:, :2] - 96) @ np.array([[c, -s], [s, c]]).T + 96 + rng.uniform(-50, 50, 2)
    return (base * 0.25).astype(np.float32)[None]


@pytest.mark.parametrize("roll", [0.0, 0.4, -1.2, 2.8, -3.0])
def test_landmarks_to_transform_matrix_matches_kernel(roll):
    rng = np.random.default_rng(int(abs(roll) * 100))
    sess = _session(lambda gb, n: custom_ops.landmarks_to_transform_matrix(
        gb, n["lm"], subset_idxs=LIPS, left_rotation_idx=61, right_rotation_idx=291, target_rotation_radians=0.0,
        scale_x=1.5, scale_y=1.5, output_width=16, output_height=16), {"lm": (1, 468, 3)}, {"m": (1, 4, 4)})
    for _ in range(5):
        lm = _random_mesh(rng, roll)
        got = sess.run(None, {"lm": lm})[0][0]
        want = ref.landmarks_to_transform_matrix(lm, LIPS, 61, 291)
        np.testing.assert_allclose(got, want, atol=2e-4, rtol=1e-4)


def test_landmarks_to_transform_matrix_zero_direction_means_no_rotation():
    sess = _session(lambda gb, n: custom_ops.landmarks_to_transform_matrix(
        gb, n["lm"], subset_idxs=LIPS, left_rotation_idx=61, right_rotation_idx=291, target_rotation_radians=0.0,
        scale_x=1.5, scale_y=1.5, output_width=16, output_height=16), {"lm": (1, 468, 3)}, {"m": (1, 4, 4)})
    lm = _random_mesh(np.random.default_rng(1), 0.3)
    lm[0, 291] = lm[0, 61]  # atan2(0, 0) = 0 in MediaPipe
    got = sess.run(None, {"lm": lm})[0][0]
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ref.landmarks_to_transform_matrix(lm, LIPS, 61, 291), atol=2e-4)


def _crop_session():
    return _session(lambda gb, n: custom_ops.transform_tensor_bilinear(
        gb, n["feat"], n["m"], height=48, width=48, output_height=16, output_width=16),
        {"feat": (1, 32, 48, 48), "m": (1, 4, 4)}, {"crop": (1, 32, 16, 16)})


@pytest.mark.parametrize("seed", range(6))
def test_transform_tensor_bilinear_matches_kernel_including_border_cutoff(seed):
    rng = np.random.default_rng(seed)
    sess = _crop_session()
    lm = _random_mesh(rng, rng.uniform(-3, 3))
    # push the crop partly off the 48x48 map so the hard cut-off matters
    lm[0, :, :2] += rng.uniform(-20, 20, 2).astype(np.float32)
    m = ref.landmarks_to_transform_matrix(lm, LIPS, 61, 291).astype(np.float32)
    feat = rng.standard_normal((1, 48, 48, 32)).astype(np.float32)
    got = sess.run(None, {"feat": feat.transpose(0, 3, 1, 2).copy(), "m": m[None]})[0].transpose(0, 2, 3, 1)
    want = ref.transform_tensor_bilinear(feat, m)
    np.testing.assert_allclose(got, want, atol=3e-4)


def test_transform_tensor_bilinear_out_of_bounds_pixels_are_exactly_zero():
    sess = _crop_session()
    m = np.eye(4, dtype=np.float32)
    m[0, 0] = m[1, 1] = 1.0
    m[0, 3], m[1, 3] = 40.0, 40.0  # crop covers map [40, 56): its right/bottom half is outside
    feat = np.ones((1, 48, 48, 32), np.float32) * 3.0
    got = sess.run(None, {"feat": feat.transpose(0, 3, 1, 2).copy(), "m": m[None]})[0].transpose(0, 2, 3, 1)
    want = ref.transform_tensor_bilinear(feat, m)
    assert (want[0, :, 8:] == 0).all() and (got[0, :, 8:] == 0).all()
    # GridSample alone would blend the border band with partial zeros; the kernel does not
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.allclose(got[0, :7, :7], 3.0)


def test_transform_landmarks_matches_kernel():
    rng = np.random.default_rng(7)
    sess = _session(lambda gb, n: custom_ops.transform_landmarks(gb, n["p"], n["m"]),
                    {"p": (1, 80, 2), "m": (1, 4, 4)}, {"q": (1, 80, 2)})
    for _ in range(5):
        m = rng.standard_normal((1, 4, 4)).astype(np.float32)
        p = rng.uniform(0, 64, (1, 80, 2)).astype(np.float32)
        np.testing.assert_allclose(sess.run(None, {"p": p, "m": m})[0], ref.transform_landmarks(p, m[0]),
                                   rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("size,kernel,stride,pads", [
    (192, 3, 2, (0, 1)), (96, 3, 2, (0, 1)), (4, 3, 2, (0, 1)), (64, 3, 2, (0, 1)),
    (128, 5, 2, (1, 2)), (48, 3, 1, (1, 1)), (16, 1, 1, (0, 0)), (3, 3, 3, (0, 0))])
def test_same_padding_follows_tf_rule(size, kernel, stride, pads):
    assert same_pads(size, kernel, stride) == pads


def test_converted_detector_first_conv_pads_one_sided(models):
    graph = onnx.load(models.path("face_detection_short_range")).graph
    first_conv = next(n for n in graph.node if n.op_type == "Conv")
    pads = next(a for a in first_conv.attribute if a.name == "pads").ints
    assert list(pads) == [1, 1, 2, 2]  # top, left, bottom, right for 5x5 stride 2 on 128


def test_refinement_lists_read_from_model_match_mediapipe_graph(models):
    topology = models.topology()
    path = SHARED / "docs" / "refinement_indices.json"
    if not path.exists():
        pytest.skip("shared docs not found")
    want = json.loads(path.read_text())
    for region in ("lips", "left_eye", "right_eye"):
        assert topology["refinement"][region] == want[region]["indexes_mapping"]
    assert topology["iris_z_average"]["left"] == want["left_iris"]["avg"]
    assert topology["iris_z_average"]["right"] == want["right_iris"]["avg"]
