"""VMC protocol over OSC/UDP (``osc://HOST:PORT``, default port 39539): drives a VTuber avatar in VSeeFace,
VNyan, Warudo, VMagicMirror or any VMC "Marionette" (spec: https://protocol.vmc.info, Marionette side, V2.7).

Per processed frame, as OSC bundles of at most 1452 bytes (the spec asks for bundles within 1500 bytes; 1452
fits one Ethernet frame over IPv6 too), in this order:

- ``/VMC/Ext/Bone/Pos "Head" p.x p.y p.z q.x q.y q.z q.w``: the head pose; ``"LeftEye"``/``"RightEye"`` from
  the gaze (only while irises are on). Bone names are Unity's HumanBodyBones names, which receivers parse.
- ``/VMC/Ext/Blend/Val NAME value`` for each expression coefficient, then one ``/VMC/Ext/Blend/Apply`` (in the
  frame's last bundle, so it never overtakes a value). Names are the ARKit names with a capital first letter
  ("JawOpen", "EyeBlinkLeft"): the "Perfect Sync" clip names VRM avatars use (names are case sensitive).
- ``/VMC/Ext/OK 1 3 0 tracking`` (int32s: model loaded, calibrated, normal calibration mode, tracking 1/0) and
  ``/VMC/Ext/T seconds`` (float32, the frame's timestamp), in every frame, also without a face.

Coordinates: Unity's left-handed frame in the avatar's own axes: x = the user's right, y = up, z = the user's
forward (towards the camera). MediaPipe's camera space is right-handed with x towards the subject's left for
a frontal face, so a rotation R becomes S R S with S = diag(-1, 1, 1), i.e. quaternion (x, -y, -z, w): the
avatar turns the way the user turns (and looks like a mirror image on screen, as VTuber apps expect). The
head position is the head's position relative to the camera in metres in the same axes (z ~ -0.5 at arm's
length); receivers that apply bone positions literally (EVMC4U's "Bone Position Synchronize") should have
that off, as for other face-only senders. Eye bones: rotation about y by the gaze yaw (positive = the
avatar's right) then about x by the pitch (Unity: positive x = looking down).

Sending never blocks: a non-blocking UDP socket; a full send buffer drops that frame's remaining bundles.
The first tracked face (the oldest track) drives the avatar; with signals off only OK/T are sent.
"""
from __future__ import annotations

import logging
import math
import socket
import struct
import time
from collections import deque
from urllib.parse import parse_qs, urlsplit

import numpy as np

from pipeline.errors import OutputError
from pipeline.sinks import StreamInfo, register_sink
from pipeline.types import FrameResult

log = logging.getLogger(__name__)

DEFAULT_PORT = 39539  # the Marionette's usual port (VSeeFace, VNyan and Warudo default to it too)
MAX_BUNDLE_BYTES = 1452
_IMMEDIATELY = struct.pack(">Q", 1)  # OSC time tag "immediately"


# ---- OSC 1.0 encoding (strings NUL-terminated and padded to 4 bytes, big-endian int32/float32) ---------------
def osc_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return raw + b"\0" * (4 - len(raw) % 4)


def osc_message(address: str, *args) -> bytes:
    """One OSC message; str -> s, int -> i, float -> f (float32)."""
    tags, payload = ",", b""
    for a in args:
        if isinstance(a, str):
            tags, payload = tags + "s", payload + osc_string(a)
        elif isinstance(a, (bool, int, np.integer)):
            tags, payload = tags + "i", payload + struct.pack(">i", int(a))
        else:
            tags, payload = tags + "f", payload + struct.pack(">f", float(a))
    return osc_string(address) + osc_string(tags) + payload


def osc_bundles(messages: list[bytes], limit: int = MAX_BUNDLE_BYTES) -> list[bytes]:
    """Pack messages, in order, into as few bundles of at most ``limit`` bytes as possible."""
    bundles, parts, size = [], [b"#bundle\0", _IMMEDIATELY], 16
    for m in messages:
        if size + 4 + len(m) > limit and len(parts) > 2:
            bundles.append(b"".join(parts))
            parts, size = [b"#bundle\0", _IMMEDIATELY], 16
        parts += [struct.pack(">i", len(m)), m]
        size += 4 + len(m)
    if len(parts) > 2:
        bundles.append(b"".join(parts))
    return bundles


# ---- VMC values -------------------------------------------------------------------------------------------
def perfect_sync_name(arkit_name: str) -> str:
    """ARKit coefficient name -> VRM Perfect Sync clip name (first letter upper case): jawOpen -> JawOpen."""
    return arkit_name[:1].upper() + arkit_name[1:]


def rotation_to_quaternion(rot: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) unit quaternion (w >= 0) of a 3x3 rotation times a uniform scale (the pose matrix's block)."""
    (a, b, c), (d, e, f), (g, h, i) = np.asarray(rot, np.float64)[:3, :3].tolist()
    scale = math.sqrt(a * a + d * d + g * g) or 1.0  # column length = the pose's uniform scale
    a, b, c, d, e, f, g, h, i = (v / scale for v in (a, b, c, d, e, f, g, h, i))
    t = a + e + i
    if t > 0:  # Shepperd's method: divide by the largest of the four candidates
        k = 2.0 * math.sqrt(t + 1.0)
        q = ((h - f) / k, (c - g) / k, (d - b) / k, 0.25 * k)
    elif a > e and a > i:
        k = 2.0 * math.sqrt(max(1.0 + a - e - i, 1e-12))
        q = (0.25 * k, (b + d) / k, (c + g) / k, (h - f) / k)
    elif e > i:
        k = 2.0 * math.sqrt(max(1.0 + e - a - i, 1e-12))
        q = ((b + d) / k, 0.25 * k, (f + h) / k, (c - g) / k)
    else:
        k = 2.0 * math.sqrt(max(1.0 + i - a - e, 1e-12))
        q = ((c + g) / k, (f + h) / k, 0.25 * k, (d - b) / k)
    n = math.sqrt(sum(v * v for v in q)) * (1.0 if q[3] >= 0 else -1.0)
    return tuple(v / n for v in q)


def head_bone(pose_matrix: np.ndarray) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
    """(position m, quaternion (x, y, z, w)) of the Head bone in Unity avatar axes from a MediaPipe pose matrix:
    S R S with S = diag(-1, 1, 1) is the quaternion (x, -y, -z, w); the position is S t in metres."""
    x, y, z, w = rotation_to_quaternion(pose_matrix)
    tx, ty, tz = np.asarray(pose_matrix, np.float64)[:3, 3].tolist()
    return (-tx / 100, ty / 100, tz / 100), (x, -y, -z, w)


def eye_quaternion(yaw_deg: float, pitch_deg: float) -> tuple[float, float, float, float]:
    """Unity local eye rotation: about y by ``-yaw`` (gaze yaw > 0 = towards the subject's left) then about x by
    ``-pitch`` (gaze pitch > 0 = up; Unity's +x rotation looks down); (x, y, z, w) = q_y * q_x."""
    a, b = math.radians(-yaw_deg) / 2, math.radians(-pitch_deg) / 2
    sa, ca, sb, cb = math.sin(a), math.cos(a), math.sin(b), math.cos(b)
    return (ca * sb, sa * cb, -sa * sb, ca * cb)


# ---- the sink ---------------------------------------------------------------------------------------------
def parse_osc_spec(spec: str) -> tuple[str, int, dict[str, list[str]]]:
    """``osc://HOST[:PORT][?position=0]`` -> (host, port, query). Raises OutputError with one line."""
    parts = urlsplit(str(spec).strip())
    if parts.scheme.lower() != "osc" or not parts.hostname:
        raise OutputError(f"{spec}: use osc://HOST:PORT (e.g. osc://127.0.0.1:{DEFAULT_PORT})")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise OutputError(f"{spec}: the port must be a number from 1 to 65535") from None
    if not 0 < port < 65536:
        raise OutputError(f"{spec}: the port must be a number from 1 to 65535")
    return parts.hostname, port, parse_qs(parts.query)


class OscVmcSink:
    """Sends each frame's head pose, gaze and expression coefficients to a VMC receiver (see module doc)."""
    optional = True
    needs_annotated = False

    def __init__(self, spec: str = f"osc://127.0.0.1:{DEFAULT_PORT}", position: bool | None = None):
        self.host, self.port, query = parse_osc_spec(spec)
        if position is None:
            position = query.get("position", ["1"])[-1].lower() not in ("0", "false", "no", "off")
        self.send_position = position
        self.description = f"VMC/OSC to {self.host}:{self.port}"
        self.error: str | None = None
        self.frames = 0  # frames sent
        self.dropped = 0  # frames (partly) dropped: send buffer full or network error
        self.messages = 0  # OSC messages sent
        self._address = None
        self._sock: socket.socket | None = None
        self._names: tuple[str, ...] | None = None
        self._blend_prefix: list[bytes] = []
        self._rate: deque[float] = deque()  # send times in the last second, for status()
        self._no_signals = False
        try:
            info = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except (socket.gaierror, UnicodeError) as e:
            raise OutputError(f"{spec}: cannot resolve host {self.host!r} ({e})") from None
        self._family, _, _, _, self._address = info[0]

    def open(self, info: StreamInfo) -> None:
        self._set_names(getattr(info, "blendshape_names", None))
        try:
            self._sock = socket.socket(self._family, socket.SOCK_DGRAM)
            self._sock.setblocking(False)
        except OSError as e:
            raise OutputError(f"{self.description}: cannot open a UDP socket ({e.strerror or e})") from None
        self._bone_prefix = {name: osc_string("/VMC/Ext/Bone/Pos") + osc_string(",sfffffff") + osc_string(name)
                             for name in ("Head", "LeftEye", "RightEye")}
        self._apply = osc_message("/VMC/Ext/Blend/Apply")
        self._ok = {t: osc_message("/VMC/Ext/OK", 1, 3, 0, t) for t in (0, 1)}
        self._t_prefix = osc_string("/VMC/Ext/T") + osc_string(",f")

    def _set_names(self, names) -> None:
        # None: the stream has no signals (switched off), so only OK and T are sent
        self._names = tuple(names) if names is not None else None
        prefix = osc_string("/VMC/Ext/Blend/Val") + osc_string(",sf")
        self._blend_prefix = [prefix + osc_string(perfect_sync_name(n)) for n in self._names or ()]
        # "_neutral" (MediaPipe's extra first coefficient) is no ARKit shape and no avatar has it: skipped.
        self._blend_keep = [i for i, n in enumerate(self._names or ()) if not n.startswith("_")]

    def frame_messages(self, result: FrameResult) -> list[bytes]:
        """The OSC messages for one frame, in send order (public for tests and tools)."""
        face = result.faces[0] if result.faces else None
        sig = face.signals if face is not None else None
        msgs: list[bytes] = []
        if sig is not None:
            pos, quat = head_bone(sig.pose_matrix)
            if not self.send_position:
                pos = (0.0, 0.0, 0.0)
            if all(map(math.isfinite, (*pos, *quat))):
                msgs.append(self._bone_prefix["Head"] + struct.pack(">7f", *pos, *quat))
            for bone, (yaw, pitch) in zip(("LeftEye", "RightEye"), np.asarray(sig.gaze_deg, np.float64).tolist()):
                if math.isfinite(yaw) and math.isfinite(pitch):
                    msgs.append(self._bone_prefix[bone] + struct.pack(">7f", 0.0, 0.0, 0.0,
                                                                      *eye_quaternion(yaw, pitch)))
            shapes = np.asarray(sig.blendshapes, ">f4")
            if self._names is None or len(self._names) != len(shapes):  # no names from the stream: number them
                self._set_names(tuple(f"shape{i}" for i in range(len(shapes))))
            raw = shapes.tobytes()
            finite = np.isfinite(shapes)  # eyeLook* are NaN while irises are off: not sent
            msgs += [self._blend_prefix[i] + raw[4 * i:4 * i + 4] for i in self._blend_keep if finite[i]]
            msgs.append(self._apply)
        self._no_signals = face is not None and sig is None
        msgs.append(self._ok[int(face is not None)])
        msgs.append(self._t_prefix + struct.pack(">f", result.timestamp_ms / 1000.0))
        return msgs

    def write(self, result: FrameResult, annotated_bgr: np.ndarray | None) -> None:
        if self._sock is None:
            return
        msgs = self.frame_messages(result)
        sent_all = True
        for bundle in osc_bundles(msgs):
            try:
                self._sock.sendto(bundle, self._address)
            except BlockingIOError:  # the kernel's send buffer is full: drop, never wait
                sent_all = False
                break
            except OSError as e:  # unreachable network/host, refused: report, keep tracking, try again next frame
                sent_all = False
                message = f"{self.description}: {e.strerror or e}"
                if message != self.error:
                    log.warning("%s", message)
                self.error = message
                break
        if sent_all:
            self.frames += 1
            self.messages += len(msgs)
            self.error = None
            now = time.monotonic()
            self._rate.append(now)
            while self._rate and self._rate[0] < now - 1.0:
                self._rate.popleft()
        else:
            self.dropped += 1

    def status(self) -> str:
        """One short line for the GUI: rate, or why nothing useful goes out."""
        if self.error:
            return self.error
        if self._no_signals:
            return "face signals off: only OK/T sent"
        now = time.monotonic()
        rate = sum(1 for t in self._rate if t >= now - 1.0)
        return f"{rate} frames/s to {self.host}:{self.port}"

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


register_sink(OscVmcSink, schemes=["osc"])
