"""Submodel variants of the attention mesh: the same graph pruned to the outputs a toggle set needs.

The mesh and the face flag are always kept. Lips, eyes and irises are the paper's submodels; the two eye
sub-networks produce both the eye contour and the iris, so an eye branch survives pruning when either
its eye or its iris output is wanted, and the unwanted head alone is cut.
"""
from __future__ import annotations

from itertools import product

import onnx
from onnx import helper

SUBMODELS = ("lips", "eyes", "iris")
ALWAYS = ("output_mesh_identity", "conv_faceflag")
SUBMODEL_OUTPUTS = {
    "lips": ("output_lips",),
    "eyes": ("output_left_eye", "output_right_eye"),
    "iris": ("output_left_iris", "output_right_iris"),
}


def variant_key(lips: bool, eyes: bool, iris: bool) -> str:
    """Stable file-name key, e.g. 'mesh', 'mesh+lips', 'mesh+lips+eyes+iris'."""
    on = [name for name, flag in zip(SUBMODELS, (lips, eyes, iris)) if flag]
    return "+".join(["mesh", *on])


def all_variants() -> list[tuple[bool, bool, bool]]:
    return list(product((False, True), repeat=3))


def outputs_for(lips: bool, eyes: bool, iris: bool) -> list[str]:
    names = list(ALWAYS)
    for name, flag in zip(SUBMODELS, (lips, eyes, iris)):
        if flag:
            names += SUBMODEL_OUTPUTS[name]
    return names


def prune(model: onnx.ModelProto, keep_outputs: list[str]) -> onnx.ModelProto:
    """Copy of ``model`` holding only the nodes and initializers the kept outputs depend on."""
    graph = model.graph
    by_output = {}
    for node in graph.node:
        for out in node.output:
            by_output[out] = node
    needed_nodes, needed_tensors = set(), set(keep_outputs)
    stack = list(keep_outputs)
    while stack:
        node = by_output.get(stack.pop())
        if node is None or id(node) in needed_nodes:
            continue
        needed_nodes.add(id(node))
        for name in node.input:
            if name and name not in needed_tensors:
                needed_tensors.add(name)
                stack.append(name)
    nodes = [n for n in graph.node if id(n) in needed_nodes]  # original order stays topological
    inits = [t for t in graph.initializer if t.name in needed_tensors]
    outputs = [o for o in graph.output if o.name in keep_outputs]
    missing = set(keep_outputs) - {o.name for o in outputs}
    if missing:
        raise ValueError(f"model has no outputs {sorted(missing)}")
    pruned = helper.make_graph(nodes, graph.name, list(graph.input), outputs, inits)
    out = helper.make_model(pruned, opset_imports=list(model.opset_import), producer_name=model.producer_name,
                            doc_string=model.doc_string)
    out.ir_version = model.ir_version
    for prop in model.metadata_props:
        out.metadata_props.add(key=prop.key, value=prop.value)
    onnx.checker.check_model(out)
    return out
