"""`python main.py bench [--quick] [--out DIR]`: one report of meshcam against MediaPipe, every number from one run.

Sections (each run in its own guard: a section that fails is reported as failed with its one-line error
and the others still run; its traceback goes to DIR/errors.log):

- speed (this file): the race users live: a camera frame every 33 ms, timed two ways on the same frames,
  both rivals under the same machine load: interleaved (frame i by meshcam, then by MediaPipe, back to
  back) and paced (each rival call gets its own 33 ms tick and sleeps to the next one, so both run "cold"
  as in real use). Smoothing on and off; 1, 2 and 4 faces (frames tiled from different clips); (full run)
  each rival alone in its own process; the presets with their accuracy cost; per-face mesh time for
  batched faces; hot-loop model time per submodel set. Median and p90 per frame, load average per race.
- accuracy (benchmarks/accuracy.py): jitter rig (still, shake, sweep; lag) and NME, live and --quality best.
- signals (benchmarks/signals_bench.py): head pose MAE on AFLW2000-3D, rotation/flip checks, cost per face.
- outputs (benchmarks/outputs_bench.py): OSC / WebSocket / virtual camera / lipstick cost, a stalled client.
- batch (benchmarks/batch_bench.py): batch throughput, 1 worker vs 2 workers vs Ray.

Writes DIR/report.md, DIR/*.png and DIR/results.json (the same numbers); prints the headline table and the
targets. The quick run uses each section's quick mode (a few minutes on 2 cores).
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

from benchmarks.reference import (  # noqa: E402
    MEDIA,
    PHOTOS,
    ROOT,
    VIDEOS,
    mean_error_iod,
    mediapipe_face_mesh,
    mediapipe_faces_px,
)
from models.variants import PRESETS, Submodels  # noqa: E402

log = logging.getLogger(__name__)
TICK_S = 1 / 30
TILE = 512  # each face's tile, pixels
CLIPS = ("LivePortrait_d10.mp4", "SadTalker_WDA_AlexandriaOcasioCortez_000.mp4", "LivePortrait_s18.mp4",
         "LivePortrait_d13.mp4")
SECTIONS = ("speed", "accuracy", "signals", "outputs", "batch")
ACCURACY_PHOTOS = ("face_recognition_obama.jpg", "face_recognition_biden.jpg", "deepface_img16.jpg",
                   "face_recognition_alex-lacamoire.png", "deepface_img20.jpg", "deepface_img13.jpg",
                   "face_recognition_lin-manuel-miranda.png", "LivePortrait_insightface_t1.jpg")


@dataclass(frozen=True)
class BenchSize:
    frames: int  # frames per race
    faces: tuple[int, ...]
    process_rounds: int  # separate-process races (each rival once per round); 0: none
    hot_runs: int
    preset_photos: int  # photos for the presets' accuracy cost
    sections: tuple[str, ...] = SECTIONS


FULL = BenchSize(240, (1, 2, 4), 2, 400, len(ACCURACY_PHOTOS))
QUICK = BenchSize(60, (1, 2, 4), 0, 150, 4)


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
        with open_source(str(VIDEOS / clip)) as source:
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
        from pipeline import FaceTracker, Frame, PipelineConfig
        config = PipelineConfig(provider="cpu", max_faces=faces, smooth=smooth, signals=False, submodels=submodels)
        if _TRACKER is None:
            _TRACKER = FaceTracker.create(config)
        else:
            _TRACKER.update_config(config)
            _TRACKER.reset()
        self.tracker = _TRACKER
        self.stages: dict[str, list[float]] = {"detect": [], "mesh": [], "smooth": []}
        self.found: list[int] = []
        self._frame = Frame  # imported once, not in the timed call

    def __call__(self, i: int, frame: np.ndarray) -> None:
        result = self.tracker.process(self._frame(i, i * 1000 / 30, frame, time.perf_counter()))
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


def _race_median(stage_ms: list[float], frames: int) -> float:
    """Median of a stage over the last race's frames, less the first 5 as in ``_stats`` (a rival's stage lists run
    on over races)."""
    return float(np.median(stage_ms[len(stage_ms) - frames:][5:]))


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
                stages = {k: _race_median(v, len(frames)) for k, v in ours.stages.items()}
                rows.append({"faces": faces, "smooth": smooth, "mode": "paced" if paced else "interleaved",
                             "meshcam": a, "mediapipe": b, "ratio": a["median_ms"] / b["median_ms"],
                             "mesh_stage_ratio": stages["mesh"] / b["median_ms"],
                             "per_face_ms": {"meshcam": a["median_ms"] / faces, "mediapipe": b["median_ms"] / faces},
                             "ratio_p90": a["p90_ms"] / b["p90_ms"],
                             "cpu": {"meshcam": ca, "mediapipe": cb, "ratio": ca["median_ms"] / cb["median_ms"]},
                             "stages_ms": stages,
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
        for name in ACCURACY_PHOTOS[:size.preset_photos]:
            img = _cv2.imread(str(PHOTOS / name))
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
                "mesh_stage_ratio": _race_median(ours.stages["mesh"], len(frames)) / b["median_ms"],
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
    """Mesh time per face when all of a frame's faces run in one session call (tracked ROIs from a first pass).

    The face counts and submodel sets take turns call by call (the order rotating), so every ratio to the one-face
    time compares calls made under the same machine load: this VM's speed drifts by 10-20 % within minutes."""
    configs = []
    for faces in size.faces:
        tracker = Meshcam(faces, False).tracker
        frames = frames_by_faces[faces][:max(30, size.frames // 3)]
        rois = [[f.roi for f in tracker.process(_frame(i, fr)).faces] for i, fr in enumerate(frames)]
        pairs = [(fr, r) for fr, r in zip(frames, rois) if len(r) == faces]
        if pairs:
            configs += [(faces, subs, pairs) for subs in (Submodels.ALL, Submodels.NONE)]
    if not configs:
        return []
    mesh = tracker.mesh  # Meshcam's one process-wide tracker: the same sessions for every face count
    per_face = {k[:2]: [] for k in configs}
    cpu = {k[:2]: [] for k in configs}
    steps = max(len(c[2]) for c in configs)
    for rep in range(3):
        for i in range(steps):
            turn = (i + rep) % len(configs)
            for faces, subs, pairs in configs[turn:] + configs[:turn]:
                fr, r = pairs[i % len(pairs)]
                time.sleep(TICK_S / 2)  # cold-ish, as per frame in real use
                t0, c0 = time.perf_counter(), time.thread_time()
                mesh.run_batch(fr, r, subs)
                per_face[faces, subs].append((time.perf_counter() - t0) / faces)
                cpu[faces, subs].append((time.thread_time() - c0) / faces)
    rows = [{"faces": faces, "submodels": subs.label, "per_face": _stats(per_face[faces, subs], 3),
             "per_face_cpu": _stats(cpu[faces, subs], 3)} for faces, subs, _ in configs]
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
    img = cv2.imread(str(PHOTOS / "face_recognition_obama.jpg"))
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


# ---- one run, every section ---------------------------------------------------------------------
def bench_speed(size: BenchSize) -> dict:
    """The speed section; each part in its own guard (a failed part is named in ``failed``)."""
    frames = {k: tiled_frames(k, size.frames) for k in size.faces}
    parts = [("race", lambda: bench_race(size, frames)),
             ("processes", lambda: bench_processes(size) if size.process_rounds else None),
             ("presets", lambda: bench_presets(size, frames[min(size.faces)])),
             ("batch", lambda: bench_batch(size, frames)),
             ("hot", lambda: bench_hot(size))]
    out: dict = {"frames": size.frames, "clips": list(CLIPS[:max(size.faces)]), "failed": {}}
    for name, fn in parts:
        log.info("speed: %s", name)
        try:
            out[name] = fn()
        except Exception as e:  # noqa: BLE001 - reported, the other parts still run
            out["failed"][name] = _one_line(e)
            _save_traceback(name)
    return out


def _section_runners(size: BenchSize, quick: bool, out: Path) -> dict:
    def accuracy():
        from benchmarks import accuracy as module
        return module.run(quick, log=log.info)

    def signals():
        from benchmarks import signals_bench
        return signals_bench.run(quick)

    def outputs():
        from benchmarks import outputs_bench
        return outputs_bench.run(quick, out / "outputs")

    def batch():
        from benchmarks import batch_bench
        return batch_bench.run(quick)

    return {"speed": lambda: bench_speed(size), "accuracy": accuracy, "signals": signals, "outputs": outputs,
            "batch": batch}


_ERRORS_LOG: Path | None = None


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def _save_traceback(where: str) -> None:
    if _ERRORS_LOG is not None:
        import traceback
        with open(_ERRORS_LOG, "a") as f:
            f.write(f"---- {where}\n{traceback.format_exc()}\n")


def prime_mediapipe_logs() -> None:
    """MediaPipe logs one more warning (landmark_projection_calculator) on the first frame *with a face* in a
    process, after ``mediapipe_face_mesh``'s silenced warm-up: spend it here, silenced."""
    from benchmarks.reference import quiet_native_stderr
    image = cv2.imread(str(PHOTOS / ACCURACY_PHOTOS[0]))
    if image is None:
        return
    with mediapipe_face_mesh(static=True, max_faces=1) as fm, quiet_native_stderr():
        mediapipe_faces_px(fm, image)


def run_bench(out: Path, size: BenchSize, quick: bool) -> dict:
    """Run ``size.sections``; write DIR/results.json, DIR/report.md and the plots; return the results."""
    global _ERRORS_LOG
    from benchmarks import bench_report
    out.mkdir(parents=True, exist_ok=True)
    _ERRORS_LOG = out / "errors.log"
    _ERRORS_LOG.unlink(missing_ok=True)
    for name in ("websockets", "pipeline.sink_ws"):  # the outputs section's per-connection chatter
        logging.getLogger(name).setLevel(logging.WARNING)
    t0 = time.perf_counter()
    results: dict = {"quick": quick, "started_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "machine": machine_description(),
                     "load_avg": {"start": list(os.getloadavg())}, "sections": {}}
    try:
        prime_mediapipe_logs()
    except Exception:  # noqa: BLE001 - without MediaPipe the sections that need it fail and say so
        pass
    runners = _section_runners(size, quick, out)
    for i, name in enumerate(size.sections, 1):
        log.info("bench %d/%d: %s", i, len(size.sections), name)
        s0, load0 = time.perf_counter(), os.getloadavg()[0]
        entry: dict = {"status": "ok", "error": None, "data": None}
        try:
            entry["data"] = runners[name]()
        except Exception as e:  # noqa: BLE001 - a failed section is reported; the others still run
            entry.update(status="failed", error=_one_line(e))
            _save_traceback(name)
        entry["seconds"] = time.perf_counter() - s0
        entry["load_avg"] = [load0, os.getloadavg()[0]]
        results["sections"][name] = entry
        log.info("bench %s: %s (%.0f s)%s", name, entry["status"], entry["seconds"],
                 f": {entry['error']}" if entry["error"] else "")
    results["load_avg"]["end"] = list(os.getloadavg())
    results["seconds"] = time.perf_counter() - t0
    results["checks"] = bench_report.checks(results)
    results["plots"] = bench_report.plots(results, out, on_error=lambda name: _save_traceback(f"plot {name}"))
    (out / "results.json").write_text(json.dumps(results, indent=1, default=_json_default))
    (out / "report.md").write_text(bench_report.report(results))
    return results


def machine_description() -> str:
    """The CPU the ratios were measured on: onnxruntime's kernels and MediaPipe's (XNNPACK) gain differently from
    AVX-512, so the same code's ratio differs between machines (README, Benchmarks)."""
    import onnxruntime
    arch = platform.machine()
    cpu, isa = platform.processor() or arch, None
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux: the processor name is all we have
        lines = []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), cpu)
    flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), None)
    if flags is not None and arch.lower() in ("x86_64", "amd64"):  # the SIMD level only where it is known
        isa = "AVX-512" if "avx512f" in flags else "AVX2, no AVX-512" if "avx2" in flags else "no AVX2"
    detail = ", ".join(x for x in (isa, arch if arch != cpu else None) if x)
    return (f"{cpu}{f' ({detail})' if detail else ''}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"onnxruntime {onnxruntime.__version__}")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tuple)):
        return list(np.asarray(value).tolist())
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


def print_summary(results: dict, out: Path) -> None:
    from benchmarks import bench_report
    print("\n".join(bench_report.summary_lines(results)))
    print(f"\nreport: {out / 'report.md'} ({results['seconds']:.0f} s)")


def bench_cli(args) -> int:
    if not MEDIA.is_dir():
        from pipeline.errors import InputError
        raise InputError(f"benchmark media not found at {MEDIA} (the shared/ folder beside the checkout)")
    size = QUICK if args.quick else FULL
    if getattr(args, "sections", None):
        size = replace(size, sections=tuple(args.sections))
    out = Path(args.out)
    results = run_bench(out, size, args.quick)
    print_summary(results, out)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default="bench-out")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, help="run only these sections (default: all)")
    p.add_argument("--only", choices=("race", "processes", "presets", "batch", "hot"),
                   help="print one part of the speed section as JSON")
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
    if args.sections:
        size = replace(size, sections=tuple(args.sections))
    if not MEDIA.is_dir():
        print(f"error: shared media not found at {MEDIA}", file=sys.stderr)
        return 2
    out = Path(args.out)
    print_summary(run_bench(out, size, args.quick), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
