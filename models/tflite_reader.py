"""Reads a TFLite flatbuffer into plain Python values; knows nothing about ONNX.

The TFLite schema module comes from the installed mediapipe wheel
(``mediapipe/tasks/metadata/schema_py_generated.py``), loaded by file path so that
reading a model never imports (or runs) mediapipe itself.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from models.errors import ModelSourceError

_TFLITE_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
_schema_cache: dict[Path, ModuleType] = {}


def mediapipe_root() -> Path:
    """Directory of the installed mediapipe package, found without importing it.

    Raises:
        ModelSourceError: mediapipe is not installed.
    """
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ModelSourceError(
            "mediapipe==0.10.21 is not installed (its wheel ships the tflite weights); "
            "run `make setup` or `pip install -r requirements.txt`")
    return Path(list(spec.submodule_search_locations)[0])


def load_schema(root: Path | None = None) -> ModuleType:
    """The TFLite flatbuffer schema module shipped inside the mediapipe wheel."""
    path = (root or mediapipe_root()) / "tasks" / "metadata" / "schema_py_generated.py"
    if path in _schema_cache:
        return _schema_cache[path]
    if not path.is_file():
        raise ModelSourceError(f"TFLite schema not found at {path}; reinstall mediapipe==0.10.21")
    spec = importlib.util.spec_from_file_location("_meshcam_tflite_schema", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _schema_cache[path] = module
    return module


@dataclass(frozen=True)
class Tensor:
    """One TFLite tensor. ``data`` holds the constant buffer (raw dtype) or None for activations."""
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: type
    data: np.ndarray | None


@dataclass(frozen=True)
class Operator:
    """One TFLite operator. ``options`` are the builtin options; ``custom`` the decoded flexbuffer map."""
    index: int
    opcode: str  # builtin name (e.g. "CONV_2D") or custom code (e.g. "Landmarks2TransformMatrix")
    version: int
    inputs: tuple[int, ...]  # tensor indices; -1 for an optional input left out
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] | None = None


@dataclass(frozen=True)
class TFLiteGraph:
    """The single subgraph of a TFLite model."""
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    description: str


def _builtin_options(schema: ModuleType, op) -> dict[str, Any]:
    kind = op.BuiltinOptionsType()
    if kind == 0:
        return {}
    names = {v: k for k, v in vars(schema.BuiltinOptions).items() if not k.startswith("_")}
    cls = getattr(schema, names[kind])
    opts = cls()
    table = op.BuiltinOptions()
    opts.Init(table.Bytes, table.Pos)
    values: dict[str, Any] = {}
    for attr in dir(opts):
        if not attr[0].isupper() or attr.startswith(("Init", "GetRoot")) or attr.endswith(("IsNone", "Length")):
            continue
        if attr.endswith("AsNumpy"):
            values[attr[: -len("AsNumpy")]] = np.asarray(getattr(opts, attr)()).tolist()
            continue
        try:
            value = getattr(opts, attr)()
        except TypeError:  # accessors that need an index (vectors) are covered by *AsNumpy
            continue
        if isinstance(value, (int, float, bool)):
            values[attr] = value
    return values


def _index_vector(schema: ModuleType, kind: int, table) -> np.ndarray:
    cls = {1: schema.Int32Vector, 2: schema.Uint16Vector, 3: schema.Uint8Vector}.get(kind)
    if cls is None:
        raise ModelSourceError(f"sparse tensor index vector type {kind} is not supported")
    vec = cls()
    vec.Init(table.Bytes, table.Pos)
    return np.asarray(vec.ValuesAsNumpy(), np.int64)


def _densify(schema: ModuleType, sparsity, values: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """A TFLite sparse constant (dense leading dims, one CSR innermost dim, no blocks) as a dense array.

    The full-range detector stores its pruned 1x1 kernels this way: for each dense row, segments[r] to
    segments[r+1] index the row's stored values and their column positions.
    """
    order = list(sparsity.TraversalOrderAsNumpy()) if sparsity.TraversalOrderLength() else []
    dims = [sparsity.DimMetadata(d) for d in range(sparsity.DimMetadataLength())]
    formats = [d.Format() for d in dims]
    if (order != list(range(len(shape))) or sparsity.BlockMapLength() or formats[-1] != 1
            or any(formats[:-1])):
        raise ModelSourceError(f"{name}: sparse layout {formats}, order {order} is not supported")
    last = dims[-1]
    segments = _index_vector(schema, last.ArraySegmentsType(), last.ArraySegments())
    columns = _index_vector(schema, last.ArrayIndicesType(), last.ArrayIndices())
    rows = int(np.prod(shape[:-1]))
    if segments.size != rows + 1 or columns.size != values.size:
        raise ModelSourceError(f"{name}: sparse tensor sizes do not match its shape {shape}")
    dense = np.zeros((rows, shape[-1]), values.dtype)
    row_of = np.repeat(np.arange(rows), np.diff(segments))
    dense[row_of, columns] = values
    return dense.reshape(shape)


def read_tflite(path: Path) -> TFLiteGraph:
    """Parse ``path`` into a :class:`TFLiteGraph`.

    Raises:
        ModelSourceError: the file is missing or is not a single-subgraph TFLite model.
    """
    import flatbuffers.flexbuffers as flexbuffers

    path = Path(path)
    if not path.is_file():
        raise ModelSourceError(f"{path.name} not found at {path}; reinstall mediapipe==0.10.21 (`make setup`)")
    schema = load_schema()
    buf = path.read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelSourceError(f"{path} is not a TFLite flatbuffer (bad identifier)")
    model = schema.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise ModelSourceError(f"{path.name}: expected 1 subgraph, found {model.SubgraphsLength()}")
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        custom = oc.CustomCode()
        name = custom.decode() if custom else op_names[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())]
        codes.append((name, oc.Version()))

    g = model.Subgraphs(0)
    tensors = []
    for ti in range(g.TensorsLength()):
        t = g.Tensors(ti)
        dtype = _TFLITE_DTYPES[t.Type()]
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        b = model.Buffers(t.Buffer())
        data = None
        if b.DataLength():
            data = np.frombuffer(b.DataAsNumpy().tobytes(), dtype=dtype)
            sparsity = t.Sparsity()
            if sparsity:
                data = _densify(schema, sparsity, data, shape, t.Name().decode())
            else:
                data = data.reshape(shape).copy()
        tensors.append(Tensor(ti, t.Name().decode(), shape, dtype, data))

    operators = []
    for oi in range(g.OperatorsLength()):
        op = g.Operators(oi)
        name, version = codes[op.OpcodeIndex()]
        custom = None
        if op.CustomOptionsLength():
            custom = flexbuffers.Loads(bytes(op.CustomOptionsAsNumpy()))
        operators.append(Operator(
            index=oi, opcode=name, version=version,
            inputs=tuple(int(op.Inputs(j)) for j in range(op.InputsLength())),
            outputs=tuple(int(op.Outputs(j)) for j in range(op.OutputsLength())),
            options=_builtin_options(schema, op), custom=custom))
    desc = model.Description().decode() if model.Description() else ""
    return TFLiteGraph(
        tensors=tuple(tensors), operators=tuple(operators),
        inputs=tuple(int(x) for x in g.InputsAsNumpy()),
        outputs=tuple(int(x) for x in g.OutputsAsNumpy()), description=desc)
