"""The lean attention-mesh graph the pipeline runs: the faithful conversion rewritten for speed, per submodel set.

onnxruntime's CPU cost here is node count, not arithmetic (a node costs ~2 us cold, ~0.3 us hot), so:

* the refinement sub-networks (lips, left eye, right eye crops; five heads: lips, eye contours, irises) share
  one architecture: the active ones run as ONE chain of grouped convolutions over their crops stacked on
  the channel axis (per-group channels stay multiples of 16, so onnxruntime keeps its blocked NCHWc
  kernels); a submodel switched off is not in the graph at all;
* the three crop transforms (Landmarks2TransformMatrix + TransformTensorBilinear) run batched over the
  active crops: one GridSample for all of them;
* the graph ends in the 478 landmarks in frame pixels: each crop's TransformLandmarks on the heads' 2-D points,
  the 478 assembly and the projection to the frame (a per-face affine input), ~20 small nodes that replace
  ~20 numpy calls per face, each of which costs tens of microseconds cold at webcam pace;
* the input is the uint8 BGR crop, its NHWC bytes seen as [N,1,192,576] (a free reshape in numpy): the first
  convolution reads it as one channel with a 3x wider kernel, with /255 and BGR->RGB folded in (no transpose);
* the batch dimension is dynamic, so all tracked faces of a frame run in one call.

PReLU keeps the converter's x + (1-a) Relu(-x) form (two 1x1 depthwise convs that onnxruntime fuses into
Conv+Relu and Conv+Add NCHWc kernels). Folding the (1-a) scale into the following conv saves nothing in this
graph: every PReLU output but the heads' last also feeds a residual Add or a MaxPool that needs the
activation itself, and at the heads' last one the fold swaps one conv for another.

Inputs (N = faces): ``image_bgr`` [N,1,192,576] uint8 (each face's 192x192x3 BGR crop, row by row);
``frame_affine`` [N,4,3] float32, 192-space (x, y, z, 1) rows -> frame pixels (x, y, z) as ``[x y z 1] @ F``.
Outputs: ``landmarks`` [N,478,3] frame pixels (z scaled like x; irises not computed are NaN);
``face_flag`` [N,1] logit.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.errors import ConversionError
from models.onnx_builder import GraphBuilder
from models.variants import HEAD_STEM, HEADS, Layout, Submodels, head_landmarks, iris_z_sources, variant_key

# Landmarks2TransformMatrix options of each crop (fact sheet §1.2; checked against the model's own ops).
STEM_ROTATION = {"lips": (61, 291), "left_eye": (33, 133), "right_eye": (362, 263)}
CROP = 16  # crop side on the 48x48 feature map
CROP_SCALE = 1.5
FEATURE = "p_re_lu_3"  # [1,32,48,48] trunk feature map the crops are sampled from
INPUT = "image_bgr"
FRAME_AFFINE = "frame_affine"


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


class _Source:
    """Index of the faithful converted graph: producers, initializers, dependency sets."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.nodes = list(model.graph.node)
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.inits = {t.name: t for t in model.graph.initializer}
        self.order = {id(n): i for i, n in enumerate(self.nodes)}

    def array(self, name: str) -> np.ndarray:
        return numpy_helper.to_array(self.inits[name])

    def deps(self, outputs) -> set[int]:
        seen, stack = set(), list(outputs)
        while stack:
            node = self.producer.get(stack.pop())
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            stack.extend(node.input)
        return seen

    def ordered(self, ids: set[int]) -> list[onnx.NodeProto]:
        return sorted((n for n in self.nodes if id(n) in ids), key=lambda n: self.order[id(n)])

    def conv_by_weight(self, weight_prefix: str) -> onnx.NodeProto:
        found = [n for n in self.nodes if n.op_type == "Conv" and n.input[1].startswith(weight_prefix)]
        if len(found) != 1:
            raise ConversionError(f"attention graph: expected one conv with weights {weight_prefix}*")
        return found[0]


def _chains(src: _Source) -> tuple[dict[str, list], dict[str, list], dict[str, str]]:
    """Per crop, the stem chain (crop -> shared features); per head, its own chain (-> raw head conv)."""
    head_conv = {h: src.conv_by_weight(f"conv_{h}/Kernel") for h in HEADS}
    crops = {}
    for h, conv in head_conv.items():
        ids = src.deps([conv.output[0]])
        crop = [n for n in src.ordered(ids) if n.output[0].startswith("ttb_crop")]
        if len(crop) != 1:
            raise ConversionError(f"attention graph: head {h} does not read exactly one crop")
        crops[h] = crop[0].output[0]
    chain = {h: src.ordered(src.deps([c.output[0]]) - src.deps([crops[h]])) for h, c in head_conv.items()}
    stems: dict[str, list] = {}
    for s in ("left_eye", "right_eye"):
        shared = {id(n) for n in chain[s]} & {id(n) for n in chain[s.replace("eye", "iris")]}
        stems[s] = [n for n in chain[s] if id(n) in shared]
    n_stem = len(stems["left_eye"])
    stems["lips"] = chain["lips"][:n_stem]
    heads = {h: chain[h][len(stems[HEAD_STEM[h]]):] for h in HEADS}
    stem_crop = {HEAD_STEM[h]: crops[h] for h in HEADS}
    for group in (list(stems.values()), list(heads.values())):
        ref = group[0]
        for other in group[1:]:
            if [n.op_type for n in other] != [n.op_type for n in ref]:
                raise ConversionError("attention graph: refinement branches differ in structure; cannot merge")
    return stems, heads, stem_crop


class _Emitter:
    def __init__(self, src: _Source):
        self.src = src
        self.gb = GraphBuilder()
        self.names: dict[str, str] = {}  # source tensor name -> emitted name

    def name(self, source_name: str) -> str:
        if source_name in self.src.inits:
            if source_name not in self.names:
                self.names[source_name] = self.gb.const(self.src.array(source_name), source_name)
            return self.names[source_name]
        return self.names[source_name]

    def copy(self, node: onnx.NodeProto) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        out = self.gb.op(node.op_type, [self.name(i) for i in node.input], node.output[0], **attrs)
        self.names[node.output[0]] = out

    def merge(self, group: list[onnx.NodeProto], pad_out: int | None = None) -> None:
        """One node doing the work of ``group`` (same op on channel-stacked inputs)."""
        first = group[0]
        if len(group) == 1 and first.op_type != "Conv":
            self.copy(first)
            return
        acts = [[self.names[i] for i in n.input if i and i not in self.src.inits] for n in group]
        if any(a != acts[0] for a in acts):
            raise ConversionError(f"cannot merge {first.op_type}: inputs are not stacked alike")
        attrs = {a.name: helper.get_attribute_value(a) for a in first.attribute}
        if first.op_type == "Conv":
            weights = [self.src.array(n.input[1]) for n in group]
            has_bias = any(len(n.input) > 2 and n.input[2] for n in group)
            biases = [self.src.array(n.input[2]) if len(n.input) > 2 and n.input[2]
                      else np.zeros(w.shape[0], np.float32) for n, w in zip(group, weights)]
            group_in = int(attrs.get("group", 1))
            if group_in > 1 and not all(w.shape[1] == 1 for w in weights):
                raise ConversionError("only depthwise or dense convs can be merged")
            if pad_out:  # heads of different sizes: zero filters up to the longest (never gathered into the 478)
                weights = [np.concatenate([w, np.zeros((pad_out - w.shape[0], *w.shape[1:]), w.dtype)])
                           for w in weights]
                biases = [np.concatenate([b, np.zeros(pad_out - b.shape[0], b.dtype)]) for b in biases]
            attrs["group"] = sum(w.shape[0] for w in weights) if group_in > 1 else len(group)
            ins = [acts[0][0], self.gb.const(np.concatenate(weights), f"{first.input[1]}_x{len(group)}")]
            if has_bias:
                ins.append(self.gb.const(np.concatenate(biases), f"{first.input[1]}_bias_x{len(group)}"))
        elif first.op_type in ("Relu", "Add", "MaxPool", "Identity"):
            ins = acts[0]
        else:
            raise ConversionError(f"cannot merge {first.op_type} nodes")
        out = self.gb.op(first.op_type, ins, first.output[0], **attrs)
        for n in group:
            self.names[n.output[0]] = out


def _transforms(gb: GraphBuilder, mesh_flat: str, feature: str, stems: tuple[str, ...],
                subsets: dict[str, list[int]]) -> tuple[str, str]:
    """Batched Landmarks2TransformMatrix + TransformTensorBilinear for the active crops, in few nodes.

    Same maths as custom_ops.py (fact sheet §1.3-1.4) with the crop axis S added, row-vector form:
    R = [[c, -s], [s, c]] (a = angle of the rotation pair); the subset rotated by -a is ``xy @ R``; extents
    (w, h) and midpoint m of that box; A = R diag(sx, sy) with (sx, sy) = 1.5 (w, h) / 16; the crop pixel
    centre uv maps to ``uv @ A.T + t`` with t = R (m - 8 (sx, sy)). All in 48-space (192-space / 4).

    Returns (affine [N,S,3,2] = [A.T; t] in 48-space, crops [N,S*32,16,16]).
    """
    i64 = np.int64
    k = len(stems)
    pts = gb.op("Reshape", [mesh_flat, gb.const([0, 468, 3], dtype=i64)], "rf_mesh3")
    xy = gb.op("Slice", [pts, gb.const([0], dtype=i64), gb.const([2], dtype=i64), gb.const([2], dtype=i64)])
    xy = gb.op("Mul", [xy, gb.const(np.float32(0.25))], "rf_xy48")  # 192-space -> 48-space
    pairs = np.array([[STEM_ROTATION[s][1], STEM_ROTATION[s][0]] for s in stems], i64)  # (right, left)
    d = gb.op("MatMul", [gb.const(np.array([[1.0, -1.0]], np.float32)),
                         gb.op("Gather", [xy, gb.const(pairs)], axis=1)], "rf_d")  # [N,S,1,2]
    # atan2(0, 0) = 0 in MediaPipe: a zero direction means no rotation. 1e-6 on x does that and is below
    # float32 resolution for any real pair (tens of pixels apart).
    d = gb.op("Add", [d, gb.const(np.array([1e-6, 0.0], np.float32))])
    unit = gb.op("Div", [d, gb.op("ReduceL2", [d, gb.const([3], dtype=i64)], keepdims=1)], "rf_unit")  # (c, s)
    rot = gb.op("Mul", [gb.op("Gather", [unit, gb.const(np.array([0, 1, 1, 0], i64))], axis=3),
                        gb.const(np.array([1.0, -1.0, 1.0, 1.0], np.float32))])  # (c, -s, s, c)
    rot = gb.op("Reshape", [rot, gb.const([0, k, 2, 2], dtype=i64)], "rf_rot")  # R [N,S,2,2]
    width = max(len(subsets[s]) for s in stems)
    # Subsets padded by repeating their first index: only min and max over the set matter.
    idx = np.array([list(subsets[s]) + [subsets[s][0]] * (width - len(subsets[s])) for s in stems], i64)
    rotated = gb.op("MatMul", [gb.op("Gather", [xy, gb.const(idx)], axis=1), rot], "rf_rotated")  # [N,S,K,2]
    hi = gb.op("ReduceMax", [rotated, gb.const([2], dtype=i64)], keepdims=1)  # [N,S,1,2]
    lo = gb.op("ReduceMin", [rotated, gb.const([2], dtype=i64)], keepdims=1)
    sxy = gb.op("Mul", [gb.op("Sub", [hi, lo]), gb.const(np.float32(CROP_SCALE / CROP))], "rf_sxy")
    offset = gb.op("Sub", [gb.op("Mul", [gb.op("Add", [hi, lo]), gb.const(np.float32(0.5))]),
                           gb.op("Mul", [sxy, gb.const(np.float32(CROP / 2.0))])])  # m - 8 (sx, sy)
    rot_t = gb.op("Transpose", [rot], perm=[0, 1, 3, 2])
    t = gb.op("MatMul", [offset, rot_t], "rf_t")  # [N,S,1,2]
    a_t = gb.op("Transpose", [gb.op("Mul", [rot, sxy])], "rf_a_t", perm=[0, 1, 3, 2])  # A.T [N,S,2,2]
    affine = gb.op("Concat", [a_t, t], "rf_affine", axis=2)  # [N,S,3,2]
    # TransformTensorBilinear: crop pixel centre (u+.5, v+.5) -> P in the 48x48 map; GridSample reads there and a
    # pixel whose index coordinate P-0.5 leaves the map is zeroed whole (MediaPipe's cut-off): |P/24 - 1| <= 23.5/24.
    u, v = np.meshgrid(np.arange(CROP, dtype=np.float32) + 0.5, np.arange(CROP, dtype=np.float32) + 0.5)
    uv = np.stack([u.ravel(), v.ravel()], axis=1)  # [256,2]
    size = 48.0
    p = gb.op("Add", [gb.op("MatMul", [gb.const(uv * (2.0 / size), "rf_uv"), a_t]),
                      gb.op("Sub", [gb.op("Mul", [t, gb.const(np.float32(2.0 / size))]), gb.const(np.float32(1.0))])])
    grid = gb.op("Reshape", [p, gb.const([0, k * CROP, CROP, 2], dtype=i64)], "rf_grid")  # crops stacked vertically
    sampled = gb.op("GridSample", [feature, grid], "rf_sampled", mode="bilinear", padding_mode="zeros",
                    align_corners=0)  # [N,32,S*16,16]
    far = gb.op("ReduceMax", [gb.op("Abs", [grid]), gb.const([3], dtype=i64)], keepdims=0)  # [N,S*16,16]
    mask = gb.op("Cast", [gb.op("LessOrEqual", [far, gb.const(np.float32((size / 2 - 0.5) / (size / 2)))])],
                 to=TensorProto.FLOAT)
    crops = gb.op("Mul", [sampled, gb.op("Unsqueeze", [mask, gb.const([1], dtype=i64)])])
    if k > 1:  # [N,32,S,16,16] -> [N,S,32,16,16] -> [N,S*32,16,16]
        crops = gb.op("Reshape", [crops, gb.const([0, 32, k, CROP, CROP], dtype=i64)])
        crops = gb.op("Transpose", [crops], perm=[0, 2, 1, 3, 4])
        crops = gb.op("Reshape", [crops, gb.const([0, k * 32, CROP, CROP], dtype=i64)])
    return affine, crops


def _assembly(gb: GraphBuilder, mesh_flat: str, affine: str | None, points: str | None, frame_affine: str,
              layout: Layout, topology: dict) -> str:
    """The 478 landmarks in frame pixels [N,478,3], in the graph (fact sheet §4.4, §5).

    ``frame_affine`` [N,4,3] maps 192-space (x, y, z, 1) rows to frame pixels (x, y, z): ``[x y z 1] @ F``.
    The mesh gives all 468 points. Each head's raw points (crop units x4) go through its crop's affine
    (TransformLandmarks: ``p @ X[:2] + 4 X[2]``) chained with F; lips and eye contours overwrite x, y of their
    landmarks (the mesh's z kept); each iris gets x, y from its head and the mean z of its eye's 16 contour
    points. Heads switched off leave the mesh's points (lips, eyes) or NaN (irises).

    Done here rather than in numpy because per frame a numpy call costs 20-60 us cold (the first touch of its
    code after the 33 ms between webcam frames) against ~2 us for a node in the session already running.
    """
    i64 = np.int64

    def part(x: str, starts: list[int], ends: list[int], axes: list[int], hint: str | None = None) -> str:
        return gb.op("Slice", [x, *(gb.const(v, dtype=i64) for v in (starts, ends, axes))], hint)

    mesh3 = gb.op("Reshape", [mesh_flat, gb.const([0, 468, 3], dtype=i64)], "lm_mesh3")
    mesh_px = gb.op("Add", [gb.op("MatMul", [mesh3, part(frame_affine, [0], [3], [1])]),
                            part(frame_affine, [3], [4], [1])], "lm_mesh_px")  # [N,468,3]
    targets = head_landmarks(topology)
    xy_index = np.arange(478, dtype=i64)  # row of [mesh 468 | heads' points] each landmark's x, y come from
    z_index = np.arange(478, dtype=i64)  # row of [mesh 468 | irises] its z comes from
    missing = np.zeros((478, 3), np.float32)
    missing[468:] = np.nan  # irises not computed
    xy_index[468:] = z_index[468:] = 0
    sources_xy, sources_z = [part(mesh_px, [0], [2], [2])], [part(mesh_px, [2], [3], [2], "lm_mesh_z")]
    if layout.heads:
        h, per = len(layout.heads), layout.points // 2
        stem_of_head = np.array([layout.stems.index(HEAD_STEM[n]) for n in layout.heads], i64)
        x = affine if list(stem_of_head) == list(range(len(layout.stems))) else \
            gb.op("Gather", [affine, gb.const(stem_of_head)], axis=1)  # [N,H,3,2]
        x = gb.op("Mul", [x, gb.const(np.array([[1.0], [1.0], [4.0]], np.float32))])  # rows p_x, p_y, 4 shift
        lin2 = gb.op("Unsqueeze", [part(frame_affine, [0, 0], [2, 2], [1, 2]), gb.const([1], dtype=i64)])  # [N,1,2,2]
        shift2 = gb.op("Unsqueeze", [part(frame_affine, [3, 0], [4, 2], [1, 2]), gb.const([1], dtype=i64)])
        head_lin = gb.op("MatMul", [part(x, [0], [2], [2]), lin2])
        head_shift = gb.op("Add", [gb.op("MatMul", [part(x, [2], [3], [2]), lin2]), shift2])  # [N,H,1,2]
        raw = gb.op("Reshape", [points, gb.const([0, h, per, 2], dtype=i64)], "lm_head_raw")
        head_px = gb.op("Add", [gb.op("MatMul", [raw, head_lin]), head_shift])  # [N,H,per,2]
        sources_xy.append(gb.op("Reshape", [head_px, gb.const([0, h * per, 2], dtype=i64)], "lm_heads_px"))
        iris_sources = iris_z_sources(topology)
        irises = [n for n in layout.heads if n in iris_sources]
        for j, name in enumerate(layout.heads):
            rows = np.asarray(targets[name], i64)
            xy_index[rows] = 468 + j * per + np.arange(len(rows))
            if name in irises:
                z_index[rows] = 468 + irises.index(name)
                missing[rows] = 0.0
        if irises:
            z_from = np.array([iris_sources[n] for n in irises], i64)  # [I,16]
            contour_z = gb.op("Gather", [sources_z[0], gb.const(z_from)], axis=1)  # [N,I,16,1]
            sources_z.append(gb.op("ReduceMean", [contour_z, gb.const([2], dtype=i64)], "lm_iris_z", keepdims=0))
    xy = sources_xy[0] if len(sources_xy) == 1 else gb.op("Concat", sources_xy, axis=1)
    z = sources_z[0] if len(sources_z) == 1 else gb.op("Concat", sources_z, axis=1)
    lm = gb.op("Concat", [gb.op("Gather", [xy, gb.const(xy_index)], axis=1),
                          gb.op("Gather", [z, gb.const(z_index)], axis=1)], axis=2)
    return gb.op("Add", [lm, gb.const(missing, "lm_missing")], outputs=["landmarks"]) if np.isnan(missing).any() \
        else gb.op("Identity", [lm], outputs=["landmarks"])


def _blocked(gb: GraphBuilder, x: str, channels: int) -> str:
    """An identity depthwise conv: onnxruntime's NCHWc pass only enters its blocked layout at a conv, and a
    residual Add with one plain input stays unfused along with every Add after it (measured: 13 reorders)."""
    return gb.op("Conv", [x, gb.const(np.ones((channels, 1, 1, 1), np.float32), "identity_dw")], "blocked",
                 group=channels, kernel_shape=[1, 1])


def build_lean(model: onnx.ModelProto, submodels: Submodels, topology: dict) -> onnx.ModelProto:
    """The lean graph of ``model`` (the faithful face_landmark_with_attention conversion) for ``submodels``.

    ``topology``: the converted model's topology.json (each crop's Landmarks2TransformMatrix index list, which
    is also the landmarks its head refines, and the irises' z sources).
    """
    subsets = topology["refinement"]
    src = _Source(model)
    layout = Layout.of(submodels)
    em = _Emitter(src)
    gb = em.gb
    image = gb.reserve(INPUT)
    mesh_conv = src.producer["output_mesh"]
    flag_conv = src.conv_by_weight("conv_faceflag/Kernel")
    trunk = src.ordered(src.deps([mesh_conv.output[0], flag_conv.output[0]]))
    first = trunk[0]
    if first.op_type != "Transpose" or first.input[0] != model.graph.input[0].name:
        raise ConversionError("attention graph does not start with the input transpose")
    conv0 = trunk[1]
    if conv0.op_type != "Conv" or conv0.input[0] != first.output[0] or any(
            first.output[0] in n.input for n in trunk[2:]):
        raise ConversionError("attention graph: no lone input conv after the transpose")
    # The uint8 BGR NHWC crop goes in as it is: seen as one channel of width 192*3, the NHWC conv is a conv with a
    # 3x wider kernel (tap (i, 3j+c) = channel c of column j) and 3x the horizontal stride and padding, so no
    # transpose runs; /255 and BGR->RGB fold into that kernel (exact: its padding is zeros).
    w0 = src.array(conv0.input[1])  # [O, 3 (RGB), kh, kw]
    o, _, kh, kw = w0.shape
    wide = (w0[:, ::-1] / 255.0).transpose(0, 2, 3, 1).reshape(o, 1, kh, kw * 3).astype(np.float32)
    sh, sw = _attr(conv0, "strides", [1, 1])
    top, left, bottom, right = _attr(conv0, "pads", [0, 0, 0, 0])
    if int(_attr(conv0, "group", 1)) != 1:
        raise ConversionError("attention graph: grouped input conv")
    ins = [gb.op("Cast", [image], "image_rows_f32", to=TensorProto.FLOAT), gb.const(wide, "conv_input_bgr_u8_wide")]
    if len(conv0.input) > 2 and conv0.input[2]:
        ins.append(gb.const(src.array(conv0.input[2]), "conv_input_bias"))
    em.names[conv0.output[0]] = gb.op("Conv", ins, conv0.output[0], kernel_shape=[kh, kw * 3], strides=[sh, sw * 3],
                                      pads=[top, left * 3, bottom, right * 3])
    for node in trunk[2:]:
        em.copy(node)
    i64 = np.int64
    mesh = gb.op("Reshape", [em.names[mesh_conv.output[0]], gb.const([0, 1404], dtype=i64)], "mesh")
    flag = gb.op("Reshape", [em.names[flag_conv.output[0]], gb.const([0, 1], dtype=i64)], outputs=["face_flag"])
    frame_affine = gb.reserve(FRAME_AFFINE)
    affine = points = None
    if layout.heads:
        stems, heads, stem_crop = _chains(src)
        affine, crops = _transforms(gb, mesh, em.names[FEATURE], layout.stems, subsets)
        crops = _blocked(gb, crops, 32 * len(layout.stems))
        for s in layout.stems:
            em.names[stem_crop[s]] = crops  # every chain's crop input is the stacked crops
        for group in zip(*(stems[s] for s in layout.stems)):
            em.merge(list(group))
        # Heads read their crop's stem output (an eye's twice: contour and iris): channel-gather when the
        # head stack is not the stem stack.
        stem_out = {s: em.names[stems[s][-1].output[0]] for s in layout.stems}
        if list(layout.heads) != list(layout.stems):
            per = 128
            take = np.concatenate([np.arange(per) + per * layout.stems.index(HEAD_STEM[h]) for h in layout.heads])
            gathered = gb.op("Gather", [stem_out[layout.stems[0]], gb.const(take.astype(i64))], "rf_heads_in", axis=1)
            gathered = _blocked(gb, gathered, per * len(layout.heads))
        else:
            gathered = stem_out[layout.stems[0]]
        for h in layout.heads:
            em.names[stems[HEAD_STEM[h]][-1].output[0]] = gathered
        chains = [heads[h] for h in layout.heads]
        for j, group in enumerate(zip(*chains)):
            last = j == len(chains[0]) - 1
            em.merge(list(group), pad_out=layout.points if last else None)
        points = em.names[chains[0][-1].output[0]]  # [N, H*P, 1, 1]
    landmarks = _assembly(gb, mesh, affine, points, frame_affine, layout, topology)
    outputs = [(landmarks, TensorProto.FLOAT, ["N", 478, 3]), (flag, TensorProto.FLOAT, ["N", 1])]
    ins = [helper.make_tensor_value_info(image, TensorProto.UINT8, ["N", 1, 192, 192 * 3]),
           helper.make_tensor_value_info(frame_affine, TensorProto.FLOAT, ["N", 4, 3])]
    outs = [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs]
    meta = {p.key: p.value for p in model.metadata_props}
    meta["submodels"] = variant_key(submodels)
    lean = gb.model(f"{model.graph.name}_lean", ins, outs, doc=model.doc_string, metadata=meta)
    onnx.checker.check_model(lean)
    return lean


class LeanAttention:
    """Builds lean graphs (serialized) from a cached faithful conversion, loading it once on first use."""

    def __init__(self, path, topology: dict):
        self._path = path
        self._topology = topology
        self._model: onnx.ModelProto | None = None

    def __call__(self, submodels: Submodels) -> bytes:
        if self._model is None:
            self._model = onnx.load(str(self._path))
        return build_lean(self._model, submodels, self._topology).SerializeToString()
