"""`python main.py bench [--quick] [--out DIR]`: meshcam against MediaPipe, measured in one run.

What users live is a camera frame every 33 ms, so the race is timed two ways on the same frames, both
rivals under the same machine load: interleaved (frame i by meshcam, then by MediaPipe, back to back) and
paced (each rival gets its own 33 ms camera tick and sleeps to the next one, so both run "cold" as in
real use). Smoothing on and off; 1, 2 and 4 faces (frames tiled from different clips); both rivals in this
process, and each alone in its own process. Median and p90 per frame, load average during the run; every
ratio is of two numbers measured in this run. Secondary: the presets' cost, per-face mesh time for batched
faces, the hot-loop model time of each submodel set, and (full run) the accuracy benchmark
(benchmarks/accuracy.py). Writes DIR/report.md and DIR/results.json.

meshcam runs through the public API (``FaceTracker``); per-stage numbers come from its timings and its
``mesh`` for the batch measurement.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GLOG_minloglevel", "2")

from benchmarks.reference import MEDIA, ROOT, mean_error_iod, mediapipe_face_mesh, mediapipe_faces_px  # noqa: E402
from models.variants import PRESETS, Submodels  # noqa: E402

log = logging.getLogger(__name__)
TICK_S = 1 / 30
TILE = 512  # each face's tile, pixels
CLIPS = ("LivePortrait_d10.mp4", "SadTalker_WDA_AlexandriaOcasioCortez_000.mp4", "LivePortrait_s18.mp4",
         "LivePortrait_d13.mp4")
ACCURACY_PHOTOS = ("face_recognition_obama.jpg", "face_recognition_biden.jpg", "deepface_img16.jpg",
                   "face_recognition_alex-lacamoire.png", "deepface_img20.jpg", "deepface_img13.jpg",
                   "face_recognition_lin-manuel-miranda.png", "LivePortrait_insightface_t1.jpg")


@dataclass(frozen=True)
class BenchSize:
    frames: int  # frames per race
    faces: tuple[int, ...]
    process_rounds: int  # separate-process races (each rival once per round)
    hot_runs: int
    accuracy: bool  # run benchmarks.accuracy too


FULL = BenchSize(240, (1, 2, 4), 2, 400, True)
QUICK = BenchSize(90, (1, 2, 4), 1, 150, False)


# ---- frames --------------------------------------------------------------------------------------
def _square(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return cv2.resize(frame[y:y + s, x:x + s], (TILE, TILE), interpolation=cv2.INTER_AREA)


def tiled_frames(faces: int, n: int) -> list[np.ndarray]:
    """``n`` frames with ``faces`` faces: 512x512 tiles of different clips side by side (2) or 2x2 (4)."""
    from pipeline import open_source
    per_clip = []
    for clip in CLIPS[:faces]:
        frames = []
        with open_source(str(MEDIA / "videos" / clip)) as source:
            for f in source:
                frames.append(_square(f.frame_bgr))
                if len(frames) >= n:
                    break
        per_clip.append(frames)
    n = min(len(f) for f in per_clip)
    out = []
    for i in range(n):
        tiles = [c[i] for c in per_clip]
        if faces == 1:
            out.append(tiles[0])
        elif faces == 2:
            out.append(np.hstack(tiles))
        else:
            out.append(np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:4])]))
    return out


# ---- rivals --------------------------------------------------------------------------------------
_TRACKER = None


class Meshcam:
    """meshcam through the public API; one FaceTracker per process, retuned live (update_config) per race."""

    def __init__(self, faces: int, smooth: bool, submodels: Submodels = Submodels.ALL):
        global _TRACKER
        from pipeline import FaceTracker, PipelineConfig
        config = PipelineConfig(provider="cpu", max_faces=faces, smooth=smooth, signals=False, submodels=submodels)
        if _TRACKER is None:
            _TRACKER = FaceTracker.create(config)
        else:
            _TRACKER.update_config(config)
            _TRACKER.reset()
        self.tracker = _TRACKER
        self.stages: dict[str, list[float]] = {"detect": [], "mesh": [], "smooth": []}
        self.found: list[int] = []

    def __call__(self, i: int, frame: np.ndarray) -> None:
        from pipeline import Frame
        result = self.tracker.process(Frame(i, i * 1000 / 30, frame, time.perf_counter()))
        for k in self.stages:
            self.stages[k].append(result.timings_ms.get(k, 0.0))
        self.found.append(len(result.faces))

    def close(self) -> None:
        pass


class MediaPipe:
    def __init__(self, faces: int):
        self.fm = mediapipe_face_mesh(static=False, max_faces=faces, refine=True)
        self.rgb: dict[int, np.ndarray] = {}
        self.found: list[int] = []

    def prepare(self, frames: list[np.ndarray]) -> None:
        self.rgb = {i: cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for i, f in enumerate(frames)}  # its input; not timed

    def __call__(self, i: int, frame: np.ndarray) -> None:
        res = self.fm.process(self.rgb[i] if i in self.rgb else cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        self.found.append(len(res.multi_face_landmarks or []))

    def close(self) -> None:
        self.fm.close()


def _stats(times_s: list[float], skip: int = 5) -> dict:
    ms = np.asarray(times_s[skip:]) * 1000
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)), "frames": int(ms.size)}


def race(frames: list[np.ndarray], rivals: dict, paced: bool, cpu: dict | None = None) -> dict[str, list[float]]:
    """Per-frame wall seconds of each rival on the same frames (and process CPU seconds into ``cpu``).
    Interleaved: back to back, the order alternating per frame. Paced: each rival call gets its own 33 ms
    tick (sleep to the next one first).

    CPU time is robust to other processes' load, which lengthens long calls more than short ones (more
    preemptions); MediaPipe computes on its own threads, which process time includes."""
    times = {k: [] for k in rivals}
    cpu = {} if cpu is None else cpu
    for k in rivals:
        cpu[k] = []
    names = list(rivals)
    tick = time.perf_counter()
    for i, frame in enumerate(frames):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            if paced:
                tick += TICK_S
                delay = tick - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    tick = time.perf_counter()
            t0, c0 = time.perf_counter(), time.process_time()
            rivals[name](i, frame)
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return times


def bench_race(size: BenchSize, frames_by_faces: dict[int, list[np.ndarray]], submodels=Submodels.ALL) -> list[dict]:
    rows = []
    for faces in size.faces:
        frames = frames_by_faces[faces]
        mp = MediaPipe(faces)
        mp.prepare(frames)
        for smooth in (True, False):
            ours = Meshcam(faces, smooth, submodels)
            for paced in (False, True):
                load0 = os.getloadavg()[0]
                ours.tracker.reset()
                cpu: dict = {}
                times = race(frames, {"meshcam": ours, "mediapipe": mp}, paced, cpu)
                a, b = _stats(times["meshcam"]), _stats(times["mediapipe"])
                ca, cb = _stats(cpu["meshcam"]), _stats(cpu["mediapipe"])
                rows.append({"faces": faces, "smooth": smooth, "mode": "paced" if paced else "interleaved",
                             "meshcam": a, "mediapipe": b, "ratio": a["median_ms"] / b["median_ms"],
                             "ratio_p90": a["p90_ms"] / b["p90_ms"],
                             "cpu": {"meshcam": ca, "mediapipe": cb, "ratio": ca["median_ms"] / cb["median_ms"]},
                             "stages_ms": {k: float(np.median(v[-len(frames) + 5:])) for k, v in ours.stages.items()},
                             "faces_found": {"meshcam": float(np.mean(ours.found[-len(frames):])),
                                             "mediapipe": float(np.mean(mp.found[-len(frames):]))},
                             "load_avg": [load0, os.getloadavg()[0]]})
                log.info("race %d face(s) smooth=%s %s: %.2f / %.2f ms = %.2f (CPU %.2f)", faces, smooth,
                         rows[-1]["mode"], a["median_ms"], b["median_ms"], rows[-1]["ratio"], rows[-1]["cpu"]["ratio"])
        mp.close()
    return rows


# ---- each rival in its own process ---------------------------------------------------------------
def _worker(rival: str, faces: int, frames: int, smooth: bool) -> None:
    """Subprocess body: pace one rival alone, print its per-frame seconds as JSON."""
    data = tiled_frames(faces, frames)
    runner = Meshcam(faces, smooth) if rival == "meshcam" else MediaPipe(faces)
    if rival == "mediapipe":
        runner.prepare(data)
    cpu: dict = {}
    times = race(data, {rival: runner}, paced=True, cpu=cpu)[rival]
    print(json.dumps({"times": times, "cpu": cpu[rival], "load_avg": os.getloadavg()[0]}))


def bench_processes(size: BenchSize, faces: int = 1, smooth: bool = True) -> dict:
    """Each rival alone in a fresh process, paced, alternating rivals for ``rounds`` rounds."""
    times = {"meshcam": [], "mediapipe": []}
    cpu = {"meshcam": [], "mediapipe": []}
    loads = []
    for _ in range(size.process_rounds):
        for rival in times:
            cmd = [sys.executable, "-m", "benchmarks.bench", "--worker", rival, "--faces", str(faces),
                   "--frames", str(size.frames), "--smooth" if smooth else "--no-smooth"]
            out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, check=True)
            data = json.loads(out.stdout.strip().splitlines()[-1])
            times[rival] += data["times"][5:]
            cpu[rival] += data["cpu"][5:]
            loads.append(data["load_avg"])
    a, b = _stats(times["meshcam"], 0), _stats(times["mediapipe"], 0)
    return {"faces": faces, "smooth": smooth, "rounds": size.process_rounds, "meshcam": a, "mediapipe": b,
            "ratio": a["median_ms"] / b["median_ms"],
            "cpu_ratio": float(np.median(cpu["meshcam"]) / np.median(cpu["mediapipe"])), "load_avg": loads}


# ---- presets, batching, hot loop -----------------------------------------------------------------
def bench_presets(size: BenchSize, frames: list[np.ndarray]) -> list[dict]:
    """Each preset against MediaPipe (1 face, smoothing on), interleaved and paced, plus its accuracy cost:
    mean distance to MediaPipe's refined landmarks on photos (static mode), % of IOD, over the points
    the preset outputs (no irises in 'fast')."""
    import cv2 as _cv2
    rows = []
    mp = MediaPipe(1)
    mp.prepare(frames)
    with mediapipe_face_mesh(static=True, max_faces=1) as fm:
        refs = {}
        for name in ACCURACY_PHOTOS:
            img = _cv2.imread(str(MEDIA / "photos" / name))
            found = mediapipe_faces_px(fm, img) if img is not None else []
            if found:
                refs[name] = (img, found[0])
    for preset, subs in PRESETS.items():
        ours = Meshcam(1, True, subs)
        row = {"preset": preset, "submodels": subs.label}
        for paced in (False, True):
            cpu: dict = {}
            times = race(frames, {"meshcam": ours, "mediapipe": mp}, paced, cpu)
            a, b = _stats(times["meshcam"]), _stats(times["mediapipe"])
            row["paced" if paced else "interleaved"] = {
                "meshcam": a, "mediapipe": b, "ratio": a["median_ms"] / b["median_ms"],
                "cpu_ratio": float(np.median(cpu["meshcam"][5:]) / np.median(cpu["mediapipe"][5:]))}
        errs, iris = [], []
        for img, ref in refs.values():
            faces = ours.tracker.detect_image(img).faces
            if not faces:
                continue
            got = faces[0].landmarks_px
            keep = np.isfinite(got[:, 0])
            errs.append(mean_error_iod(got[keep], ref[keep]) * 100)
            iris.append(bool(keep[468:].all()))
        row["error_vs_mediapipe_pct_iod"] = {"mean": float(np.mean(errs)), "min": float(np.min(errs)),
                                             "max": float(np.max(errs)), "photos": len(errs)}
        row["irises"] = all(iris)
        rows.append(row)
        log.info("preset %s: %.2f ms interleaved (x%.2f), %.2f %% IOD", preset,
                 row["interleaved"]["meshcam"]["median_ms"], row["interleaved"]["ratio"],
                 row["error_vs_mediapipe_pct_iod"]["mean"])
    mp.close()
    return rows


def bench_batch(size: BenchSize, frames_by_faces: dict[int, list[np.ndarray]]) -> list[dict]:
    """Mesh time per face when all of a frame's faces run in one session call (tracked ROIs from a first pass)."""
    rows = []
    for faces in size.faces:
        tracker = Meshcam(faces, False).tracker
        frames = frames_by_faces[faces][:max(30, size.frames // 3)]
        rois = [[f.roi for f in tracker.process(_frame(i, fr)).faces] for i, fr in enumerate(frames)]
        pairs = [(fr, r) for fr, r in zip(frames, rois) if len(r) == faces]
        if not pairs:
            continue
        for subs in (Submodels.ALL, Submodels.NONE):
            per_face, cpu = [], []
            for _ in range(3):
                for fr, r in pairs:
                    time.sleep(TICK_S / 2)  # cold-ish, as per frame in real use
                    t0, c0 = time.perf_counter(), time.thread_time()
                    tracker.mesh.run_batch(fr, r, subs)
                    per_face.append((time.perf_counter() - t0) / faces)
                    cpu.append((time.thread_time() - c0) / faces)
            rows.append({"faces": faces, "submodels": subs.label, "per_face": _stats(per_face, 3),
                         "per_face_cpu": _stats(cpu, 3)})
    for row in rows:
        single = next(r for r in rows if r["faces"] == 1 and r["submodels"] == row["submodels"])
        row["vs_single_face"] = row["per_face"]["median_ms"] / single["per_face"]["median_ms"]
        row["vs_single_face_cpu"] = row["per_face_cpu"]["median_ms"] / single["per_face_cpu"]["median_ms"]
    return rows


def _frame(i: int, image: np.ndarray):
    from pipeline import Frame
    return Frame(i, i * 1000 / 30, image, time.perf_counter())


def bench_hot(size: BenchSize) -> list[dict]:
    """Hot-loop mesh time of each submodel set (secondary: real per-frame use is colder, see the race)."""
    tracker = Meshcam(1, False).tracker
    img = cv2.imread(str(MEDIA / "photos" / "face_recognition_obama.jpg"))
    roi = tracker.detect_image(img).faces[0].roi
    sets = (Submodels.NONE, Submodels.LIPS, Submodels.IRISES, Submodels.LEFT_EYE | Submodels.LEFT_IRIS,
            Submodels.EYES | Submodels.IRISES, Submodels.LIPS | Submodels.EYES, Submodels.ALL)
    preset_of = {v: k for k, v in PRESETS.items()}
    rows = []
    for subs in sets:
        label = "mesh + " + subs.label.replace("+", " + ") if subs else "mesh only"
        label += f" ({preset_of[subs]})" if subs in preset_of else ""
        for _ in range(20):
            tracker.mesh(img, roi, subs)
        times = []
        for _ in range(size.hot_runs):
            t0 = time.perf_counter()
            tracker.mesh(img, roi, subs)
            times.append(time.perf_counter() - t0)
        rows.append({"model": label, **_stats(times, 0)})
    return rows


# ---- report --------------------------------------------------------------------------------------
def _report(results: dict) -> str:
    r = results
    lines = [f"# meshcam benchmark ({'quick' if r['quick'] else 'full'} run)", "",
             f"{r['machine']}. Provider: **CPU**. Load average at start {r['load_avg'][0]:.2f}, end "
             f"{r['load_avg'][1]:.2f}. Every ratio is meshcam over MediaPipe 0.10.21 "
             "(`FaceMesh(refine_landmarks=True)`, video mode) measured in this same run, on the same frames.", "",
             "## Speed", "",
             "Time per frame (meshcam: detection when needed, mesh, smoothing; full preset, signals off). "
             "Interleaved: the two rivals alternate frame by frame, back to back. Paced: each call gets its "
             "own 33 ms camera tick, as a 30 fps webcam. Faces: 512x512 tiles of different clips.", "",
             "| faces | smoothing | mode | meshcam median / p90 ms | MediaPipe median / p90 ms | ratio | "
             "ratio p90 | CPU ms ours / MP (ratio) | detect / mesh / smooth ms | faces found (ours, MP) | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in r["race"]:
        st = x["stages_ms"]
        lines.append(f"| {x['faces']} | {'on' if x['smooth'] else 'off'} | {x['mode']} | "
                     f"{x['meshcam']['median_ms']:.2f} / {x['meshcam']['p90_ms']:.2f} | "
                     f"{x['mediapipe']['median_ms']:.2f} / {x['mediapipe']['p90_ms']:.2f} | **{x['ratio']:.2f}** | "
                     f"{x['ratio_p90']:.2f} | {x['cpu']['meshcam']['median_ms']:.2f} / "
                     f"{x['cpu']['mediapipe']['median_ms']:.2f} ({x['cpu']['ratio']:.2f}) | "
                     f"{st['detect']:.2f} / {st['mesh']:.2f} / {st['smooth']:.2f} | "
                     f"{x['faces_found']['meshcam']:.2f}, {x['faces_found']['mediapipe']:.2f} | "
                     f"{x['load_avg'][0]:.1f}-{x['load_avg'][1]:.1f} |")
    p = r.get("processes")
    if p:
        lines += ["", f"Each rival alone in its own process (paced, {p['faces']} face, smoothing "
                  f"{'on' if p['smooth'] else 'off'}, {p['rounds']} round(s) alternating): meshcam "
                  f"{p['meshcam']['median_ms']:.2f} / {p['meshcam']['p90_ms']:.2f} ms, MediaPipe "
                  f"{p['mediapipe']['median_ms']:.2f} / {p['mediapipe']['p90_ms']:.2f} ms (median / p90): "
                  f"ratio **{p['ratio']:.2f}** (CPU time ratio {p['cpu_ratio']:.2f}). Load averages: "
                  + ", ".join(f"{v:.1f}" for v in p["load_avg"]) + "."]
    lines += ["", "## Presets", "", "1 face, smoothing on. Accuracy cost: mean distance to MediaPipe's refined "
              "landmarks on shared photos (static mode), % of the outer-eye-corner distance, over the points the "
              "preset outputs.", "",
              "| preset | submodels | interleaved ms (ratio; CPU ratio) | paced ms (ratio; CPU ratio) | "
              "vs MediaPipe, % IOD mean (min-max) | irises |", "|---|---|---|---|---|---|"]
    for x in r["presets"]:
        e = x["error_vs_mediapipe_pct_iod"]
        lines.append(f"| {x['preset']} | {x['submodels']} | {x['interleaved']['meshcam']['median_ms']:.2f} "
                     f"(**{x['interleaved']['ratio']:.2f}**; {x['interleaved']['cpu_ratio']:.2f}) | "
                     f"{x['paced']['meshcam']['median_ms']:.2f} (**{x['paced']['ratio']:.2f}**; "
                     f"{x['paced']['cpu_ratio']:.2f}) | {e['mean']:.2f} ({e['min']:.2f}-{e['max']:.2f}) | "
                     f"{'yes' if x['irises'] else 'no'} |")
    lines += ["", "## Faces in one batch", "", "Mesh time per face with all of a frame's faces in one session "
              "call (crop, session, assembly; half a tick of sleep before each call), vs one face; wall and "
              "CPU time (the CPU figure is robust to other processes' load).", "",
              "| faces | submodels | per-face median / p90 ms | vs single face | per-face CPU ms | CPU vs single |",
              "|---|---|---|---|---|---|"]
    for x in r["batch"]:
        lines.append(f"| {x['faces']} | {x['submodels']} | {x['per_face']['median_ms']:.2f} / "
                     f"{x['per_face']['p90_ms']:.2f} | {x['vs_single_face']:.2f} | "
                     f"{x['per_face_cpu']['median_ms']:.2f} | **{x['vs_single_face_cpu']:.2f}** |")
    lines += ["", "## Submodel cost (hot loop, secondary)", "", "One face crop, back-to-back calls (crop, "
              "session, assembly): hotter than real per-frame use.", "", "| model | median ms | p90 ms |",
              "|---|---|---|"]
    for x in r["hot"]:
        lines.append(f"| {x['model']} | {x['median_ms']:.2f} | {x['p90_ms']:.2f} |")
    if "accuracy" in r:
        lines += ["", "## Accuracy", "", "From `python -m benchmarks.accuracy` (jitter rig and NME), run here:", "",
                  "```", json.dumps(r["accuracy"], indent=1)[:6000], "```"]
    lines += ["", f"Reproduce: `python main.py bench{' --quick' if r['quick'] else ''} --out DIR`.", ""]
    return "\n".join(lines)


def run_bench(out: Path, size: BenchSize, quick: bool) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results = {"quick": quick, "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                                          f"Python {platform.python_version()}", "load_avg": [os.getloadavg()[0]]}
    frames = {k: tiled_frames(k, size.frames) for k in size.faces}
    steps = [("race", lambda: bench_race(size, frames)),
             ("processes", lambda: bench_processes(size) if size.process_rounds else None),
             ("presets", lambda: bench_presets(size, frames[min(size.faces)])),
             ("batch", lambda: bench_batch(size, frames)),
             ("hot", lambda: bench_hot(size))]
    if size.accuracy:
        from benchmarks import accuracy
        steps.append(("accuracy", lambda: accuracy.run(quick)))
    for i, (name, fn) in enumerate(steps, 1):
        log.info("bench %d/%d: %s", i, len(steps), name)
        results[name] = fn()
    results["load_avg"].append(os.getloadavg()[0])
    results["seconds"] = time.perf_counter() - t0
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "report.md").write_text(_report(results))
    return results


def bench_cli(args) -> int:
    if not MEDIA.is_dir():
        from pipeline.errors import InputError
        raise InputError(f"benchmark media not found at {MEDIA} (the shared/ folder beside the checkout)")
    size = QUICK if args.quick else FULL
    if getattr(args, "no_accuracy", False):
        size = replace(size, accuracy=False)
    out = Path(args.out)
    results = run_bench(out, size, args.quick)
    print(f"\n{'faces':>5s} {'smooth':>6s} {'mode':>11s} {'meshcam ms':>10s} {'MediaPipe ms':>12s} {'ratio':>6s}")
    for r in results["race"]:
        print(f"{r['faces']:5d} {'on' if r['smooth'] else 'off':>6s} {r['mode']:>11s} "
              f"{r['meshcam']['median_ms']:10.2f} {r['mediapipe']['median_ms']:12.2f} {r['ratio']:6.2f}")
    if results.get("processes"):
        print(f"separate processes (paced, 1 face): ratio {results['processes']['ratio']:.2f}")
    print("presets: " + ", ".join(f"{p['preset']} {p['interleaved']['meshcam']['median_ms']:.2f} ms "
                                  f"(x{p['interleaved']['ratio']:.2f}, {p['error_vs_mediapipe_pct_iod']['mean']:.2f} "
                                  "% IOD)" for p in results["presets"]))
    print(f"\nreport: {out / 'report.md'} ({results['seconds']:.0f} s)")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default="bench-out")
    p.add_argument("--no-accuracy", action="store_true", help="skip benchmarks.accuracy in a full run")
    p.add_argument("--only", choices=("race", "processes", "presets", "batch", "hot"), help="run one section")
    p.add_argument("--frames", type=int, default=None)
    p.add_argument("--worker", choices=("meshcam", "mediapipe"), help=argparse.SUPPRESS)
    p.add_argument("--faces", type=int, nargs="+", default=None, help="face counts (default 1 2 4)")
    p.add_argument("--smooth", action=argparse.BooleanOptionalAction, default=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.worker:
        _worker(args.worker, (args.faces or [1])[0], args.frames or QUICK.frames, args.smooth)
        return 0
    size = QUICK if args.quick else FULL
    if args.frames:
        size = replace(size, frames=args.frames)
    if args.faces:
        size = replace(size, faces=tuple(args.faces))
    if args.only:
        frames = {k: tiled_frames(k, size.frames) for k in size.faces}
        fn = {"race": lambda: bench_race(size, frames), "processes": lambda: bench_processes(size),
              "presets": lambda: bench_presets(size, frames[min(size.faces)]),
              "batch": lambda: bench_batch(size, frames), "hot": lambda: bench_hot(size)}[args.only]
        print(json.dumps(fn(), indent=1))
        return 0
    return bench_cli(args)


if __name__ == "__main__":
    sys.exit(main())
