"""Live outputs: cost per frame of each output and of the lipstick, a stalled WebSocket client in a real run, and
the viewer page in a headless browser. `python -m benchmarks.outputs_bench [--quick] [--out DIR]`.

Costs are medians (and 90th percentiles) over real tracked frames with one face:
- osc: ``write`` (encode the VMC bundles + non-blocking sendto) to a python-osc receiver on 127.0.0.1;
- ws: ``write`` on the pipeline thread, plus the JSON serialisation the server thread does once per frame;
- vcam: ``write`` on the pipeline thread, plus the sender thread's render (clean mode with lipstick) and the
  pyvirtualcam ``send`` into a capture backend (no v4l2loopback device here, so the driver copy is not in it);
- lipstick: ``apply_lipstick`` on 1280x720 frames.
Stall: ``run_offline`` over a clip with the WebSocket output and one reading client (both in other processes),
with and without a second client that stops reading for 5 s: fps and the peak RSS of this process.
Viewer: Debian's chromium (headless, driven over the DevTools protocol) opens http://127.0.0.1:PORT/ while
frames stream, waits for frames to arrive and saves a screenshot.
"""
from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pipeline.sink_osc  # noqa: E402, F401  (the outputs register their schemes with open_sink on import)
import pipeline.sink_vcam  # noqa: E402, F401
import pipeline.sink_ws  # noqa: E402, F401
from benchmarks.reference import VIDEOS  # noqa: E402
from pipeline import FaceTracker, PipelineConfig, open_sink, open_source, run_offline  # noqa: E402
from pipeline.lipstick import LipstickStyle, apply_lipstick  # noqa: E402
from pipeline.sink_ws import frame_json  # noqa: E402
from pipeline.sinks import MemorySink  # noqa: E402

CLIP_1FACE = "LivePortrait_d10.mp4"
CLIP_720P = "LivePortrait_s32.mp4"  # 1280x720
CLIP_STALL = "LivePortrait_d6.mp4"  # 1008 frames
OPEN_MOUTHS = [("LivePortrait_d12.mp4", (75, 105, 135)), ("LivePortrait_d11.mp4", (60, 120, 180)),
               ("LivePortrait_d0.mp4", (36, 52)), ("LivePortrait_d3.mp4", (150, 250))]

CLIENT = """
import json, sys, time
from websockets.sync.client import connect
url, stall, duration = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
got, t0 = 0, time.monotonic()
with connect(url, proxy=None, compression=None, max_queue=4) as ws:
    ws.recv(timeout=5)
    print("ready", flush=True)
    while time.monotonic() - t0 < duration:
        try:
            ws.recv(timeout=0.2)
        except TimeoutError:
            continue
        except Exception:
            break
        got += 1
        if stall and got == 1:
            time.sleep(stall)
print(json.dumps(got))
"""


Collect = MemorySink  # keeps every result (to replay real frames into a sink at a chosen pace)


def collect(tracker: FaceTracker, clip: str, frames: int):
    sink = Collect()
    with open_source(VIDEOS / clip) as source:
        run_offline(source, tracker, [sink], max_frames=frames)
    return sink.info, [r for r in sink.results if r.faces]


def _stats(ms: list[float]) -> dict:
    return {"median_ms": round(float(np.median(ms)), 4), "p90_ms": round(float(np.percentile(ms, 90)), 4),
            "n": len(ms)}


def _timed(fn, items) -> list[float]:
    out = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _client(url: str, stall: float, duration: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CLIENT, url, str(stall), str(duration)], stdout=subprocess.PIPE,
                            text=True)
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("websocket client did not connect")
    return proc


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


# ---- costs ------------------------------------------------------------------------------------------------
def output_costs(tracker: FaceTracker, frames: int) -> dict:
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import BlockingOSCUDPServer
    info, results = collect(tracker, CLIP_1FACE, frames)
    out = {}
    dispatcher = Dispatcher()
    received = []
    dispatcher.set_default_handler(lambda address, *args: received.append(address))
    server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    osc = open_sink(f"osc://127.0.0.1:{server.server_address[1]}")
    osc.open(info)
    ms = []
    for r in results:
        t0 = time.perf_counter()
        osc.write(r, None)
        ms.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.002)
    osc.close()
    time.sleep(0.2)
    server.shutdown()
    out["osc_write"] = _stats(ms) | {"applies_received": received.count("/VMC/Ext/Blend/Apply"), "frames": len(ms)}

    names = tracker.blendshape_names
    out["ws_serialise"] = _stats(_timed(lambda r: frame_json(r, names), results * 3))
    ws = open_sink("ws://127.0.0.1:0")
    ws.open(info)
    reader = _client(ws.client_url, 0, 3.0 + len(results) / 100)
    ms = []
    for r in results:
        t0 = time.perf_counter()
        ws.write(r, None)
        ms.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.01)
    got = json.loads(reader.communicate(timeout=30)[0].splitlines()[-1])
    ws.close()
    out["ws_write"] = _stats(ms) | {"client_received": got, "frames": len(ms)}

    out.update(vcam_costs(tracker, frames))
    return out


def vcam_costs(tracker: FaceTracker, frames: int) -> dict:
    import pyvirtualcam

    class Capture:
        def __init__(self, *, width, height, fps, fourcc, device, **kw):
            self.buffer = np.empty(width * height * 3, np.uint8)

        def send(self, frame):
            np.copyto(self.buffer, frame)  # one copy of every byte, as a driver's write would

        def device(self):
            return "capture"

        def native_fourcc(self):
            return None

        def close(self):
            pass

    info, results = collect(tracker, CLIP_720P, frames)
    pyvirtualcam.register_backend("bench-capture", Capture)
    try:
        sink = open_sink("vcam", clean=True, lipstick=LipstickStyle.parse("red"), backend="bench-capture")
        sink.open(info)
        write_ms = _timed(lambda r: sink.write(r, None), results)
        time.sleep(0.3)
        render_ms, send_ms = [], []
        for r in results:
            t0 = time.perf_counter()
            picture = sink.render(r, r.frame_bgr)
            t1 = time.perf_counter()
            sink._cam.send(picture)
            render_ms.append((t1 - t0) * 1000)
            send_ms.append((time.perf_counter() - t1) * 1000)
        sink.close()
    finally:
        del pyvirtualcam.camera.BACKENDS["bench-capture"]
    return {"vcam_write_720p": _stats(write_ms) | {"thread": "pipeline"},
            "vcam_render_720p_clean_lipstick": _stats(render_ms) | {"thread": "vcam sender"},
            "vcam_send_720p": _stats(send_ms) | {"thread": "vcam sender", "note": "pyvirtualcam into a capture "
                                                 "backend (one copy); no v4l2loopback/OBS driver here"}}


def lipstick_cost(tracker: FaceTracker, frames: int) -> dict:
    """apply_lipstick per frame on the 720p clips: landscape 1280x720 (mid-size face) and portrait 720x1280
    (a near, phone-like face: the largest mouth of the shared 720p clips)."""
    style = LipstickStyle.parse("red")
    out = {}
    for clip in (CLIP_720P, "LivePortrait_d13.mp4"):
        info, results = collect(tracker, clip, frames)
        ms = []
        for r in results:
            image = r.frame_bgr.copy()
            t0 = time.perf_counter()
            apply_lipstick(image, r.faces[0].landmarks_px, tracker.topology, style)
            ms.append((time.perf_counter() - t0) * 1000)
        xy = np.array([r.faces[0].landmarks_px[[61, 291], :2] for r in results])
        mouth = float(np.median(np.linalg.norm(xy[:, 0] - xy[:, 1], axis=1)))
        out[f"lipstick_{info.width}x{info.height}"] = _stats(ms) | {"clip": clip, "mouth_width_px": round(mouth)}
    return out


# ---- a stalled client in a real run -------------------------------------------------------------------------
def stall_run(tracker: FaceTracker, frames: int, repeats: int) -> dict:
    """Tracking fps and peak RSS of this process with one reading client, with and without a second client that
    stops reading for 5 s; a warm-up run first, then pairs whose order alternates (drift on a shared machine
    hits both conditions)."""
    rows: dict[str, list] = {"baseline": [], "stalled_client": []}
    order = [("warm-up",)] + [("baseline", "stalled_client")[::1 if i % 2 == 0 else -1] for i in range(repeats)]
    for kind in (k for pair in order for k in pair):
        with open_source(VIDEOS / CLIP_STALL) as source:
            ws = open_sink("ws://127.0.0.1:0")
            ws.open(_stream_info(source, tracker))
            reader = _client(ws.client_url, 0, 60)
            stalled = _client(ws.client_url, 5.0, 6.0) if kind == "stalled_client" else None
            peak, stop = [_rss_mb()], threading.Event()

            def sample(peak=peak, stop=stop):
                while not stop.wait(0.05):
                    peak.append(_rss_mb())
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            summary = run_offline(source, tracker, [ws], max_frames=frames)
            stop.set()
            sampler.join()
            ws.close()
            for proc in (reader, stalled):
                if proc is not None:
                    proc.kill()
                    proc.wait()
        if kind != "warm-up":
            rows[kind].append({"fps": round(summary.fps, 1), "rss_start_mb": round(peak[0], 1),
                               "rss_peak_mb": round(max(peak), 1), "frames": summary.frames,
                               "skipped": ws.skipped})
    return {"stall": rows,
            "stall_fps_median": {k: float(np.median([r["fps"] for r in v])) for k, v in rows.items()},
            "stall_rss_growth_mb_max": {k: round(max(r["rss_peak_mb"] - r["rss_start_mb"] for r in v), 1)
                                        for k, v in rows.items()}}


def _stream_info(source, tracker):
    from pipeline.loops import stream_info
    return stream_info(source, tracker)


# ---- the viewer in a headless browser ----------------------------------------------------------------------
def _cdp(ws, method: str, params: dict | None = None, _ids=iter(range(1, 10**6))) -> dict:
    call_id = next(_ids)
    ws.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
    while True:
        reply = json.loads(ws.recv(timeout=20))
        if reply.get("id") == call_id:
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            return reply.get("result", {})


PAGE_STATE = ("(() => { const m = window.meshcam || {}, s = document.getElementById('status');"
              " return JSON.stringify({frames: m.frames || 0, faces: m.faces || 0, status: s ? s.textContent : ''});"
              " })()")


def viewer_screenshot(info, results, out_png: Path, browser: str | None = None, frames_wanted: int = 10) -> dict:
    """Stream ``results`` (looping, 30 fps) to a WebSocket output, open its viewer page in headless chromium,
    wait until the page has drawn ``frames_wanted`` frames, save a screenshot. Returns what the page reports."""
    from websockets.sync.client import connect
    browser = browser or shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise RuntimeError("no chromium (apt-get install -y chromium)")
    sink = open_sink("ws://127.0.0.1:0")
    sink.open(info)
    stop = threading.Event()

    def feed():
        k = 0
        while not stop.wait(1 / 30):
            sink.write(results[k % len(results)], None)
            k += 1
    threading.Thread(target=feed, daemon=True).start()
    profile = tempfile.mkdtemp(prefix="meshcam-chromium-")
    proc = subprocess.Popen([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1100,760",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            port = int(m.group(1)) if m else None
        if port is None:
            raise RuntimeError("chromium did not start its DevTools endpoint")
        pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(p for p in pages if p.get("type") == "page")
        with connect(page["webSocketDebuggerUrl"], proxy=None, max_size=2**26) as cdp:
            _cdp(cdp, "Page.enable")
            _cdp(cdp, "Page.navigate", {"url": f"http://127.0.0.1:{sink.port}/"})
            state, deadline = {}, time.monotonic() + 20
            while time.monotonic() < deadline:
                got = _cdp(cdp, "Runtime.evaluate", {"expression": PAGE_STATE, "returnByValue": True})
                value = got.get("result", {}).get("value")  # None while the page is still loading
                state = json.loads(value) if value else {}
                if (state.get("frames") or 0) >= frames_wanted:
                    break
                time.sleep(0.2)
            time.sleep(0.3)  # a few more animation frames
            shot = _cdp(cdp, "Page.captureScreenshot", {"format": "png"})
        out_png.parent.mkdir(parents=True, exist_ok=True)
        out_png.write_bytes(base64.b64decode(shot["data"]))
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        stop.set()
        sink.close()
        shutil.rmtree(profile, ignore_errors=True)
    image = cv2.imread(str(out_png))
    lips = np.all(np.abs(image.astype(int) - (0x78, 0x5a, 0xff)) < 40, axis=2).sum()  # viewer's lip colour
    mesh = np.all(np.abs(image.astype(int) - (0x56, 0x46, 0x3c)) < 25, axis=2).sum()  # tesselation colour
    return state | {"lip_pixels": int(lips), "mesh_pixels": int(mesh), "screenshot": str(out_png)}


# ---- a picture of the lipstick on open mouths ----------------------------------------------------------------
def lipstick_picture(tracker: FaceTracker, out_png: Path) -> Path:
    style = LipstickStyle.parse("red:0.7")
    rows = []
    for clip, indices in OPEN_MOUTHS:
        with open_source(VIDEOS / clip) as source:
            for frame in source:
                if frame.index > max(indices):
                    break
                if frame.index not in indices:
                    continue
                result = tracker.detect_image(frame.frame_bgr)
                if not result.faces:
                    continue
                lm = result.faces[0].landmarks_px
                painted = frame.frame_bgr.copy()
                apply_lipstick(painted, lm, tracker.topology, style)
                xy = lm[:, :2]
                outer = xy[tracker.topology.lips_outer_loop]
                (x0, y0), (x1, y1) = outer.min(0) - 30, outer.max(0) + 30
                x0, y0 = max(int(x0), 0), max(int(y0), 0)
                crops = [painted[y0:int(y1), x0:int(x1)], frame.frame_bgr[y0:int(y1), x0:int(x1)]]
                lines = painted.copy()
                for loop in (tracker.topology.lips_outer_loop, tracker.topology.lips_inner_loop):
                    cv2.polylines(lines, [np.round(xy[loop] * 16).astype(np.int32)], True, (0, 255, 0), 1,
                                  cv2.LINE_AA, 4)
                crops.append(lines[y0:int(y1), x0:int(x1)])
                scale = 300 / crops[0].shape[1]
                rows.append(np.hstack([cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
                                       for c in crops]))
    width = max(r.shape[1] for r in rows)
    grid = np.vstack([cv2.copyMakeBorder(r, 0, 4, 0, width - r.shape[1], cv2.BORDER_CONSTANT) for r in rows])
    out_png.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_png), grid)
    return out_png


def run(quick: bool = False, out_dir: Path | None = None) -> dict:
    out_dir = Path(out_dir or Path(tempfile.gettempdir()) / "meshcam_outputs_bench")
    tracker = FaceTracker.create(PipelineConfig(provider="cpu"))
    frames = 30 if quick else 150
    report = {"quick": quick}
    report.update(output_costs(tracker, frames))
    report.update(lipstick_cost(tracker, frames))
    report.update(stall_run(tracker, 250 if quick else 600, 1 if quick else 5))
    report["lipstick_picture"] = str(lipstick_picture(tracker, out_dir / "lipstick_open_mouths.png"))
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        info, results = collect(tracker, CLIP_1FACE, 30)
        report["viewer"] = viewer_screenshot(info, results, out_dir / "viewer.png")
    else:
        report["viewer"] = "skipped: no chromium (apt-get install -y chromium)"
    (out_dir / "results.json").write_text(json.dumps(report, indent=2))
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer frames, one stall repeat")
    p.add_argument("--out", type=Path, default=None, help="where pictures and results.json go")
    args = p.parse_args()
    print(json.dumps(run(args.quick, args.out), indent=2))
    return 0


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main())
