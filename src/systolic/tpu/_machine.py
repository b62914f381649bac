"""The accelerator: memories, static program checks, execution and the timing model.

Values: instructions take effect in program order (the hardware interlocks every
read-after-write, write-after-read and write-after-write hazard on the Unified Buffer and the
accumulators, so program order is what the timed machine computes too). Matrix work runs on
:class:`systolic.SystolicArray`, on its cycle-accurate engine or its fast path.

Timing (docs/tpu.md, "Timing model"): instructions start in program order, each as soon as its
unit is free and its operands are ready, and then overlap. Read_Weights only queues tile
fetches; the weight fetcher streams them from DRAM into the Weight FIFO at the DRAM bandwidth,
one tile at a time, while the FIFO has a free slot. The matrix unit follows the contract's
legal-schedule rules for weight-stationary double buffering.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._checks import check_choice, check_int, check_int_array
from .._dataflow import Dataflow
from .._engine import wrap
from .._fault_engine import check_fast_faults
from .._schedule import load_bounds, switch_bounds
from .._table import Column, Table
from ..array import SystolicArray
from ._config import TPUConfig
from ._isa import MNEMONICS, Program, ProgramError
from ._quant import Requant, activate, pool

__all__ = ["BREAKDOWN_CATEGORIES", "RunReport", "TPU", "TimelineEntry", "check_program"]

_ENGINES = ("cycle", "fast")

#: Where the cycles of a run go (they sum to the total); see :class:`RunReport`.
BREAKDOWN_CATEGORIES = ("computing", "weight_stall", "weight_shift", "host", "activation",
                        "fill_drain", "other")

_PAGE = 1 << 16
_BIAS_ROWS = 4
_SCALE_ROWS = 4      # SetBias.scale: float32 scale bit planes after the bias planes
_FUNCTIONS = {None: "identity", "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}
_ROUNDINGS = {None: "half_even", "half_away": "half_away", "half_up": "half_up"}


class _SparseMemory:
    """Byte-addressed memory that stores only the 64 KiB pages written so far (reads of
    untouched bytes give 0)."""

    def __init__(self, name: str, size: int):
        self.name = name
        self.size = size
        self._pages: dict[int, np.ndarray] = {}

    def _check(self, addr: int, n: int) -> None:
        if addr < 0 or n < 0 or addr + n > self.size:
            raise ValueError(f"{self.name}: bytes {addr}..{addr + n - 1} outside "
                             f"0..{self.size - 1}")

    def write(self, addr: int, data) -> None:
        """Store ``data`` at ``addr``: bytes, a uint8/int8 array, or integers that fit a byte.

        Integer arrays of wider types and sequences are stored one byte per element when all
        their values fit int8 or uint8 (``-1`` is stored as ``0xFF``); anything else (floats,
        strings, wider values, masked arrays) is refused rather than reinterpreted.
        """
        addr = check_int("addr", addr, 0)
        if isinstance(data, (bytes, bytearray, memoryview)):
            buf = np.frombuffer(bytes(data), np.uint8)
        else:
            if isinstance(data, str):
                raise TypeError(f"{self.name}: data must be bytes or an array of byte values, "
                                f"got a str")
            array = check_int_array(f"{self.name} data", data, -128, 255)
            if array.size and int(array.min()) < 0 and int(array.max()) > 127:
                raise ValueError(f"{self.name} data must fit int8 or uint8, got min "
                                 f"{int(array.min())}, max {int(array.max())}")
            buf = array.astype(np.int16).astype(np.uint8).reshape(-1)
        self._check(addr, buf.size)
        pos = 0
        while pos < buf.size:
            page, offset = divmod(addr + pos, _PAGE)
            n = min(_PAGE - offset, buf.size - pos)
            store = self._pages.setdefault(page, np.zeros(_PAGE, np.uint8))
            store[offset:offset + n] = buf[pos:pos + n]
            pos += n

    def read(self, addr: int, n: int) -> np.ndarray:
        """``n`` bytes from ``addr`` as a uint8 array."""
        addr = check_int("addr", addr, 0)
        n = check_int("n", n, 0)
        self._check(addr, n)
        out = np.zeros(n, np.uint8)
        pos = 0
        while pos < n:
            page, offset = divmod(addr + pos, _PAGE)
            k = min(_PAGE - offset, n - pos)
            if page in self._pages:
                out[pos:pos + k] = self._pages[page][offset:offset + k]
            pos += k
        return out

    @property
    def bytes_stored(self) -> int:
        """Bytes of backing storage in use."""
        return len(self._pages) * _PAGE


@dataclass(frozen=True)
class TimelineEntry:
    """When one instruction ran.

    ``start``/``end`` are the first cycle of its work and the cycle after it. For
    MatrixMultiply the work is from its first x vector to the cycle after its last result; for
    Read_Weights from the first tile's DRAM fetch to the end of the last one.
    """

    index: int
    line: int
    text: str
    unit: str
    issue: int
    start: int
    end: int


@dataclass(frozen=True)
class RunReport:
    """Cycles, throughput and where the time went for one program run.

    Attributes
    ----------
    cycles : int
        Cycles from the first instruction to the end of Halt.
    seconds : float
        ``cycles / clock_hz``.
    macs : int
        Multiply-accumulate slots the matrix unit streamed (``vectors x R x C``).
    useful_macs : int
        The MACs the workload needs (given by the caller, e.g. the compiler; otherwise
        ``macs``).
    tops : float
        Achieved tera-operations per second, one MAC = 2 operations: ``2 * useful_macs /
        seconds / 1e12``.
    peak_tops : float
        ``2 * R * C * clock_hz / 1e12`` (92 TOPS for TPU v1).
    utilization : float
        ``useful_macs / (cycles * R * C)`` (equals ``tops / peak_tops``).
    breakdown : dict of str to int
        Cycles by category, summing to ``cycles``. ``computing``: an x vector enters the array.
        Every other cycle is charged to what the matrix unit waits for: ``weight_stall``
        (a tile still on its way from DRAM), ``weight_shift`` (a tile shifting in, not hidden),
        ``host`` (host transfers), ``activation`` (the activation unit), ``fill_drain`` (the
        array's pipeline filling or draining), ``other`` (instruction issue, Sync, Nop).
    timeline : tuple of TimelineEntry
        One entry per instruction, in program order.
    weight_tiles : int
        Tiles fetched from the Weight Memory.
    host_bytes : int
        Bytes moved over the host link.
    config : TPUConfig or None
        The machine the program ran on (prices :attr:`energy_j` and :attr:`area_mm2`).
    """

    cycles: int
    seconds: float
    macs: int
    useful_macs: int
    tops: float
    peak_tops: float
    utilization: float
    breakdown: dict
    timeline: tuple
    weight_tiles: int
    host_bytes: int
    config: TPUConfig | None = None

    @property
    def energy_j(self) -> float:
        """Energy of the run in joules, at the 45 nm defaults of :mod:`systolic.energy`."""
        from .. import energy

        return energy.energy_j(self, config=self._machine())

    @property
    def area_mm2(self) -> float:
        """Area of the machine's PEs and buffers in mm^2 (:func:`systolic.energy.area_mm2`)."""
        from .. import energy

        return energy.area_mm2(self._machine())

    def _machine(self) -> TPUConfig:
        if self.config is None:
            raise ValueError("this report does not name its machine (config=None): use "
                             "systolic.energy.energy_j(report, config=...)")
        return self.config

    @property
    def weight_wait(self) -> int:
        """Cycles waiting on weights: ``weight_stall + weight_shift``."""
        return self.breakdown["weight_stall"] + self.breakdown["weight_shift"]

    def summary(self) -> str:
        """A few lines of text for people."""
        return "\n".join(summary_lines(self))


def summary_lines(report, tops_digits: int = 2, util_digits: int = 1) -> list[str]:
    """The totals line and one line per breakdown category of a run ``report``.

    ``report`` has ``cycles``, ``seconds``, ``tops``, ``peak_tops``, ``utilization`` and a
    ``breakdown`` keyed by :data:`BREAKDOWN_CATEGORIES` (a :class:`RunReport` or an ONNX run's).
    """
    lines = [f"{report.cycles:,} cycles = {report.seconds * 1e6:,.2f} us, "
             f"{report.tops:.{tops_digits}f} of {report.peak_tops:.2f} peak TOPS "
             f"(1 MAC = 2 ops), utilisation {report.utilization:.{util_digits}%}"]
    shares = [(name, report.breakdown[name], report.breakdown[name] / max(report.cycles, 1))
              for name in BREAKDOWN_CATEGORIES]
    return lines + _BREAKDOWN_TABLE.lines(shares, header=False)


_BREAKDOWN_TABLE = Table([Column("category", 13, "<"), Column("cycles", 12, spec=","),
                          Column("share", 6, spec=".1%", sep="  ")], indent="  ")


# --------------------------------------------------------------------------------------------
# Static checks
# --------------------------------------------------------------------------------------------

def _span(inst, what: str, first: int, count: int, size: int, unit: str) -> None:
    if count < 1:
        raise ProgramError(inst.line, f"{inst.mnemonic}: {what} count must be >= 1, got {count}")
    if first + count > size:
        raise ProgramError(inst.line, f"{inst.mnemonic}: {what} {first}..{first + count - 1} "
                                      f"outside the {unit} (0..{size - 1})")


class _CheckState:
    """What the static checks carry from one instruction to the next."""

    def __init__(self, config: TPUConfig):
        self.config = config
        self.pending_tiles = 0        # tiles read by Read_Weights, not yet switched in
        self.active_tile = False
        self.pool_kind: str | None = None
        self.pool_size = self.pool_width = 1


def _check_nothing(inst, state: _CheckState) -> None:
    """Nop and Sync have no operands to check."""


def _check_halt(inst, state: _CheckState) -> None:
    if state.pending_tiles:
        n = state.pending_tiles
        raise ProgramError(inst.line, f"{n} weight tile{'s' if n > 1 else ''} read but "
                                      "never used")


def _check_host_transfer(inst, state: _CheckState) -> None:
    config = state.config
    rows = inst.operand("rows")
    _span(inst, "UB rows", inst.operand("ub"), rows, config.ub_rows, "Unified Buffer")
    _span(inst, "host bytes", inst.operand("host"), rows * config.row_bytes,
          config.host_memory_bytes, "host memory")


def _check_read_weights(inst, state: _CheckState) -> None:
    config = state.config
    addr, tiles = inst.operand("addr"), inst.operand("tiles")
    if tiles < 1:
        raise ProgramError(inst.line, f"Read_Weights: tiles must be >= 1, got {tiles}")
    if addr % config.tile_bytes:
        raise ProgramError(inst.line, f"Read_Weights: address {addr} is not a multiple "
                                      f"of the tile size {config.tile_bytes}")
    _span(inst, "weight bytes", addr, tiles * config.tile_bytes,
          config.weight_memory_bytes, "Weight Memory")
    state.pending_tiles += tiles


def _check_matmul(inst, state: _CheckState) -> None:
    config, name = state.config, inst.mnemonic
    rows = inst.operand("rows")
    stride = inst.operand("stride") if name == "Convolve" else 1
    if stride < 1:
        raise ProgramError(inst.line, f"Convolve: stride must be >= 1, got {stride}")
    _span(inst, "UB rows", inst.operand("ub"), (rows - 1) * stride + 1 if rows else 0,
          config.ub_rows, "Unified Buffer")
    _span(inst, "accumulator rows", inst.operand("acc"), rows, config.acc_rows,
          "accumulators")
    if inst.has("switch"):
        if not state.pending_tiles:
            raise ProgramError(inst.line, f"{name}: weight tile used before loaded "
                                          "(no Read_Weights tile left for .switch)")
        state.pending_tiles -= 1
        state.active_tile = True
    elif not state.active_tile:
        raise ProgramError(inst.line, f"{name}: weight tile used before loaded "
                                      "(no tile switched in yet; use .switch)")


def _check_activate(inst, state: _CheckState) -> None:
    config = state.config
    rows = inst.operand("rows")
    _span(inst, "accumulator rows", inst.operand("acc"), rows, config.acc_rows,
          "accumulators")
    out_rows = rows
    if inst.has("pool"):
        if state.pool_kind is None:
            raise ProgramError(inst.line, "Activate.pool: no SetPool.max or "
                                          "SetPool.avg before it")
        if rows % (state.pool_size * state.pool_width):
            raise ProgramError(inst.line, f"Activate.pool: {rows} rows are not whole "
                                          f"{state.pool_size}-row bands of width "
                                          f"{state.pool_width}")
        out_rows = rows // (state.pool_size * state.pool_size)
    _span(inst, "UB rows", inst.operand("ub"), out_rows, config.ub_rows, "Unified Buffer")


def _check_setquant(inst, state: _CheckState) -> None:
    for field, high in (("multiplier", (1 << 31) - 1), ("shift", 62), ("frac_bits", 31)):
        if inst.operand(field) > high:
            raise ProgramError(inst.line, f"SetQuant: {field} must be <= {high}, "
                                          f"got {inst.operand(field)}")


def _check_setpool(inst, state: _CheckState) -> None:
    size, width = inst.operand("size"), inst.operand("width")
    if size < 1 or width < 1 or width % size:
        raise ProgramError(inst.line, f"SetPool: width {width} must be a positive "
                                      f"multiple of size {size}")
    state.pool_kind = next((f for f in inst.flags if f in ("max", "avg")), None)
    state.pool_size, state.pool_width = size, width


def _check_setbias(inst, state: _CheckState) -> None:
    _span(inst, "UB rows", inst.operand("ub"),
          _BIAS_ROWS + (_SCALE_ROWS if inst.has("scale") else 0), state.config.ub_rows,
          "Unified Buffer")


#: The static check of every instruction (its encoding is in ``_isa._SPECS``, its execution
#: in ``_EXECUTE`` below).
_CHECKS = {
    "Nop": _check_nothing,
    "Halt": _check_halt,
    "Sync": _check_nothing,
    "Read_Host_Memory": _check_host_transfer,
    "Write_Host_Memory": _check_host_transfer,
    "Read_Weights": _check_read_weights,
    "MatrixMultiply": _check_matmul,
    "Convolve": _check_matmul,
    "Activate": _check_activate,
    "SetQuant": _check_setquant,
    "SetPool": _check_setpool,
    "SetBias": _check_setbias,
}


def check_program(program: Program, config: TPUConfig) -> None:
    """Reject a program that the machine ``config`` cannot run as written.

    Checks operand ranges against every memory, the pooling set-up, that each weight tile is
    loaded before use and used after loading, and that the program ends with Halt.

    Raises
    ------
    ProgramError
        Naming the line and the reason.
    """
    state = _CheckState(config)
    last_line = 0
    for index, inst in enumerate(program.instructions):
        last_line = inst.line
        if inst.mnemonic == "Halt" and index != len(program) - 1:
            raise ProgramError(program.instructions[index + 1].line, "instruction after Halt")
        _CHECKS[inst.mnemonic](inst, state)
        if inst.mnemonic == "Halt":
            return
    raise ProgramError(last_line + 1, "program does not end with Halt")


# --------------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------------

class _Tracker:
    """Per-row ready/free times of a memory, with who wrote each row (for stall accounting)."""

    def __init__(self, rows: int):
        self.ready = np.zeros(rows, np.int64)     # cycle from which the row holds its value
        self.free = np.zeros(rows, np.int64)      # cycle after its last pending read
        self.kind = np.zeros(rows, np.int8)       # 0: nobody, 1: host, 2: activation
        self.writer_start = np.zeros(rows, np.int64)


class TPU:
    """A TPU v1-style accelerator around the systolic array.

    Parameters
    ----------
    config : TPUConfig, optional
        The machine (TPU v1 by default).

    Attributes
    ----------
    host : host memory (``write(addr, data)``, ``read(addr, n)``), stored sparsely.
    weight_memory : the Weight Memory (same interface), stored sparsely.
    ub : ndarray, uint8 ``(ub_rows, row_bytes)``
        The Unified Buffer (all zero after construction).
    acc : ndarray, int32 ``(acc_rows, cols)``
        The accumulators.

    Examples
    --------
    >>> import numpy as np
    >>> tpu = TPU(TPUConfig(rows=4, cols=4))
    >>> tpu.host.write(0, np.arange(8, dtype=np.int8))
    >>> tpu.weight_memory.write(0, np.eye(4, dtype=np.int8))
    >>> report = tpu.run(Program.parse('''
    ...     Read_Weights 0, 1
    ...     Read_Host_Memory 0, 0, 2
    ...     MatrixMultiply.switch 0, 0, 2
    ...     Activate 0, 2, 2
    ...     Write_Host_Memory 2, 64, 2
    ...     Halt'''))
    >>> tpu.host.read(64, 8).view(np.int8).tolist()
    [0, 1, 2, 3, 4, 5, 6, 7]
    """

    def __init__(self, config: TPUConfig | None = None):
        if config is None:
            config = TPUConfig()
        if not isinstance(config, TPUConfig):
            raise TypeError(f"config must be a TPUConfig, not {config!r}")
        self.config = config
        self.host = _SparseMemory("host memory", config.host_memory_bytes)
        self.weight_memory = _SparseMemory("Weight Memory", config.weight_memory_bytes)
        self.ub = np.zeros((config.ub_rows, config.row_bytes), np.uint8)
        self.acc = np.zeros((config.acc_rows, config.cols), np.int32)
        self._array = SystolicArray(config.rows, config.cols, "ws",
                                    double_buffer=config.double_buffer, acc_bits=32)

    def check(self, program: Program) -> None:
        """See :func:`check_program`."""
        check_program(program, self.config)

    def run(self, program: Program, *, engine: str = "fast",
            useful_macs: int | None = None) -> RunReport:
        """Check, then execute ``program``; memories keep the results.

        Parameters
        ----------
        program : Program
        engine : {"fast", "cycle"}
            How the array computes: its fast path or its cycle-accurate engine. Values and
            cycle counts are the same.
        useful_macs : int, optional
            MACs the workload needs, for :attr:`RunReport.tops`.

        Returns
        -------
        RunReport

        Raises
        ------
        ProgramError
            The program is malformed (nothing is executed then).
        ValueError
            A flip of ``config.faults`` after the matrix unit's last cycle
            (:func:`systolic.tpu.matrix_cycles`), or faults the fast path cannot compute
            exactly (nothing is executed then).
        """
        if not isinstance(program, Program):
            raise TypeError(f"program must be a Program, not {program!r}")
        check_choice("engine", engine, _ENGINES)
        if useful_macs is not None:
            useful_macs = check_int("useful_macs", useful_macs, 0)
        check_program(program, self.config)
        runs = _check_faults(self, program, engine)
        return _Run(self, engine, runs).execute(program, useful_macs)


def _check_faults(tpu: TPU, program: Program, engine: str) -> list[int] | None:
    """The array run lengths when the machine has faults or bypassed PEs (else ``None``),
    after refusing flips outside the matrix unit's cycles and what the fast path cannot do."""
    cfg = tpu.config
    if not cfg.faults and not cfg.bypass:
        return None
    from ._faults import matrix_runs

    runs = matrix_runs(program, cfg)
    flips = [f for f in cfg.faults if f.kind == "flip"]
    late = [f for f in flips if f.cycle >= sum(runs)]
    if late:
        raise ValueError(f"flip at cycle {late[0].cycle} is after the matrix unit's last "
                         f"cycle: this program runs it for {sum(runs)} cycles "
                         f"(0..{sum(runs) - 1}, see systolic.tpu.matrix_cycles)")
    if engine == "fast":
        check_fast_faults(cfg.faults, Dataflow.WS)
    return runs


class _Run:
    """One execution: functional state changes plus the timing bookkeeping."""

    def __init__(self, tpu: TPU, engine: str, runs: list[int] | None = None):
        cfg = tpu.config
        self.tpu, self.cfg, self.engine = tpu, cfg, engine
        # the array run lengths in program order (None without faults or bypass)
        self.runs = None if runs is None else iter(runs)
        self.matrix_cycle = 0       # the matrix unit's cycle count at the current run
        self.ub = _Tracker(cfg.ub_rows)
        self.acc = _Tracker(cfg.acc_rows)
        self.requant = Requant()
        self.bias = np.zeros(cfg.cols, np.int64)
        self.scale = np.ones(cfg.cols, np.float32)   # per-column float32 scales (f32 mode)
        self.float_mode = False
        self.pool_kind, self.pool_size, self.pool_width = "none", 1, 1
        # units
        self.host_free = self.act_free = self.dram_free = 0
        self.last_land = 0           # cycle after the last result left the array
        # weight path: tiles in FIFO order
        self.fetch_queue: list[tuple[int, np.ndarray]] = []   # (issue cycle, tile)
        self.fetch_done: list[int] = []
        self.fetch_start: list[int] = []
        self.fetch_entry: list[int] = []
        self.pops: list[int] = []
        self.active_tile: np.ndarray | None = None
        self.prev_switch = self.prev_load = None
        self.last_vector = -1
        self._entry_index = 0
        # accounting
        self.cursor = 0              # first cycle after the last x vector
        self.breakdown = dict.fromkeys(BREAKDOWN_CATEGORIES, 0)
        self.macs = 0
        self.host_bytes = 0

    # -- accounting -------------------------------------------------------------------------

    def _charge(self, category: str, until: int) -> None:
        if until > self.cursor:
            self.breakdown[category] += until - self.cursor
            self.cursor = until

    # -- weight fetcher ---------------------------------------------------------------------

    def _fetch_until(self, k: int) -> None:
        """Schedule DRAM fetches of FIFO tiles up to ``k`` (their FIFO slots are known)."""
        depth, cycles = self.cfg.weight_fifo_tiles, self.cfg.weight_fetch_cycles
        while len(self.fetch_done) <= k:
            j = len(self.fetch_done)
            issue = self.fetch_queue[j][0]
            slot = self.pops[j - depth] if j >= depth else 0
            start = max(issue, self.dram_free, slot)
            self.dram_free = start + cycles
            self.fetch_start.append(start)
            self.fetch_done.append(start + cycles)

    # -- execution --------------------------------------------------------------------------

    def execute(self, program: Program, useful_macs: int | None) -> RunReport:
        cfg = self.cfg
        entries: list[TimelineEntry] = []
        prev_issue, prev_start, prev_cause, barrier = -1, 0, "other", 0
        for index, inst in enumerate(program.instructions):
            issue = max(prev_issue + 1, prev_start, barrier)
            name = inst.mnemonic
            self._entry_index = index
            start, end, unit, cause = _EXECUTE[name](
                self, inst, issue, prev_cause if issue > prev_issue + 1 else "other")
            entries.append(TimelineEntry(index, inst.line, inst.text, unit, issue, start, end))
            if name == "Sync":
                barrier = end
            prev_issue, prev_start, prev_cause = issue, start, cause
        # every tile was consumed (check_program), so every fetch is scheduled by now; a
        # Read_Weights entry spans its tiles' fetches
        for k, index in enumerate(self.fetch_entry):
            entry = entries[index]
            start = self.fetch_start[k]
            entries[index] = replace(entry, start=min(entry.start, start) if entry.start >= 0
                                     else start, end=max(entry.end, self.fetch_done[k]))
        total = entries[-1].end
        # the tail after the last x vector: drain, then activation, then host transfers
        self._charge("fill_drain", min(total, self.last_land))
        self._charge("activation", min(total, self.act_free))
        self._charge("host", min(total, self.host_free))
        self._charge("other", total)
        seconds = total / cfg.clock_hz
        useful = self.macs if useful_macs is None else int(useful_macs)
        return RunReport(
            cycles=total, seconds=seconds, macs=self.macs, useful_macs=useful,
            tops=2 * useful / seconds / 1e12 if total else 0.0, peak_tops=cfg.peak_tops,
            utilization=useful / (total * cfg.rows * cfg.cols) if total else 0.0,
            breakdown=self.breakdown,
            timeline=tuple(entries),
            weight_tiles=len(self.fetch_done), host_bytes=self.host_bytes, config=cfg)

    # Each handler returns (start, end, unit, cause): ``cause`` is the category charged to the
    # matrix unit when a later instruction's issue waits for this one to start.

    def _nop(self, inst, issue, cause):
        return issue, issue + 1, "control", "other"

    def _halt(self, inst, issue, cause):
        end = max(issue, self.host_free, self.act_free, self.last_land, self.dram_free)
        return end, end, "control", "other"

    def _sync(self, inst, issue, cause):
        waits = {"fill_drain": self.last_land, "activation": self.act_free,
                 "host": self.host_free}
        category = max(waits, key=waits.get)
        end = max(issue, waits[category])
        return issue, end, "control", category if end > issue else "other"

    def _read_host_memory(self, inst, issue, cause):
        ub, rows, host = inst.operand("ub"), inst.operand("rows"), inst.operand("host")
        dst = slice(ub, ub + rows)
        start = max(issue, self.host_free, int(self.ub.free[dst].max()),
                    int(self.ub.ready[dst].max()))
        end = start + self.cfg.host_transfer_cycles(rows)
        self.host_free = end
        nbytes = rows * self.cfg.row_bytes
        self.tpu.ub[dst] = self.tpu.host.read(host, nbytes).reshape(rows, -1)
        self.ub.ready[dst], self.ub.kind[dst], self.ub.writer_start[dst] = end, 1, start
        self.host_bytes += nbytes
        return start, end, "host", "host"

    def _write_host_memory(self, inst, issue, cause):
        ub, rows, host = inst.operand("ub"), inst.operand("rows"), inst.operand("host")
        src = slice(ub, ub + rows)
        start = max(issue, self.host_free, int(self.ub.ready[src].max()))
        end = start + self.cfg.host_transfer_cycles(rows)
        self.host_free = end
        self.ub.free[src] = np.maximum(self.ub.free[src], end)
        self.tpu.host.write(host, self.tpu.ub[src])
        self.host_bytes += rows * self.cfg.row_bytes
        return start, end, "host", "host"

    def _read_weights(self, inst, issue, cause):
        cfg = self.cfg
        addr = inst.operand("addr")
        for t in range(inst.operand("tiles")):
            raw = self.tpu.weight_memory.read(addr + t * cfg.tile_bytes, cfg.tile_bytes)
            self.fetch_queue.append((issue, raw.reshape(cfg.rows, cfg.cols)))
            self.fetch_entry.append(self._entry_index)
        return -1, issue + 1, "weights", "other"

    def _matrixmultiply(self, inst, issue, cause):
        return self._matmul(inst, issue, cause, 1)

    def _convolve(self, inst, issue, cause):
        return self._matmul(inst, issue, cause, inst.operand("stride"))

    def _matmul(self, inst, issue, cause, stride):
        cfg = self.cfg
        ub, acc, rows = inst.operand("ub"), inst.operand("acc"), inst.operand("rows")
        src = np.arange(rows) * stride + ub
        dst = slice(acc, acc + rows)
        load, load_cause = self._switch_tile(issue, cause) if inst.has("switch") else (None, None)
        x = self.tpu.ub[src, :cfg.rows]
        x = x.view(np.uint8) if inst.has("xu") else x.view(np.int8)
        w = self.active_tile.view(np.uint8) if inst.has("wu") else self.active_tile.view(np.int8)
        res = self.tpu._array.run(x, w, engine=self.engine, **self._faults())
        latency = res.breakdown.drain
        first, binding = self._first_vector(issue, load, src, dst, latency)
        self._charge_wait(first, binding, cause, load, load_cause, src)
        self._charge("computing", first + rows)
        last = first + rows - 1
        land = last + latency + 1
        if load is not None:
            self.prev_switch, self.prev_load = first, load
        self.last_vector, self.last_land = last, max(self.last_land, land)
        self.ub.free[src] = np.maximum(self.ub.free[src], last + 1)
        self.acc.ready[dst] = land
        self._accumulate(res.output, dst, inst.has("acc"))
        self.macs += rows * cfg.rows * cfg.cols
        category = {"weights": "weight_stall", "acc": "activation", "array": "computing",
                    "other": cause}.get(binding, "host")
        return first, land, "matrix", category

    def _faults(self) -> dict:
        """The faults and bypass of the next array run, flips in its own cycles."""
        if self.runs is None:
            return {}
        first = self.matrix_cycle
        total = next(self.runs)
        self.matrix_cycle += total
        faults = [f if f.kind != "flip" else replace(f, cycle=f.cycle - first)
                  for f in self.cfg.faults
                  if f.kind != "flip" or first <= f.cycle < first + total]
        return {"faults": faults, "bypass": self.cfg.bypass}

    def _switch_tile(self, issue, cause):
        """Pop the next tile from the Weight FIFO: when its shift starts, and what held it."""
        k = len(self.pops)
        self._fetch_until(k)
        # the shift may start once the tile is in the FIFO and the contract's
        # legal-schedule rules allow it; remember what held it back
        load_waits = {cause: issue, "weight_stall": self.fetch_done[k]}
        if self.prev_switch is not None:
            load_waits["weight_shift"], load_waits["computing"] = load_bounds(
                self.prev_switch, self.prev_load, self.last_vector, self.cfg.rows,
                self.cfg.double_buffer)
        load = max(load_waits.values())
        self.active_tile = self.fetch_queue[k][1]
        self.pops.append(load)
        return load, max(load_waits, key=load_waits.get)

    def _first_vector(self, issue, load, src, dst, latency):
        """When the first x vector may enter, and which wait binds."""
        waits = {"other": issue, "array": self.last_vector + 1}
        if load is not None:
            waits["weights"], waits["array"] = switch_bounds(load, self.last_vector,
                                                             self.cfg.rows)
        waits["ub"] = int(self.ub.ready[src].max())
        waits["acc"] = int(self.acc.free[dst].max()) - latency
        return max(waits.values()), max(waits, key=waits.get)

    def _charge_wait(self, first, binding, cause, load, load_cause, src):
        """Charge the matrix unit's idle cycles before ``first`` to what it waited for."""
        if first <= self.cursor:
            return
        if binding == "weights":
            self._charge(load_cause, min(first, load))
            self._charge("weight_shift", first)
        elif binding == "ub":
            row = int(np.argmax(self.ub.ready[src]))
            if self.ub.kind[src[row]] == 2:
                self._charge("fill_drain", min(first, int(self.ub.writer_start[src[row]])))
                self._charge("activation", first)
            else:
                self._charge("host", first)
        elif binding == "acc":
            self._charge("activation", first)
        else:
            self._charge(cause if binding == "other" else "other", first)

    def _accumulate(self, output, dst, accumulate):
        """Write (or add) the array's products into the accumulators, wrapping to int32."""
        out = output.astype(np.int64)
        if accumulate:
            out += self.tpu.acc[dst]
        self.tpu.acc[dst] = wrap(out, 32)

    def _activate(self, inst, issue, cause):
        acc, ub, rows = inst.operand("acc"), inst.operand("ub"), inst.operand("rows")
        src = slice(acc, acc + rows)
        pooled = inst.has("pool") and self.pool_kind != "none"
        out_rows = rows // (self.pool_size ** 2) if pooled else rows
        dst = slice(ub, ub + out_rows)
        start = max(issue, self.act_free, int(self.acc.ready[src].max()),
                    int(self.ub.free[dst].max()), int(self.ub.ready[dst].max()))
        end = start + rows + self.cfg.activate_latency
        function = _FUNCTIONS[next((f for f in inst.flags if f != "pool"), None)]
        values = activate(self.tpu.acc[src], self.bias, self.requant, function,
                          self.scale if self.float_mode else None)
        if pooled:
            values = pool(values, self.pool_kind, self.pool_size, self.pool_width,
                          self.requant.rounding)
        row_data = np.zeros((out_rows, self.cfg.row_bytes), np.uint8)
        row_data[:, :self.cfg.cols] = values.astype(np.int64).astype(np.uint8)
        self.tpu.ub[dst] = row_data
        self.act_free = end
        self.acc.free[src] = np.maximum(self.acc.free[src], start + rows)
        self.ub.ready[dst], self.ub.kind[dst], self.ub.writer_start[dst] = end, 2, start
        return start, end, "activation", "fill_drain"

    def _config_step(self, issue):
        start = max(issue, self.act_free)
        self.act_free = start + 1
        return start, start + 1, "activation", "activation"

    def _setquant(self, inst, issue, cause):
        self.float_mode = inst.has("f32")
        rounding = _ROUNDINGS[next((f for f in inst.flags if f not in ("uint8", "f32")), None)]
        self.requant = Requant(inst.operand("multiplier"), inst.operand("shift"),
                               inst.operand("zero_point"), not inst.has("uint8"), rounding,
                               inst.operand("frac_bits"))
        return self._config_step(issue)

    def _setpool(self, inst, issue, cause):
        self.pool_kind = inst.flags[0] if inst.flags else "none"
        self.pool_size, self.pool_width = inst.operand("size"), inst.operand("width")
        return self._config_step(issue)

    def _setbias(self, inst, issue, cause):
        ub = inst.operand("ub")
        n = _BIAS_ROWS + (_SCALE_ROWS if inst.has("scale") else 0)
        rows = slice(ub, ub + n)
        start = max(issue, self.act_free, int(self.ub.ready[rows].max()))
        planes = self.tpu.ub[rows, :self.cfg.cols].astype(np.uint32)
        word = planes[0] | planes[1] << 8 | planes[2] << 16 | planes[3] << 24
        self.bias = word.view(np.int32).astype(np.int64)
        if inst.has("scale"):
            word = planes[4] | planes[5] << 8 | planes[6] << 16 | planes[7] << 24
            self.scale = word.view(np.float32)
        self.ub.free[rows] = np.maximum(self.ub.free[rows], start + n)
        self.act_free = start + n
        return start, start + n, "activation", "activation"


#: How every instruction executes (each returns ``start, end, unit, cause``).
_EXECUTE = {
    "Nop": _Run._nop,
    "Halt": _Run._halt,
    "Sync": _Run._sync,
    "Read_Host_Memory": _Run._read_host_memory,
    "Write_Host_Memory": _Run._write_host_memory,
    "Read_Weights": _Run._read_weights,
    "MatrixMultiply": _Run._matrixmultiply,
    "Convolve": _Run._convolve,
    "Activate": _Run._activate,
    "SetQuant": _Run._setquant,
    "SetPool": _Run._setpool,
    "SetBias": _Run._setbias,
}


def _check_tables() -> None:
    """Every mnemonic of the encoding table has a static check and an execution."""
    for table, what in ((_CHECKS, "static check"), (_EXECUTE, "execution")):
        missing = [name for name in MNEMONICS if name not in table]
        extra = [name for name in table if name not in MNEMONICS]
        if missing or extra:
            raise ImportError(f"TPU instruction tables disagree: {what} missing for "
                              f"{missing}, unknown {extra}")


_check_tables()
