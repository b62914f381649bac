"""Energy and area of a design, from the counts the model already knows.

A run is reduced to a handful of event counts (:class:`Counts`): multiply-accumulates, adds into
the accumulators, bytes moved from one PE register to the next, bytes read from or written to
the on-chip buffer (SRAM) and to off-chip memory (DRAM), and idle PE-cycles. The energy is the
sum of each count times its price in :class:`EnergyTable`; the area of a design is its PEs and
its on-chip buffer priced by :class:`AreaTable`. The defaults are published 45 nm figures;
``docs/energy.md`` gives the source of every number and how the derived ones were obtained.

:func:`matmul_counts` counts one ``(M x K) @ (K x N)`` layer on an ``R x C`` array from its
shape alone (what a SCALE-Sim layer or a :class:`systolic.tpu.LayerTiming` gives);
:func:`run_counts` and :func:`report_counts` take a :class:`systolic.RunResult` and a TPU
:class:`systolic.tpu.RunReport`. :func:`energy_j` and :func:`area_mm2` accept any of these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from itertools import pairwise

from ._dataflow import Dataflow
from ._validate import check_dataflow, check_size
from .timing import breakdown, tiles_and_vectors

__all__ = ["AreaTable", "Counts", "EnergyTable", "area_mm2", "energy_breakdown", "energy_j",
           "matmul_counts", "report_counts", "run_counts"]

#: The on-chip buffer assumed when none is given: TPU v1's 24 MiB Unified Buffer.
DEFAULT_SRAM_KIB = 24 * 1024


def _check_number(name: str, value, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {value!r}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class EnergyTable:
    """Energy of each event, in picojoules; the defaults are 45 nm figures (docs/energy.md).

    Parameters
    ----------
    mac_pj : float
        One PE step: an 8-bit multiply (0.2 pJ) and a 32-bit add into the partial sum
        (0.1 pJ), Horowitz, ISSCC 2014.
    acc_add_pj : float
        One 32-bit add into an accumulator outside the array (0.1 pJ, Horowitz).
    register_hop_pj : float
        One byte moved from a PE register into its neighbour's (0.3 pJ): Eyeriss's
        inter-PE transfer costs 2 MACs per 16-bit word (Chen et al., ISCA 2016), applied to
        ``mac_pj`` and halved per byte.
    sram_pj_per_byte : tuple of (float, float)
        ``(size in KiB, pJ per byte)`` points of an SRAM access by buffer size: Horowitz's
        64-bit reads of 8 KiB, 32 KiB and 1 MiB (10, 20, 100 pJ) divided by 8. Other sizes are
        interpolated on a log-log scale and extrapolated with the slope of the nearest segment.
    dram_pj_per_byte : float
        One DRAM byte (243.75 pJ): the middle of Horowitz's 1.3-2.6 nJ per 64-bit access.
    idle_pe_cycle_pj : float
        Leakage and clocking of one PE in a cycle without a MAC (0.235 pJ): TPU v1's 28 W idle
        power (Jouppi et al., ISCA 2017) times the matrix unit's 24 % of the die, over
        65,536 PEs at 700 MHz (0.146 pJ at 28 nm), scaled to 45 nm by 45/28.

    Raises
    ------
    TypeError, ValueError
        A price that is not a finite number >= 0, or SRAM points that are not increasing.
    """

    mac_pj: float = 0.3
    acc_add_pj: float = 0.1
    register_hop_pj: float = 0.3
    sram_pj_per_byte: tuple = ((8, 1.25), (32, 2.5), (1024, 12.5))
    dram_pj_per_byte: float = 243.75
    idle_pe_cycle_pj: float = 0.235

    def __post_init__(self):
        for f in fields(self):
            if f.name != "sram_pj_per_byte":
                _check_number(f.name, getattr(self, f.name))
        points = self.sram_pj_per_byte
        if (not isinstance(points, (tuple, list)) or not points
                or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in points)):
            raise TypeError("sram_pj_per_byte must be a sequence of (KiB, pJ per byte) pairs, "
                            f"not {points!r}")
        points = tuple((_check_number("sram_pj_per_byte size", kib, positive=True),
                        _check_number("sram_pj_per_byte energy", pj, positive=True))
                       for kib, pj in points)
        if any(b[0] <= a[0] for a, b in pairwise(points)):
            raise ValueError("sram_pj_per_byte sizes must increase, got "
                             f"{[p[0] for p in points]}")
        object.__setattr__(self, "sram_pj_per_byte", points)

    def sram_pj(self, kib: float) -> float:
        """pJ per byte of an SRAM of ``kib`` KiB, interpolated on a log-log scale.

        Examples
        --------
        >>> EnergyTable().sram_pj(32)
        2.5
        >>> round(EnergyTable().sram_pj(16), 4)     # sqrt(1.25 * 2.5)
        1.7678
        """
        kib = _check_number("kib", kib, positive=True)
        points = self.sram_pj_per_byte
        if len(points) == 1:
            return points[0][1]
        index = next((i for i, p in enumerate(points[1:-1], start=1) if kib <= p[0]),
                     len(points) - 1)
        (s0, e0), (s1, e1) = points[index - 1], points[index]
        slope = math.log(e1 / e0) / math.log(s1 / s0)
        return e0 * (kib / s0) ** slope


@dataclass(frozen=True)
class AreaTable:
    """Area figures in square micrometres; 45 nm defaults (docs/energy.md).

    Parameters
    ----------
    multiplier_um2 : float
        8-bit multiplier, 282 um^2 (Horowitz, ISSCC 2014).
    adder_um2 : float
        32-bit adder, 137 um^2 (Horowitz).
    flop_um2 : float
        One register bit, 4.522 um^2 (DFF_X1 of the Nangate 45 nm Open Cell Library).
    sram_um2_per_kib : float
        One KiB of SRAM, 4,049 um^2: 8,192 bit cells of 0.346 um^2 (Intel 45 nm, Mistry et al.,
        IEDM 2007) over an array efficiency of 70 % (our assumption for decoders, sense
        amplifiers and wiring).
    """

    multiplier_um2: float = 282.0
    adder_um2: float = 137.0
    flop_um2: float = 4.522
    sram_um2_per_kib: float = 8192 * 0.346 / 0.7

    def __post_init__(self):
        for f in fields(self):
            _check_number(f.name, getattr(self, f.name))

    def pe_um2(self, rows: int, dataflow="ws", acc_bits: int = 32) -> float:
        """Area of one PE: a multiplier, an adder and the registers of the contract's PE
        table (``x``, ``w``, ``psum`` with their valid/flag/tag bits, and ``w_active`` and
        ``w_shadow`` for ws/is or ``acc`` and ``hold`` for os).

        Examples
        --------
        >>> round(AreaTable().pe_um2(256, "ws"), 3)       # 282 + 137 + 76 * 4.522
        762.672
        """
        dataflow = check_dataflow(dataflow)
        tag = max(1, math.ceil(math.log2(check_size("rows", rows))))
        lanes = 8 + 1 + 1 + 8 + 1 + tag + acc_bits + 1      # x, w and psum with their flags
        stationary = 8 + 8 if dataflow is not Dataflow.OS else 2 * acc_bits
        return self.multiplier_um2 + self.adder_um2 + (lanes + stationary) * self.flop_um2


@dataclass(frozen=True)
class Counts:
    """The events of one run that cost energy.

    Attributes
    ----------
    macs : int
        Multiply-accumulates the workload needs.
    pe_cycles : int
        ``cycles * R * C``: every PE in every cycle of the run.
    acc_adds : int
        32-bit adds into the accumulators outside the array.
    register_hops : int
        Bytes moved from a PE register into the next PE's.
    sram_bytes : int
        Bytes read from and written to the on-chip buffer.
    dram_bytes : int
        Bytes read from and written to off-chip memory.
    sram_kib : float
        Size of the on-chip buffer (its size sets the price of a byte).
    """

    macs: int
    pe_cycles: int
    acc_adds: int
    register_hops: int
    sram_bytes: int
    dram_bytes: int
    sram_kib: float

    @property
    def idle_pe_cycles(self) -> int:
        """PE-cycles without a MAC: ``pe_cycles - macs``."""
        return self.pe_cycles - self.macs


def matmul_counts(m: int, k: int, n: int, rows: int, cols: int, dataflow="ws", *,
                  cycles: int | None = None, sram_kib: float = DEFAULT_SRAM_KIB) -> Counts:
    """Events of an ``(m x k) @ (k x n)`` layer on a ``rows x cols`` array.

    The mapping is the contract's: ``T`` tiles of ``V`` vectors (:func:`systolic.timing.
    tiles_and_vectors`). Register hops: every streamed vector moves one byte through each of
    the ``R * C`` PEs on the x lane and, for ws/is, a 4-byte partial sum down each of them; a
    ws/is weight tile shifts ``R * C`` bytes through ``R`` rows; for os the w lane streams like
    the x lane and each tile drains ``R * C`` 4-byte results through ``(R + 1) / 2`` rows on
    average. SRAM: the bytes of each operand read as often as the mapping reads them, and the
    int8 outputs written once. DRAM: each operand read and each output written once when
    ``M*K + K*N + M*N`` bytes fit the buffer, otherwise every SRAM byte goes to DRAM too.

    Parameters
    ----------
    m, k, n, rows, cols : int
    dataflow : Dataflow or {"ws", "os", "is"}
    cycles : int, optional
        Cycles of the run (default: the closed form, :func:`systolic.timing.breakdown`).
    sram_kib : float
        Size of the on-chip buffer in KiB (default 24 MiB, TPU v1's Unified Buffer).

    Examples
    --------
    >>> c = matmul_counts(4, 4, 4, 2, 2, "ws", sram_kib=1)
    >>> c.macs, c.acc_adds, c.register_hops, c.sram_bytes, c.dram_bytes
    (64, 32, 352, 64, 48)
    """
    dataflow = check_dataflow(dataflow)
    for name, value in (("m", m), ("k", k), ("n", n), ("rows", rows), ("cols", cols)):
        check_size(name, value)
    sram_kib = _check_number("sram_kib", sram_kib, positive=True)
    if cycles is None:
        cycles = breakdown(m, k, n, rows, cols, dataflow).total
    cycles = check_size("cycles", cycles)
    tiles, vectors = tiles_and_vectors(m, k, n, rows, cols, dataflow)

    def folds(size, edge):
        return -(-size // edge)

    streamed = tiles * vectors
    if dataflow is Dataflow.OS:
        hops = streamed * 2 * rows * cols + tiles * 4 * cols * rows * (rows + 1) // 2
        reads = m * k * folds(n, cols) + k * n * folds(m, rows)
        acc_adds = 0
    else:
        hops = streamed * 5 * rows * cols + tiles * rows * rows * cols
        if dataflow is Dataflow.WS:
            reads = k * n + m * k * folds(n, cols)
        else:
            reads = m * k + k * n * folds(m, cols)
        acc_adds = m * n * folds(k, rows)
    sram_bytes = reads + m * n
    compulsory = m * k + k * n + m * n
    dram_bytes = compulsory if compulsory <= sram_kib * 1024 else sram_bytes
    return Counts(macs=m * k * n, pe_cycles=cycles * rows * cols, acc_adds=acc_adds,
                  register_hops=hops, sram_bytes=sram_bytes, dram_bytes=dram_bytes,
                  sram_kib=sram_kib)


def run_counts(result, *, sram_kib: float = DEFAULT_SRAM_KIB) -> Counts:
    """:func:`matmul_counts` of a :class:`systolic.RunResult` (its shape, array and cycles).

    Examples
    --------
    >>> import numpy as np, systolic
    >>> res = systolic.SystolicArray(2, 2).run(np.ones((4, 4), np.int8),
    ...                                        np.ones((4, 4), np.int8))
    >>> run_counts(res) == matmul_counts(4, 4, 4, 2, 2, "ws", cycles=res.cycles)
    True
    """
    from .array import RunResult

    if not isinstance(result, RunResult):
        raise TypeError(f"result must be a RunResult, not {result!r}")
    m, n = result.output.shape
    rows, cols = result.dims
    return matmul_counts(m, result.macs // (m * n), n, rows, cols, result.dataflow,
                         cycles=result.cycles, sram_kib=sram_kib)


def report_counts(report, config) -> Counts:
    """Events of a TPU program run (:class:`systolic.tpu.RunReport`) on the machine ``config``.

    The matrix unit streamed ``report.macs / (R * C)`` vectors (each read from the Unified
    Buffer, ``R`` bytes, and added into the accumulators, ``C`` adds); each of the
    ``weight_tiles`` tiles came from DRAM through the Weight FIFO (SRAM) and shifted through
    the array; host transfers cross the Unified Buffer and host DRAM. The buffer's size is
    ``ub_bytes``.
    """
    from .tpu import RunReport, TPUConfig

    if not isinstance(report, RunReport):
        raise TypeError(f"report must be a tpu.RunReport, not {report!r}")
    if not isinstance(config, TPUConfig):
        raise TypeError(f"config must be a tpu.TPUConfig, not {config!r}")
    rows, cols = config.rows, config.cols
    vectors = report.macs // (rows * cols)
    tile_bytes = report.weight_tiles * config.tile_bytes
    return Counts(macs=report.useful_macs, pe_cycles=report.cycles * rows * cols,
                  acc_adds=vectors * cols,
                  register_hops=vectors * 5 * rows * cols + report.weight_tiles * rows * rows
                  * cols,
                  sram_bytes=vectors * rows + tile_bytes + report.host_bytes,
                  dram_bytes=tile_bytes + report.host_bytes, sram_kib=config.ub_bytes / 1024)


def _counts(obj, sram_kib, config) -> Counts:
    if isinstance(obj, Counts):
        return obj
    from .array import RunResult  # here, not for Counts: the array loads numba

    if isinstance(obj, RunResult):
        return run_counts(obj, sram_kib=DEFAULT_SRAM_KIB if sram_kib is None else sram_kib)
    if config is not None:
        return report_counts(obj, config)
    raise TypeError("expected Counts, a RunResult, or a tpu.RunReport with config=, "
                    f"not {obj!r}")


def energy_breakdown(obj, *, table: EnergyTable | None = None, sram_kib: float | None = None,
                     config=None) -> dict[str, float]:
    """Joules of each kind of event; the values add up to :func:`energy_j`.

    Parameters
    ----------
    obj : Counts, RunResult or tpu.RunReport
    table : EnergyTable, optional
        The prices (45 nm defaults).
    sram_kib : float, optional
        Buffer size for a RunResult (default 24 MiB).
    config : tpu.TPUConfig
        The machine, required with a RunReport.

    Returns
    -------
    dict
        ``mac``, ``acc_add``, ``register_hop``, ``sram``, ``dram``, ``idle`` in joules.
    """
    table = EnergyTable() if table is None else table
    if not isinstance(table, EnergyTable):
        raise TypeError(f"table must be an EnergyTable, not {table!r}")
    c = _counts(obj, sram_kib, config)
    pj = {"mac": c.macs * table.mac_pj, "acc_add": c.acc_adds * table.acc_add_pj,
          "register_hop": c.register_hops * table.register_hop_pj,
          "sram": c.sram_bytes * table.sram_pj(c.sram_kib),
          "dram": c.dram_bytes * table.dram_pj_per_byte,
          "idle": c.idle_pe_cycles * table.idle_pe_cycle_pj}
    return {name: value * 1e-12 for name, value in pj.items()}


def energy_j(obj, *, table: EnergyTable | None = None, sram_kib: float | None = None,
             config=None) -> float:
    """Energy of a run in joules (see :func:`energy_breakdown` for the parameters).

    Examples
    --------
    >>> round(energy_j(matmul_counts(256, 256, 256, 256, 256)) * 1e6, 3)   # microjoules
    105.726
    """
    return sum(energy_breakdown(obj, table=table, sram_kib=sram_kib, config=config).values())


def area_mm2(design, *, dataflow="ws", sram_kib: float = 0, acc_bits: int = 32,
             table: AreaTable | None = None) -> float:
    """Area of the PEs and the on-chip buffer of a design, in mm^2.

    Parameters
    ----------
    design : (int, int), RunResult or tpu.TPUConfig
        An array size ``(R, C)``; the array of a run (its dataflow is used); or a TPU machine,
        whose buffers are its Unified Buffer, accumulators and Weight FIFO.
    dataflow : Dataflow or {"ws", "os", "is"}
        For an ``(R, C)`` design.
    sram_kib : float
        On-chip buffer for an ``(R, C)`` design or a RunResult.
    acc_bits : int
        Width of the partial sums.
    table : AreaTable, optional

    Examples
    --------
    >>> round(area_mm2((256, 256)), 2)               # TPU v1's array of ws PEs
    49.98
    """
    table = AreaTable() if table is None else table
    if not isinstance(table, AreaTable):
        raise TypeError(f"table must be an AreaTable, not {table!r}")
    if isinstance(design, tuple) and len(design) == 2:
        rows, cols = (check_size("rows", design[0]), check_size("cols", design[1]))
    else:
        # Imported only for these designs: the array loads numba.
        from .array import RunResult
        from .tpu import TPUConfig

        if isinstance(design, TPUConfig):
            rows, cols = design.rows, design.cols
            dataflow, acc_bits = "ws", 32
            sram_kib = (design.ub_bytes + design.acc_rows * cols * 4
                        + design.weight_fifo_tiles * design.tile_bytes) / 1024
        elif isinstance(design, RunResult):
            (rows, cols), dataflow = design.dims, design.dataflow
        else:
            raise TypeError(f"design must be (rows, cols), a RunResult or a tpu.TPUConfig, "
                            f"not {design!r}")
    sram_kib = _check_number("sram_kib", sram_kib)
    um2 = rows * cols * table.pe_um2(rows, dataflow, acc_bits) + sram_kib * \
        table.sram_um2_per_kib
    return um2 * 1e-6
