"""Small float models built with onnx.helper from seeded weights, quantized by onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class _Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}{self.count}"

    def const(self, array) -> str:
        name = self.name("w")
        self.inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def op(self, op_type: str, inputs, **attrs) -> str:
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def conv(self, x, c, f, k=(3, 3), group=1, relu=True, **attrs):
        w = self.rng.normal(0, 1 / np.sqrt(c // group * k[0] * k[1]), (f, c // group) + k)
        y = self.op("Conv", [x, self.const(w), self.const(self.rng.normal(0, 0.1, f))],
                    kernel_shape=list(k), group=group, **attrs)
        return self.op("Relu", [y]) if relu else y

    def gemm(self, x, k, n, relu=True):
        w = self.rng.normal(0, 1 / np.sqrt(k), (n, k))
        y = self.op("Gemm", [x, self.const(w), self.const(self.rng.normal(0, 0.1, n))],
                    transB=1)
        return self.op("Relu", [y]) if relu else y

    def matmul(self, x, k, n):
        return self.op("MatMul", [x, self.const(self.rng.normal(0, 1 / np.sqrt(k), (k, n)))])

    def model(self, x_shape, y) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
            [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def mlp(seed=0):
    b = _Builder(seed)
    y = b.gemm(b.gemm(b.gemm("x", 40, 96), 96, 48), 48, 10, relu=False)
    return b.model(["N", 40], y), (40,)


def cnn(seed=0):
    b = _Builder(seed)
    y = b.conv("x", 3, 8, pads=[1, 1, 1, 1])
    y = b.op("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = b.conv(y, 8, 16, pads=[1, 1, 1, 1])
    y = b.op("Flatten", [b.op("GlobalAveragePool", [y])])
    return b.model(["N", 3, 10, 10], b.gemm(y, 16, 10, relu=False)), (3, 10, 10)


def residual(seed=0):
    b = _Builder(seed)
    a = b.conv("x", 3, 8, pads=[1, 1, 1, 1])
    c = b.conv(a, 8, 8, pads=[1, 1, 1, 1], relu=False)
    s = b.op("Relu", [b.op("Add", [a, c])])
    y = b.conv(s, 8, 12, pads=[1, 1, 1, 1], strides=[2, 2])
    y = b.op("Flatten", [b.op("GlobalAveragePool", [y])])
    return b.model(["N", 3, 8, 8], b.gemm(y, 12, 10, relu=False)), (3, 8, 8)


def depthwise(seed=0):
    b = _Builder(seed)
    y = b.conv("x", 3, 16, pads=[1, 1, 1, 1], strides=[2, 2])
    y = b.conv(y, 16, 16, group=16, pads=[1, 1, 1, 1])
    y = b.conv(y, 16, 24, k=(1, 1))
    y = b.conv(y, 24, 24, group=4, pads=[0, 1, 1, 0])
    y = b.op("Flatten", [b.op("GlobalAveragePool", [y])])
    return b.model(["N", 3, 12, 12], b.gemm(y, 24, 10, relu=False)), (3, 12, 12)


def odd(seed=0):
    b = _Builder(seed)
    y = b.conv("x", 5, 7, k=(5, 3), pads=[2, 0, 1, 1], strides=[2, 2])
    y = b.op("AveragePool", [y], kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 0, 1])
    y = b.op("Flatten", [y])
    return b.model(["N", 5, 13, 11], b.gemm(y, 7 * 3 * 5, 10, relu=False)), (5, 13, 11)


def transformer(seed=0):
    """Projections, attention scores of two run-time tensors, a feed-forward pair."""
    b = _Builder(seed)
    q, k = b.matmul("x", 32, 16), b.matmul("x", 32, 16)
    scores = b.op("MatMul", [q, b.op("Transpose", [k], perm=[0, 2, 1])])
    h = b.op("Relu", [b.matmul(b.op("MatMul", [scores, "x"]), 32, 64)])
    return b.model(["N", 16, 32], b.matmul(h, 64, 32)), (16, 32)


def inception(seed=0):
    """Two branches of different widths concatenated along the channels."""
    b = _Builder(seed)
    stem = b.conv("x", 3, 8, pads=[1, 1, 1, 1])
    left = b.conv(stem, 8, 6, k=(1, 1))
    right = b.conv(stem, 8, 10, pads=[1, 1, 1, 1])
    y = b.conv(b.op("Concat", [left, right], axis=1), 16, 12, k=(1, 1))
    y = b.op("Flatten", [b.op("GlobalAveragePool", [y])])
    return b.model(["N", 3, 8, 8], b.gemm(y, 12, 10, relu=False)), (3, 8, 8)


MODELS = {"mlp": mlp, "cnn": cnn, "residual": residual, "depthwise": depthwise, "odd": odd,
          "transformer": transformer, "inception": inception}


def quantized(name, tmp_path, *, qdq: bool, int8: bool, per_channel: bool, seed=0):
    """The model ``name`` quantized by onnxruntime's quantize_static; returns its path."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    model, shape = MODELS[name](seed)
    rng = np.random.default_rng(seed + 100)
    fp32 = tmp_path / f"{name}.onnx"
    onnx.save(model, fp32)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.data = iter([{"x": rng.normal(0, 1, (4,) + shape).astype(np.float32)}
                              for _ in range(4)])

        def get_next(self):
            return next(self.data, None)

    tag = "_".join((name, "qdq" if qdq else "qop", "s8" if int8 else "u8",
                    "pc" if per_channel else "pt"))
    out = tmp_path / f"{tag}.onnx"
    quantize_static(str(fp32), str(out), Reader(),
                    quant_format=QuantFormat.QDQ if qdq else QuantFormat.QOperator,
                    activation_type=QuantType.QInt8 if int8 else QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=per_channel)
    return out, shape
