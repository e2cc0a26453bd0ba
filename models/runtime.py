"""The one place that makes onnxruntime sessions: provider choice, threads, quiet logs, warm-up."""
from __future__ import annotations

import functools
import logging
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

log = logging.getLogger(__name__)

PROVIDERS = ("auto", "cpu", "cuda")
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class ProviderChoice:
    """The provider sessions will use and why (shown to the user)."""
    name: str  # "cuda" | "cpu"
    reason: str


@functools.cache
def _cuda_usable() -> tuple[bool, str]:
    """Probe CUDA through onnxruntime itself (any OS): a one-node session must really run on the CUDA provider.

    onnxruntime logs loudly when the driver or libraries are missing; the probe's session is silenced.
    """
    if _CUDA not in ort.get_available_providers():
        return False, "this onnxruntime build has no CUDA provider (install onnxruntime-gpu)"
    try:
        with _quiet():  # a machine without CUDA makes onnxruntime print a page of library-loading errors
            sess = _probe_session()
            if _CUDA not in sess.get_providers() and hasattr(ort, "preload_dlls"):
                ort.preload_dlls()  # CUDA/cuDNN shipped as nvidia-* wheels, if any; then try once more
                sess = _probe_session()
        if _CUDA not in sess.get_providers():
            return False, ("no CUDA device, or onnxruntime could not load the CUDA provider "
                           "(driver, CUDA 12/13 or cuDNN 9 libraries missing)")
        sess.run(None, {"x": np.zeros(1, np.float32)})
    except Exception as e:  # noqa: BLE001 - onnxruntime raises plain RuntimeError/Fail for missing libraries
        return False, f"CUDA provider failed to start: {str(e).splitlines()[0][:160]}"
    return True, "CUDA device found and the CUDA provider loaded"


@contextmanager
def _quiet():
    """Silence stdout and stderr at the file-descriptor level (native libraries write there directly)."""
    def flush():
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no console (a windowed app): nothing to silence
        yield
        return
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _probe_session() -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 4
    ort.set_default_logger_severity(4)
    try:
        return ort.InferenceSession(_probe_model(), so, providers=[_CUDA, _CPU])
    finally:
        ort.set_default_logger_severity(3)


def _probe_model() -> bytes:
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 8
    return m.SerializeToString()


def choose_provider(requested: str = "auto") -> ProviderChoice:
    """Resolve ``auto|cpu|cuda`` to the provider that will really run.

    A ``cuda`` request that cannot be met falls back to the CPU with the reason, rather than failing:
    the user still gets a working tracker and is told why it is slower.
    """
    if requested not in PROVIDERS:
        raise ValueError(f"provider must be one of {PROVIDERS}, not {requested!r}")
    if requested == "cpu":
        return ProviderChoice("cpu", "CPU requested")
    ok, why = _cuda_usable()
    if ok:
        return ProviderChoice("cuda", why)
    if requested == "cuda":
        log.warning("CUDA requested but unusable, running on CPU: %s", why)
        return ProviderChoice("cpu", f"CUDA requested but unusable: {why}")
    return ProviderChoice("cpu", f"no CUDA: {why}")


def default_threads() -> int:
    # These models are a few MFLOP each: on 2 cores one intra-op thread per session measured faster
    # (2.53 vs 2.80 ms per tracking step) and leaves a core for capture, drawing and the GUI.
    return 1


_DTYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8}


def make_session(model: Path | str | bytes, provider: ProviderChoice, threads: int | None = None,
                 warmup: bool = True) -> ort.InferenceSession:
    """A tuned, quiet session for ``model`` (a path or serialized bytes) on ``provider``; warmed up so the
    first frame is not slow."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or default_threads()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    providers = [_CUDA, _CPU] if provider.name == "cuda" else [_CPU]
    sess = ort.InferenceSession(model if isinstance(model, bytes) else str(model), so, providers=providers)
    if warmup:
        feeds = {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], _DTYPES.get(i.type, np.float32))
                 for i in sess.get_inputs()}
        sess.run(None, feeds)
    return sess


def session_provider(sess: ort.InferenceSession) -> str:
    """The provider that actually runs ``sess`` first ('cuda' or 'cpu')."""
    return "cuda" if sess.get_providers()[0] == _CUDA else "cpu"
