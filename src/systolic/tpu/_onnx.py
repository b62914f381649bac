"""Int8 ONNX models on the simulated TPU, bit for bit as onnxruntime's CPU provider computes them.

A model quantized by onnxruntime (QOperator or QDQ format) is lowered the way onnxruntime's
graph optimizer lowers it on x86-64 (docs/tpu.md, "ONNX models"): DequantizeLinear -> Conv /
MatMul / Gemm -> QuantizeLinear groups become one matrix layer, int8 activation tensors with a
single consumer are shifted to uint8 (zero point + 128). Each matrix layer is compiled with
:func:`compile_network` and run on a fresh :class:`TPU`: the input zero point is folded into the
bias, padding is the input zero point, groups are a block-diagonal weight, and the activation
unit's float32 mode reproduces onnxruntime's float32 requantization. Everything else runs on
the host in numpy with onnxruntime's float32 formulas.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from .._table import Column, Table
from ._compiler import Conv2D, Dense, Network, compile_network
from ._config import TPUConfig
from ._machine import BREAKDOWN_CATEGORIES, RunReport, summary_lines
from ._quant import Requant, requantize_float32

__all__ = ["OnnxReport", "OnnxSession", "LayerReport"]

_ENGINES = ("cycle", "fast")
_MS = "com.microsoft"
_RANGE = {np.dtype(np.uint8): (0, 255), np.dtype(np.int8): (-128, 127)}
# ops that only move or select stored values; run on the host on whatever they are given
_LAYOUT_OPS = ("Flatten", "Reshape", "Transpose", "Identity", "Squeeze", "Unsqueeze",
               "MaxPool", "Relu", "Clip", "Concat")
_FUSABLE = ("Conv", "MatMul", "Gemm", "Add", "AveragePool", "GlobalAveragePool")
# between a DequantizeLinear and a QuantizeLinear of the same scale and zero point these run
# on the stored integers (onnxruntime drops the pair)
_ON_INTEGERS = ("MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze")


class _Refused(ValueError):
    pass


def _refuse(node, why: str):
    return _Refused(f"node {node.name!r} ({node.op_type}): {why}")


def _f32(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def _quantize(x, scale, zero_point, dtype, axis: int = 1) -> np.ndarray:
    """onnxruntime's QuantizeLinear: ``RNE(clamp(fl(x / s), lo - zp, hi - zp)) + zp``."""
    x = _f32(x)
    lo, hi = _RANGE[np.dtype(dtype)]
    scale, zp = _per_axis(scale, x.ndim, axis), _per_axis(zero_point, x.ndim, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = x / _f32(scale)
    zp = zp.astype(np.int64)
    v = np.where(np.isnan(v), np.float32(lo) - zp, v)
    v = np.clip(v, (lo - zp).astype(np.float32), (hi - zp).astype(np.float32))
    return (np.rint(v).astype(np.int64) + zp).astype(dtype)


def _dequantize(q, scale, zero_point, axis: int = 1) -> np.ndarray:
    """onnxruntime's DequantizeLinear: ``fl(float(q - zp) * s)``."""
    q = np.asarray(q)
    scale, zp = _per_axis(scale, q.ndim, axis), _per_axis(zero_point, q.ndim, axis)
    return (q.astype(np.int64) - zp.astype(np.int64)).astype(np.float32) * _f32(scale)


def _per_axis(param, ndim: int, axis: int) -> np.ndarray:
    param = np.asarray(param)
    if param.ndim == 0 or ndim == 0:
        return param
    shape = [1] * ndim
    shape[axis % ndim] = param.size
    return param.reshape(shape)


def _requant_out(acc, scale, zp: int, dtype) -> np.ndarray:
    """onnxruntime's shared requantization: the float32 mode's rounding
    (:func:`requantize_float32`), the zero point, saturation."""
    lo, hi = _RANGE[np.dtype(dtype)]
    return np.clip(requantize_float32(acc, scale) + zp, lo, hi).astype(dtype)


@dataclass(frozen=True)
class LayerReport:
    """One step of a session run.

    Attributes
    ----------
    name, op : str
        The ONNX node (the first node of a fused QDQ group) and what ran.
    where : str
        ``"tpu"`` or ``"host"``.
    cycles : int
        TPU cycles, or for host steps the PCIe cycles of moving the step's input to the host
        and its output back.
    macs : int
        Multiply-accumulates the layer needs (0 on the host).
    report : RunReport or None
        The TPU run (summed over batch parts), for TPU steps.
    """

    name: str
    op: str
    where: str
    cycles: int
    macs: int
    report: RunReport | None


@dataclass(frozen=True)
class OnnxReport:
    """Cycles, throughput and where the time went, for the last :meth:`OnnxSession.run`.

    Attributes
    ----------
    layers : tuple of LayerReport
    cycles : int
        Sum of all steps' cycles (steps run one after another).
    seconds, tops, peak_tops, utilization : float
        As in :class:`RunReport`, over the whole model (``tops`` counts the matrix layers' MACs).
    breakdown : dict of str to int
        TPU cycles by :data:`BREAKDOWN_CATEGORIES`, with the host steps added to ``host``.
    """

    layers: tuple
    cycles: int
    seconds: float
    tops: float
    peak_tops: float
    utilization: float
    breakdown: dict

    def summary(self) -> str:
        """Totals, the breakdown and one line per layer."""
        lines = summary_lines(self, tops_digits=3, util_digits=2)
        lines += _LAYER_TABLE.lines((layer.name, layer.op, layer.where, layer.cycles, layer.macs)
                                    for layer in self.layers)
        return "\n".join(lines)


_LAYER_TABLE = Table([Column("layer", 24, "<", clip=True), Column("op", 26, "<", clip=True),
                      Column("where", 6, "<"), Column("cycles", 12, spec=","),
                      Column("MACs", 14, spec=",")], indent="  ")


class _Step:
    """One executable step: ``fn(env) -> outputs`` plus what to report."""

    def __init__(self, name, op, where, inputs, outputs, fn):
        self.name, self.op, self.where = name, op, where
        self.inputs, self.outputs, self.fn = inputs, outputs, fn


class OnnxSession:
    """Run an int8-quantized ONNX model on the simulated TPU.

    The same call as ``onnxruntime.InferenceSession``: ``run(output_names, feeds)`` returns
    the outputs as a list of numpy arrays, equal bit for bit to onnxruntime's CPU outputs for
    models quantized by ``onnxruntime.quantization.quantize_static`` (docs/tpu.md, "ONNX
    models").

    Parameters
    ----------
    model : str, os.PathLike or onnx.ModelProto
    config : TPUConfig, optional
        The machine (TPU v1 by default).
    engine : {"fast", "cycle"}
        The array's engine; outputs and cycles are the same.

    Attributes
    ----------
    report : OnnxReport or None
        Timing of the last run.

    Raises
    ------
    TypeError
        ``model`` or ``config`` of the wrong type.
    ValueError
        A bad ``engine``, or a node that cannot run: ``node 'name' (OpType): why``.
    """

    def __init__(self, model, config: TPUConfig | None = None, engine: str = "fast"):
        import onnx
        from onnx import numpy_helper

        if isinstance(model, (str, os.PathLike)):
            model = onnx.load(os.fspath(model))
        if not isinstance(model, onnx.ModelProto):
            raise TypeError(f"model must be a path or an onnx.ModelProto, not {model!r}")
        config = TPUConfig() if config is None else config
        if not isinstance(config, TPUConfig):
            raise TypeError(f"config must be a TPUConfig, not {config!r}")
        if engine not in _ENGINES:
            raise ValueError(f"engine must be one of {_ENGINES}, not {engine!r}")
        self.config, self.engine, self.report = config, engine, None
        self._programs = {}      # (layer, input shape, signed) -> CompiledNetwork, reused
        graph = model.graph
        self._consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                self._consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self._inputs = [i for i in graph.input if i.name not in self._consts]
        self._output_names = [o.name for o in graph.output]
        nodes = _toposort([n for n in graph.node if n.op_type != "Constant"])
        self._steps = _Lowering(nodes, self._consts, set(self._output_names), self).steps

    # -- the onnxruntime-like surface ------------------------------------------------------

    def get_inputs(self):
        """The graph inputs (``onnx.ValueInfoProto``), as ``InferenceSession`` lists them."""
        return list(self._inputs)

    def get_outputs(self):
        """Names of the graph outputs."""
        return list(self._output_names)

    def run(self, output_names, feeds) -> list:
        """Compute ``output_names`` (all outputs when None) from ``feeds`` (name -> array).

        Raises
        ------
        TypeError
            A feed of the wrong element type.
        ValueError
            A missing feed or an unknown output name.
        """
        from onnx import helper

        if not isinstance(feeds, dict):
            raise TypeError(f"feeds must be a dict of name to array, not {type(feeds).__name__}")
        env = dict(self._consts)
        for info in self._inputs:
            if info.name not in feeds:
                raise ValueError(f"missing input {info.name!r}")
            want = np.dtype(helper.tensor_dtype_to_np_dtype(info.type.tensor_type.elem_type))
            value = np.asarray(feeds[info.name])
            if value.dtype != want:
                raise TypeError(f"input {info.name!r} must be {want.name}, got {value.dtype.name}")
            env[info.name] = value
        names = self._output_names if output_names is None else list(output_names)
        for name in names:
            if name not in self._output_names:
                raise ValueError(f"unknown output {name!r}")
        layers = []
        for step in self._steps:
            results, cycles, macs, report = step.fn(env)
            # optional trailing outputs a node names but no step computes are left out
            env.update(zip(step.outputs, results, strict=False))
            layers.append(LayerReport(step.name, step.op, step.where, cycles, macs, report))
        self.report = self._summarise(layers)
        return [env[name] for name in names]

    def _summarise(self, layers) -> OnnxReport:
        cfg = self.config
        cycles = sum(layer.cycles for layer in layers)
        macs = sum(layer.macs for layer in layers)
        breakdown = dict.fromkeys(BREAKDOWN_CATEGORIES, 0)
        for layer in layers:
            if layer.report is None:
                breakdown["host"] += layer.cycles
            else:
                for key, value in layer.report.breakdown.items():
                    breakdown[key] += value
        seconds = cycles / cfg.clock_hz
        return OnnxReport(tuple(layers), cycles, seconds,
                          2 * macs / seconds / 1e12 if cycles else 0.0, cfg.peak_tops,
                          macs / (cycles * cfg.rows * cfg.cols) if cycles else 0.0, breakdown)

    # -- helpers for the steps --------------------------------------------------------------

    def _host_cycles(self, arrays) -> int:
        """PCIe cycles to bring ``arrays`` to the host or back, one transfer each."""
        cfg = self.config
        return sum(cfg.host_transfer_cycles(math.ceil(np.asarray(a).nbytes / cfg.row_bytes))
                   for a in arrays)

    def _run_layer(self, node, layer, x: np.ndarray, signed: bool, macs: int) -> tuple:
        """Run one Dense/Conv2D on the TPU over ``x`` (examples first), in batch parts that
        fit the Unified Buffer; returns (int64 outputs, summed RunReport). ``macs`` is the
        useful work per example (a grouped convolution streams zeros too)."""
        cfg = self.config
        shape = x.shape[1:]
        net = Network([layer], shape, input_signed=signed)
        g = min(cfg.rows, cfg.cols)
        st = net.stages[0]
        per = (st.inp.h * st.inp.w * math.ceil(st.inp.c / g)
               + st.out.h * st.out.w * math.ceil(st.out.c / g))
        bias_rows = 8 * math.ceil(st.out.c / g)
        part = max(1, (cfg.ub_rows - bias_rows) // per)
        outs, reports = [], []
        for start in range(0, x.shape[0], part):
            chunk = x[start:start + part]
            key = (id(layer), chunk.shape, signed)
            if key not in self._programs:
                try:
                    compiled = compile_network(net, chunk.shape[0], cfg)
                except ValueError as error:   # one example larger than the Unified Buffer
                    raise ValueError(f"node {node.name!r} ({node.op_type}): {error}") from None
                compiled.useful_macs = macs * chunk.shape[0]
                self._programs[key] = compiled
            compiled = self._programs[key]
            out, report = compiled.run(chunk, engine=self.engine)
            outs.append(out)
            reports.append(report)
        return np.concatenate(outs), _merge(reports, cfg)


def _merge(reports, config: TPUConfig) -> RunReport:
    """One report for the batch parts of a layer, run one after another."""
    if len(reports) == 1:
        return reports[0]
    cycles = sum(r.cycles for r in reports)
    seconds = cycles / config.clock_hz
    useful = sum(r.useful_macs for r in reports)
    breakdown = {k: sum(r.breakdown[k] for r in reports) for k in BREAKDOWN_CATEGORIES}
    return RunReport(cycles, seconds, sum(r.macs for r in reports), useful,
                     2 * useful / seconds / 1e12, config.peak_tops,
                     useful / (cycles * config.rows * config.cols), breakdown,
                     sum((r.timeline for r in reports), ()),
                     sum(r.weight_tiles for r in reports), sum(r.host_bytes for r in reports),
                     config)


def _toposort(nodes):
    produced = {out: i for i, n in enumerate(nodes) for out in n.output if out}
    order, state = [], [0] * len(nodes)

    def visit(i):
        if state[i] == 2:
            return
        if state[i] == 1:
            raise ValueError(f"node {nodes[i].name!r} ({nodes[i].op_type}): the graph has a "
                             "cycle")
        state[i] = 1
        for name in nodes[i].input:
            if name in produced:
                visit(produced[name])
        state[i] = 2
        order.append(nodes[i])

    for i in range(len(nodes)):
        visit(i)
    return order


def _attrs(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


# ------------------------------------------------------------------------------------------
# Host arithmetic (onnxruntime's formulas, docs/tpu.md "ONNX models")
# ------------------------------------------------------------------------------------------

def _qlinear_add(a, a_s, a_zp, b, b_s, b_zp, c_s, c_zp, dtype) -> np.ndarray:
    """QLinearAdd as MLAS's AVX2 kernel computes it (FMA contractions included)."""
    r_ac, r_bc = _f32(a_s) / _f32(c_s), _f32(b_s) / _f32(c_s)
    f = np.float32(c_zp) - _fma(r_ac, np.float32(a_zp), r_bc * np.float32(b_zp))
    t = _fma(r_bc, _f32(b), f)
    t = _fma(r_ac, _f32(a), t)
    lo, hi = _RANGE[np.dtype(dtype)]
    return np.clip(np.rint(t), lo, hi).astype(dtype)


def _windows(x: np.ndarray, kernel, strides, pads, fill):
    """``(taps, N, C, OH, OW)`` views of the padded NCHW ``x``, taps in row-major order, and a
    matching mask of taps that hit the input (not the padding)."""
    n, c, h, w = x.shape
    kh, kw = kernel
    sh, sw = strides
    top, left, bottom, right = pads
    oh = (h + top + bottom - kh) // sh + 1
    ow = (w + left + right - kw) // sw + 1
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    inside = np.pad(np.ones((h, w), bool), ((top, bottom), (left, right)))
    taps, masks = [], []
    for i in range(kh):
        for j in range(kw):
            taps.append(padded[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw])
            masks.append(inside[i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw])
    return taps, masks


def _qlinear_average_pool(x, x_s, x_zp, y_s, y_zp, kernel, strides, pads, include_pad,
                          dtype) -> np.ndarray:
    """QLinearAveragePool: float32 window sums in row-major tap order, zero point added in
    float before rounding."""
    xf = _f32(x_s) * (x.astype(np.int64) - x_zp).astype(np.float32)
    taps, masks = _windows(xf, kernel, strides, pads, np.float32(0))
    total = None
    for tap, mask in zip(taps, masks, strict=True):
        total = np.where(mask, tap, np.float32(0)) if total is None else \
            np.where(mask, total + tap, total)
    count = np.float32(kernel[0] * kernel[1]) if include_pad else \
        np.sum(masks, axis=0).astype(np.float32)
    avg = total / count
    lo, hi = _RANGE[np.dtype(dtype)]
    return np.clip(np.rint(avg / _f32(y_s) + np.float32(y_zp)), lo, hi).astype(dtype)


def _max_pool(x, kernel, strides, pads) -> np.ndarray:
    lowest = np.iinfo(x.dtype).min if x.dtype.kind in "iu" else -np.inf
    taps, _ = _windows(x, kernel, strides, pads, lowest)
    return np.maximum.reduce(taps)


def _int_conv(x, w, strides, pads, group) -> np.ndarray:
    """Exact integer convolution (NCHW, int64 values) for ConvInteger."""
    f, cg, kh, kw = w.shape
    taps, _ = _windows(x, (kh, kw), strides, pads, 0)
    col = np.stack(taps, axis=2)                  # N, C, taps, OH, OW
    n, c, _, oh, ow = col.shape
    col = col.reshape(n, group, cg * kh * kw, oh, ow)
    wg = w.reshape(group, f // group, cg * kh * kw)
    return np.einsum("ngkhw,gfk->ngfhw", col, wg).reshape(n, f, oh, ow)


def _fma(a, b, c) -> np.ndarray:
    """float32 ``a * b + c`` with one rounding (a fused multiply-add).

    The product is exact in float64; the float64 sum ``s`` and its exact error ``e`` (TwoSum)
    decide the float32 rounding, so a float32 tie of ``s`` is broken by ``e`` as the exact
    value would be.
    """
    p = np.asarray(a, np.float64) * np.asarray(b, np.float64)
    c = np.asarray(c, np.float64)
    s = p + c
    bp = s - p
    e = (p - (s - bp)) + (c - bp)
    r = s.astype(np.float32)
    d = s - r.astype(np.float64)
    toward = np.where(d > 0, np.inf, -np.inf).astype(np.float32)
    other = np.nextafter(r, toward)
    # only when s is exactly halfway between two float32 values can e change the rounding
    # (numpy broke the tie to even): then the exact value's side of s decides
    tie = (d != 0) & (other.astype(np.float64) - s == d)
    upper, lower = np.maximum(r, other), np.minimum(r, other)
    return np.where(tie & (e > 0), upper, np.where(tie & (e < 0), lower, r))


def _sgemm(a, b) -> np.ndarray:
    """MLAS's float32 ``a @ b`` on one thread (``a``: ``(..., M, K)``, ``b``: ``(..., K, N)``).

    K is cut into blocks of StrideK; each block is one FMA chain from 0, the blocks are added
    in float32. StrideK starts at 128 (with StrideN 128): when N >= K it halves while
    ``StrideK / 2 >= K``, else it doubles while StrideN halves, StrideN staying above 16 and
    ``StrideN / 2 >= N``.
    """
    k, n = a.shape[-1], b.shape[-1]
    stride_k, stride_n = 128, 128
    if n >= k:
        while stride_k // 2 >= k:
            stride_k //= 2
    else:
        while stride_n > 16 and stride_n // 2 >= n:
            stride_k *= 2
            stride_n //= 2
    shape = np.broadcast_shapes(a.shape[:-1], b.shape[:-2] + (1,))[:-1] + (a.shape[-2], n)
    out = None
    for k0 in range(0, k, stride_k):
        block = np.zeros(shape, np.float32)
        for kk in range(k0, min(k0 + stride_k, k)):
            block = _fma(a[..., :, kk, None], b[..., None, kk, :], block)
        out = block if out is None else out + block
    return out


def _float_conv(x, w, bias, strides, pads, group) -> np.ndarray:
    """onnxruntime's float32 Conv on x86-64 (MLAS im2col + SGEMM), one image at a time:
    ``C[filters, pixels] = W[filters, K] @ col[K, pixels]``, K in (channel, fh, fw) order,
    then the bias."""
    f, cg, kh, kw = w.shape
    k = cg * kh * kw
    taps, _ = _windows(x, (kh, kw), strides, pads, np.float32(0))
    col = np.stack(taps, axis=2)                   # N, C, taps, OH, OW
    n, c, _, oh, ow = col.shape
    col = col.reshape(n, group, k, oh * ow)
    out = _sgemm(w.reshape(group, f // group, k)[None], col).reshape(n, f, oh, ow)
    if bias is not None:
        out = out + _f32(bias).reshape(1, f, 1, 1)
    return out


def _conv_geometry(node, attrs, kernel) -> tuple:
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise _refuse(node, "auto_pad is not supported (give explicit pads)")
    if len(kernel) != 2:
        raise _refuse(node, f"only 2-D kernels are supported, not {len(kernel)}-D")
    if any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise _refuse(node, "dilation other than 1 is not supported")
    if attrs.get("ceil_mode", 0):
        raise _refuse(node, "ceil_mode=1 is not supported")
    strides = tuple(attrs.get("strides", [1, 1]))
    pads = tuple(attrs.get("pads", [0, 0, 0, 0]))
    # ONNX pads are (top, left, bottom, right)
    return strides, pads


# ------------------------------------------------------------------------------------------
# Lowering: the graph onnxruntime executes, as steps
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Q:
    """Quantization of one tensor: its name, scale and zero point (as arrays)."""

    name: str
    scale: np.ndarray
    zp: np.ndarray

    @property
    def dtype(self):
        return self.zp.dtype


class _Lowering:
    def __init__(self, nodes, consts, graph_outputs, session: OnnxSession):
        self.consts, self.sess, self.graph_outputs = consts, session, graph_outputs
        self.consumers: dict[str, list] = {}
        self.producer = {}
        for node in nodes:
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(node)
            for name in node.output:
                self.producer[name] = node
        self.steps: list[_Step] = []
        groups = {}
        for node in nodes:
            if node.domain in ("", "ai.onnx") and node.op_type in _FUSABLE + _ON_INTEGERS:
                group = self._qdq_group(node)
                if group is not None:
                    groups[id(node)] = group
        fused_ops = {op for op in groups}
        skip = {id(g["q"]) for g in groups.values()}
        for node in nodes:
            if node.op_type == "DequantizeLinear" and node.output[0] not in graph_outputs and \
                    all(id(c) in fused_ops for c in self.consumers.get(node.output[0], [])) \
                    and self.consumers.get(node.output[0]):
                skip.add(id(node))
        for node in nodes:
            if id(node) in skip:
                continue
            if id(node) in groups:
                self._fused(node, groups[id(node)])
            else:
                self._single(node)

    # -- QDQ groups ---------------------------------------------------------------------------

    def _dq(self, name):
        node = self.producer.get(name)
        return node if node is not None and node.op_type == "DequantizeLinear" else None

    def _param(self, node, index, default=None):
        if len(node.input) > index and node.input[index]:
            name = node.input[index]
            if name not in self.consts:
                raise _refuse(node, f"input {name!r} must be a constant")
            return np.asarray(self.consts[name])
        return default

    def _quant_of(self, node, first: int) -> _Q:
        """The tensor at input ``first - 1`` of ``node`` with the scale and zero point at
        inputs ``first`` and ``first + 1``."""
        scale = self._param(node, first)
        zp = self._param(node, first + 1, np.zeros((), np.uint8))
        return _Q(node.input[first - 1], _f32(scale), zp)

    def _edges(self, q_out: str) -> int:
        """Output edges of a QuantizeLinear once every consumer has its own DequantizeLinear."""
        count = int(q_out in self.graph_outputs)
        for consumer in self.consumers.get(q_out, []):
            if consumer.op_type == "DequantizeLinear":
                out = consumer.output[0]
                count += len(self.consumers.get(out, [])) + int(out in self.graph_outputs)
            else:
                count += 1
        return count

    def _unsigned_ok(self, q_out: str, dtype) -> bool:
        """Whether onnxruntime runs this activation tensor as uint8 (it is, or its int8
        Quantize/Dequantize pair is rewritten to uint8 with zero point + 128)."""
        if np.dtype(dtype) == np.uint8:
            return True
        producer = self.producer.get(q_out)
        return producer is not None and producer.op_type == "QuantizeLinear" and \
            self._edges(q_out) == 1

    def _qdq_group(self, node):
        """DQ inputs -> node -> one Q, as onnxruntime fuses it on x86-64; None otherwise."""
        out = node.output[0]
        users = self.consumers.get(out, [])
        if out in self.graph_outputs or len(users) != 1 or users[0].op_type != "QuantizeLinear":
            return None
        q = users[0]
        if node.op_type in _ON_INTEGERS:
            dq = self._dq(node.input[0])
            if dq is None or dq.input[0] in self.consts:
                return None
            same = [np.array_equal(self._param(dq, i, np.zeros((), np.uint8)),
                                   self._param(q, i, np.zeros((), np.uint8)))
                    for i in (1, 2)]
            zp_dq = self._param(dq, 2, np.zeros((), np.uint8))
            zp_q = self._param(q, 2, np.zeros((), np.uint8))
            if not all(same) or zp_dq.dtype != zp_q.dtype:
                return None
            return {"dqs": [dq], "q": q, "shift": None}
        matrix = node.op_type in ("Conv", "MatMul", "Gemm")
        second = self._dq(node.input[1]) if len(node.input) > 1 else None
        dynamic_b = node.op_type == "MatMul" and second is not None and \
            second.input[0] not in self.consts
        acts = node.input[:2] if node.op_type == "Add" or dynamic_b else node.input[:1]
        dqs = []
        for name in acts:
            dq = self._dq(name)
            if dq is None or dq.input[0] in self.consts:
                return None
            dqs.append(dq)
        if matrix:
            wdq = self._dq(node.input[1]) if len(node.input) > 1 else None
            if node.op_type != "MatMul" or len(dqs) == 1:
                if wdq is None or wdq.input[0] not in self.consts:
                    return None
            if len(node.input) > 2 and node.input[2]:
                bdq = self._dq(node.input[2])
                if bdq is None or bdq.input[0] not in self.consts:
                    return None
        zp_q = self._param(q, 2, np.zeros((), np.uint8))
        tensors = [(dq.input[0], self._param(dq, 2, np.zeros((), np.uint8)).dtype)
                   for dq in dqs] + [(q.output[0], zp_q.dtype)]
        if not all(self._unsigned_ok(name, dtype) for name, dtype in tensors):
            return None
        return {"dqs": dqs, "q": q,
                "shift": [np.dtype(dtype) == np.int8 for _, dtype in tensors]}

    def _fused(self, node, group):
        dqs, q = group["dqs"], group["q"]
        xq = [self._quant_of(dq, 1) for dq in dqs]
        yq = _Q(q.output[0], _f32(self._param(q, 1)), self._param(q, 2, np.zeros((), np.uint8)))
        attrs = _attrs(node)
        op = node.op_type
        if op in _ON_INTEGERS:
            self._layout(node, op, attrs, dqs[0].input[0], q.output[0])
        elif op in ("Conv", "Gemm") or op == "MatMul" and len(dqs) == 1:
            wdq = self._dq(node.input[1])
            w = self.consts[wdq.input[0]]
            w_scale = _f32(self._param(wdq, 1))
            w_zp = self._param(wdq, 2, np.zeros((), np.int8))
            bias = None
            if len(node.input) > 2 and node.input[2]:
                bias = self.consts[self._dq(node.input[2]).input[0]]
            self._matrix(node, f"QDQ {op}", "conv" if op == "Conv" else "dense", xq[0], w,
                         w_scale, w_zp, bias, yq, attrs,
                         transpose_b=op == "Gemm" and attrs.get("transB", 0),
                         alpha=attrs.get("alpha", 1.0) if op == "Gemm" else None)
        elif op == "MatMul":
            self._dynamic_matmul(node, "QDQ MatMul", xq[0], xq[1], yq)
        elif op == "Add":
            self._add(node, "QDQ Add", xq[0], xq[1], yq, group["shift"])
        elif op == "GlobalAveragePool":
            self._global_pool(node, "QDQ GlobalAveragePool", xq[0], yq)
        else:
            self._average_pool(node, "QDQ AveragePool", xq[0], yq, attrs, group["shift"])

    # -- steps ----------------------------------------------------------------------------------

    def _host(self, node, op, inputs, outputs, compute):
        sess = self.sess

        def fn(env):
            args = [env[name] if name else None for name in inputs]
            results = compute(*args)
            moved = [a for name, a in zip(inputs, args, strict=True)
                     if name and name not in self.consts]
            # a step on constants only (a weight's DequantizeLinear) is done once, at load
            return results, sess._host_cycles(moved + list(results)) if moved else 0, 0, None

        self.steps.append(_Step(node.name, op, "host", inputs, outputs, fn))

    def _matrix(self, node, op, kind, xq: _Q, w, w_scale, w_zp, bias, yq: _Q, attrs, *,
                transpose_b=False, alpha=None):
        """A Conv/MatMul/Gemm with constant int8 weights, on the TPU."""
        sess = self.sess
        w = np.asarray(w)
        if w.dtype != np.int8:
            raise _refuse(node, f"weights must be int8, not {w.dtype.name}")
        if np.dtype(xq.dtype) not in _RANGE or np.dtype(yq.dtype) not in _RANGE:
            raise _refuse(node, "activations must be uint8 or int8")
        x_zp = int(xq.zp)
        if kind == "conv":
            f = w.shape[0]
            weight = w.astype(np.int64) - _per_axis(w_zp, w.ndim, 0).astype(np.int64)
        else:
            if w.ndim != 2:
                raise _refuse(node, f"weights must be 2-D, not {w.ndim}-D")
            if transpose_b:
                w = w.T
                w_zp = np.asarray(w_zp)
            weight = w.astype(np.int64) - _per_axis(w_zp, 2, 1).astype(np.int64)
            f = weight.shape[1]
        if weight.min() < -128 or weight.max() > 127:
            raise _refuse(node, "weights minus their zero point do not fit in int8")
        w_scale = np.broadcast_to(w_scale, (f,)).astype(np.float32)
        if alpha is None:
            scale = (xq.scale * w_scale) / yq.scale
        else:
            scale = ((np.float32(alpha) * xq.scale) * w_scale) / yq.scale
        bias = np.zeros(f, np.int64) if bias is None else np.asarray(bias).astype(np.int64)
        unsigned_out = np.dtype(yq.dtype) == np.uint8
        # a uint8 output with zero point z is the int8 output with zero point z - 128, its
        # top bit flipped
        requant = Requant(zero_point=int(yq.zp) - 128 * unsigned_out, out_signed=True)
        signed_in = np.dtype(xq.dtype) == np.int8

        def finish(values):
            return (values + 128 * unsigned_out).astype(yq.dtype)

        if kind == "dense":
            folded = bias - x_zp * weight.sum(axis=0)
            layer = Dense(weight, _wrap32(folded), requant, scale=scale.astype(np.float32))
            k = weight.shape[0]

            def fn(env):
                x = env[xq.name]
                if x.shape[-1] != k:
                    raise ValueError(f"node {node.name!r} ({node.op_type}): input has "
                                     f"{x.shape[-1]} features, the weights {k}")
                out, report = sess._run_layer(node, layer, x.reshape(-1, k), signed_in, k * f)
                y = finish(out).reshape(x.shape[:-1] + (f,))
                return [y], report.cycles, report.useful_macs, report
        else:
            strides, pads = _conv_geometry(node, attrs, w.shape[2:])
            if strides[0] != strides[1]:
                raise _refuse(node, f"strides {strides} differ; the TPU's Convolve has one")
            group = attrs.get("group", 1)
            cg, kh, kw = weight.shape[1:]
            c = cg * group
            fg = f // group
            full = np.zeros((kh, kw, c, f), np.int64)
            for gi in range(group):
                full[:, :, gi * cg:(gi + 1) * cg, gi * fg:(gi + 1) * fg] = \
                    weight[gi * fg:(gi + 1) * fg].transpose(2, 3, 1, 0)
            folded = bias - x_zp * full.sum(axis=(0, 1, 2))
            layer = Conv2D(full, _wrap32(folded), stride=strides[0], padding=0,
                           requant=requant, scale=scale.astype(np.float32))
            top, left, bottom, right = pads

            def fn(env):
                x = env[xq.name]
                if x.ndim != 4 or x.shape[1] != c:
                    raise ValueError(f"node {node.name!r} ({node.op_type}): input shape "
                                     f"{x.shape} does not match {c} input channels")
                # padding is the input's zero point (a real 0), written by the host
                padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)),
                                constant_values=x_zp).transpose(0, 2, 3, 1)
                oh = (padded.shape[1] - kh) // strides[0] + 1
                ow = (padded.shape[2] - kw) // strides[1] + 1
                out, report = sess._run_layer(node, layer, padded, signed_in,
                                              oh * ow * kh * kw * cg * f)
                y = finish(out).reshape(x.shape[0], oh, ow, f).transpose(0, 3, 1, 2)
                return [np.ascontiguousarray(y)], report.cycles, report.useful_macs, report

        self.steps.append(_Step(node.name, op, "tpu", [xq.name], [yq.name], fn))

    def _dynamic_matmul(self, node, op, aq: _Q, bq: _Q, yq: _Q):
        """Both operands computed at run time: exact integers and the float32 requantization
        on the host (the TPU's weights come from its Weight Memory)."""
        scale = (aq.scale * bq.scale) / yq.scale

        def compute(a, b):
            acc = np.matmul(a.astype(np.int64) - aq.zp.astype(np.int64),
                            b.astype(np.int64) - bq.zp.astype(np.int64))
            return [_requant_out(_wrap32(acc), scale, int(yq.zp), yq.dtype)]

        self._host(node, op, [aq.name, bq.name], [yq.name], compute)

    def _add(self, node, op, aq: _Q, bq: _Q, cq: _Q, shift):
        # onnxruntime's int8 -> uint8 rewrite moves values and zero points by 128 (QDQ only)
        sa, sb, sc = (128 * int(s) for s in shift) if shift else (0, 0, 0)
        out_dtype = np.uint8 if sc else cq.dtype

        def compute(a, b):
            c = _qlinear_add(a.astype(np.int64) + sa, aq.scale, int(aq.zp) + sa,
                             b.astype(np.int64) + sb, bq.scale, int(bq.zp) + sb,
                             cq.scale, int(cq.zp) + sc, out_dtype)
            return [(c.astype(np.int64) - sc).astype(cq.dtype)]

        self._host(node, op, [aq.name, bq.name], [cq.name], compute)

    def _global_pool(self, node, op, xq: _Q, yq: _Q):
        def compute(x):
            if x.ndim != 4:
                raise ValueError(f"node {node.name!r} ({node.op_type}): input must be NCHW")
            count = x.shape[2] * x.shape[3]
            acc = x.astype(np.int64).sum(axis=(2, 3), keepdims=True) - int(xq.zp) * count
            scale = xq.scale / (yq.scale * np.float32(count))
            return [_requant_out(acc, scale, int(yq.zp), yq.dtype)]

        self._host(node, op, [xq.name], [yq.name], compute)

    def _average_pool(self, node, op, xq: _Q, yq: _Q, attrs, shift):
        kernel = tuple(attrs["kernel_shape"])
        strides, pads = _conv_geometry(node, attrs, kernel)
        if attrs.get("channels_last", 0):
            raise _refuse(node, "channels_last=1 is not supported")
        sx, sy = (128 * int(s) for s in shift) if shift else (0, 0)
        out_dtype = np.uint8 if sy else yq.dtype

        def compute(x):
            y = _qlinear_average_pool(x.astype(np.int64) + sx, xq.scale, int(xq.zp) + sx,
                                      yq.scale, int(yq.zp) + sy, kernel, strides, pads,
                                      attrs.get("count_include_pad", 0), out_dtype)
            return [(y.astype(np.int64) - sy).astype(yq.dtype)]

        self._host(node, op, [xq.name], [yq.name], compute)

    def _single(self, node):
        op, attrs = node.op_type, _attrs(node)
        ms = node.domain == _MS
        if node.domain not in ("", "ai.onnx", _MS):
            raise _refuse(node, f"domain {node.domain!r} is not supported")
        if op == "QuantizeLinear" and not ms:
            scale, zp = _f32(self._param(node, 1)), self._param(node, 2, np.zeros((), np.uint8))
            axis = attrs.get("axis", 1)
            self._host(node, op, node.input[:1], node.output[:1],
                       lambda x: [_quantize(x, scale, zp, zp.dtype, axis)])
        elif op == "DequantizeLinear" and not ms:
            scale, zp = _f32(self._param(node, 1)), self._param(node, 2, np.zeros((), np.uint8))
            axis = attrs.get("axis", 1)
            self._host(node, op, node.input[:1], node.output[:1],
                       lambda q: [_dequantize(q, scale, zp, axis)])
        elif op == "QLinearConv" and not ms:
            bias = self._param(node, 8)
            self._matrix(node, op, "conv", self._quant_of(node, 1), self._param(node, 3),
                         self._param(node, 4), self._param(node, 5), bias,
                         _Q(node.output[0], _f32(self._param(node, 6)),
                            self._param(node, 7)), attrs)
        elif op == "QLinearMatMul" and not ms:
            yq = _Q(node.output[0], _f32(self._param(node, 6)), self._param(node, 7))
            if node.input[3] in self.consts:
                self._matrix(node, op, "dense", self._quant_of(node, 1), self._param(node, 3),
                             self._param(node, 4), self._param(node, 5), None, yq, attrs)
            else:
                self._dynamic_matmul(node, op, self._quant_of(node, 1), self._quant_of(node, 4),
                                     yq)
        elif op == "QGemm" and ms:
            if len(node.input) < 8 or not node.input[7]:
                raise _refuse(node, "a float output (no y_scale) is not supported")
            if attrs.get("transA", 0):
                raise _refuse(node, "transA=1 is not supported")
            if node.input[3] not in self.consts:
                raise _refuse(node, "B must be a constant")
            yq = _Q(node.output[0], _f32(self._param(node, 7)),
                    self._param(node, 8, np.zeros((), np.uint8)))
            self._matrix(node, op, "dense", self._quant_of(node, 1), self._param(node, 3),
                         self._param(node, 4), self._param(node, 5), self._param(node, 6),
                         yq, attrs, transpose_b=attrs.get("transB", 0),
                         alpha=attrs.get("alpha", 1.0))
        elif op == "QLinearAdd" and ms:
            yq = _Q(node.output[0], _f32(self._param(node, 6)),
                    self._param(node, 7, np.zeros((), np.uint8)))
            self._add(node, op, self._quant_of(node, 1), self._quant_of(node, 4), yq, None)
        elif op == "QLinearGlobalAveragePool" and ms:
            if attrs.get("channels_last", 0):
                raise _refuse(node, "channels_last=1 is not supported")
            self._global_pool(node, op, self._quant_of(node, 1),
                              _Q(node.output[0], _f32(self._param(node, 3)),
                                 self._param(node, 4, np.zeros((), np.uint8))))
        elif op == "QLinearAveragePool" and ms:
            self._average_pool(node, op, self._quant_of(node, 1),
                               _Q(node.output[0], _f32(self._param(node, 3)),
                                  self._param(node, 4, np.zeros((), np.uint8))), attrs, None)
        elif op == "QLinearConcat" and ms:
            yq_scale, yq_zp = _f32(self._param(node, 0)), self._param(node, 1)
            triples = [(node.input[i], _f32(self._param(node, i + 1)), self._param(node, i + 2))
                       for i in range(2, len(node.input), 3)]
            axis = attrs["axis"]

            def concat(*xs):
                parts = [_quantize(_dequantize(x, s, z), yq_scale, yq_zp, yq_zp.dtype)
                         for x, (_, s, z) in zip(xs, triples, strict=True)]
                return [np.concatenate(parts, axis=axis)]

            self._host(node, op, [t[0] for t in triples], node.output[:1], concat)
        elif op == "MatMulInteger" and not ms:
            a_zp = self._param(node, 2, np.zeros((), np.uint8)).astype(np.int64)
            b_zp = self._param(node, 3, np.zeros((), np.uint8)).astype(np.int64)
            self._host(node, op, node.input[:2], node.output[:1], lambda a, b: [_wrap32(
                np.matmul(a.astype(np.int64) - a_zp, b.astype(np.int64) - b_zp)
            ).astype(np.int32)])
        elif op == "ConvInteger" and not ms:
            x_zp = int(self._param(node, 2, np.zeros((), np.uint8)))
            w_zp = self._param(node, 3, np.zeros((), np.uint8)).astype(np.int64)
            w = self._param(node, 1)
            if w is None:
                raise _refuse(node, "the weights must be a constant")
            strides, pads = _conv_geometry(node, attrs, w.shape[2:])
            weight = w.astype(np.int64) - _per_axis(w_zp, 4, 0)

            def conv_integer(x, _w):
                # padding after subtracting the zero point: a real 0
                return [_wrap32(_int_conv(x.astype(np.int64) - x_zp, weight, strides, pads,
                                          attrs.get("group", 1))).astype(np.int32)]

            self._host(node, op, node.input[:2], node.output[:1], conv_integer)
        elif op == "Add" and not ms:
            self._host(node, op, node.input[:2], node.output[:1],
                       lambda a, b: [np.add(a, b)])
        elif op in _LAYOUT_OPS and not ms:
            self._layout(node, op, attrs)
        elif op == "Conv" and not ms:
            strides, pads = _conv_geometry(node, attrs, attrs.get("kernel_shape", [0, 0]))
            group = attrs.get("group", 1)
            self._host(node, "Conv (float32)", list(node.input[:3]), node.output[:1],
                       lambda x, w, b=None: [_float_conv(_f32(x), _f32(w), b, strides, pads,
                                                         group)])
        elif op == "MatMul" and not ms:
            def matmul(a, b):
                a, b = _f32(a), _f32(b)
                if b.ndim == 2 and a.ndim > 2:   # onnxruntime multiplies as one (rows, K) matrix
                    return [_sgemm(a.reshape(-1, a.shape[-1]), b).reshape(
                        a.shape[:-1] + b.shape[-1:])]
                return [_sgemm(a, b)]

            self._host(node, "MatMul (float32)", list(node.input[:2]), node.output[:1], matmul)
        elif op in ("Gemm", "AveragePool", "GlobalAveragePool") and not ms:
            raise _refuse(node, "runs in float32 in onnxruntime (its quantized inputs or "
                                "output are not fused into an integer operator); float "
                                "operators are not supported")
        else:
            raise _refuse(node, "operator not supported")

    def _layout(self, node, op, attrs, source=None, target=None):
        """A re-layout op (or MaxPool, Relu, Clip) from ``source`` to ``target`` (default:
        the node's own first input and output)."""
        if op == "MaxPool":
            if len(node.output) > 1 and node.output[1]:
                raise _refuse(node, "the Indices output is not supported")
            kernel = tuple(attrs["kernel_shape"])
            strides, pads = _conv_geometry(node, attrs, kernel)
            fn = lambda x: [_max_pool(x, kernel, strides, pads)]  # noqa: E731
        elif op == "Flatten":
            axis = attrs.get("axis", 1)
            fn = lambda x: [x.reshape(int(np.prod(x.shape[:axis])), -1)]  # noqa: E731
        elif op == "Reshape":
            shape = self._param(node, 1)
            if attrs.get("allowzero", 0):
                raise _refuse(node, "allowzero=1 is not supported")

            def fn(x):
                dims = [x.shape[i] if d == 0 else int(d) for i, d in enumerate(shape)]
                return [x.reshape(dims)]
        elif op == "Transpose":
            perm = attrs.get("perm")
            fn = lambda x: [np.ascontiguousarray(np.transpose(x, perm))]  # noqa: E731
        elif op in ("Squeeze", "Unsqueeze"):
            axes = attrs.get("axes")
            axes = tuple(int(a) for a in (self._param(node, 1) if axes is None else axes))
            if op == "Squeeze":
                fn = lambda x: [np.squeeze(x, axis=axes)]  # noqa: E731
            else:
                fn = lambda x: [np.expand_dims(x, axes)]  # noqa: E731
        elif op == "Identity":
            fn = lambda x: [x]  # noqa: E731
        elif op == "Relu":
            fn = lambda x: [np.maximum(x, x.dtype.type(0))]  # noqa: E731
        elif op == "Clip":
            low, high = attrs.get("min"), attrs.get("max")
            low = self._param(node, 1, low)
            high = self._param(node, 2, high)

            def fn(x):
                y = x if low is None else np.maximum(x, np.asarray(low, x.dtype))
                return [y if high is None else np.minimum(y, np.asarray(high, x.dtype))]
        else:   # Concat
            axis = attrs["axis"]
            self._host(node, op, list(node.input), node.output[:1],
                       lambda *xs: [np.concatenate(xs, axis=axis)])
            return
        self._host(node, op, [source or node.input[0]], [target or node.output[0]], fn)


def _wrap32(values) -> np.ndarray:
    """int64 values wrapped to int32's range (two's complement)."""
    return (np.asarray(values, np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)
