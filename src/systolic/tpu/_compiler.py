"""Layers, their plain numpy reference, and the compiler from layers to TPU programs.

Data layout (docs/tpu.md, "Compiler"): a tensor of ``N`` images ``H x W`` with ``C`` channels
lives in the Unified Buffer as one row per pixel and per chunk of ``g = min(R, C_array)``
channels, chunk-major: row ``base + ((chunk * N + n) * Hp + y) * Wp + x`` with ``Hp, Wp`` the
height and width including the zero border the next convolution needs. Dense layers see a
flattened ``(H, W, C)`` input. Convolutions are im2col by addressing: the im2col matrix's
columns for one kernel tap ``(fh, fw)`` and channel chunk are a strided read of the input rows
(Convolve), so a layer is ``FH * FW * ceil(C/g)`` weight tiles per output chunk, accumulated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._checks import check_bool, check_choice, check_int, check_int_array, is_int
from .._engine import exact_product, wrap
from ._config import TPUConfig
from ._isa import Instruction, Program
from ._machine import TPU, RunReport
from ._quant import FUNCTIONS, POOLS, Requant, activate, pool

__all__ = ["CompiledNetwork", "Conv2D", "Dense", "Network", "Pool2D", "compile_network"]


def _int_array(name: str, value, ndim: int, low: int, high: int) -> np.ndarray:
    return check_int_array(name, value, low, high, ndim=ndim).astype(np.int64)


def _check_common(layer, n: int) -> None:
    if layer.scale is not None:
        scale = np.asarray(layer.scale)
        if scale.dtype != np.float32:
            raise TypeError(f"scale must be a float32 array, got dtype {scale.dtype.name}")
        if scale.shape != (n,):
            raise ValueError(f"scale must have shape ({n},), got {scale.shape}")
        if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError("scale values must be positive and finite")
    if not isinstance(layer.requant, Requant):
        raise TypeError(f"requant must be a Requant, not {layer.requant!r}")
    check_choice("activation", layer.activation, FUNCTIONS)


@dataclass(frozen=True, eq=False)
class Dense:
    """Fully connected layer ``y = f(requant(x @ weight + bias))`` on the flattened input.

    Parameters
    ----------
    weight : int8 array ``(K, N)``
    bias : int32 array ``(N,)``, optional
    requant : Requant
    activation : {"identity", "relu", "sigmoid", "tanh"}
    scale : float32 array ``(N,)``, optional
        Per-output float32 scales: the activation unit's float32 mode
        (:func:`systolic.tpu.requantize_float32`) replaces ``requant``'s multiplier and shift.
    """

    weight: np.ndarray
    bias: np.ndarray | None = None
    requant: Requant = field(default_factory=Requant)
    activation: str = "identity"
    scale: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "weight", _int_array("weight", self.weight, 2, -128, 127))
        n = self.weight.shape[1]
        bias = np.zeros(n, np.int64) if self.bias is None else \
            _int_array("bias", self.bias, 1, -(1 << 31), (1 << 31) - 1)
        if bias.shape != (n,):
            raise ValueError(f"bias must have shape ({n},), got {bias.shape}")
        object.__setattr__(self, "bias", bias)
        _check_common(self, n)


@dataclass(frozen=True, eq=False)
class Conv2D:
    """2-D convolution (NHWC, cross-correlation), then bias, requantization and function.

    Parameters
    ----------
    weight : int8 array ``(FH, FW, C, F)``
    bias : int32 array ``(F,)``, optional
    stride : int
    padding : int
        Zero border added on each side of the input.
    requant, activation, scale : as for :class:`Dense`.
    """

    weight: np.ndarray
    bias: np.ndarray | None = None
    stride: int = 1
    padding: int = 0
    requant: Requant = field(default_factory=Requant)
    activation: str = "identity"
    scale: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "weight", _int_array("weight", self.weight, 4, -128, 127))
        f = self.weight.shape[3]
        bias = np.zeros(f, np.int64) if self.bias is None else \
            _int_array("bias", self.bias, 1, -(1 << 31), (1 << 31) - 1)
        if bias.shape != (f,):
            raise ValueError(f"bias must have shape ({f},), got {bias.shape}")
        object.__setattr__(self, "bias", bias)
        object.__setattr__(self, "stride", check_int("stride", self.stride, 1))
        object.__setattr__(self, "padding", check_int("padding", self.padding, 0))
        _check_common(self, f)


@dataclass(frozen=True)
class Pool2D:
    """Non-overlapping ``size x size`` max or average pooling (stride ``size``), done by the
    activation unit of the convolution before it."""

    kind: str = "max"
    size: int = 2

    def __post_init__(self):
        check_choice("kind", self.kind, POOLS[1:])
        object.__setattr__(self, "size", check_int("size", self.size, 1))


@dataclass(frozen=True)
class _Shape:
    h: int
    w: int
    c: int


@dataclass(frozen=True)
class _Stage:
    """One layer after fusion: a matrix layer with its optional pooling."""

    layer: Dense | Conv2D
    pool: Pool2D | None
    inp: _Shape
    conv_out: _Shape        # before pooling
    out: _Shape             # after pooling


class Network:
    """A sequence of layers on int8 (or uint8) inputs of a given shape.

    Parameters
    ----------
    layers : sequence of Dense, Conv2D, Pool2D
        A Pool2D must follow a Conv2D (it is fused into that layer's activation).
    input_shape : tuple of int
        ``(K,)`` for a dense input or ``(H, W, C)`` for images.
    input_signed : bool
        int8 inputs if true, uint8 otherwise.
    """

    def __init__(self, layers, input_shape, *, input_signed: bool = True):
        layers = list(layers)
        if not layers:
            raise ValueError("a network needs at least one layer")
        self.input_shape, image = _input_shape(input_shape)
        self.input_signed = check_bool("input_signed", input_signed)
        self.layers = layers
        self.stages = self._fuse(layers, image)

    @staticmethod
    def _fuse(layers, shape: _Shape) -> list[_Stage]:
        stages: list[_Stage] = []
        for i, layer in enumerate(layers):
            if isinstance(layer, Pool2D):
                prev = stages[-1] if stages else None
                if prev is None or not isinstance(prev.layer, Conv2D) or prev.pool is not None:
                    raise ValueError(f"layer {i}: Pool2D must directly follow a Conv2D")
                out = prev.conv_out
                if out.h % layer.size or out.w % layer.size:
                    raise ValueError(f"layer {i}: Pool2D size {layer.size} does not divide the "
                                     f"{out.h}x{out.w} output")
                pooled = _Shape(out.h // layer.size, out.w // layer.size, out.c)
                stages[-1] = _Stage(prev.layer, layer, prev.inp, out, pooled)
                shape = pooled
            elif isinstance(layer, Dense):
                k = shape.h * shape.w * shape.c
                if layer.weight.shape[0] != k:
                    raise ValueError(f"layer {i}: Dense weight has {layer.weight.shape[0]} "
                                     f"rows, the input has {k} features")
                out = _Shape(1, 1, layer.weight.shape[1])
                stages.append(_Stage(layer, None, shape, out, out))
                shape = out
            elif isinstance(layer, Conv2D):
                fh, fw, c, f = layer.weight.shape
                if c != shape.c:
                    raise ValueError(f"layer {i}: Conv2D weight has {c} input channels, the "
                                     f"input has {shape.c}")
                oh = (shape.h + 2 * layer.padding - fh) // layer.stride + 1
                ow = (shape.w + 2 * layer.padding - fw) // layer.stride + 1
                if oh < 1 or ow < 1:
                    raise ValueError(f"layer {i}: Conv2D kernel {fh}x{fw} is larger than the "
                                     f"padded {shape.h}x{shape.w} input")
                out = _Shape(oh, ow, f)
                stages.append(_Stage(layer, None, shape, out, out))
                shape = out
            else:
                raise TypeError(f"layer {i}: expected Dense, Conv2D or Pool2D, not {layer!r}")
        return stages

    @property
    def output_features(self) -> int:
        """Features per example of the last layer (flattened)."""
        out = self.stages[-1].out
        return out.h * out.w * out.c

    @property
    def output_signed(self) -> bool:
        """Whether the outputs are int8 (else uint8)."""
        return self.stages[-1].layer.requant.out_signed

    def check_input(self, x) -> np.ndarray:
        """``x`` as int64 ``(N,) + input_shape`` with values in the input range."""
        return _check_input(x, self.input_shape, self.input_signed)

    def macs(self, batch: int) -> int:
        """Multiply-accumulates one forward pass of ``batch`` examples needs."""
        total = 0
        for st in self.stages:
            if isinstance(st.layer, Dense):
                total += batch * st.layer.weight.size
            else:
                fh, fw, c, f = st.layer.weight.shape
                total += batch * st.conv_out.h * st.conv_out.w * fh * fw * c * f
        return total

    def reference(self, x) -> np.ndarray:
        """The same quantized network in plain numpy: int64 ``(N, output_features)``.

        Sums wrap to int32 like the accumulators; everything else is
        :func:`systolic.tpu.activate` and :func:`systolic.tpu.pool`.
        """
        x = self.check_input(x)
        n = x.shape[0]
        act = x.reshape(n, self.stages[0].inp.h, self.stages[0].inp.w, self.stages[0].inp.c)
        for st in self.stages:
            layer = st.layer
            if isinstance(layer, Dense):
                cols, mat = act.reshape(n, -1), layer.weight
            else:
                fh, fw, c, f = layer.weight.shape
                p, s = layer.padding, layer.stride
                padded = np.pad(act, ((0, 0), (p, p), (p, p), (0, 0)))
                oh, ow = st.conv_out.h, st.conv_out.w
                taps = [padded[:, i:i + s * oh:s, j:j + s * ow:s, :]
                        for i in range(fh) for j in range(fw)]
                cols = np.stack(taps, axis=3).reshape(n * oh * ow, fh * fw * c)
                mat = layer.weight.reshape(fh * fw * c, f)
            acc = wrap(exact_product(cols, mat), 32)
            out = activate(acc, layer.bias, layer.requant, layer.activation, layer.scale)
            if isinstance(layer, Conv2D):
                if st.pool is not None:
                    out = pool(out, st.pool.kind, st.pool.size, st.conv_out.w,
                               layer.requant.rounding)
                out = out.reshape(n, st.out.h, st.out.w, st.out.c)
            act = out
        return act.reshape(n, -1)


@dataclass(frozen=True)
class _Layout:
    base: int
    n: int
    h: int
    w: int
    c: int
    pad: int
    g: int

    @property
    def hp(self) -> int:
        return self.h + 2 * self.pad

    @property
    def wp(self) -> int:
        return self.w + 2 * self.pad

    @property
    def chunks(self) -> int:
        return math.ceil(self.c / self.g)

    @property
    def rows(self) -> int:
        return self.chunks * self.n * self.hp * self.wp

    def row(self, chunk: int, n: int, y: int, x: int) -> int:
        """Row of pixel ``(y, x)`` (padded coordinates) of image ``n``, channel chunk."""
        return self.base + ((chunk * self.n + n) * self.hp + y) * self.wp + x

    def pack(self, values: np.ndarray, row_bytes: int) -> np.ndarray:
        """``(N, H, W, C)`` values as the layout's rows of bytes (zero border)."""
        out = np.zeros((self.chunks, self.n, self.hp, self.wp, row_bytes), np.uint8)
        for chunk in range(self.chunks):
            part = values[..., chunk * self.g:(chunk + 1) * self.g].astype(np.uint8)
            out[chunk, :, self.pad:self.pad + self.h, self.pad:self.pad + self.w,
                :part.shape[-1]] = part
        return out.reshape(-1, row_bytes)

    def unpack(self, rows: np.ndarray, signed: bool) -> np.ndarray:
        """The inverse of :meth:`pack`: ``(N, H, W, C)`` int64 values."""
        data = rows.reshape(self.chunks, self.n, self.hp, self.wp, -1)
        data = data[:, :, self.pad:self.pad + self.h, self.pad:self.pad + self.w, :self.g]
        data = data.view(np.int8) if signed else data
        values = np.concatenate(list(data), axis=-1)[..., :self.c]
        return values.astype(np.int64)


@dataclass
class CompiledNetwork:
    """A network compiled for one batch size and machine.

    Attributes
    ----------
    program : Program
        Inspect it with ``program.text``.
    config : TPUConfig
    batch : int
    useful_macs : int
    """

    network: Network
    config: TPUConfig
    batch: int
    program: Program
    useful_macs: int
    tiles: list                  # (weight address, R x C int8 tile)
    host_input: int
    host_output: int
    in_layout: _Layout
    out_layout: _Layout
    host_blocks: list            # (host address, rows) written before the run

    def run(self, x, *, engine: str = "fast") -> tuple[np.ndarray, RunReport]:
        """Run a batch on a fresh :class:`TPU`.

        Returns
        -------
        outputs : ndarray, int64 ``(batch, output_features)``
        report : RunReport
        """
        x = self.network.check_input(x)
        if x.shape[0] != self.batch:
            raise ValueError(f"x has {x.shape[0]} examples, the program was compiled for "
                             f"batch {self.batch}")
        tpu = _loaded_tpu(self.config, self.tiles, self.host_blocks)
        inp = self.in_layout
        tpu.host.write(self.host_input,
                       inp.pack(x.reshape(self.batch, inp.h, inp.w, inp.c), self.config.row_bytes))
        report = tpu.run(self.program, engine=engine, useful_macs=self.useful_macs)
        out = self.out_layout
        raw = tpu.host.read(self.host_output, out.rows * self.config.row_bytes)
        values = out.unpack(raw.reshape(out.rows, -1), self.network.output_signed)
        return values.reshape(self.batch, -1), report


def _input_shape(input_shape) -> tuple[tuple[int, ...], _Shape]:
    """A network's ``input_shape`` checked, and as an image (a dense input is 1 x 1 x K)."""
    message = f"input_shape must be (K,) or (H, W, C) of positive ints, not {input_shape!r}"
    if not isinstance(input_shape, (tuple, list)) or not all(is_int(d) for d in input_shape):
        raise TypeError(message)
    shape = tuple(int(d) for d in input_shape)
    image = (1, 1) + shape if len(shape) == 1 else shape
    if len(image) != 3 or any(d < 1 for d in image):
        raise ValueError(message)
    return shape, _Shape(*image)


def _check_input(x, input_shape: tuple, signed: bool) -> np.ndarray:
    """``x`` as int64 ``(N,) + input_shape`` with values in the int8 or uint8 range."""
    low, high = (-128, 127) if signed else (0, 255)
    array = _int_array("x", x, len(input_shape) + 1, low, high)
    if array.shape[1:] != input_shape:
        raise ValueError(f"x must have shape (N,) + {input_shape}, got {array.shape}")
    return array


def _loaded_tpu(config: TPUConfig, tiles, host_blocks) -> TPU:
    """A fresh TPU with a compiled program's weight tiles and host data in place."""
    tpu = TPU(config)
    for addr, tile in tiles:
        tpu.weight_memory.write(addr, tile.astype(np.int8))
    for addr, rows in host_blocks:
        tpu.host.write(addr, rows)
    return tpu


class _Emitter:
    def __init__(self, config: TPUConfig):
        self.cfg = config
        self.g = min(config.rows, config.cols)
        self.main: list[Instruction] = []
        self.pending: list[Instruction] = []
        self.tile_order: list[int] = []      # weight address per switch, in use order
        self.tiles: list = []
        self.half = 0

    def emit(self, mnemonic: str, *operands, flags=()) -> None:
        self.main.append(Instruction(mnemonic, tuple(int(o) for o in operands), tuple(flags)))

    def defer(self, mnemonic: str, *operands, flags=()) -> None:
        self.pending.append(Instruction(mnemonic, tuple(int(o) for o in operands),
                                        tuple(flags)))

    def flush(self) -> None:
        self.main.extend(self.pending)
        self.pending = []

    def tile(self, block: np.ndarray) -> int:
        """Store a weight tile (zero padded to R x C); returns its Weight Memory address."""
        cfg = self.cfg
        tile = np.zeros((cfg.rows, cfg.cols), np.int64)
        tile[:block.shape[0], :block.shape[1]] = block
        for pe in cfg.bypass:           # fault-aware pruning (systolic.tpu.prune_network)
            tile[pe] = 0
        addr = len(self.tiles) * cfg.tile_bytes
        self.tiles.append((addr, tile))
        return addr

    def multiply(self, addr: int, ub: int, acc: int, rows: int, stride: int, *, switch: bool,
                 accumulate: bool, unsigned: bool) -> None:
        """Emit a MatrixMultiply (a Convolve when strided) of ``rows`` vectors with tile
        ``addr``."""
        flags = (("acc",) if accumulate else ()) + (("switch",) if switch else ()) + \
            (("xu",) if unsigned else ())
        if switch:
            self.tile_order.append(addr)
        if stride == 1:
            self.emit("MatrixMultiply", ub, acc, rows, flags=flags)
        else:
            self.emit("Convolve", ub, acc, rows, stride, flags=flags)

    def matmul(self, addr: int, ub: int, acc: int, rows: int, stride: int, *, switch: bool,
               accumulate: bool, unsigned: bool) -> None:
        self.multiply(addr, ub, acc, rows, stride, switch=switch, accumulate=accumulate,
                      unsigned=unsigned)
        # the previous block's activation goes after this block's first product, so the
        # activation unit works while the array streams
        self.flush()

    def acc_block(self) -> int:
        base = self.half * (self.cfg.acc_rows // 2)
        self.half ^= 1
        return base


def _quant_instruction(req: Requant, float_mode: bool = False) -> tuple:
    flags = (("uint8",) if not req.out_signed else ()) + \
        (("f32",) if float_mode else (req.rounding,) if req.rounding != "half_even" else ())
    return ("SetQuant", req.multiplier, req.shift, req.zero_point, req.frac_bits), flags


def compile_network(network: Network, batch: int, config: TPUConfig | None = None
                    ) -> CompiledNetwork:
    """Compile ``network`` for ``batch`` examples on the machine ``config``.

    Weights that land on a bypassed PE of ``config.bypass`` are written as 0 (fault-aware
    pruning): the program computes :func:`systolic.tpu.prune_network` of ``network``.

    Raises
    ------
    ValueError
        A bad batch size, or the activations do not fit the Unified Buffer.
    """
    cfg = TPUConfig() if config is None else config
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, not {network!r}")
    if not isinstance(cfg, TPUConfig):
        raise TypeError(f"config must be a TPUConfig, not {cfg!r}")
    batch = check_int("batch", batch, 1)
    em = _Emitter(cfg)
    bias_rows = _pack_biases(network, cfg, em.g)
    layouts, bias_base = _plan_ub_layout(network, batch, cfg, em.g,
                                         sum(len(planes) for planes in bias_rows))
    _emit_layers(em, network, batch, layouts, bias_base)
    head, tail, host_input, host_output, host_blocks = _emit_head_tail(
        em, cfg, layouts[0], layouts[-1], bias_base, bias_rows)
    program = Program.from_instructions(head + em.main + tail)
    return CompiledNetwork(network, cfg, batch, program, network.macs(batch), em.tiles,
                           host_input, host_output, layouts[0], layouts[-1], host_blocks)


def _bias_block(layer) -> tuple[int, tuple[str, ...]]:
    """Unified Buffer rows of one chunk's bias block, and the flags of its ``SetBias``.

    A block is the 4 byte planes of the int32 bias, then, in the activation unit's float32
    mode, the 4 byte planes of the float32 scales.
    """
    return (8, ("scale",)) if layer.scale is not None else (4, ())


def _pack_biases(network: Network, cfg: TPUConfig, g: int) -> list[np.ndarray]:
    """Every layer's bias block (see :func:`_bias_block`), one per chunk of ``g`` features."""
    return [planes for st in network.stages
            for planes in _bias_planes(st.layer.bias, st.layer.scale, cfg, g)]


def _bias_planes(bias: np.ndarray, scale, cfg: TPUConfig, g: int) -> list[np.ndarray]:
    """One bias block per chunk of ``g`` features (see :func:`_bias_block`)."""
    blocks = []
    for chunk in range(math.ceil(bias.shape[0] / g)):
        # 4 byte planes of the int32 bias, then (float32 mode) 4 of the float32 scale
        words = [bias[chunk * g:(chunk + 1) * g].astype(np.int32)]
        if scale is not None:
            words.append(scale[chunk * g:(chunk + 1) * g])
        planes = np.zeros((4 * len(words), cfg.row_bytes), np.uint8)
        for i, word in enumerate(words):
            planes[4 * i:4 * i + 4, :word.size] = word.view(np.uint8).reshape(-1, 4).T
        blocks.append(planes)
    return blocks


def _plan_ub_layout(network: Network, batch: int, cfg: TPUConfig, g: int, bias_count: int
                    ) -> tuple[list[_Layout], int]:
    """Unified Buffer rows: the input, then the biases, then every layer's output.

    Returns the activation layouts (input first) and the first bias row.
    """
    stages = network.stages
    pads = [st.layer.padding if isinstance(st.layer, Conv2D) else 0 for st in stages] + [0]
    first = stages[0].inp
    layouts = [_Layout(0, batch, first.h, first.w, first.c, pads[0], g)]
    bias_base = layouts[0].rows
    base = bias_base + bias_count
    for i, st in enumerate(stages):
        layout = _Layout(base, batch, st.out.h, st.out.w, st.out.c, pads[i + 1], g)
        layouts.append(layout)
        base += layout.rows
    if base > cfg.ub_rows:
        raise ValueError(f"batch {batch} needs {base} Unified Buffer rows, the machine has "
                         f"{cfg.ub_rows}")
    return layouts, bias_base


def _emit_layers(em: _Emitter, network: Network, batch: int, layouts: list[_Layout],
                 bias_base: int) -> None:
    """The main part of the program: every layer's multiplies and activations, in order."""
    signed = network.input_signed
    bias_at = bias_base
    for i, st in enumerate(network.stages):
        layer = st.layer
        (name, *ops), flags = _quant_instruction(layer.requant, layer.scale is not None)
        em.defer(name, *ops, flags=flags)
        emit = _emit_dense if isinstance(layer, Dense) else _emit_conv
        emit(em, st, layouts[i], layouts[i + 1], batch, bias_at, signed)
        bias_at += _bias_block(layer)[0] * math.ceil(layer.bias.shape[0] / em.g)
        em.flush()
        signed = layer.requant.out_signed


def _emit_dense(em: _Emitter, st, src: _Layout, dst: _Layout, batch: int, bias_at: int,
                signed: bool) -> None:
    """A dense layer: blocks of up to half the accumulators' rows of examples, each output
    chunk summed over every input position and chunk."""
    layer, g = st.layer, em.g
    function = () if layer.activation == "identity" else (layer.activation,)
    f = layer.bias.shape[0]
    per_block = em.cfg.acc_rows // 2
    weight = layer.weight.reshape(src.h, src.w, src.c, f)
    for m0 in range(0, batch, per_block):
        rows = min(per_block, batch - m0)
        for oc in range(math.ceil(f / g)):
            acc = em.acc_block()
            first_tile = True
            for y in range(src.h):
                for x in range(src.w):
                    for ic in range(src.chunks):
                        block = weight[y, x, ic * g:(ic + 1) * g, oc * g:(oc + 1) * g]
                        em.matmul(em.tile(block), src.row(ic, m0, y + src.pad, x + src.pad),
                                  acc, rows, src.hp * src.wp, switch=True,
                                  accumulate=not first_tile, unsigned=not signed)
                        first_tile = False
            step, bias_flags = _bias_block(layer)
            em.defer("SetBias", bias_at + step * oc, flags=bias_flags)
            em.defer("Activate", acc, dst.row(oc, m0, 0, 0), rows, flags=function)


def _emit_conv(em: _Emitter, st, src: _Layout, dst: _Layout, batch: int, bias_at: int,
               signed: bool) -> None:
    """A convolution: bands of output rows (one pooling window high), each output chunk
    summed over every filter tap and input chunk, one Convolve per output row."""
    layer, g = st.layer, em.g
    function = () if layer.activation == "identity" else (layer.activation,)
    half = em.cfg.acc_rows // 2
    fh, fw, _, _ = layer.weight.shape
    s, out = layer.stride, st.conv_out
    band = st.pool.size if st.pool else 1
    if out.w * band > half:
        raise ValueError(f"a {band}-row band of the {out.w}-wide output does not fit "
                         f"half the accumulators ({half} rows)")
    if st.pool:
        em.defer("SetPool", band, out.w, flags=(st.pool.kind,))
    bands = [(n, y) for n in range(batch) for y in range(0, out.h, band)]
    per_block = half // (out.w * band)
    for b0 in range(0, len(bands), per_block):
        block = bands[b0:b0 + per_block]
        out_rows = [(n, y0 + dy) for n, y0 in block for dy in range(band)]
        for oc in range(math.ceil(layer.bias.shape[0] / g)):
            acc = em.acc_block()
            first_tile = True
            for i_h in range(fh):
                for i_w in range(fw):
                    for ic in range(src.chunks):
                        addr = em.tile(layer.weight[i_h, i_w, ic * g:(ic + 1) * g,
                                                    oc * g:(oc + 1) * g])
                        for j, (n, oy) in enumerate(out_rows):
                            em.matmul(addr, src.row(ic, n, oy * s + i_h, i_w),
                                      acc + j * out.w, out.w, s, switch=j == 0,
                                      accumulate=not first_tile, unsigned=not signed)
                        first_tile = False
            step, bias_flags = _bias_block(layer)
            em.defer("SetBias", bias_at + step * oc, flags=bias_flags)
            for j, (n, y0) in enumerate(block):
                em.defer("Activate", acc + j * band * out.w,
                         dst.row(oc, n, y0 // band + dst.pad, dst.pad),
                         band * out.w,
                         flags=function + (("pool",) if st.pool else ()))


def _emit_head_tail(em: _Emitter, cfg: TPUConfig, in_layout: _Layout, out_layout: _Layout,
                    bias_base: int, bias_rows: list[np.ndarray]):
    """The program's head (weight and host reads) and tail (result write, Halt).

    Returns ``head, tail, host_input, host_output, host_blocks``.
    """
    # Read_Weights for every tile up front, in use order (runs of consecutive tiles merged);
    # the Weight FIFO's depth throttles them.
    head: list[Instruction] = []
    for addr in em.tile_order:
        if head and head[-1].operands[0] + head[-1].operands[1] * cfg.tile_bytes == addr:
            head[-1] = Instruction("Read_Weights", (head[-1].operands[0],
                                                    head[-1].operands[1] + 1))
        else:
            head.append(Instruction("Read_Weights", (addr, 1)))
    row_bytes = cfg.row_bytes
    host_input = 0
    host_bias = in_layout.rows * row_bytes
    bias_count = sum(len(planes) for planes in bias_rows)
    host_output = host_bias + bias_count * row_bytes
    head.append(Instruction("Read_Host_Memory", (host_input, in_layout.base, in_layout.rows)))
    host_blocks = []
    if bias_rows:
        head.append(Instruction("Read_Host_Memory", (host_bias, bias_base, bias_count)))
        host_blocks.append((host_bias, np.concatenate(bias_rows)))
    tail = [Instruction("Write_Host_Memory", (out_layout.base, host_output, out_layout.rows)),
            Instruction("Halt")]
    return head, tail, host_input, host_output, host_blocks
