"""A/B of the per-frame path in one process: this checkout against another one's, both racing MediaPipe.

    git worktree add ../meshcam-base <commit>
    .venv/bin/python -m benchmarks.ab_race --base ../meshcam-base [--preset fast] [--faces 1] [--frames 240]

Separate runs cannot show a 3 % change on a shared VM whose speed drifts 10-20 % within minutes; here the two
versions take turns frame by frame (with MediaPipe, the order alternating), interleaved and then paced, so
their ratio compares calls made under the same load. The base's tracker step, mesh run, live filter and ROI
geometry (pipeline/tracker.py, mesh.py, smoothing.py, geometry.py) are loaded from its files and swapped in
around each of its calls; everything else (models, sessions, front door) is this checkout's, so the base must
share their interfaces (true of the commits of 2026-12-02).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _base_versions(base: Path) -> dict:
    """The base checkout's step, new-track and run_batch, their module globals pointing at its own geometry and
    live filter."""
    geometry = _load("ab_base_geometry", base / "pipeline/geometry.py")
    smoothing = _load("ab_base_smoothing", base / "pipeline/smoothing.py")
    smoothing.similarity_transform = geometry.similarity_transform
    mesh = _load("ab_base_mesh", base / "pipeline/mesh.py")
    for name in ("crop_inverse_matrix", "crop_inverse_rows", "warp_crop", "RotatedRect"):
        if hasattr(mesh, name) and hasattr(geometry, name):
            setattr(mesh, name, getattr(geometry, name))
    tracker = _load("ab_base_tracker", base / "pipeline/tracker.py")
    for name in ("landmarks_to_rect", "face_rotation", "blend_rects"):
        setattr(tracker, name, getattr(geometry, name))
    tracker.OneEuroLandmarks = smoothing.OneEuroLandmarks
    if hasattr(tracker, "object_scale"):
        tracker.object_scale = smoothing.object_scale
    return {"step": tracker.MultiFaceTracker.step, "new_track": tracker.MultiFaceTracker._new_track,
            "run_batch": mesh.FaceMesh.run_batch}


def main(argv=None) -> int:
    from benchmarks import bench
    from models.variants import PRESETS
    from pipeline import mesh as mesh_mod
    from pipeline import tracker as tracker_mod
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab_race", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="another checkout of meshcam (e.g. a git worktree)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="full")
    parser.add_argument("--faces", type=int, choices=(1, 2, 4), default=1)
    parser.add_argument("--frames", type=int, default=240)
    args = parser.parse_args(argv)
    if not (args.base / "pipeline/tracker.py").is_file():
        parser.error(f"--base {args.base}: not a meshcam checkout (no pipeline/tracker.py)")
    if args.base.resolve() == Path(__file__).resolve().parents[1]:
        parser.error("--base is this checkout: give another one")
    this = {"step": tracker_mod.MultiFaceTracker.step, "new_track": tracker_mod.MultiFaceTracker._new_track,
            "run_batch": mesh_mod.FaceMesh.run_batch}
    base = _base_versions(args.base)

    def use(version: dict) -> None:
        tracker_mod.MultiFaceTracker.step = version["step"]
        tracker_mod.MultiFaceTracker._new_track = version["new_track"]
        mesh_mod.FaceMesh.run_batch = version["run_batch"]

    class Swapped:
        def __init__(self, rival, version):
            self.rival, self.version = rival, version

        def __call__(self, i, frame):
            use(self.version)
            self.rival(i, frame)

    subs = PRESETS[args.preset]
    frames = bench.tiled_frames(args.faces, args.frames)
    mediapipe = bench.MediaPipe(args.faces)
    mediapipe.prepare(frames)
    ours = bench.Meshcam(args.faces, True, subs)
    bench._TRACKER = None  # a second, separate tracker (its own sessions and state)
    theirs = bench.Meshcam(args.faces, True, subs)
    rivals = {"this": Swapped(ours, this), "base": Swapped(theirs, base), "mediapipe": mediapipe}
    print(f"{args.preset} preset, {args.faces} face(s), smoothing on, {args.frames} frames; median ms per frame")
    for paced in (False, True):
        use(this)
        ours.tracker.reset()
        use(base)
        theirs.tracker.reset()
        times = bench.race(frames, rivals, paced)
        ms = {k: float(np.median(v[5:]) * 1000) for k, v in times.items()}
        print(f"{'paced' if paced else 'interleaved':12s} this {ms['this']:.2f}  base {ms['base']:.2f}  "
              f"MediaPipe {ms['mediapipe']:.2f} | this/base {ms['this'] / ms['base']:.3f}  "
              f"this/MP {ms['this'] / ms['mediapipe']:.3f}  base/MP {ms['base'] / ms['mediapipe']:.3f}", flush=True)
    use(this)
    return 0


if __name__ == "__main__":
    sys.exit(main())
