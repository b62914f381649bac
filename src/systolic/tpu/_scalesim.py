"""SCALE-Sim topology files: read them and time every layer on the array model.

Conv rows are ``name, IfH, IfW, FH, FW, C, NumFilt, Stride,`` and GEMM rows ``name, M, N, K,``;
every row ends with a comma (SCALE-Sim silently drops the last field otherwise, so we reject
such rows). An optional header row (non-numeric fields) is skipped. Inputs are taken as already
padded, as SCALE-Sim does. A conv layer becomes the GEMM ``M = E_h * E_w`` (output pixels),
``K = FH * FW * C``, ``N = NumFilt`` with ``E = (If - F) // Stride + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._checks import check_memory
from ..array import SystolicArray
from ..timing import scalesim_breakdown

__all__ = ["LayerTiming", "TopologyError", "TopologyLayer", "format_timings", "read_topology",
           "time_topology"]


class TopologyError(ValueError):
    """A malformed topology file, naming the line (1-based) and the reason."""

    def __init__(self, line: int, reason: str):
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")


@dataclass(frozen=True)
class TopologyLayer:
    """One layer as a GEMM ``(M x K) @ (K x N)``; ``kind`` is ``"conv"`` or ``"gemm"``."""

    name: str
    kind: str
    m: int
    k: int
    n: int
    line: int


@dataclass(frozen=True)
class LayerTiming:
    """Cycles of one layer on the array (contract timing) and SCALE-Sim's count for it."""

    layer: TopologyLayer
    cycles: int
    utilization: float
    scalesim_cycles: int
    macs: int


def read_topology(source) -> list[TopologyLayer]:
    """Parse a SCALE-Sim topology CSV given as a path or as its text.

    Raises
    ------
    TopologyError
        A row with the wrong number of fields, a non-integer or non-positive field, a missing
        trailing comma, or a filter larger than its input.
    """
    text = Path(source).read_text() if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and source.endswith(".csv")) else source
    layers = []
    for number, raw in enumerate(text.splitlines(), start=1):
        row = raw.strip()
        if not row:
            continue
        if not row.endswith(","):
            raise TopologyError(number, "row does not end with a comma")
        fields = [f.strip() for f in row[:-1].split(",")]
        values = fields[1:]
        if not all(v.lstrip("-").isdigit() for v in values):
            if not layers and not any(v.lstrip("-").isdigit() for v in values):
                continue            # header
            bad = next(v for v in values if not v.lstrip("-").isdigit())
            raise TopologyError(number, f"field {bad!r} is not an integer")
        numbers = [int(v) for v in values]
        if len(numbers) not in (3, 7):
            raise TopologyError(number, f"expected 3 numbers (GEMM: M, N, K) or 7 (conv: IfH, "
                                        f"IfW, FH, FW, C, NumFilt, Stride), got {len(numbers)}")
        if min(numbers) < 1:
            raise TopologyError(number, f"fields must be >= 1, got {min(numbers)}")
        name = fields[0]
        if len(numbers) == 3:
            m, n, k = numbers
            layers.append(TopologyLayer(name, "gemm", m, k, n, number))
            continue
        ifh, ifw, fh, fw, c, filters, stride = numbers
        if fh > ifh or fw > ifw:
            raise TopologyError(number, f"filter {fh}x{fw} is larger than the {ifh}x{ifw} "
                                        "input")
        eh, ew = (ifh - fh) // stride + 1, (ifw - fw) // stride + 1
        layers.append(TopologyLayer(name, "conv", eh * ew, fh * fw * c, filters, number))
    if not layers:
        raise TopologyError(1, "no layers")
    return layers


def time_topology(layers, rows: int = 256, cols: int = 256, *, engine: str = "fast",
                  seed: int = 0) -> list[LayerTiming]:
    """Run every layer on an ``rows x cols`` weight-stationary array with random int8 data.

    The array computes the values (``engine="fast"`` by default) and reports the contract's
    cycle count with weight double buffering; SCALE-Sim's count is given next to it.
    """
    array = SystolicArray(rows, cols, "ws")
    rng = np.random.default_rng(seed)
    out = []
    for layer in layers:
        # the operands, then the fast path's product (float64, int64 and int32)
        check_memory(f"layer {layer.name!r} ({layer.m}x{layer.k}x{layer.n})",
                     layer.m * layer.k + layer.k * layer.n + 20 * layer.m * layer.n,
                     "time it without data with SystolicArray.timing (systolic run does)")
        a = rng.integers(-128, 128, (layer.m, layer.k), dtype=np.int8)
        b = rng.integers(-128, 128, (layer.k, layer.n), dtype=np.int8)
        res = array.run(a, b, engine=engine)
        scalesim = scalesim_breakdown(layer.m, layer.k, layer.n, rows, cols, "ws").total
        out.append(LayerTiming(layer, res.cycles, res.utilization, scalesim, res.macs))
    return out


def format_timings(timings, rows: int, cols: int) -> str:
    """A text table of :func:`time_topology` results with a total line."""
    lines = [f"{'layer':<16}{'kind':<6}{'M':>8}{'K':>7}{'N':>7}{'cycles':>12}"
             f"{'util':>8}{'SCALE-Sim':>12}"]
    for t in timings:
        lay = t.layer
        lines.append(f"{lay.name[:15]:<16}{lay.kind:<6}{lay.m:>8}{lay.k:>7}{lay.n:>7}"
                     f"{t.cycles:>12,}{t.utilization:>8.1%}{t.scalesim_cycles:>12,}")
    cycles = sum(t.cycles for t in timings)
    macs = sum(t.macs for t in timings)
    lines.append(f"{'total':<44}{cycles:>12,}{macs / (cycles * rows * cols):>8.1%}"
                 f"{sum(t.scalesim_cycles for t in timings):>12,}")
    return "\n".join(lines)
