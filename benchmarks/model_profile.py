"""Where the attention mesh's model time goes, by kind of node, at camera pace or hot:
`python -m benchmarks.model_profile [--preset full|balanced|fast] [--runs N] [--sleep-ms MS]`.

onnxruntime's own profiler over the lean graph the pipeline runs (one intra-op thread, full optimisation, so the
convolutions are its blocked NCHWc kernels), on a real face crop; each run after ``--sleep-ms`` of idle (33: one
webcam tick; 0: back to back). Prints the median model run, each kind's median time per run and its share.
The profiler adds a little per node, so the shares are the reading, not the absolute times.

The kinds: a PReLU is two 1x1 depthwise convolutions (models/lean_graph.py), one with Relu fused, one with the
Sum fused: "PReLU passes"; "depthwise kxk" and "pointwise / full" are the network's own convolutions; the first
is the uint8 input convolution.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reference import PHOTOS  # noqa: E402
from models.variants import PRESETS  # noqa: E402

PRELU = "PReLU passes (1x1 depthwise)"  # the two passes of a PReLU are reported as one kind


def conv_kind(node, kernels: dict, first_conv: str) -> tuple[str, str | None]:
    """A convolution's kind from its (optimised) node: weight shape, groups and what is fused into it; and, for a
    PReLU pass, which one ('relu' or 'sum')."""
    from onnx import helper
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    shape = kernels.get(node.input[1])
    if node.name == first_conv:
        return "first (uint8 input) convolution", None
    if shape is None:
        return "convolution (other)", None
    depthwise = attrs.get("group", 1) > 1 and shape[1] == 1
    if depthwise and shape[2:] == [1, 1]:
        # Relu(-x) (Relu fused) and x + (1-a) r (the Sum fused, a 4th input); an unfused one is the identity
        # convolution that puts a tensor into the blocked layout (lean_graph._blocked)
        if attrs.get("activation") in (b"Relu", "Relu"):
            return PRELU, "relu"
        if len(node.input) > 3 and node.input[3]:
            return PRELU, "sum"
        return "identity (blocked layout) 1x1", None
    if depthwise:
        return f"depthwise {shape[2]}x{shape[3]}", None
    return "pointwise / full convolutions", None


def profile(preset: str, runs: int, sleep_ms: float, image: str) -> dict:
    import onnx
    import onnxruntime as ort

    from pipeline import FaceTracker, PipelineConfig
    from pipeline.detector import detection_to_roi
    from pipeline.mesh import crop_into, crop_to_frame
    tracker = FaceTracker.create(PipelineConfig(provider="cpu", threads=1))
    img = cv2.imread(image)
    if img is None:
        raise SystemExit(f"model_profile: cannot read {image}")
    found = tracker.detector(img, 1)
    if not found:
        raise SystemExit(f"model_profile: no face in {image}")
    roi = detection_to_roi(found[0])
    variant = tracker.mesh.variant(PRESETS[preset])
    image_in, affine, *_ = variant.buffers(1)
    crop_into(img, roi, image_in[0])
    affine[0] = crop_to_frame(roi)
    feeds = {"image_bgr": image_in.reshape(1, 1, 192, 576), "frame_affine": affine}
    from models.lean_graph import LeanAttention
    from models.registry import ATTENTION
    engine = tracker.engine
    model = LeanAttention(engine.models.path(ATTENTION), engine.topology)(PRESETS[preset])
    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()  # as models.runtime.make_session on the CPU, plus the profiler
        so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3  # not the warning that an NCHWc graph is saved for this CPU only (it is read here)
        so.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        so.enable_profiling, so.profile_file_prefix = True, os.path.join(tmp, "profile")
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        for _ in range(runs):
            if sleep_ms:
                time.sleep(sleep_ms / 1000)
            sess.run(None, feeds)
        events = json.loads(Path(sess.end_profiling()).read_text())
        optimized = onnx.load(so.optimized_model_filepath)
    kernels = {t.name: list(t.dims) for t in optimized.graph.initializer if len(t.dims) == 4}
    nodes = {n.name: n for n in optimized.graph.node}
    first_conv = next(n.name for n in optimized.graph.node if "Conv" in n.op_type)  # nodes are in graph order
    skip = min(10, runs // 5)  # warm-up runs
    model_runs = [e["dur"] for e in events if e.get("name") == "model_run"][skip:]
    per_node = defaultdict(list)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_node[e["name"][:-len("_kernel_time")], e["args"]["op_name"]].append(e["dur"])
    kinds: dict[str, list] = defaultdict(lambda: [0.0, 0])
    prelu_passes = {"relu": 0, "sum": 0}
    for (name, op), durations in per_node.items():
        node = nodes.get(name)
        kind, prelu_pass = (conv_kind(node, kernels, first_conv) if node is not None and "Conv" in op
                            else (f"other: {op}", None))
        kinds[kind][0] += float(np.median(durations[skip:] or durations))
        kinds[kind][1] += 1
        if prelu_pass:
            prelu_passes[prelu_pass] += 1
    return {"preset": preset, "runs": runs, "sleep_ms": sleep_ms, "model_run_us": float(np.median(model_runs)),
            "kinds": {k: {"us": v[0], "nodes": v[1]} for k, v in kinds.items()}, "prelu_passes": prelu_passes}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=tuple(PRESETS), default="full")
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--sleep-ms", type=float, default=33.0, help="idle before each run (33: a webcam tick; 0: hot)")
    p.add_argument("--image", default=str(PHOTOS / "face_recognition_obama.jpg"))
    args = p.parse_args(argv)
    if args.runs < 5:
        p.error("--runs must be at least 5")
    if args.sleep_ms < 0:
        p.error("--sleep-ms must be 0 or more")
    r = profile(args.preset, args.runs, args.sleep_ms, args.image)
    total = sum(k["us"] for k in r["kinds"].values())
    print(f"{r['preset']} preset, {r['runs']} runs, {r['sleep_ms']:g} ms idle before each: model run median "
          f"{r['model_run_us'] / 1000:.2f} ms (profiled); by kind, median per run:")
    for kind, k in sorted(r["kinds"].items(), key=lambda kv: -kv[1]["us"]):
        if k["us"] >= 0.01 * total:
            print(f"  {kind:36s} {k['us'] / 1000:6.2f} ms  {k['us'] / total:5.1%}  ({k['nodes']} nodes)")
    small = [k for k in r["kinds"].values() if k["us"] < 0.01 * total]
    print(f"  {'the rest (' + str(len(small)) + ' kinds under 1 % each)':36s} "
          f"{sum(k['us'] for k in small) / 1000:6.2f} ms  {sum(k['us'] for k in small) / total:5.1%}  "
          f"({sum(k['nodes'] for k in small)} nodes)")
    print(f"PReLU passes: {r['prelu_passes']['relu']} with Relu fused, {r['prelu_passes']['sum']} with the Sum fused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
