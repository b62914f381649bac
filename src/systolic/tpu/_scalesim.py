"""SCALE-Sim topology files: read them and time every layer on the array model.

Conv rows are ``name, IfH, IfW, FH, FW, C, NumFilt, Stride[, N:M],`` and GEMM rows
``name, M, N, K[, N:M],``. The reader accepts every file SCALE-Sim 3.0's loader accepts, and
the files it crashes on where their meaning is clear; whatever it ignores on the way (columns
after the stride, rows of empty fields, extra header rows) it names in a
:class:`TopologyWarning`. ``#`` starts a comment. Inputs are taken as already padded, as
SCALE-Sim does. A conv layer becomes the GEMM ``M = E_h * E_w`` (output pixels),
``K = FH * FW * C``, ``N = NumFilt`` with the true output size ``E = (If - F) // Stride + 1``;
``TopologyLayer.scalesim_m`` is SCALE-Sim's ``M``, with ``E = ceil((If - F + Stride) / Stride)``,
one more where the stride does not divide ``If - F``. A layer whose name contains ``DP`` is
depth-wise, as in SCALE-Sim: it becomes ``C`` one-channel layers ``<name>Channel_<i>``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._checks import check_memory
from .._table import Column, Table
from ..timing import scalesim_breakdown

__all__ = ["LayerTiming", "TopologyError", "TopologyLayer", "TopologyWarning", "format_timings",
           "read_topology", "time_topology"]

_KINDS = (None, "conv", "gemm")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_RATIO = re.compile(r"([0-9]+):([0-9]+)")
# Anything a reader could take for a number (3.0, 1e3, .5): such a row is data, never a header.
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class TopologyError(ValueError):
    """A malformed topology file, naming the line (1-based) and the reason."""

    def __init__(self, line: int, reason: str):
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")


class TopologyWarning(UserWarning):
    """Something in a topology file that was read past or ignored, naming the line."""


@dataclass(frozen=True)
class TopologyLayer:
    """One layer as a GEMM ``(M x K) @ (K x N)``; ``kind`` is ``"conv"`` or ``"gemm"``.

    Attributes
    ----------
    name, kind : str
    m, k, n : int
        The GEMM, with the true conv output size.
    line : int
        The 1-based line of the file.
    scalesim_m : int
        SCALE-Sim's ``M`` (its conv output size rounds up; equal to ``m`` for GEMM rows).
    conv : tuple of int or None
        ``(IfH, IfW, FH, FW, C, Stride)`` of a conv layer (after a depth-wise split), else None.
    sparsity : tuple of int
        The row's ``N:M`` sparsity ratio, ``(1, 1)`` when absent.
    """

    name: str
    kind: str
    m: int
    k: int
    n: int
    line: int
    scalesim_m: int | None = None
    conv: tuple | None = None
    sparsity: tuple = (1, 1)

    def __post_init__(self):
        if self.scalesim_m is None:
            object.__setattr__(self, "scalesim_m", self.m)


@dataclass(frozen=True)
class LayerTiming:
    """Cycles of one layer on the array (contract timing) and SCALE-Sim's count for it."""

    layer: TopologyLayer
    cycles: int
    utilization: float
    scalesim_cycles: int
    macs: int


def _is_path(source) -> bool:
    return isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                        and source.endswith(".csv"))


def read_topology(source, kind: str | None = None) -> list[TopologyLayer]:
    """Parse a SCALE-Sim topology CSV given as a path or as its text.

    Parameters
    ----------
    source : str or pathlib.Path
        A path (a ``Path``, or a one-line string ending in ``.csv``) or the file's text.
    kind : {None, "conv", "gemm"}
        ``"conv"`` or ``"gemm"`` reads every row as SCALE-Sim does with ``-i conv`` or
        ``-i gemm``; None tells them apart by the number of leading integers (3 or 7).

    Returns
    -------
    list of TopologyLayer

    Warns
    -----
    TopologyWarning
        For each row or column read past: a row of empty fields, a header row after the
        first line, non-empty columns after the stride (GEMM: after ``N:M`` or ``K``), and the
        split of a depth-wise layer.

    Raises
    ------
    TopologyError
        A row with too few numbers, a non-integer or non-positive field, a bad ``N:M`` ratio,
        a filter larger than its input, or no layer at all.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be None, 'conv' or 'gemm', not {kind!r}")
    text = Path(source).read_text() if _is_path(source) else source
    if not isinstance(text, str):
        raise TypeError(f"source must be a path or the file's text, not {type(text).__name__}")
    layers: list[TopologyLayer] = []
    notes: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        row = raw.split("#", 1)[0].strip()
        if not row:
            continue
        fields = [f.strip() for f in row.split(",")]
        if fields[-1] == "" and len(fields) > 1:
            fields.pop()                    # the trailing comma SCALE-Sim expects
        if not any(fields):
            notes.append(f"line {number}: ignored a row of empty fields")
            continue
        name, values = fields[0], fields[1:]
        leading = 0
        while leading < len(values) and _INTEGER.fullmatch(values[leading]):
            leading += 1
        if leading == 0 and not any(_NUMBER.fullmatch(v) for v in values):
            if layers or number > 1:
                notes.append(f"line {number}: ignored a row without numbers (a header?): "
                             f"{row!r}")
            continue
        layer_kind = kind or ("gemm" if leading == 3 else "conv")
        layers.extend(_parse_row(number, name, values, leading, layer_kind, notes,
                                 explicit=kind is not None))
    if not layers:
        raise TopologyError(1, "no layers")
    for note in notes:
        warnings.warn(TopologyWarning(note), stacklevel=2)
    return layers


def _parse_row(number, name, values, leading, kind, notes, explicit=False):
    needed = 3 if kind == "gemm" else 7
    if leading < needed:
        if leading < len(values) and values[leading] != "" and not _RATIO.fullmatch(
                values[leading]):
            raise TopologyError(number, f"field {values[leading]!r} is not an integer")
        if kind == "gemm":
            raise TopologyError(number, f"expected 3 numbers (GEMM: M, N, K), got {leading}")
        if explicit:   # a conv topology (-i conv): a GEMM row is as wrong as any other
            raise TopologyError(number, f"expected 7 numbers (conv: IfH, IfW, FH, FW, C, "
                                        f"NumFilt, Stride), got {leading}")
        raise TopologyError(number, f"expected 3 numbers (GEMM: M, N, K) or 7 (conv: IfH, "
                                    f"IfW, FH, FW, C, NumFilt, Stride), got {leading}")
    numbers = [int(v) for v in values[:needed]]
    if min(numbers) < 1:
        raise TopologyError(number, f"fields must be >= 1, got {min(numbers)}")
    rest = values[needed:]
    sparsity = (1, 1)
    if rest and _RATIO.fullmatch(rest[0]):
        ratio = tuple(int(v) for v in rest[0].split(":"))
        if not 1 <= ratio[0] <= ratio[1]:
            raise TopologyError(number, f"sparsity {rest[0]!r} must be N:M with 1 <= N <= M")
        sparsity, rest = ratio, rest[1:]
    elif kind == "gemm" and rest and rest[0]:
        # SCALE-Sim reads the field after K as the N:M ratio and crashes on anything else.
        raise TopologyError(number, f"the field after K must be an N:M sparsity ratio, not "
                                    f"{rest[0]!r} (a conv row?)")
    ignored = [v for v in rest if v]
    if ignored:
        after = "K" if kind == "gemm" else "the stride"
        notes.append(f"line {number}: ignored the columns after {after}: "
                     f"{', '.join(ignored)}")
    if kind == "gemm":
        m, n, k = numbers
        return [TopologyLayer(name, "gemm", m, k, n, number, sparsity=sparsity)]
    ifh, ifw, fh, fw, c, filters, stride = numbers
    if fh > ifh or fw > ifw:
        raise TopologyError(number, f"filter {fh}x{fw} is larger than the {ifh}x{ifw} input")
    eh, ew = (ifh - fh) // stride + 1, (ifw - fw) // stride + 1
    sh, sw = -(-(ifh - fh + stride) // stride), -(-(ifw - fw + stride) // stride)
    if "DP" not in name:
        return [TopologyLayer(name, "conv", eh * ew, fh * fw * c, filters, number, sh * sw,
                              (ifh, ifw, fh, fw, c, stride), sparsity)]
    notes.append(f"line {number}: depth-wise layer {name!r} (its name contains 'DP') split "
                 f"into {c} one-channel layers, as SCALE-Sim does")
    return [TopologyLayer(f"{name}Channel_{i}", "conv", eh * ew, fh * fw, filters, number,
                          sh * sw, (ifh, ifw, fh, fw, 1, stride), sparsity) for i in range(c)]


def time_topology(layers, rows: int = 256, cols: int = 256, *, engine: str = "fast",
                  seed: int = 0) -> list[LayerTiming]:
    """Run every layer on an ``rows x cols`` weight-stationary array with random int8 data.

    The array computes the values (``engine="fast"`` by default) and reports the contract's
    cycle count with weight double buffering; SCALE-Sim's count is given next to it.
    """
    from ..array import SystolicArray

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
        scalesim = scalesim_breakdown(layer.scalesim_m, layer.k, layer.n, rows, cols, "ws").total
        out.append(LayerTiming(layer, res.cycles, res.utilization, scalesim, res.macs))
    return out


def format_timings(timings, rows: int, cols: int) -> str:
    """A text table of :func:`time_topology` results with a total line."""
    cycles = sum(t.cycles for t in timings)
    macs = sum(t.macs for t in timings)
    lines = [(t.layer.name, t.layer.kind, t.layer.m, t.layer.k, t.layer.n, t.cycles,
              t.utilization, t.scalesim_cycles) for t in timings]
    lines.append(("total", None, None, None, None, cycles, macs / (cycles * rows * cols),
                  sum(t.scalesim_cycles for t in timings)))
    return "\n".join(_TIMINGS_TABLE.lines(lines))


_TIMINGS_TABLE = Table([
    Column("layer", 16, "<", clip=True), Column("kind", 6, "<"), Column("M", 8),
    Column("K", 7), Column("N", 7), Column("cycles", 12, spec=","),
    Column("util", 8, spec=".1%"), Column("SCALE-Sim", 12, spec=",")])
