"""WebSocket stream (``ws://HOST:PORT``): a small server that sends every connected client one JSON message per
frame, for web pages, Python scripts or any app that speaks WebSocket.

Messages (text frames, JSON):
- on connect, once: ``{"type": "hello", "schema": "meshcam.frames", "version": 1, ...}`` describing the fields,
  the frame size, the coefficient names and the mesh's edge lists (for drawing);
- per frame: ``{"type": "frame", "index", "timestamp_ms", "frame_size": [w, h], "faces": [{"id", "presence",
  "landmarks": [[x, y, z] x 478] (source pixels, 0.1 px; null rows when irises are off), "pose": {"matrix": 16
  row-major, "euler_deg": [pitch, yaw, roll]}, "blendshapes": {name: value}, "gaze_deg": {"left": [yaw, pitch],
  "right": [...]}}]}``; pose, blendshapes and gaze_deg are null with face signals off.

Delivery: newest frame wins. ``write`` (the pipeline's writer thread) only appends the frame's landmarks and
signals to a short queue (32 frames; the oldest drops if the server thread falls behind) and wakes the server
thread, which serialises each frame once (only while a client is connected) and hands it to every client whose
socket has room (less than WRITE_LIMIT bytes waiting); a client that reads slowly or not at all skips frames and
then gets the newest one, so nothing queues without bound and the pipeline never waits. Disconnected clients
are forgotten.

Security defaults: binds 127.0.0.1 unless another interface is named explicitly (``ws://0.0.0.0:8765``,
``ws://192.168.1.5:8765``); then a token is required (``?token=SECRET`` in the sink spec, or one is generated
and logged) and clients must connect with ``ws://HOST:PORT/?token=SECRET``. Browser pages from other origins
are refused (403) unless allowed with ``?allow_origin=https://example.org`` (comma-separated; ``*`` for any,
``null`` for pages opened from a file); clients that send no Origin (scripts, apps) are accepted. The server
also serves assets/viewer.html at ``http://HOST:PORT/``, which draws the live mesh.
"""
from __future__ import annotations

import asyncio
import errno
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
from collections import deque
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

from pipeline.errors import OutputError
from pipeline.sinks import StreamInfo, register_sink
from pipeline.types import NUM_LANDMARKS, FrameResult

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765
SCHEMA, VERSION = "meshcam.frames", 1
PENDING_FRAMES = 32  # frames (landmarks only, ~10 KB each) waiting for the server thread; older ones drop
WRITE_LIMIT = 64 * 1024  # bytes waiting in a client's buffer above which it skips frames (~6 frames of 1 face)
SEND_BUFFER = 64 * 1024  # kernel send buffer per client: bounds how stale a stalled client's backlog can be
MAX_CLIENTS = 64
VIEWER = Path(__file__).resolve().parents[1] / "assets" / "viewer.html"
_LANDMARK_FMT = "[" + ",".join(["[%.1f,%.1f,%.1f]"] * NUM_LANDMARKS) + "]"


def parse_ws_spec(spec: str) -> tuple[str, int, dict[str, list[str]]]:
    """``ws://[HOST][:PORT][/][?token=..&allow_origin=..]`` -> (bind host, port, query). OutputError if malformed."""
    parts = urlsplit(str(spec).strip())
    if parts.scheme.lower() != "ws":
        raise OutputError(f"{spec}: use ws://HOST:PORT (e.g. ws://127.0.0.1:{DEFAULT_PORT})")
    try:
        port = parts.port if parts.port is not None else DEFAULT_PORT
    except ValueError:
        raise OutputError(f"{spec}: the port must be a number from 0 to 65535") from None
    host = parts.hostname or "127.0.0.1"  # no host named: loopback only
    return host, port, parse_qs(parts.query)


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def landmarks_json(landmarks_px: np.ndarray) -> str:
    """(478, 3) -> '[[x,y,z],...]' rounded to 0.1 px; rows with NaN (irises off) become null."""
    lm = np.asarray(landmarks_px, np.float64)
    finite = np.isfinite(lm).all(axis=1)
    if finite.all():
        return _LANDMARK_FMT % tuple(lm.ravel().tolist())
    rows = [f"[{x:.1f},{y:.1f},{z:.1f}]" if ok else "null" for (x, y, z), ok in zip(lm.tolist(), finite)]
    return "[" + ",".join(rows) + "]"


def _rounded(values, digits: int):
    """Floats rounded for JSON; NaN/inf -> None (JSON has no NaN)."""
    a = np.round(np.asarray(values, np.float64), digits)
    out = a.tolist()
    if not np.isfinite(a).all():
        flat = [v if np.isfinite(v) else None for v in a.ravel().tolist()]
        out = np.array(flat, dtype=object).reshape(a.shape).tolist()
    return out


def frame_json(result: FrameResult, names: tuple[str, ...] | None) -> str:
    """One frame as the JSON text sent to clients (see module doc)."""
    h, w = result.frame_bgr.shape[:2]
    return _frame_json(result.index, result.timestamp_ms, w, h, result.faces, names)


def _frame_json(index: int, timestamp_ms: float, w: int, h: int, tracked_faces, names) -> str:
    faces = []
    for f in tracked_faces:
        sig = f.signals
        head = {"id": int(f.face_id), "presence": round(float(f.presence), 4), "pose": None, "blendshapes": None,
                "gaze_deg": None}
        if sig is not None:
            head["pose"] = {"matrix": _rounded(np.asarray(sig.pose_matrix).ravel(), 5),
                            "euler_deg": _rounded(sig.pose_euler_deg, 2)}
            shapes = _rounded(sig.blendshapes, 4)
            keys = names if names is not None and len(names) == len(shapes) else [str(i) for i in range(len(shapes))]
            head["blendshapes"] = dict(zip(keys, shapes))
            gaze = _rounded(sig.gaze_deg, 2)
            head["gaze_deg"] = {"left": gaze[0], "right": gaze[1]}
        text = json.dumps(head, separators=(",", ":"))
        faces.append(text[:-1] + ',"landmarks":' + landmarks_json(f.landmarks_px) + "}")
    return (f'{{"type":"frame","index":{index:d},"timestamp_ms":{timestamp_ms:.3f},'
            f'"frame_size":[{w:d},{h:d}],"faces":[{",".join(faces)}]}}')


def hello_json(info: StreamInfo, names: tuple[str, ...] | None) -> str:
    edges = {}
    topo = info.topology
    if topo is not None:
        for region in ("tesselation", "face_oval", "lips", "left_eye", "right_eye", "left_eyebrow",
                       "right_eyebrow", "left_iris", "right_iris"):
            if hasattr(topo, region):
                edges[region] = np.asarray(getattr(topo, region)).tolist()
    return json.dumps({
        "type": "hello", "schema": SCHEMA, "version": VERSION,
        "frame_size": [info.width, info.height], "fps": info.fps, "max_faces": info.max_faces,
        "source": info.description,
        "landmarks": {"count": NUM_LANDMARKS, "layout": "[[x, y, z], ...] per face",
                      "units": "source pixels, origin top-left, pixel centres on integers; z = MediaPipe depth x "
                               "image width (same scale as x), smaller = nearer the camera", "precision": 0.1,
                      "missing": "null rows (irises 468..477 when the iris submodel is off)"},
        "fields": {
            "index": "frame number from 0", "timestamp_ms": "source time of the frame",
            "frame_size": "[width, height] of this frame in pixels",
            "faces[].id": "stable while a face is tracked", "faces[].presence": "face-flag score 0..1",
            "faces[].pose.matrix": "4x4 row-major: canonical face model (cm) -> camera space (cm), MediaPipe "
                                   "convention (x right, y up, z towards the viewer)",
            "faces[].pose.euler_deg": "[pitch, yaw, roll] degrees: pitch > 0 looks up, yaw > 0 turns the nose "
                                      "towards the image's right, roll > 0 tilts counter-clockwise on screen",
            "faces[].blendshapes": "expression coefficients 0..1 by ARKit name",
            "faces[].gaze_deg": "{left, right}: [yaw, pitch] degrees per eye (null when irises are off)",
        },
        "blendshape_names": list(names) if names is not None else None,
        "edges": edges,
        "delivery": "one message per frame; a client that reads too slowly skips frames and gets the newest",
    }, separators=(",", ":"))


class WebSocketSink:
    """Serves each frame's landmarks and signals as JSON to every connected WebSocket client (module doc)."""
    optional = True
    needs_annotated = False

    def __init__(self, spec: str = f"ws://127.0.0.1:{DEFAULT_PORT}", token: str | None = None,
                 allow_origins: tuple[str, ...] | list[str] = ()):
        self.host, self.port, query = parse_ws_spec(spec)
        self.loopback = is_loopback(self.host)
        token = token or (query.get("token") or [None])[-1]
        if not self.loopback and not token:
            token = secrets.token_urlsafe(16)
            self.generated_token = True
        else:
            self.generated_token = False
        self.token: str | None = token
        allowed = [o.strip() for item in [*allow_origins, *query.get("allow_origin", [])] for o in item.split(",")]
        self.allow_origins = tuple(o for o in allowed if o)
        self.description = f"WebSocket ws://{self._url_host()}:{self.port}"
        self.error: str | None = None
        self.sent = 0  # messages handed to clients (frames x clients)
        self.skipped = 0  # per-client frames skipped because that client was not reading fast enough
        self.frames = 0  # frames serialised
        self.lagged = 0  # frames dropped before serialising because the server thread fell behind
        self._clients: set = set()
        self._pending: deque[tuple] = deque(maxlen=PENDING_FRAMES)
        self._wake_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Future | None = None
        self._names: tuple[str, ...] | None = None
        self._hello = ""
        self._rate: deque[float] = deque()
        self._viewer: bytes | None = None

    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def client_url(self) -> str:
        """The URL clients connect to (with the token when one is required)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self._url_host()
        return f"ws://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    @property
    def clients(self) -> int:
        return len(self._clients)

    # ---- lifecycle (pipeline thread) ----------------------------------------------------------------------
    def open(self, info: StreamInfo) -> None:
        """Start serving (OutputError with one line if the address cannot be bound). Opening an open sink
        keeps the server and its clients and only updates the stream description."""
        names = getattr(info, "blendshape_names", None)  # None: signals are off
        self._names = tuple(names) if names is not None else None
        self._hello = hello_json(info, self._names)
        if self._loop is not None:  # already serving (a new source): clients stay, new ones get the new hello
            return
        try:
            self._viewer = VIEWER.read_bytes()
        except OSError:
            self._viewer = None
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._serve, args=(ready, failure), name="ws-server", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            self._thread.join(1)
            e = failure[0] if failure else TimeoutError("server did not start")
            raise OutputError(f"{self.description}: {_bind_error(e, self.port)}") from None
        if self.generated_token:
            log.warning("%s listens beyond this computer; clients need the token: %s", self.description,
                        self.client_url)
        log.info("%s: %s", self.description, self.client_url)

    def write(self, result: FrameResult, annotated_bgr: np.ndarray | None) -> None:
        loop = self._loop
        if loop is None or not self._clients:
            return
        h, w = result.frame_bgr.shape[:2]  # the picture itself is not kept: only what the message needs
        if len(self._pending) == PENDING_FRAMES:
            self.lagged += 1  # the server thread is more than PENDING_FRAMES behind: the oldest frame drops
        self._pending.append((result.index, result.timestamp_ms, w, h, result.faces))
        if not self._wake_scheduled:
            self._wake_scheduled = True
            try:
                loop.call_soon_threadsafe(self._flush)
            except RuntimeError:  # the loop closed under us
                self._wake_scheduled = False

    def status(self) -> str:
        if self.error:
            return self.error
        now = time.monotonic()
        rate = sum(1 for t in self._rate if t >= now - 1.0)
        n = len(self._clients)
        return f"{n} client{'s' if n != 1 else ''}, {rate} msg/s"

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and self._stop is not None:
            try:
                loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._clients.clear()

    # ---- the server thread ---------------------------------------------------------------------------------
    def _serve(self, ready: threading.Event, failure: list) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main(loop, ready))
        except BaseException as e:  # noqa: BLE001 - handed to open() as one line
            failure.append(e)
            ready.set()
        finally:
            loop.close()

    async def _main(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        from websockets.asyncio.server import serve
        self._stop = loop.create_future()
        async with serve(self._handler, self.host, self.port, process_request=self._process_request,
                         compression=None, max_size=64 * 1024, max_queue=4,
                         ping_interval=10, ping_timeout=10, close_timeout=2, logger=log) as server:
            if self.port == 0:
                self.port = server.sockets[0].getsockname()[1]
                self.description = f"WebSocket ws://{self._url_host()}:{self.port}"
            self._loop = loop
            ready.set()
            await self._stop
            for ws in list(self._clients):
                ws.transport.abort()

    def origin_allowed(self, origin: str | None) -> bool:
        """No Origin header (not a browser: scripts, apps), this server's own pages, or an allowed origin."""
        if origin is None or "*" in self.allow_origins or origin in self.allow_origins:  # "null": file pages
            return True
        own = {self._url_host(), "127.0.0.1", "localhost", "[::1]"} if self.loopback else {self._url_host()}
        return origin.lower() in {f"{scheme}://{h}:{self.port}" for h in own for scheme in ("http", "https")}

    def _process_request(self, connection, request):
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        path, _, query = request.path.partition("?")
        if not upgrade:
            if path in ("/", "/viewer.html") and self._viewer is not None:
                from websockets.datastructures import Headers
                from websockets.http11 import Response
                headers = Headers([("Content-Type", "text/html; charset=utf-8"),
                                   ("Content-Length", str(len(self._viewer))), ("Cache-Control", "no-store"),
                                   ("X-Content-Type-Options", "nosniff")])
                return Response(200, "OK", headers, self._viewer)
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")
        if not self.origin_allowed(request.headers.get("Origin")):
            return connection.respond(HTTPStatus.FORBIDDEN, "Cross-origin connection refused\n")
        if self.token is not None:
            given = (parse_qs(query).get("token") or [""])[-1]
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return connection.respond(HTTPStatus.UNAUTHORIZED, "Missing or wrong token\n")
        if len(self._clients) >= MAX_CLIENTS:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Too many clients\n")
        return None

    async def _handler(self, ws) -> None:
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            except OSError:
                pass
        try:
            await ws.send(self._hello)
            self._clients.add(ws)
            async for _ in ws:  # clients have nothing to say; read (and drop) so pings and closes are seen
                pass
        except Exception:  # noqa: BLE001 - a broken client is simply forgotten
            pass
        finally:
            self._clients.discard(ws)

    def _flush(self) -> None:
        from websockets.asyncio.server import broadcast
        self._wake_scheduled = False
        while self._pending:
            frame = self._pending.popleft()
            if not self._clients:
                continue
            message = _frame_json(*frame, self._names).encode()
            self.frames += 1
            ready = []
            for ws in list(self._clients):
                if ws.transport.get_write_buffer_size() > WRITE_LIMIT:
                    self.skipped += 1  # this client is not keeping up: it gets a newer frame later
                else:
                    ready.append(ws)
            broadcast(ready, message, text=True)
            self.sent += len(ready)
            now = time.monotonic()
            self._rate.append(now)
            while self._rate and self._rate[0] < now - 1.0:
                self._rate.popleft()


def _bind_error(e: BaseException, port: int) -> str:
    if isinstance(e, OSError):
        if e.errno == errno.EADDRINUSE:
            return f"port {port} is in use (pick another port, or close the program using it)"
        if e.errno == errno.EADDRNOTAVAIL:
            return "this computer has no such address to listen on"
        if e.errno == errno.EACCES:
            return f"no permission to listen on port {port} (use a port above 1023)"
        if isinstance(e, socket.gaierror):
            return f"cannot resolve the host ({e.strerror or e})"
        return e.strerror or str(e)
    return str(e)


register_sink(WebSocketSink, schemes=["ws"])
