"""Live outputs with real clients on 127.0.0.1: VMC over OSC, the WebSocket stream, the virtual camera, and the
AR lipstick effect, all fed by the real tracker on the shared clips."""
from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

import pipeline.sink_osc  # noqa: F401  (each output registers its scheme with open_sink on import)
import pipeline.sink_vcam  # noqa: F401
import pipeline.sink_ws  # noqa: F401
from pipeline import open_sink, open_source, run_offline
from pipeline.errors import MeshcamError, OutputError
from pipeline.lipstick import LipstickStyle, apply_lipstick
from pipeline.sinks import MemorySink, StreamInfo
from tests.conftest import ROOT, require_media

CLIP = ("videos", "LivePortrait_d10.mp4")  # talking, large gaze shifts, irises visible
OPEN_MOUTHS = [("LivePortrait_d12.mp4", range(60, 180, 15)), ("LivePortrait_d11.mp4", range(40, 225, 20)),
               ("LivePortrait_d0.mp4", range(20, 78, 8))]
FRAMES = 40


Collect = MemorySink  # keeps every result (to replay real frames into a sink at a chosen pace)


@pytest.fixture(scope="module")
def clip_results(tracker):
    """(StreamInfo, 30 real FrameResults with signals) from the clip."""
    sink = Collect()
    with open_source(require_media(*CLIP)) as source:
        run_offline(source, tracker, [sink], max_frames=30)
    assert all(r.faces and r.faces[0].signals is not None for r in sink.results)
    return sink.info, sink.results


# ---- VMC over OSC ---------------------------------------------------------------------------------------
def _quat_to_matrix(x, y, z, w):
    """Textbook unit-quaternion -> rotation matrix (independent of the sink's matrix -> quaternion code)."""
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@pytest.fixture
def osc_server():
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import BlockingOSCUDPServer
    received = []
    dispatcher = Dispatcher()
    dispatcher.set_default_handler(lambda address, *args: received.append((address, args)))
    server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], received
    server.shutdown()
    server.server_close()


def test_vmc_receiver_gets_one_head_bone_and_apply_per_frame_equal_to_the_landmark_file(tracker, osc_server,
                                                                                       tmp_path):
    port, received = osc_server
    with open_source(require_media(*CLIP)) as source:
        summary = run_offline(source, tracker, [open_sink(f"osc://127.0.0.1:{port}"),
                                                open_sink(tmp_path / "lm.npz")], max_frames=FRAMES)
    deadline = time.monotonic() + 3
    while sum(a == "/VMC/Ext/T" for a, _ in received) < summary.frames and time.monotonic() < deadline:
        time.sleep(0.05)
    lm = np.load(tmp_path / "lm.npz")
    names = list(lm["blendshape_names"])
    frames, current = [], []
    for address, args in received:  # /VMC/Ext/T closes each frame
        current.append((address, args))
        if address == "/VMC/Ext/T":
            frames.append(current)
            current = []
    assert len(frames) == summary.frames == FRAMES
    counts = Counter(a for a, _ in received)
    assert counts["/VMC/Ext/Blend/Apply"] == summary.frames_with_face == FRAMES
    assert sum(args[0] == "Head" for a, args in received if a == "/VMC/Ext/Bone/Pos") == FRAMES
    flip = np.diag([-1.0, 1.0, 1.0])  # MediaPipe camera axes -> Unity avatar axes (x = the user's right)
    for i, msgs in enumerate(frames):
        assert msgs[-1][1][0] == pytest.approx(lm["timestamps_ms"][i] / 1000, abs=1e-4)
        assert msgs[-2] == ("/VMC/Ext/OK", (1, 3, 0, 1))  # loaded, calibrated, normal mode, tracking
        blends = [args for a, args in msgs if a == "/VMC/Ext/Blend/Val"]
        apply_at = [k for k, (a, _) in enumerate(msgs) if a == "/VMC/Ext/Blend/Apply"]
        assert apply_at and all(a != "/VMC/Ext/Blend/Val" for a, _ in msgs[apply_at[0]:])
        expected = {n[0].upper() + n[1:]: v for n, v in zip(names, lm["blendshapes"][i, 0]) if np.isfinite(v)}
        assert dict(blends) == pytest.approx(expected, abs=1e-7)  # float32 both ways
        bones = {args[0]: np.array(args[1:]) for a, args in msgs if a == "/VMC/Ext/Bone/Pos"}
        pose = lm["pose_matrix"][i, 0].astype(np.float64)
        rot = pose[:3, :3] / np.cbrt(np.linalg.det(pose[:3, :3]))
        np.testing.assert_allclose(_quat_to_matrix(*bones["Head"][3:]), flip @ rot @ flip, atol=2e-4)
        np.testing.assert_allclose(bones["Head"][:3], flip @ pose[:3, 3] / 100, atol=1e-5)
        for bone, (yaw, pitch) in zip(("LeftEye", "RightEye"), lm["gaze_deg"][i, 0]):
            look = _quat_to_matrix(*bones[bone][3:]) @ [0.0, 0.0, 1.0]  # Unity forward after the eye rotation
            # gaze yaw > 0 = towards the subject's left = the avatar's -x; pitch > 0 = up (+y)
            assert math.degrees(math.atan2(-look[0], look[2])) == pytest.approx(yaw, abs=0.05)
            assert math.degrees(math.asin(look[1])) == pytest.approx(pitch, abs=0.05)


def test_process_flags_send_osc_and_paint_lipstick_into_the_recording(osc_server, tmp_path):
    """`meshcam process CLIP --osc HOST:PORT --lipstick red -o out.mp4`: the receiver gets a frame's messages per
    processed frame, and the recording's lips are redder than the same run's without the effect."""
    port, received = osc_server
    clip = require_media(*CLIP)
    outputs = {}
    for name, extra in (("plain", []), ("lipstick", ["--osc", f"127.0.0.1:{port}", "--lipstick", "red:0.9"])):
        out = tmp_path / f"{name}.mp4"
        cli = subprocess.run([sys.executable, str(ROOT / "main.py"), "process", str(clip), "-o", str(out),
                              "--landmarks", str(tmp_path / f"{name}.npz"), "--max-frames", "20", *extra],
                             capture_output=True, text=True, timeout=180)
        assert cli.returncode == 0, cli.stderr
        outputs[name] = out
    deadline = time.monotonic() + 3
    while sum(a == "/VMC/Ext/T" for a, _ in received) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(a == "/VMC/Ext/T" for a, _ in received) == 20
    assert sum(args[0] == "Head" for a, args in received if a == "/VMC/Ext/Bone/Pos") == 20
    lm = np.load(tmp_path / "lipstick.npz")["landmarks"][:, 0]
    lips = [61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91]  # outer lip line, a ring inside the lips
    redness = {}
    for name, path in outputs.items():
        with open_source(str(path)) as video:
            frame = next(iter(video)).frame_bgr.astype(np.float64)
        centre = lm[0, 13, :2]  # between the lips
        ring = [(lm[0, i, :2] * 0.8 + centre * 0.2).astype(int) for i in lips]
        redness[name] = np.mean([frame[y, x, 2] - frame[y, x, 1] for x, y in ring])
    assert redness["lipstick"] > redness["plain"] + 15, redness


def test_osc_bad_addresses_are_one_line_and_a_silent_port_does_not_stop_tracking(clip_results):
    with pytest.raises(OutputError, match="cannot resolve host"):
        open_sink("osc://no-such-host.invalid:39539")
    with pytest.raises(OutputError, match="port must be a number"):
        open_sink("osc://127.0.0.1:99999")
    assert open_sink("osc://127.0.0.1").port == 39539
    info, results = clip_results
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens there now: ICMP port unreachable
    sink = open_sink(f"osc://127.0.0.1:{port}")
    sink.open(info)
    for r in results:
        sink.write(r, None)
    sink.close()
    assert sink.frames + sink.dropped == len(results)


# ---- WebSocket stream ------------------------------------------------------------------------------------
def _connect(url, **kw):
    from websockets.sync.client import connect
    return connect(url, proxy=None, open_timeout=5, compression=None, **kw)


# A client in its own process (so its memory and CPU are not meshcam's): reads until the server closes, or after
# the first frame stops reading for STALL seconds first; prints how many frames it got.
CLIENT = """
import json, sys, time
from websockets.sync.client import connect
got = 0
with connect(sys.argv[1], proxy=None, compression=None, max_queue=4) as ws:
    ws.recv(timeout=5)
    print("ready", flush=True)
    try:
        while True:
            ws.recv(timeout=30)
            got += 1
            if got == 1:
                time.sleep(float(sys.argv[2]))
    except Exception:
        pass
print(json.dumps(got))
"""


def _client_process(url, stall):
    proc = subprocess.Popen([sys.executable, "-c", CLIENT, url, str(stall)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _frames_got(proc) -> int:
    return json.loads(proc.communicate(timeout=30)[0].splitlines()[-1])


def test_websocket_client_receives_every_frame_with_the_landmark_file_values(tracker, tmp_path):
    ws_sink = open_sink("ws://127.0.0.1:0")
    with open_source(require_media(*CLIP)) as source:
        info = StreamInfo(*source.size, source.fps, 1, topology=tracker.topology,
                          blendshape_names=tracker.blendshape_names)
        ws_sink.open(info)  # serving before the run, so the client sees frame 0 (open again in the run: no-op)
        client = _clients_process(ws_sink.client_url, 1, full=True)
        summary = run_offline(source, tracker, [ws_sink, open_sink(tmp_path / "lm.npz")], max_frames=FRAMES)
    hello, *messages = json.loads(client.communicate(timeout=30)[0].splitlines()[-1])[0]  # run_offline closed it
    assert hello["schema"] == "meshcam.frames" and hello["version"] == 1
    assert hello["blendshape_names"] == list(tracker.blendshape_names)
    lm = np.load(tmp_path / "lm.npz")
    assert [m["index"] for m in messages] == list(range(summary.frames)) == list(range(FRAMES))
    for i, m in enumerate(messages):
        face = m["faces"][0]
        assert m["frame_size"] == [info.width, info.height]
        assert m["timestamp_ms"] == pytest.approx(lm["timestamps_ms"][i], abs=1e-3)
        np.testing.assert_allclose(np.array(face["landmarks"]), lm["landmarks"][i, 0], atol=0.05 + 1e-4)
        np.testing.assert_allclose(np.array(face["pose"]["matrix"]).reshape(4, 4), lm["pose_matrix"][i, 0],
                                   atol=6e-6)
        shapes = [face["blendshapes"][n] for n in lm["blendshape_names"]]
        np.testing.assert_allclose(np.array(shapes, float), lm["blendshapes"][i, 0], atol=5e-5 + 1e-7)
        np.testing.assert_allclose([face["gaze_deg"]["left"], face["gaze_deg"]["right"]], lm["gaze_deg"][i, 0],
                                   atol=5e-3 + 1e-5)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def _pace(sink, results, seconds, fps):
    """Write real results at ``fps`` for ``seconds``; returns (frames written, achieved fps, max write ms)."""
    n, worst, t0 = 0, 0.0, time.perf_counter()
    while (now := time.perf_counter()) - t0 < seconds:
        w0 = time.perf_counter()
        sink.write(results[n % len(results)], None)
        worst = max(worst, time.perf_counter() - w0)
        n += 1
        time.sleep(max(0.0, t0 + n / fps - time.perf_counter()))
    return n, n / (now - t0), worst * 1000


def test_a_stalled_websocket_client_costs_no_memory_and_no_fps(clip_results):
    info, results = clip_results
    sink = open_sink("ws://127.0.0.1:0")
    sink.open(info)
    reading = _client_process(sink.client_url, 0)
    try:
        _, base_fps, _ = _pace(sink, results, 1.5, 100)  # baseline with one reading client
        rss_before = _rss_mb()
        stalled = _client_process(sink.client_url, 5.0)  # one frame, then nothing for 5 s, then reads
        written, stall_fps, worst_ms = _pace(sink, results, 5.0, 100)
        backlog = max(ws.transport.get_write_buffer_size() for ws in list(sink._clients))
        rss_after = _rss_mb()
        written_after, _, _ = _pace(sink, results, 2.5, 100)  # the stalled client reads again
    finally:
        sink.close()  # the clients see the server close and report
    reading_got, stalled_got = _frames_got(reading), _frames_got(stalled)
    print(f"baseline {base_fps:.1f} fps, during stall {stall_fps:.1f} fps, worst write {worst_ms:.2f} ms, "
          f"RSS {rss_before:.1f} -> {rss_after:.1f} MB, server backlog {backlog} B, skipped {sink.skipped}, "
          f"reading client {reading_got} of {sink.frames} frames, stalled client {stalled_got}")
    assert stall_fps >= 0.95 * base_fps
    assert rss_after - rss_before < 2.0  # 5 s x 100 fps x ~10 KB = 5 MB would pile up if frames were queued
    assert backlog <= 64 * 1024 + 16 * 1024 and sink.skipped > 0
    assert reading_got >= 0.95 * sink.frames  # the reading client is not held back by the stalled one
    # the stalled client skipped most of the stall's frames (no backlog kept for it), then got current ones again
    assert 0.5 * written_after < stalled_got < 0.6 * (written + written_after)


# N clients on one asyncio loop in their own process: each reads every frame until the server closes; prints, as
# JSON, the frame indices each one got (with "full": the hello and every message of each).
MANY_CLIENTS = """
import asyncio, json, sys
from websockets.asyncio.client import connect
FULL = sys.argv[3:] == ["full"]

async def client(url, connected, got):
    async with connect(url, proxy=None, compression=None, max_queue=64, max_size=None) as ws:
        hello = await ws.recv()
        if FULL:
            got.append(json.loads(hello))
        connected.release()
        try:
            async for text in ws:
                got.append(json.loads(text) if FULL else json.loads(text)["index"])
        except Exception:
            pass

async def main(url, n):
    connected, results = asyncio.Semaphore(0), [[] for _ in range(n)]
    tasks = [asyncio.create_task(client(url, connected, got)) for got in results]
    for _ in range(n):
        await connected.acquire()
    print("ready", flush=True)
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(results))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def _clients_process(url: str, n: int, full: bool = False) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", MANY_CLIENTS, url, str(n), *(["full"] if full else [])],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_twenty_websocket_clients_each_get_every_frame(clip_results):
    info, results = clip_results
    sink = open_sink("ws://127.0.0.1:0")
    sink.open(info)
    proc = _clients_process(sink.client_url, 20)
    try:
        assert sink.status().startswith("20 clients")
        _pace(sink, results, len(results) / 30, 30)
        time.sleep(0.5)
    finally:
        sink.close()
    got = json.loads(proc.communicate(timeout=30)[0].splitlines()[-1])
    expected = [r.index for r in results]
    missing = [sorted(set(expected) - set(indices)) for indices in got if indices != expected]
    assert len(got) == 20 and not missing, (missing[:3], sink.skipped, sink.lagged)


def test_websocket_security_defaults(clip_results):
    from websockets.exceptions import InvalidStatus
    info, _ = clip_results
    assert open_sink("ws://:0").host == "127.0.0.1"  # no host named: loopback only
    exposed = open_sink("ws://0.0.0.0:8765")  # not opened: a non-loopback bind gets a token by itself
    assert exposed.token and not exposed.loopback
    sink = open_sink("ws://127.0.0.1:0?token=s3cret&allow_origin=https://studio.example")
    sink.open(info)
    base = f"ws://127.0.0.1:{sink.port}/"
    try:
        for url, origin, status in [(base, None, 401), (base + "?token=wrong", None, 401),
                                    (base + "?token=s3cret", "https://evil.example", 403)]:
            with pytest.raises(InvalidStatus) as refused, _connect(url, origin=origin):
                pass
            assert refused.value.response.status_code == status
        for origin in (None, f"http://127.0.0.1:{sink.port}", "https://studio.example"):
            with _connect(base + "?token=s3cret", origin=origin) as ws:
                assert '"type":"hello"' in ws.recv(timeout=5)
        with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as http:  # the viewer page
            http.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert b"200 OK" in http.recv(200)
        with pytest.raises(OutputError, match="in use"):
            open_sink(f"ws://127.0.0.1:{sink.port}").open(info)
    finally:
        sink.close()


def test_viewer_page_draws_the_live_mesh_in_a_headless_browser(clip_results, tmp_path):
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        if os.environ.get("CI"):  # .ci/run installs it: a missing browser there is a failure, not a skip
            pytest.fail("no chromium in CI (.ci/run installs Debian's chromium)")
        pytest.skip("no chromium (apt-get install -y chromium)")
    from benchmarks.outputs_bench import viewer_screenshot
    info, results = clip_results
    page = viewer_screenshot(info, results, tmp_path / "viewer.png")
    assert page["frames"] >= 10 and page["faces"] == 1 and "connected" in page["status"]
    assert page["lip_pixels"] > 100 and page["mesh_pixels"] > 2000  # the lips and the tesselation were drawn


# ---- virtual camera ----------------------------------------------------------------------------------------
class CaptureBackend:
    """A pyvirtualcam backend that keeps what it is sent (this machine has no v4l2loopback device)."""
    frames: list = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height = width, height

    def send(self, frame):
        CaptureBackend.frames.append(frame.reshape(self.height, self.width, 3).copy())

    def device(self):
        return "capture"

    def native_fourcc(self):
        return None

    def close(self):
        pass


def test_virtual_camera_clean_mode_sends_source_frames_with_lipstick_only(clip_results, tracker):
    pyvirtualcam = pytest.importorskip("pyvirtualcam")
    info, results = clip_results
    with pytest.raises(OutputError, match=r"^virtual camera: .*Device /dev/video63 does not exist"):
        open_sink("vcam:/dev/video63").open(info)
    if sys.platform.startswith("linux") and not Path("/sys/module/v4l2loopback").exists():
        # no backend at all: one line that says what to install, from the sink and from the CLI
        with pytest.raises(OutputError, match=r"^virtual camera: none available; install v4l2loopback .*modprobe"):
            open_sink("vcam").open(info)
        cli = subprocess.run([sys.executable, str(ROOT / "main.py"), "process", str(require_media(*CLIP)), "--vcam"],
                             capture_output=True, text=True, timeout=120)
        errors = [line for line in cli.stderr.splitlines() if "error" in line]
        assert cli.returncode == 2 and len(errors) == 1 and "install v4l2loopback" in errors[0], cli.stderr
    pyvirtualcam.register_backend("meshcam-capture", CaptureBackend)
    try:
        CaptureBackend.frames = []
        style = LipstickStyle.parse("red:0.8")
        sink = open_sink("vcam", clean=True, lipstick=style, backend="meshcam-capture")
        assert not sink.needs_annotated
        sink.open(info)
        for r in results[:5]:
            sink.write(r, None)
            time.sleep(0.05)
        sink.close()
    finally:
        del pyvirtualcam.camera.BACKENDS["meshcam-capture"]
    assert len(CaptureBackend.frames) == 5
    for r, sent in zip(results, CaptureBackend.frames):
        assert sent.shape == r.frame_bgr.shape
        expected = r.frame_bgr.copy()
        apply_lipstick(expected, r.faces[0].landmarks_px, tracker.topology, style)
        assert np.array_equal(sent, expected)  # the source frame plus lipstick, no landmarks drawn
        assert not np.array_equal(sent, r.frame_bgr)


# ---- AR lipstick -------------------------------------------------------------------------------------------
def test_lipstick_parse():
    assert LipstickStyle.parse("red") == LipstickStyle((46, 16, 200), 0.6)
    assert LipstickStyle.parse("#C8102E:70%") == LipstickStyle((46, 16, 200), 0.7)
    assert LipstickStyle.parse("plum:0.4").opacity == 0.4
    for bad in ("purpleish", "#12345", "red:2", "red:lots"):
        with pytest.raises(ValueError, match="lipstick") as error:  # argparse and Qt see a ValueError,
            LipstickStyle.parse(bad)
        assert isinstance(error.value, MeshcamError)  # the CLI prints it as one line


def _polygon_mask(shape, points, grow):
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 255, cv2.LINE_8, 4)
    kernel = np.ones((3, 3), np.uint8)
    return cv2.dilate(mask, kernel) if grow else cv2.erode(mask, kernel)


def test_lipstick_paints_only_the_lips_and_keeps_their_shading(tracker):
    topo = tracker.topology
    style = LipstickStyle.parse("red:0.8")
    checked = 0
    for clip, frames in OPEN_MOUTHS:
        with open_source(require_media("videos", clip)) as source:
            for frame in source:
                if frame.index > frames[-1]:
                    break
                if frame.index not in frames:
                    continue
                result = tracker.detect_image(frame.frame_bgr)
                if not result.faces:
                    continue
                xy = result.faces[0].landmarks_px[:, :2]
                inner, outer = xy[topo.lips_inner_loop], xy[topo.lips_outer_loop]
                if cv2.contourArea(inner.astype(np.float32)) < 0.05 * cv2.contourArea(outer.astype(np.float32)):
                    continue  # closed mouth: nothing to check inside
                image = frame.frame_bgr.copy()
                apply_lipstick(image, result.faces[0].landmarks_px, topo, style)
                painted = (image != frame.frame_bgr).any(axis=2)
                assert not painted[_polygon_mask(image.shape, inner, grow=False) > 0].any(), (clip, frame.index)
                assert not painted[_polygon_mask(image.shape, outer, grow=True) == 0].any(), (clip, frame.index)
                lips = (_polygon_mask(image.shape, outer, False) > 0) & (_polygon_mask(image.shape, inner, True) == 0)
                assert painted[lips].mean() > 0.8
                before = cv2.cvtColor(frame.frame_bgr, cv2.COLOR_BGR2LAB)[lips].astype(float)
                after = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[lips].astype(float)
                assert np.corrcoef(before[:, 0], after[:, 0])[0, 1] > 0.9  # shading kept: not a flat fill
                target = cv2.cvtColor(np.uint8([[style.color_bgr]]), cv2.COLOR_BGR2LAB)[0, 0, 1:].astype(float)
                assert (np.linalg.norm(after[:, 1:].mean(0) - target)
                        < 0.65 * np.linalg.norm(before[:, 1:].mean(0) - target))  # chroma moved to the colour
                checked += 1
    assert checked >= 6
