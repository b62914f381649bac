"""Graphs of layers (DAGs with residual adds, concatenations and branches) and their compiler.

The compiler (docs/tpu.md, "Graphs") schedules the nodes in the order they were added (a
topological order), gives every tensor Unified Buffer rows for as long as it is live (its rows
are freed after its last use), spills tensors to host memory when a new one does not fit, and
overlaps one batch's host transfers with another batch's compute. Every node is a matrix pass
followed by the activation unit: convolutions and dense layers multiply by their weights; adds,
concatenations and pooling that no convolution absorbs multiply by identity (or selection)
tiles, the way TPU v1 moves data through its matrix unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._checks import check_bool, check_choice, check_int, is_int
from .._engine import exact_product, wrap
from ._compiler import (
    Conv2D,
    Dense,
    Network,
    Pool2D,
    _bias_block,
    _bias_planes,
    _check_input,
    _Emitter,
    _input_shape,
    _Layout,
    _loaded_tpu,
    _quant_instruction,
    _Shape,
)
from ._config import TPUConfig
from ._isa import Instruction, Program
from ._machine import RunReport
from ._quant import FUNCTIONS, Requant, activate, pool

__all__ = ["CompiledGraph", "Graph", "compile_graph"]


@dataclass(frozen=True)
class _Node:
    kind: str                  # input, dense, conv, pool, add, concat
    inputs: tuple
    layer: object
    shape: _Shape
    signed: bool
    requant: Requant | None = None
    activation: str = "identity"


class Graph:
    """A network as a directed acyclic graph of layers on one input.

    Every method that adds a node takes the tensors it reads (the integers returned by earlier
    calls, :attr:`input` for the network's input) and returns the new node's tensor, so nodes
    are always added in a topological order. A tensor may feed any number of nodes (branches).

    Parameters
    ----------
    input_shape : tuple of int
        ``(K,)`` for a dense input or ``(H, W, C)`` for images.
    input_signed : bool
        int8 inputs if true, uint8 otherwise.

    Examples
    --------
    A residual block:

    >>> import numpy as np
    >>> from systolic import tpu
    >>> rng = np.random.default_rng(0)
    >>> g = tpu.Graph((4, 4, 8))
    >>> conv = lambda: tpu.Conv2D(rng.integers(-8, 8, (3, 3, 8, 8)), padding=1,
    ...                           requant=tpu.Requant.from_scale(1 / 64))
    >>> y = g.conv(g.conv(g.input, conv()), conv())
    >>> g.output(g.add(g.input, y, activation="relu"))
    >>> g.output_shapes
    [(4, 4, 8)]
    """

    def __init__(self, input_shape, *, input_signed: bool = True):
        self.input_shape, image = _input_shape(input_shape)
        self.input_signed = check_bool("input_signed", input_signed)
        self._nodes = [_Node("input", (), None, image, self.input_signed)]
        self._outputs: list[int] = []

    @classmethod
    def from_network(cls, network: Network) -> Graph:
        """The chain of layers of a :class:`Network` as a graph with one output."""
        if not isinstance(network, Network):
            raise TypeError(f"network must be a Network, not {network!r}")
        graph = cls(network.input_shape, input_signed=network.input_signed)
        t = graph.input
        for layer in network.layers:
            add = {Dense: graph.dense, Conv2D: graph.conv, Pool2D: graph.pool}[type(layer)]
            t = add(t, layer)
        graph.output(t)
        return graph

    @property
    def input(self) -> int:
        """The network's input tensor."""
        return 0

    @property
    def outputs(self) -> list[int]:
        """The output tensors, in the order :meth:`output` named them."""
        return list(self._outputs)

    @property
    def output_shapes(self) -> list[tuple[int, int, int]]:
        """``(H, W, C)`` of every output (``(1, 1, N)`` for dense outputs)."""
        return [(self._nodes[t].shape.h, self._nodes[t].shape.w, self._nodes[t].shape.c)
                for t in self._outputs]

    def _tensor(self, name: str, t) -> _Node:
        if not is_int(t) or isinstance(t, bool):
            raise TypeError(f"{name} must be a tensor of this graph (an int), not {t!r}")
        if not 0 <= int(t) < len(self._nodes):
            raise ValueError(f"{name}={t} is not a tensor of this graph "
                             f"(0..{len(self._nodes) - 1})")
        return self._nodes[int(t)]

    def _add(self, node: _Node) -> int:
        self._nodes.append(node)
        return len(self._nodes) - 1

    def dense(self, x: int, layer: Dense) -> int:
        """A :class:`Dense` layer on the flattened tensor ``x``; returns its output."""
        src = self._tensor("x", x)
        if not isinstance(layer, Dense):
            raise TypeError(f"layer must be a Dense, not {layer!r}")
        k = src.shape.h * src.shape.w * src.shape.c
        if layer.weight.shape[0] != k:
            raise ValueError(f"Dense weight has {layer.weight.shape[0]} rows, tensor {x} has "
                             f"{k} features")
        return self._add(_Node("dense", (int(x),), layer, _Shape(1, 1, layer.weight.shape[1]),
                               layer.requant.out_signed, layer.requant, layer.activation))

    def conv(self, x: int, layer: Conv2D) -> int:
        """A :class:`Conv2D` layer on the image tensor ``x``; returns its output."""
        src = self._tensor("x", x)
        if not isinstance(layer, Conv2D):
            raise TypeError(f"layer must be a Conv2D, not {layer!r}")
        fh, fw, c, f = layer.weight.shape
        if c != src.shape.c:
            raise ValueError(f"Conv2D weight has {c} input channels, tensor {x} has "
                             f"{src.shape.c}")
        oh = (src.shape.h + 2 * layer.padding - fh) // layer.stride + 1
        ow = (src.shape.w + 2 * layer.padding - fw) // layer.stride + 1
        if oh < 1 or ow < 1:
            raise ValueError(f"Conv2D kernel {fh}x{fw} is larger than the padded "
                             f"{src.shape.h}x{src.shape.w} input")
        return self._add(_Node("conv", (int(x),), layer, _Shape(oh, ow, f),
                               layer.requant.out_signed, layer.requant, layer.activation))

    def pool(self, x: int, layer: Pool2D) -> int:
        """:class:`Pool2D` pooling of ``x``; fused into the convolution that produces ``x``
        when nothing else reads that convolution's output."""
        src = self._tensor("x", x)
        if not isinstance(layer, Pool2D):
            raise TypeError(f"layer must be a Pool2D, not {layer!r}")
        if src.shape.h % layer.size or src.shape.w % layer.size:
            raise ValueError(f"Pool2D size {layer.size} does not divide the "
                             f"{src.shape.h}x{src.shape.w} tensor {x}")
        shape = _Shape(src.shape.h // layer.size, src.shape.w // layer.size, src.shape.c)
        return self._add(_Node("pool", (int(x),), layer, shape, src.signed))

    def add(self, a: int, b: int, *, requant: Requant | None = None,
            activation: str = "identity") -> int:
        """Elementwise ``f(requant(a + b))`` of two tensors of the same shape (a residual add).

        Parameters
        ----------
        a, b : int
            Tensors of equal shape; int8 or uint8 each.
        requant : Requant, optional
            Applied to the integer sum (default: none, int8 output).
        activation : {"identity", "relu", "sigmoid", "tanh"}
        """
        na, nb = self._tensor("a", a), self._tensor("b", b)
        requant = Requant() if requant is None else requant
        if not isinstance(requant, Requant):
            raise TypeError(f"requant must be a Requant, not {requant!r}")
        check_choice("activation", activation, FUNCTIONS)
        if na.shape != nb.shape:
            raise ValueError(f"add needs equal shapes, got {_text(na.shape)} and "
                             f"{_text(nb.shape)}")
        return self._add(_Node("add", (int(a), int(b)), None, na.shape, requant.out_signed,
                               requant, activation))

    def concat(self, tensors) -> int:
        """Channel concatenation of image tensors of equal height, width and signedness."""
        if not isinstance(tensors, (list, tuple)) or not tensors:
            raise TypeError(f"tensors must be a non-empty list of tensors, not {tensors!r}")
        nodes = [self._tensor("tensors", t) for t in tensors]
        first = nodes[0]
        for node in nodes[1:]:
            if (node.shape.h, node.shape.w) != (first.shape.h, first.shape.w):
                raise ValueError(f"concat needs equal heights and widths, got "
                                 f"{_text(first.shape)} and {_text(node.shape)}")
            if node.signed != first.signed:
                raise ValueError("concat needs tensors that are all int8 or all uint8")
        shape = _Shape(first.shape.h, first.shape.w, sum(n.shape.c for n in nodes))
        return self._add(_Node("concat", tuple(int(t) for t in tensors), None, shape,
                               first.signed, Requant(out_signed=first.signed)))

    def output(self, *tensors: int) -> None:
        """Mark tensors as outputs of the network (in this order)."""
        for t in tensors:
            self._tensor("output", t)
            if int(t) == 0:
                raise ValueError("the input cannot be an output")
            if int(t) in self._outputs:
                raise ValueError(f"tensor {t} is already an output")
            self._outputs.append(int(t))

    def check_input(self, x) -> np.ndarray:
        """``x`` as int64 ``(N,) + input_shape`` with values in the input range."""
        return _check_input(x, self.input_shape, self.input_signed)

    def macs(self, batch: int) -> int:
        """Multiply-accumulates of the dense and convolution layers for ``batch`` examples."""
        total = 0
        for node in self._nodes:
            if node.kind == "dense":
                total += batch * node.layer.weight.size
            elif node.kind == "conv":
                total += batch * node.shape.h * node.shape.w * node.layer.weight[..., 0].size * \
                    node.shape.c
        return total

    def reference(self, x) -> list[np.ndarray]:
        """The graph in plain numpy: one int64 ``(N, features)`` array per output.

        Sums wrap to int32 like the accumulators; the rest is :func:`systolic.tpu.activate`
        and :func:`systolic.tpu.pool`.
        """
        if not self._outputs:
            raise ValueError("the graph has no outputs (use Graph.output)")
        x = self.check_input(x)
        n = x.shape[0]
        shape = self._nodes[0].shape
        values = {0: x.reshape(n, shape.h, shape.w, shape.c)}
        for t, node in enumerate(self._nodes[1:], 1):
            ins = [values[i] for i in node.inputs]
            out = node.shape
            if node.kind in ("dense", "conv"):
                layer = node.layer
                if node.kind == "dense":
                    cols, mat = ins[0].reshape(n, -1), layer.weight
                else:
                    fh, fw, c, f = layer.weight.shape
                    p, s = layer.padding, layer.stride
                    padded = np.pad(ins[0], ((0, 0), (p, p), (p, p), (0, 0)))
                    taps = [padded[:, i:i + s * out.h:s, j:j + s * out.w:s, :]
                            for i in range(fh) for j in range(fw)]
                    cols = np.stack(taps, axis=3).reshape(n * out.h * out.w, fh * fw * c)
                    mat = layer.weight.reshape(fh * fw * c, f)
                acc = wrap(exact_product(cols, mat), 32)
                res = activate(acc, layer.bias, layer.requant, layer.activation, layer.scale)
            elif node.kind == "add":
                acc = wrap((ins[0] + ins[1]).reshape(-1, out.c), 32)
                res = activate(acc, np.zeros(out.c, np.int64), node.requant, node.activation)
            elif node.kind == "concat":
                res = np.concatenate(ins, axis=-1)
            else:
                src = self._nodes[node.inputs[0]]
                rounding = src.requant.rounding if src.kind == "conv" else "half_even"
                res = pool(ins[0].reshape(-1, out.c), node.layer.kind, node.layer.size,
                           src.shape.w, rounding)
            values[t] = res.reshape(n, out.h, out.w, out.c)
        return [values[t].reshape(n, -1) for t in self._outputs]


def _text(shape: _Shape) -> str:
    return f"{shape.h}x{shape.w}x{shape.c}"


# --------------------------------------------------------------------------------------------
# Passes: what the compiler emits per node
# --------------------------------------------------------------------------------------------

@dataclass
class _Term:
    """One weight tile of a pass: it multiplies channel chunk ``chunk`` of tensor ``src``,
    read at offset ``(dy, dx)`` of its padded layout."""

    src: int
    chunk: int
    dy: int
    dx: int
    tile: object               # int8 block, or ("eye", k) / ("select", rows, cols, shift)


@dataclass
class _Pass:
    kind: str                  # "dense" or "conv" (conv-like: conv, add, concat, copy)
    out: int                   # the tensor it writes
    inputs: tuple
    shape: _Shape              # output, after pooling
    conv_shape: _Shape         # before pooling
    stride: int
    requant: Requant
    activation: str
    bias: np.ndarray
    scale: np.ndarray | None
    pool: Pool2D | None
    terms: list                # per output chunk: list of _Term
    layer: Dense | Conv2D | None = None


def _identity_pass(out: int, src: int, shape: _Shape, requant: Requant, g: int,
                   pool_layer=None, conv_shape=None) -> _Pass:
    terms = [[_Term(src, oc, 0, 0, ("eye", min(g, shape.c - oc * g)))]
             for oc in range(math.ceil(shape.c / g))]
    return _Pass("conv", out, (src,), shape, conv_shape or shape, 1, requant, "identity",
                 np.zeros(shape.c, np.int64), None, pool_layer, terms)


def _conv_terms(layer: Conv2D, src: int, oc: int, g: int) -> list:
    """The weight tiles of output chunk ``oc`` of a convolution: one per filter tap and input
    chunk."""
    fh, fw, c, _ = layer.weight.shape
    shift = -layer.padding
    return [_Term(src, ic, i_h + shift, i_w + shift,
                  layer.weight[i_h, i_w, ic * g:(ic + 1) * g, oc * g:(oc + 1) * g])
            for i_h in range(fh) for i_w in range(fw) for ic in range(math.ceil(c / g))]


def _passes(graph: Graph, g: int) -> list[_Pass]:
    """The nodes as matrix passes, a pooling fused into the convolution before it where
    nothing else reads that convolution."""
    nodes = graph._nodes
    readers: dict[int, list[int]] = {}
    for t, node in enumerate(nodes):
        for i in node.inputs:
            readers.setdefault(i, []).append(t)
    fused: dict[int, int] = {}          # conv tensor -> the pool node that absorbs it
    for t, node in enumerate(nodes):
        src = node.inputs[0] if node.inputs else None
        if node.kind == "pool" and nodes[src].kind == "conv" and readers[src] == [t] \
                and src not in graph._outputs:
            fused[src] = t
    passes = []
    for t, node in enumerate(nodes):
        if node.kind == "input" or (node.kind == "pool" and node.inputs[0] in fused):
            continue
        if node.kind in ("dense", "conv"):
            layer = node.layer
            pool_node = fused.get(t)
            out = t if pool_node is None else pool_node
            shape = node.shape if pool_node is None else nodes[pool_node].shape
            chunks = range(math.ceil(node.shape.c / g))
            terms = [_conv_terms(layer, node.inputs[0], oc, g) if node.kind == "conv" else []
                     for oc in chunks]
            passes.append(_Pass(node.kind, out, node.inputs, shape, node.shape,
                                layer.stride if node.kind == "conv" else 1, layer.requant,
                                layer.activation, layer.bias, layer.scale,
                                None if pool_node is None else nodes[pool_node].layer,
                                terms, layer))
        elif node.kind == "pool":
            src = nodes[node.inputs[0]]
            rounding = src.requant.rounding if src.kind == "conv" else "half_even"
            passes.append(_identity_pass(t, node.inputs[0], node.shape,
                                         Requant(out_signed=src.signed, rounding=rounding), g,
                                         node.layer, src.shape))
        elif node.kind == "add":
            p = _identity_pass(t, node.inputs[0], node.shape, node.requant, g)
            p.inputs, p.activation = node.inputs, node.activation
            for oc, terms in enumerate(p.terms):
                terms.append(_Term(node.inputs[1], oc, 0, 0, terms[0].tile))
            passes.append(p)
        else:   # concat: selection tiles from every input chunk that overlaps an output chunk
            p = _identity_pass(t, node.inputs[0], node.shape, node.requant, g)
            p.inputs = node.inputs
            p.terms = [[] for _ in p.terms]
            offset = 0
            for i in node.inputs:
                c = nodes[i].shape.c
                for ic in range(math.ceil(c / g)):
                    lo = offset + ic * g
                    hi = lo + min(g, c - ic * g)
                    for oc in range(lo // g, (hi - 1) // g + 1):
                        p.terms[oc].append(_Term(i, ic, 0, 0, ("select", lo - oc * g,
                                                               hi - lo)))
                offset += c
            passes.append(p)
    return passes


# --------------------------------------------------------------------------------------------
# The compiled program
# --------------------------------------------------------------------------------------------

@dataclass
class CompiledGraph:
    """A graph compiled for a batch size, a number of batches and a machine.

    Attributes
    ----------
    program : Program
    config : TPUConfig
    batch : int
        Examples per batch.
    batches : int
        Batches the program runs back to back (one batch's host transfers overlap another's
        compute).
    useful_macs : int
        MACs of the dense and convolution layers, all batches.
    spilled_rows : int
        Unified Buffer rows written to host memory to make room (0 when the network fits).
    peak_rows : int
        Most Unified Buffer rows in use at once (biases included).
    host_outputs : list of list of int
        Per batch, the host memory address each output is written to (its
        ``Write_Host_Memory`` in the program's timeline marks when the batch is done).
    """

    graph: Graph
    config: TPUConfig
    batch: int
    batches: int
    program: Program
    useful_macs: int
    spilled_rows: int
    peak_rows: int
    tiles: list
    host_blocks: list
    in_layout: _Layout
    host_inputs: list           # host address of every batch's input
    out_layouts: list           # per output tensor
    host_outputs: list          # per batch: host address of every output

    def run(self, x, *, engine: str = "fast") -> tuple[list[np.ndarray], RunReport]:
        """Run ``batches x batch`` examples on a fresh :class:`TPU`.

        Returns
        -------
        outputs : list of ndarray
            One int64 ``(batches * batch, features)`` array per graph output.
        report : RunReport
        """
        x = self.graph.check_input(x)
        total = self.batch * self.batches
        if x.shape[0] != total:
            raise ValueError(f"x has {x.shape[0]} examples, the program was compiled for "
                             f"{self.batches} batch(es) of {self.batch}")
        tpu = _loaded_tpu(self.config, self.tiles, self.host_blocks)
        inp, row_bytes = self.in_layout, self.config.row_bytes
        for b, addr in enumerate(self.host_inputs):
            part = x[b * self.batch:(b + 1) * self.batch]
            tpu.host.write(addr, inp.pack(part.reshape(self.batch, inp.h, inp.w, inp.c),
                                          row_bytes))
        report = tpu.run(self.program, engine=engine, useful_macs=self.useful_macs)
        outputs = []
        for k, (t, layout) in enumerate(zip(self.graph._outputs, self.out_layouts, strict=True)):
            signed = self.graph._nodes[t].signed
            parts = []
            for addrs in self.host_outputs:
                raw = tpu.host.read(addrs[k], layout.rows * row_bytes)
                parts.append(layout.unpack(raw.reshape(layout.rows, -1), signed)
                             .reshape(self.batch, -1))
            outputs.append(np.concatenate(parts))
        return outputs, report


class _GraphEmitter(_Emitter):
    """The emitter with a queue of deferred activation-unit and host instructions.

    An Activate placed right after the multiplies it reads would wait for their results and,
    since instructions issue in order, hold up the next multiply. Deferred instructions go out
    after the matrix unit has streamed ``delay`` more vectors, or earlier when a later
    instruction touches the rows they read or write (program order is what the machine
    computes).
    """

    def __init__(self, config: TPUConfig):
        super().__init__(config)
        self.queue: list = []          # [vectors left, instruction, ub range, acc range]
        self.delay = config.rows + config.cols + config.activate_latency
        self.acc_pos = 0
        self.cached: dict = {}
        self.now = 0                   # vectors streamed so far: the matrix unit's clock
        self.act_clock = 0             # when the activation unit finishes what went out

    def later(self, inst: Instruction, ub=None, acc=None, extra: int = 0) -> None:
        self.queue.append([self.delay + extra, inst, ub, acc])

    def release(self, upto: int) -> None:
        for item in self.queue[:upto]:
            inst = item[1]
            self.main.append(inst)
            cost = _ACTIVATION_COST.get(inst.mnemonic)
            if cost is not None:
                self.act_clock = max(self.act_clock, self.now) + cost(inst, self.cfg)
        del self.queue[:upto]

    def touch(self, ub=None, acc=None) -> None:
        """Send out the queue up to the last instruction that uses these rows."""
        last = 0
        for k, (_, _, qub, qacc) in enumerate(self.queue):
            if _overlap(ub, qub) or _overlap(acc, qacc):
                last = k + 1
        self.release(last)

    def stream(self, vectors: int) -> None:
        """The matrix unit streamed ``vectors`` more: send out what is due, but no more
        activation-unit work than the unit can start about now (an instruction that waits
        for the unit would hold up the multiplies behind it)."""
        self.now += vectors
        for item in self.queue:
            item[0] -= vectors
        while self.queue and self.queue[0][0] <= 0:
            # up to a tile shift's worth of activation work may wait for the unit: less
            # leaves it idle when the array stalls, more holds up the multiplies
            if self.queue[0][1].mnemonic in _ACTIVATION_COST and \
                    self.act_clock > self.now + self.cfg.rows:
                break
            self.release(1)

    def mm(self, addr: int, ub: int, acc: int, rows: int, stride: int, *, switch: bool,
           accumulate: bool, unsigned: bool) -> None:
        self.touch(ub=(ub, ub + (rows - 1) * stride + 1), acc=(acc, acc + rows))
        self.multiply(addr, ub, acc, rows, stride, switch=switch, accumulate=accumulate,
                      unsigned=unsigned)
        self.stream(rows)

    def shared_tile(self, key) -> int:
        """Weight Memory address of an identity or selection tile (stored once)."""
        if key not in self.cached:
            block = np.zeros((self.g, self.g), np.int64)
            if key[0] == "eye":
                block[np.arange(key[1]), np.arange(key[1])] = 1
            else:
                # input channel r of the chunk goes to output column r + shift, if in this chunk
                _, shift, n = key
                r = np.arange(n)
                keep = (r + shift >= 0) & (r + shift < self.g)
                block[r[keep], r[keep] + shift] = 1
            self.cached[key] = self.tile(block)
        return self.cached[key]

    @property
    def spare(self) -> tuple[int, int]:
        """Accumulator rows no multiply writes (read when zeroing Unified Buffer rows)."""
        return self.cfg.acc_rows - max(1, self.cfg.acc_rows // 32), self.cfg.acc_rows

    @property
    def acc_capacity(self) -> int:
        return self.spare[0]

    def acc_alloc(self, rows: int) -> int:
        if self.acc_pos + rows > self.acc_capacity:
            self.acc_pos = 0
        base = self.acc_pos
        self.acc_pos += rows
        return base


#: Cycles an instruction keeps the activation unit busy (docs/tpu.md, "Timing model").
_ACTIVATION_COST = {
    "Activate": lambda inst, cfg: inst.operand("rows") + cfg.activate_latency,
    "SetBias": lambda inst, cfg: 8 if inst.has("scale") else 4,
    "SetQuant": lambda inst, cfg: 1,
    "SetPool": lambda inst, cfg: 1,
}


def _interior(layout: _Layout) -> np.ndarray:
    """Which rows of ``layout`` hold pixels (the others are its zero border)."""
    mask = np.zeros((layout.chunks, layout.n, layout.hp, layout.wp), bool)
    mask[:, :, layout.pad:layout.pad + layout.h, layout.pad:layout.pad + layout.w] = True
    return mask.reshape(-1)


def _runs(index: np.ndarray) -> list[tuple[int, int]]:
    """Sorted distinct integers as ``[lo, hi)`` runs of consecutive values."""
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    return [(int(part[0]), int(part[-1]) + 1) for part in np.split(index, breaks)]


def _overlap(a, b) -> bool:
    return a is not None and b is not None and a[0] < b[1] and b[0] < a[1]


class _Allocator:
    """Best-fit Unified Buffer rows; remembers which rows were ever written."""

    def __init__(self, base: int, end: int):
        self.base, self.end = base, end
        self.free = [(base, end)]
        self.dirty = np.zeros(end, bool)      # rows that may hold a nonzero value
        self.used = 0
        self.peak = 0

    def alloc(self, n: int) -> int | None:
        fits = [k for k, (lo, hi) in enumerate(self.free) if hi - lo >= n]
        if not fits:
            return None
        k = min(fits, key=lambda k: self.free[k][1] - self.free[k][0])    # best fit
        lo, hi = self.free[k]
        self.free[k] = (lo + n, hi)
        if lo + n == hi:
            del self.free[k]
        self.used += n
        self.peak = max(self.peak, self.used)
        return lo

    def release(self, base: int, n: int) -> None:
        self.used -= n
        self.free.append((base, base + n))
        self.free.sort()
        merged = [self.free[0]]
        for lo, hi in self.free[1:]:
            if lo == merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        self.free = merged


class _NoRoom(Exception):
    """No tensor left to evict, and the rows asked for are not free in one piece."""


@dataclass
class _Resident:
    layout: _Layout | None     # None: on the host only
    host: int | None           # address of a valid host copy


def compile_graph(graph: Graph, batch: int, config: TPUConfig | None = None, *,
                  batches: int = 1) -> CompiledGraph:
    """Compile ``graph`` for ``batches`` batches of ``batch`` examples on the machine ``config``.

    Nodes run in the order they were added. Unified Buffer rows are allocated by liveness
    (a tensor's rows are freed after its last reader); when a new tensor does not fit, the
    resident tensor needed furthest in the future is written to host memory (unless a copy is
    there already) and read back before its next use, with both transfers timed. The next
    batch's input is read while the current batch computes. Weights on bypassed PEs of
    ``config.bypass`` are written as 0, as by :func:`systolic.tpu.compile_network`.

    Parameters
    ----------
    graph : Graph
    batch : int
        Examples per batch.
    config : TPUConfig, optional
        TPU v1 by default.
    batches : int
        Batches run back to back by one program.

    Raises
    ------
    ValueError
        A graph without outputs, or a node whose inputs and output do not fit the Unified
        Buffer together.
    """
    cfg = TPUConfig() if config is None else config
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a Graph, not {graph!r}")
    if not isinstance(cfg, TPUConfig):
        raise TypeError(f"config must be a TPUConfig, not {cfg!r}")
    batch = check_int("batch", batch, 1)
    batches = check_int("batches", batches, 1)
    if not graph._outputs:
        raise ValueError("the graph has no outputs (use Graph.output)")
    return _GraphCompiler(graph, batch, batches, cfg).compile()


class _GraphCompiler:
    def __init__(self, graph: Graph, batch: int, batches: int, cfg: TPUConfig):
        self.graph, self.batch, self.batches, self.cfg = graph, batch, batches, cfg
        self.em = _GraphEmitter(cfg)
        self.g = self.em.g
        self.passes = _passes(graph, self.g)
        nodes = graph._nodes
        # each tensor's border: the widest padding a convolution reading it needs
        self.pad = dict.fromkeys(range(len(nodes)), 0)
        for node in nodes:
            if node.kind == "conv":
                src = node.inputs[0]
                self.pad[src] = max(self.pad[src], node.layer.padding)
        self.last_use = {}
        for k, p in enumerate(self.passes):
            for t in p.inputs:
                self.last_use[t] = k
        self.host_top = 0
        self.spilled = 0

    def host_alloc(self, rows: int) -> int:
        addr = self.host_top
        self.host_top += rows * self.cfg.row_bytes
        if self.host_top > self.cfg.host_memory_bytes:
            raise ValueError(f"the program needs {self.host_top} bytes of host memory, the "
                             f"machine has {self.cfg.host_memory_bytes}")
        return addr

    def layout(self, t: int, base: int) -> _Layout:
        s = self.graph._nodes[t].shape
        return _Layout(base, self.batch, s.h, s.w, s.c, self.pad[t], self.g)

    def compile(self) -> CompiledGraph:
        cfg, em = self.cfg, self.em
        # biases (and float32 scales) of every pass: static rows at the bottom of the buffer
        bias_rows, self.bias_at = [], []
        at = 0
        for p in self.passes:
            self.bias_at.append(at)
            for planes in _bias_planes(p.bias, p.scale, cfg, self.g):
                bias_rows.append(planes)
                at += len(planes)
        if at >= cfg.ub_rows:
            raise ValueError(f"the biases need {at} Unified Buffer rows, the machine has "
                             f"{cfg.ub_rows}")
        self.alloc = _Allocator(at, cfg.ub_rows)
        bias_host = self.host_alloc(at)
        in_layout = self.layout(0, 0)
        host_inputs = [self.host_alloc(in_layout.rows) for _ in range(self.batches)]
        out_layouts = [self.layout(t, 0) for t in self.graph._outputs]
        host_outputs = [[self.host_alloc(lay.rows) for lay in out_layouts]
                        for _ in range(self.batches)]
        head = [Instruction("Read_Host_Memory", (bias_host, 0, at))] if at else []
        self.host_outputs = host_outputs
        self.next_input: _Resident | None = None
        self.res: dict[int, _Resident] = {}
        for b in range(self.batches):
            self.run_batch(b, host_inputs)
        em.release(len(em.queue))
        reads = []
        for addr in em.tile_order:
            if reads and reads[-1].operands[0] + reads[-1].operands[1] * cfg.tile_bytes == addr:
                reads[-1] = Instruction("Read_Weights", (reads[-1].operands[0],
                                                         reads[-1].operands[1] + 1))
            else:
                reads.append(Instruction("Read_Weights", (addr, 1)))
        program = Program.from_instructions(reads + head + em.main + [Instruction("Halt")])
        blocks = [(bias_host, np.concatenate(bias_rows))] if bias_rows else []
        return CompiledGraph(self.graph, cfg, self.batch, self.batches, program,
                             self.graph.macs(self.batch) * self.batches,
                             self.spilled, self.alloc.peak + at, em.tiles, blocks, in_layout,
                             host_inputs, out_layouts, host_outputs)

    # -- residency ---------------------------------------------------------------------------

    def place(self, t: int, pinned: set) -> _Layout:
        """Unified Buffer rows for tensor ``t``, spilling other tensors when needed."""
        rows = self.layout(t, 0).rows
        while True:
            base = self.alloc.alloc(rows)
            if base is not None:
                return self.layout(t, base)
            victims = [v for v, r in self.res.items() if r.layout is not None and v not in pinned]
            if not victims:
                raise _NoRoom
            self.evict(max(victims, key=self.next_use))

    def next_use(self, t: int) -> int:
        if t < 0:
            return len(self.passes)
        uses = [k for k in range(self.step, len(self.passes)) if t in self.passes[k].inputs]
        return uses[0] if uses else len(self.passes)

    def evict(self, t: int) -> None:
        r, em = self.res[t], self.em
        lay = r.layout
        if r.host is None:
            r.host = self.host_alloc(lay.rows)
            em.touch(ub=(lay.base, lay.base + lay.rows))
            em.emit("Write_Host_Memory", lay.base, r.host, lay.rows)
            self.spilled += lay.rows
        self.alloc.release(lay.base, lay.rows)
        r.layout = None

    def place_pass(self, p: _Pass) -> tuple[_Layout, dict]:
        """Rows for a pass's output, then its inputs (read back from the host if needed)."""
        pinned = set(p.inputs) | {p.out}
        dst = self.place(p.out, pinned)
        self.res[p.out] = _Resident(dst, None)
        return dst, {t: self.load(t, pinned) for t in p.inputs}

    def load(self, t: int, pinned: set) -> _Layout:
        r = self.res[t]
        if r.layout is None:
            lay = self.place(t, pinned)
            self.em.touch(ub=(lay.base, lay.base + lay.rows))
            self.em.emit("Read_Host_Memory", r.host, lay.base, lay.rows)
            self.alloc.dirty[lay.base:lay.base + lay.rows] = _interior(lay)
            r.layout = lay
        return r.layout

    def drop(self, t: int) -> None:
        r = self.res.pop(t)
        if r.layout is not None:
            self.alloc.release(r.layout.base, r.layout.rows)

    # -- one batch ---------------------------------------------------------------------------

    def run_batch(self, b: int, host_inputs: list) -> None:
        # tensor -1 is the next batch's input, read early, and -2, -3, ... the previous
        # batch's outputs; evicting them costs nothing (they have host copies)
        self.res.update({0: self.next_input or _Resident(None, host_inputs[b])})
        self.next_input = None
        for k, p in enumerate(self.passes):
            self.step = k
            try:
                dst, srcs = self.place_pass(p)
            except _NoRoom:
                # the free rows are there but in pieces: move everything out and start over
                # (the node's inputs are read back at once)
                if p.out in self.res:
                    self.drop(p.out)
                for v in [v for v, r in self.res.items() if r.layout is not None]:
                    self.evict(v)
                try:
                    dst, srcs = self.place_pass(p)
                except _NoRoom:
                    node = self.graph._nodes[p.out]
                    need = sum(self.layout(v, 0).rows for v in set(p.inputs) | {p.out})
                    raise ValueError(
                        f"node {p.out} ({node.kind}, {_text(node.shape)}) needs {need} Unified "
                        f"Buffer rows for its inputs and output at batch {self.batch}, "
                        f"{self.alloc.end - self.alloc.base} are left beside the biases"
                    ) from None
            self.emit_pass(k, p, srcs, dst)
            if k == 0 and b + 1 < self.batches:
                self.prefetch(host_inputs[b + 1])
            for t in dict.fromkeys(p.inputs):      # a node may read a tensor twice
                if self.last_use[t] == k:
                    self.drop(t)
            if p.out in self.graph._outputs:
                i = self.graph._outputs.index(p.out)
                addr = self.host_outputs[b][i]
                self.em.later(Instruction("Write_Host_Memory", (dst.base, addr, dst.rows)),
                              ub=(dst.base, dst.base + dst.rows), extra=dst.rows)
                self.res[p.out].host = addr
            elif p.out not in self.last_use:
                self.drop(p.out)
        # outputs stay until the end of the next batch (unless evicted), so that the rows
        # being written to the host are not the next batch's first choice
        self.next_input = self.res.pop(-1, None)
        for t in [t for t in self.res if t < -1 or t not in self.graph._outputs]:
            self.drop(t)
        self.res = {-2 - i: self.res[t] for i, t in enumerate(self.graph._outputs)
                    if t in self.res}

    def prefetch(self, host: int) -> None:
        """Read the next batch's input now if it fits without spilling."""
        lay = self.layout(0, 0)
        base = self.alloc.alloc(lay.rows)
        if base is not None:
            lay = self.layout(0, base)
            self.em.touch(ub=(base, base + lay.rows))
            self.em.emit("Read_Host_Memory", host, base, lay.rows)
            self.alloc.dirty[base:base + lay.rows] = _interior(lay)
            self.res[-1] = _Resident(lay, host)

    # -- one pass ----------------------------------------------------------------------------

    def emit_pass(self, k: int, p: _Pass, srcs: dict, dst: _Layout) -> None:
        em = self.em
        # the border must read as 0: rows of an earlier tensor there are overwritten by the
        # activation unit with a zero multiplier, reading accumulator rows no multiply uses
        inside = _interior(dst)
        stale = np.flatnonzero(self.alloc.dirty[dst.base:dst.base + dst.rows] & ~inside)
        if stale.size:
            em.later(Instruction("SetQuant", (0, 0, 0, 4)))
            spare = em.spare
            for lo, hi in _runs(stale):
                for a in range(lo, hi, spare[1] - spare[0]):
                    n = min(spare[1] - spare[0], hi - a)
                    em.later(Instruction("Activate", (spare[0], dst.base + a, n)),
                             ub=(dst.base + a, dst.base + a + n))
        self.alloc.dirty[dst.base:dst.base + dst.rows] = inside
        (name, *ops), flags = _quant_instruction(p.requant, p.scale is not None)
        em.later(Instruction(name, tuple(ops), flags))
        if p.kind == "dense":
            self.emit_dense(k, p, srcs[p.inputs[0]], dst)
        else:
            self.emit_conv(k, p, srcs, dst)

    def bias(self, k: int, p: _Pass, oc: int) -> None:
        step, flags = _bias_block(p)
        self.em.later(Instruction("SetBias", (self.bias_at[k] + step * oc,), flags))

    def emit_dense(self, k: int, p: _Pass, src: _Layout, dst: _Layout) -> None:
        em, g = self.em, self.g
        function = () if p.activation == "identity" else (p.activation,)
        f = p.bias.shape[0]
        weight = p.layer.weight.reshape(src.h, src.w, src.c, f)
        unsigned = not self.graph._nodes[p.inputs[0]].signed
        per_block = self.em.acc_capacity // 2
        for m0 in range(0, self.batch, per_block):
            rows = min(per_block, self.batch - m0)
            for oc in range(math.ceil(f / g)):
                acc = em.acc_alloc(rows)
                first = True
                for y in range(src.h):
                    for x in range(src.w):
                        for ic in range(src.chunks):
                            block = weight[y, x, ic * g:(ic + 1) * g, oc * g:(oc + 1) * g]
                            em.mm(self.weight_tile((k, oc, y, x, ic), block),
                                  src.row(ic, m0, y + src.pad, x + src.pad),
                                  acc, rows, src.hp * src.wp, switch=True,
                                  accumulate=not first, unsigned=unsigned)
                            first = False
                self.bias(k, p, oc)
                if dst.hp * dst.wp == 1:
                    em.later(Instruction("Activate", (acc, dst.row(oc, m0, 0, 0), rows),
                                         function),
                             ub=(dst.row(oc, m0, 0, 0), dst.row(oc, m0, 0, 0) + rows),
                             acc=(acc, acc + rows))
                else:
                    for m in range(rows):
                        at = dst.row(oc, m0 + m, dst.pad, dst.pad)
                        em.later(Instruction("Activate", (acc + m, at, 1), function),
                                 ub=(at, at + 1), acc=(acc + m, acc + m + 1))

    def weight_tile(self, key, block) -> int:
        """Weight Memory address of a layer's tile, stored once for every batch."""
        if key not in self.em.cached:
            self.em.cached[key] = self.em.tile(block)
        return self.em.cached[key]

    def emit_conv(self, k: int, p: _Pass, srcs: dict, dst: _Layout) -> None:
        """A convolution-like pass: segments of output rows of one image, as many as the
        accumulators hold at once, each output chunk summed over its terms (weight tiles).
        Each term's multiplies run back to back after one switch; the last segment before the
        next switch streams its rows at the input's row pitch (one long multiply, with a few
        discarded results between output rows), so the next tile's shift hides under it."""
        em, conv = self.em, p.conv_shape
        s = p.stride
        band = p.pool.size if p.pool else 1
        wps = {srcs[t.src].wp for terms in p.terms for t in terms}
        pitched = s == 1 and p.pool is None and len(wps) == 1
        pitch = wps.pop() if pitched else conv.w
        capacity = em.acc_capacity
        if band * pitch > capacity:
            raise ValueError(f"a {band}-row band of the {conv.w}-wide output does not fit "
                             f"the {capacity} accumulator rows the compiler uses")
        per_seg = max(band, (capacity // 2) // pitch // band * band)
        segs = [(n, y0, min(conv.h, y0 + per_seg)) for n in range(self.batch)
                for y0 in range(0, conv.h, per_seg)]
        blocks, current, used = [], [], 0
        for seg in segs:
            size = (seg[2] - seg[1]) * pitch
            if current and used + size > capacity:
                blocks.append(current)
                current, used = [], 0
            current.append(seg)
            used += size
        blocks.append(current)
        # the segment a pass activates first is the one the next pass multiplies last (in
        # its long multiply), so that one never waits: pass k starts its blocks k segments on
        blocks = [block[k % len(block):] + block[:k % len(block)] for block in blocks]
        function = () if p.activation == "identity" else (p.activation,)
        if p.pool:
            em.later(Instruction("SetPool", (band, conv.w), (p.pool.kind,)))
        for block in blocks:
            for oc in range(len(p.terms)):
                sizes = [(y1 - y0) * pitch for _, y0, y1 in block]
                base = em.acc_alloc(sum(sizes))
                accs = [base + sum(sizes[:j]) for j in range(len(block))]
                last = len(p.terms[oc]) - 1
                for ti, term in enumerate(p.terms[oc]):
                    src = srcs[term.src]
                    addr = em.shared_tile(term.tile) if isinstance(term.tile, tuple) else \
                        self.weight_tile((k, oc, ti), term.tile)
                    unsigned = not self.graph._nodes[term.src].signed
                    dy, dx = term.dy + src.pad, term.dx + src.pad
                    switch = True
                    if ti == last:
                        self.bias(k, p, oc)
                    for j, ((n, y0, y1), acc) in enumerate(zip(block, accs, strict=True)):
                        if pitched and j == len(block) - 1:
                            em.mm(addr, src.row(term.chunk, n, y0 + dy, dx), acc,
                                  (y1 - y0 - 1) * pitch + conv.w, 1, switch=switch,
                                  accumulate=ti > 0, unsigned=unsigned)
                        else:
                            for oy in range(y0, y1):
                                em.mm(addr, src.row(term.chunk, n, oy * s + dy, dx),
                                      acc + (oy - y0) * pitch, conv.w, s, switch=switch,
                                      accumulate=ti > 0, unsigned=unsigned)
                                switch = False
                        switch = False
                        if ti == last:
                            # a segment is activated as soon as its last multiplies are out
                            self.activate_segment(p, oc, dst, n, y0, y1, acc, pitch, function)

    def activate_segment(self, p: _Pass, oc: int, dst: _Layout, n: int, y0: int, y1: int,
                         acc: int, pitch: int, function: tuple) -> None:
        """Activate one segment's output rows (pooled bands when the pass pools)."""
        em, conv = self.em, p.conv_shape
        band = p.pool.size if p.pool else 1
        for oy in range(y0, y1, band):
            at = dst.row(oc, n, oy // band + dst.pad, dst.pad)
            a0 = acc + (oy - y0) * pitch
            flags = function + (("pool",) if p.pool else ())
            em.later(Instruction("Activate", (a0, at, band * conv.w), flags),
                     ub=(at, at + p.shape.w), acc=(a0, a0 + band * conv.w))
