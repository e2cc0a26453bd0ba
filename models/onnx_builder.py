"""A minimal ONNX graph builder: unique names, constants as initializers, node emission."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18  # ReduceMax/ReduceMin take `axes` as an input from 18; GridSample spells mode 'bilinear' up to 19.


class GraphBuilder:
    """Collects nodes and initializers for one graph; every ``op`` call returns its output name."""

    def __init__(self, prefix: str = ""):
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._const_cache: dict[tuple, str] = {}
        self._prefix = prefix

    def fresh(self, hint: str) -> str:
        base = (self._prefix + hint).replace(":", "_").replace(";", "_")
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}__{k}"
        self._names.add(name)
        return name

    def reserve(self, name: str) -> str:
        """Claim an exact name (graph inputs/outputs keep the TFLite names)."""
        if name in self._names:
            raise ValueError(f"duplicate tensor name {name}")
        self._names.add(name)
        return name

    def const(self, value, hint: str = "const", dtype=None) -> str:
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        key = (arr.dtype.str, arr.shape, arr.tobytes()) if arr.size <= 64 else None
        if key is not None and key in self._const_cache:
            return self._const_cache[key]
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        if key is not None:
            self._const_cache[key] = name
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, n_out: int = 1,
           outputs: list[str] | None = None, **attrs):
        outs = outputs or [self.fresh(f"{hint or op_type}" + (f"_{i}" if n_out > 1 else "")) for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.fresh(f"n_{outs[0]}"), **attrs))
        return outs[0] if n_out == 1 else outs

    def model(self, name: str, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
              doc: str = "", metadata: dict[str, str] | None = None) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="meshcam-converter", doc_string=doc)
        model.ir_version = 8  # readable by every onnxruntime >= 1.10
        for k, v in (metadata or {}).items():
            model.metadata_props.add(key=k, value=str(v))
        return model


def value_info(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))
