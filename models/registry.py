"""The model registry: where converted models live, whether they are current, and (re)building them.

Converted models are cached in the user's cache folder (``platformdirs.user_cache_dir("meshcam")/models``,
or ``$MESHCAM_MODEL_DIR``), keyed by the sha256 of each source tflite and by CONVERTER_VERSION. Every file
is written to a temporary name and renamed, so a reader never sees half a model; the manifest is written
last; a cross-platform file lock keeps two processes from converting into one folder at once. The lean
per-submodel attention graphs the pipeline runs are built in memory from the cached conversion
(models/lean_graph.py, ~0.05 s each), so none of the 32 sets is ever stale on disk.
"""
from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import onnx
from filelock import FileLock, Timeout
from platformdirs import user_cache_dir

from models.convert import CONVERTER_VERSION, convert
from models.errors import ModelError, ModelSourceError
from models.tflite_reader import mediapipe_root, read_tflite

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 600  # another process converting: wait for it (a conversion takes a few seconds)
MANIFEST = "manifest.json"
TOPOLOGY = "topology.json"
REQUIRED_MEDIAPIPE = "0.10.21"

# name -> path of the tflite inside the mediapipe wheel
SOURCES = {
    "face_detection_short_range": "modules/face_detection/face_detection_short_range.tflite",
    "face_detection_full_range_sparse": "modules/face_detection/face_detection_full_range_sparse.tflite",
    "face_landmark_with_attention": "modules/face_landmark/face_landmark_with_attention.tflite",
    "face_landmark": "modules/face_landmark/face_landmark.tflite",
    "iris_landmark": "modules/iris_landmark/iris_landmark.tflite",
}
ATTENTION = "face_landmark_with_attention"
_CONNECTIONS_FILE = "python/solutions/face_mesh_connections.py"
_CONNECTION_SETS = ("FACEMESH_LIPS", "FACEMESH_LEFT_EYE", "FACEMESH_RIGHT_EYE", "FACEMESH_LEFT_EYEBROW",
                    "FACEMESH_RIGHT_EYEBROW", "FACEMESH_LEFT_IRIS", "FACEMESH_RIGHT_IRIS", "FACEMESH_FACE_OVAL",
                    "FACEMESH_NOSE", "FACEMESH_TESSELATION")
_REFINEMENT_OPS = {"lips": (61, 291), "left_eye": (33, 133), "right_eye": (362, 263)}


def model_dir() -> Path:
    """``$MESHCAM_MODEL_DIR`` when set, else the user's cache folder for meshcam."""
    override = os.environ.get("MESHCAM_MODEL_DIR")
    return Path(override) if override else Path(user_cache_dir("meshcam")) / "models"


@dataclass(frozen=True)
class ModelSet:
    """Paths of a current set of converted models (all exist and match the manifest)."""
    directory: Path
    manifest: dict

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.onnx"

    def topology(self) -> dict:
        return json.loads((self.directory / TOPOLOGY).read_text())


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _lock(directory: Path):
    # Two processes (say the app and the test suite) must not convert into one folder at once.
    try:
        with FileLock(str(directory / ".lock"), timeout=LOCK_TIMEOUT_S):
            yield
    except Timeout as e:
        raise ModelError(f"model cache {directory} stayed locked for {LOCK_TIMEOUT_S} s by another process; "
                         f"delete {directory / '.lock'} if no meshcam is running") from e


def source_paths() -> dict[str, Path]:
    """The tflite files in the installed mediapipe wheel.

    Raises:
        ModelSourceError: mediapipe (0.10.21) or one of its tflite files is missing.
    """
    root = mediapipe_root()
    try:
        version = metadata.version("mediapipe")
    except metadata.PackageNotFoundError:
        version = "unknown"
    paths = {name: root / rel for name, rel in SOURCES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ModelSourceError(
            f"mediapipe {version} lacks {Path(missing[0]).name} (only mediapipe=={REQUIRED_MEDIAPIPE} ships the "
            f"tflite models); run `pip install mediapipe=={REQUIRED_MEDIAPIPE}` or `make setup`")
    return paths


def _io_signature(model: onnx.ModelProto) -> tuple[list, list]:
    def dims(vi):
        return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim]
    return ([{"name": i.name, "shape": dims(i)} for i in model.graph.input],
            [{"name": o.name, "shape": dims(o)} for o in model.graph.output])


def _is_current(directory: Path, sources: dict[str, Path]) -> tuple[bool, str]:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        return False, "no converted models yet"
    except (OSError, ValueError):
        return False, "manifest unreadable"
    if manifest.get("converter_version") != CONVERTER_VERSION:
        return False, f"converter version {manifest.get('converter_version')} != {CONVERTER_VERSION}"
    for name, path in sources.items():
        if manifest.get("sources", {}).get(name, {}).get("sha256") != sha256_file(path):
            return False, f"source {path.name} changed"
    for fname, info in manifest.get("files", {}).items():
        f = directory / fname
        if not f.is_file() or f.stat().st_size != info.get("bytes") or sha256_file(f) != info.get("sha256"):
            return False, f"{fname} missing or damaged"
    return True, "current"


def extract_topology(attention_graph, root: Path) -> dict:
    """Refinement index lists (read from the model's own custom ops) and the drawing connection sets
    (read as data from the wheel's face_mesh_connections.py, never imported)."""
    refine = {}
    for op in attention_graph.operators:
        if op.opcode == "Landmarks2TransformMatrix":
            pair = (op.custom["left_rotation_idx"], op.custom["right_rotation_idx"])
            for region, rot in _REFINEMENT_OPS.items():
                if rot == pair:
                    refine[region] = [int(i) for i in op.custom["subset_idxs"]]
    if set(refine) != set(_REFINEMENT_OPS):
        raise ModelError(f"attention model lacks refinement ops for {set(_REFINEMENT_OPS) - set(refine)}")
    tree = ast.parse((root / _CONNECTIONS_FILE).read_text())
    values: dict[str, list] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if isinstance(node.value, ast.Call) and node.value.args:  # frozenset([...])
                if isinstance(node.value.args[0], (ast.List, ast.Tuple, ast.Set)):
                    values[name] = sorted(ast.literal_eval(node.value.args[0]))
                else:  # frozenset().union(*[A, B, ...])
                    names = [e.id for e in ast.walk(node.value) if isinstance(e, ast.Name) and e.id in values]
                    values[name] = sorted({tuple(p) for n in names for p in values[n]})
    connections = {n: [list(p) for p in values[n]] for n in _CONNECTION_SETS}
    return {
        "refinement": refine,
        # MediaPipe assigns each iris the mean z of its eye's 16 contour points (the list's first 16).
        "iris_z_average": {"left": refine["left_eye"][:16], "right": refine["right_eye"][:16]},
        "connections": connections,
        "source": "mediapipe==0.10.21 (Apache-2.0)",
    }


def build(directory: Path, sources: dict[str, Path]) -> dict:
    """Convert every source into ``directory``; returns the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict] = {}
    for stale in directory.glob(f"{ATTENTION}.mesh*.onnx"):  # pruned variants of converter version <= 4
        stale.unlink(missing_ok=True)

    def write(fname: str, model: onnx.ModelProto, source: str, variant: str | None) -> None:
        data = model.SerializeToString()
        _atomic_write(directory / fname, data)
        ins, outs = _io_signature(model)
        files[fname] = {"source": source, "variant": variant, "sha256": hashlib.sha256(data).hexdigest(),
                        "bytes": len(data), "inputs": ins, "outputs": outs}

    for k, (name, src) in enumerate(sources.items(), 1):
        log.info("converting %s (%d/%d)", src.name, k, len(sources))
        graph = read_tflite(src)
        model = convert(graph, name, {"source": src.name, "source_sha256": sha256_file(src)})
        write(f"{name}.onnx", model, name, None)
        if name == ATTENTION:
            _atomic_write(directory / TOPOLOGY, json.dumps(extract_topology(graph, mediapipe_root())).encode())
    try:
        mp_version = metadata.version("mediapipe")
    except metadata.PackageNotFoundError:
        mp_version = "unknown"
    manifest = {
        "converter_version": CONVERTER_VERSION,
        "mediapipe_version": mp_version,
        "licence": "Apache-2.0 (models from the mediapipe wheel, converted by meshcam)",
        "sources": {n: {"file": p.name, "sha256": sha256_file(p)} for n, p in sources.items()},
        "files": files,
    }
    _atomic_write(directory / MANIFEST, json.dumps(manifest, indent=1).encode())
    return manifest


def ensure_models(directory: Path | None = None, force: bool = False) -> ModelSet:
    """Return current converted models, converting first when missing, stale or damaged.

    Raises:
        ModelSourceError: the wheel or a tflite is missing (message says how to fix it).
        ModelError: the cache folder cannot be written.
    """
    directory = Path(directory or model_dir())
    sources = source_paths()

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelError(f"cannot create model cache {directory}: {e.strerror}; set MESHCAM_MODEL_DIR") from e
    ok, why = (False, "forced") if force else _is_current(directory, sources)
    if not ok:
        with _lock(directory):
            ok, why = (False, why) if force else _is_current(directory, sources)
            if not ok:
                log.info("building ONNX models in %s (%s)", directory, why)
                build(directory, sources)
    return ModelSet(directory, json.loads((directory / MANIFEST).read_text()))
