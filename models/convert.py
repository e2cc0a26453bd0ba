"""TFLite graph -> ONNX graph (NCHW inside, TFLite's NHWC signature at the edges). No TensorFlow.

Traps handled here (fact sheet §2): fp16 DEQUANTIZE folded to fp32 initializers; TF 'SAME' padding
written as explicit, possibly one-sided pads; OHWI / 1HWC kernels permuted; PReLU alphas reshaped for
NCHW broadcasting; reshapes of 4-D tensors flatten in NHWC order (a Transpose goes first);
channel zero-padding PADs remapped to axis 1; the three MediaPipe custom ops lowered (custom_ops.py).
"""
from __future__ import annotations

import numpy as np
import onnx

from models import custom_ops
from models.errors import ConversionError
from models.onnx_builder import GraphBuilder, value_info
from models.tflite_reader import Operator, TFLiteGraph

CONVERTER_VERSION = "5"  # bump whenever the emitted graphs change: cached models are then rebuilt

_SAME, _VALID = 0, 1
_NHWC_TO_NCHW = (0, 3, 1, 2)
_NCHW_TO_NHWC = (0, 2, 3, 1)


def same_pads(in_size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) for one spatial axis: the extra pixel goes after."""
    out = -(-in_size // stride)
    total = max((out - 1) * stride + kernel - in_size, 0)
    return total // 2, total - total // 2


class _Converter:
    def __init__(self, graph: TFLiteGraph):
        self.g = graph
        self.gb = GraphBuilder()
        self.consts: dict[int, np.ndarray] = {}  # tensor index -> fp32/int constant value
        self.names: dict[tuple[int, str], str] = {}  # (tensor index, layout) -> ONNX name
        self.layout: dict[int, str] = {}  # tensor index -> "nchw" | "plain" (TFLite order)
        for t in graph.tensors:
            if t.data is not None:
                self.consts[t.index] = t.data.astype(np.float32) if t.dtype == np.float16 else t.data

    # ---- tensor access -------------------------------------------------------------------------
    def shape(self, ti: int) -> tuple[int, ...]:
        return self.g.tensors[ti].shape

    def tname(self, ti: int) -> str:
        return self.g.tensors[ti].name

    def set_output(self, ti: int, name: str, layout: str) -> None:
        self.names[(ti, layout)] = name
        self.layout[ti] = layout

    def get(self, ti: int, layout: str) -> str:
        """ONNX name of tensor ``ti`` in ``layout`` ("nchw" or "plain"), transposing once if needed."""
        if ti in self.consts:
            return self.const_in(ti, layout)
        if (ti, layout) in self.names:
            return self.names[(ti, layout)]
        have = self.layout[ti]
        if len(self.shape(ti)) != 4:
            return self.names[(ti, have)]
        perm = _NHWC_TO_NCHW if layout == "nchw" else _NCHW_TO_NHWC
        name = self.gb.op("Transpose", [self.names[(ti, have)]], f"{self.tname(ti)}_{layout}", perm=list(perm))
        self.names[(ti, layout)] = name
        return name

    def const_in(self, ti: int, layout: str) -> str:
        value = self.consts[ti]
        if layout == "nchw" and value.ndim == 4:
            value = value.transpose(_NHWC_TO_NCHW)
        return self.gb.const(value, self.tname(ti))

    def channel_const(self, ti: int, rank4_nchw: bool) -> str:
        """A constant broadcast against an activation: move channel-last vectors to [C,1,1] for NCHW."""
        value = self.consts[ti]
        if rank4_nchw and value.ndim >= 1 and value.size > 1:
            if value.ndim == 4:
                value = value.transpose(_NHWC_TO_NCHW)
            else:
                value = value.reshape(-1, 1, 1) if value.shape[-1] == value.size else value
        return self.gb.const(value, self.tname(ti))

    # ---- ops -----------------------------------------------------------------------------------
    def fused(self, op: Operator, name: str) -> str:
        act = op.options.get("FusedActivationFunction", 0)
        if act == 0:
            return name
        if act == 1:
            return self.gb.op("Relu", [name])
        if act == 3:
            return self.gb.op("Clip", [name, self.gb.const(np.float32(0)), self.gb.const(np.float32(6))])
        raise ConversionError(f"op {op.index} {op.opcode}: fused activation {act} is not supported")

    def conv(self, op: Operator, depthwise: bool) -> None:
        x, w, b = op.inputs[:3]
        weight = self.consts[w]
        kh, kw = weight.shape[1:3]
        if depthwise:
            if op.options.get("DepthMultiplier", 1) != 1:
                raise ConversionError(f"op {op.index}: depth multiplier != 1 is not supported")
            weight = weight.transpose(3, 0, 1, 2)  # [1,KH,KW,C] -> [C,1,KH,KW]
        else:
            weight = weight.transpose(0, 3, 1, 2)  # OHWI -> OIHW
        if op.options.get("DilationHFactor", 1) != 1 or op.options.get("DilationWFactor", 1) != 1:
            raise ConversionError(f"op {op.index}: dilation is not supported")
        sh, sw = op.options["StrideH"], op.options["StrideW"]
        _, ih, iw, _ = self.shape(x)
        pads = self.pads(op.options["Padding"], ih, iw, kh, kw, sh, sw)
        inputs = [self.get(x, "nchw"), self.gb.const(weight, self.tname(w))]
        if b >= 0:
            inputs.append(self.gb.const(self.consts[b], self.tname(b)))
        attrs = dict(kernel_shape=[kh, kw], strides=[sh, sw], pads=pads)
        if depthwise:
            attrs["group"] = int(weight.shape[0])
        y = self.gb.op("Conv", inputs, self.tname(op.outputs[0]), **attrs)
        self.set_output(op.outputs[0], self.fused(op, y), "nchw")

    @staticmethod
    def pads(padding: int, ih: int, iw: int, kh: int, kw: int, sh: int, sw: int) -> list[int]:
        if padding == _VALID:
            return [0, 0, 0, 0]
        top, bottom = same_pads(ih, kh, sh)
        left, right = same_pads(iw, kw, sw)
        return [top, left, bottom, right]

    def max_pool(self, op: Operator) -> None:
        x = op.inputs[0]
        o = op.options
        kh, kw, sh, sw = o["FilterHeight"], o["FilterWidth"], o["StrideH"], o["StrideW"]
        _, ih, iw, _ = self.shape(x)
        y = self.gb.op("MaxPool", [self.get(x, "nchw")], self.tname(op.outputs[0]), kernel_shape=[kh, kw],
                       strides=[sh, sw], pads=self.pads(o["Padding"], ih, iw, kh, kw, sh, sw))
        self.set_output(op.outputs[0], self.fused(op, y), "nchw")

    def elementwise(self, op: Operator, onnx_op: str) -> None:
        acts = [i for i in op.inputs if i not in self.consts]
        if not acts:
            raise ConversionError(f"op {op.index} {op.opcode}: all-constant inputs are not supported")
        nchw = any(len(self.shape(i)) == 4 and self.layout.get(i) == "nchw" for i in acts)
        layout = "nchw" if nchw else "plain"
        ins = [self.channel_const(i, nchw) if i in self.consts else self.get(i, layout) for i in op.inputs]
        y = self.gb.op(onnx_op, ins, self.tname(op.outputs[0]))
        self.set_output(op.outputs[0], self.fused(op, y), layout if len(self.shape(op.outputs[0])) == 4 else "plain")

    def prelu(self, op: Operator) -> None:
        x, alpha = op.inputs
        a = self.consts[alpha].reshape(-1).astype(np.float32)
        out = op.outputs[0]
        if len(self.shape(x)) != 4:
            y = self.gb.op("PRelu", [self.get(x, "plain"), self.gb.const(a, self.tname(alpha))], self.tname(out))
            self.set_output(out, y, "plain")
            return
        # PRelu(x) = x + (1 - a) * Relu(-x), both scalings as 1x1 depthwise convs. onnxruntime's NCHWc CPU
        # kernels fuse Conv+Relu and Conv+Add but have no PRelu, which otherwise costs a layout reorder
        # on each side of all 73 PRelus: this form measured 4.4 -> 1.9 ms per full mesh (1 thread).
        channels = self.shape(x)[3]
        a = np.broadcast_to(a, (channels,)) if a.size == 1 else a
        src = self.get(x, "nchw")
        neg_one = self.gb.const(np.full((channels, 1, 1, 1), -1.0, np.float32), f"{self.tname(alpha)}_neg1")
        one_minus_a = self.gb.const((1.0 - a).reshape(channels, 1, 1, 1), f"{self.tname(alpha)}_1ma")
        negative = self.gb.op("Relu", [self.gb.op("Conv", [src, neg_one], group=channels, kernel_shape=[1, 1])])
        scaled = self.gb.op("Conv", [negative, one_minus_a], group=channels, kernel_shape=[1, 1])
        y = self.gb.op("Add", [src, scaled], self.tname(out))
        self.set_output(out, y, "nchw")

    def relu(self, op: Operator) -> None:
        x = op.inputs[0]
        layout = self.layout.get(x, "plain")
        self.set_output(op.outputs[0], self.gb.op("Relu", [self.get(x, layout)], self.tname(op.outputs[0])), layout)

    def pad(self, op: Operator) -> None:
        x, p = op.inputs[:2]
        pads = self.consts[p].astype(np.int64)  # [rank, 2] (before, after) in TFLite axis order
        if len(self.shape(x)) == 4 and not pads[:3].any() and pads[3, 0] == 0:
            # Zero channel padding for a residual shortcut, written as a 1x1 conv with an identity
            # kernel: onnxruntime's NCHWc kernels have no Pad, and one Pad drops every later residual
            # Add out of the blocked layout (measured 2.25 -> 1.87 ms per full mesh, 1 thread).
            c_in, c_out = self.shape(x)[3], self.shape(op.outputs[0])[3]
            eye = np.zeros((c_out, c_in, 1, 1), np.float32)
            eye[np.arange(c_in), np.arange(c_in)] = 1.0
            y = self.gb.op("Conv", [self.get(x, "nchw"), self.gb.const(eye, f"{self.tname(op.outputs[0])}_eye")],
                           self.tname(op.outputs[0]), kernel_shape=[1, 1])
            self.set_output(op.outputs[0], y, "nchw")
            return
        if len(self.shape(x)) == 4:
            order = _NHWC_TO_NCHW
            onnx_pads = [int(pads[a, 0]) for a in order] + [int(pads[a, 1]) for a in order]
            src, layout = self.get(x, "nchw"), "nchw"
        else:
            onnx_pads = [int(v) for v in pads[:, 0]] + [int(v) for v in pads[:, 1]]
            src, layout = self.get(x, "plain"), "plain"
        y = self.gb.op("Pad", [src, self.gb.const(np.array(onnx_pads, np.int64))], self.tname(op.outputs[0]),
                       mode="constant")
        self.set_output(op.outputs[0], y, layout)

    def reshape(self, op: Operator) -> None:
        x = op.inputs[0]
        shape = list(self.shape(op.outputs[0]))
        # Flatten in TFLite (NHWC) order: a 4-D NCHW input is transposed back first.
        y = self.gb.op("Reshape", [self.get(x, "plain"), self.gb.const(np.array(shape, np.int64))],
                       self.tname(op.outputs[0]))
        self.set_output(op.outputs[0], y, "plain")

    def concat(self, op: Operator) -> None:
        axis = op.options["Axis"]
        rank = len(self.shape(op.outputs[0]))
        nchw = rank == 4 and all(self.layout.get(i) == "nchw" for i in op.inputs if i not in self.consts)
        if nchw:
            axis = _NCHW_TO_NHWC.index(axis % 4)  # TFLite axis -> position in NCHW
        layout = "nchw" if nchw else "plain"
        y = self.gb.op("Concat", [self.get(i, layout) for i in op.inputs], self.tname(op.outputs[0]), axis=axis)
        self.set_output(op.outputs[0], self.fused(op, y), layout)

    def strided_slice(self, op: Operator) -> None:
        x, begin, end, strides = op.inputs
        shape = self.shape(x)
        b, e, s = (self.consts[i].tolist() for i in (begin, end, strides))
        masks = [op.options.get(k, 0) for k in ("BeginMask", "EndMask", "EllipsisMask", "NewAxisMask",
                                                 "ShrinkAxisMask")]
        if any(masks) or any(b) or list(e) != list(shape) or any(v != 1 for v in s):
            raise ConversionError(f"op {op.index}: only the identity STRIDED_SLICE is supported")
        layout = self.layout[x]
        self.set_output(op.outputs[0], self.gb.op("Identity", [self.get(x, layout)], self.tname(op.outputs[0])),
                        layout)

    def resize_bilinear(self, op: Operator) -> None:
        x, size = op.inputs[:2]
        o = op.options
        mode = ("align_corners" if o.get("AlignCorners") else "half_pixel" if o.get("HalfPixelCenters")
                else "asymmetric")
        n, h, w, c = self.shape(op.outputs[0])
        sizes = self.gb.const(np.array([n, c, h, w], np.int64), f"{self.tname(op.outputs[0])}_sizes")
        y = self.gb.op("Resize", [self.get(x, "nchw"), "", "", sizes], self.tname(op.outputs[0]), mode="linear",
                       coordinate_transformation_mode=mode)
        self.set_output(op.outputs[0], y, "nchw")

    def depth_to_space(self, op: Operator) -> None:
        # TF's NHWC depth_to_space reads channel (i*bs + j)*C + c: ONNX's DCR order on NCHW.
        y = self.gb.op("DepthToSpace", [self.get(op.inputs[0], "nchw")], self.tname(op.outputs[0]),
                       blocksize=int(op.options["BlockSize"]), mode="DCR")
        self.set_output(op.outputs[0], y, "nchw")

    def custom(self, op: Operator) -> None:
        opts = dict(op.custom or {})
        if op.version != 2:
            raise ConversionError(f"op {op.index}: custom op {op.opcode} v{op.version} (only v2 is lowered)")
        out = op.outputs[0]
        if op.opcode == "Landmarks2TransformMatrix":
            y = custom_ops.landmarks_to_transform_matrix(self.gb, self.get(op.inputs[0], "plain"), **opts)
            self.set_output(out, y, "plain")
        elif op.opcode == "TransformTensorBilinear":
            feat, mat = op.inputs
            _, h, w, _ = self.shape(feat)
            y = custom_ops.transform_tensor_bilinear(self.gb, self.get(feat, "nchw"), self.get(mat, "plain"),
                                                     height=h, width=w, **opts)
            self.set_output(out, y, "nchw")
        elif op.opcode == "TransformLandmarks":
            y = custom_ops.transform_landmarks(self.gb, self.get(op.inputs[0], "plain"),
                                               self.get(op.inputs[1], "plain"))
            self.set_output(out, y, "plain")
        else:
            raise ConversionError(f"op {op.index}: custom op {op.opcode} has no lowering")

    # ---- driver --------------------------------------------------------------------------------
    def run(self, name: str, metadata: dict[str, str]) -> onnx.ModelProto:
        inputs = []
        for ti in self.g.inputs:
            nm = self.gb.reserve(self.tname(ti))
            self.set_output(ti, nm, "plain")
            inputs.append(value_info(nm, self.shape(ti)))
        # Graph outputs keep their TFLite names; claim them before any internal tensor can.
        output_names = [self.gb.reserve(self.tname(ti)) for ti in self.g.outputs]
        handlers = {
            "CONV_2D": lambda op: self.conv(op, depthwise=False),
            "DEPTHWISE_CONV_2D": lambda op: self.conv(op, depthwise=True),
            "MAX_POOL_2D": self.max_pool,
            "ADD": lambda op: self.elementwise(op, "Add"),
            "MUL": lambda op: self.elementwise(op, "Mul"),
            "PRELU": self.prelu,
            "RELU": self.relu,
            "PAD": self.pad,
            "RESHAPE": self.reshape,
            "CONCATENATION": self.concat,
            "STRIDED_SLICE": self.strided_slice,
            "RESIZE_BILINEAR": self.resize_bilinear,
            "DEPTH_TO_SPACE": self.depth_to_space,
        }
        for op in self.g.operators:
            if op.opcode in ("DEQUANTIZE", "DENSIFY"):  # sparse constants are densified when read
                src = op.inputs[0]
                if src not in self.consts:
                    raise ConversionError(f"op {op.index}: {op.opcode} of a non-constant tensor")
                self.consts[op.outputs[0]] = self.consts[src].astype(np.float32)  # fp16 -> fp32 is exact
                continue
            if op.opcode in handlers:
                handlers[op.opcode](op)
            elif op.opcode.isupper():  # builtin names are upper case, custom codes are CamelCase
                raise ConversionError(f"op {op.index}: builtin {op.opcode} has no lowering")
            else:
                self.custom(op)
        outputs = []
        for ti, nm in zip(self.g.outputs, output_names):
            self.gb.op("Identity", [self.get(ti, "plain")], outputs=[nm])
            outputs.append(value_info(nm, self.shape(ti)))
        return self.gb.model(name, inputs, outputs, doc=self.g.description, metadata=metadata)


def convert(graph: TFLiteGraph, name: str, metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """Convert a parsed TFLite graph to a checked ONNX model (opset 18, standard domain only)."""
    model = _Converter(graph).run(name, dict(metadata or {}, converter_version=CONVERTER_VERSION))
    onnx.checker.check_model(model)
    return model
