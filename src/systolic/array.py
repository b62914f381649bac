"""The public face of the model: :class:`SystolicArray`, :func:`matmul` and their results."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_bool, check_memory, check_optional_bool, is_int
from ._config import CYCLES_PER_SECOND, PE_CYCLES_PER_SECOND, PROGRESS_SECONDS
from ._dataflow import Dataflow
from ._engine import CycleRun, exact_result, fast_output_stream, overflow_count, wrap
from ._fault_engine import FaultyRun, check_fast_faults, fast_report, prepare_faults
from ._schedule import W_COL, W_ROW, X_BASE, Problem, Schedule, greedy, make_problem
from ._validate import (
    check_acc_bits,
    check_choice,
    check_dataflow,
    check_dims,
    check_gaps,
    check_operands,
    check_size,
    check_trace_window,
)
from .timing import CycleBreakdown, breakdown, scalesim_breakdown, tiles_and_vectors

__all__ = [
    "ArrayTrace",
    "CycleBreakdown",
    "EdgeStream",
    "FaultReport",
    "OutputStream",
    "RunResult",
    "Stepper",
    "SystolicArray",
    "matmul",
]

_ENGINES = ("cycle", "fast")
_TIMINGS = ("exact", "scalesim")


@dataclass(frozen=True)
class OutputStream:
    """What the array's output port showed: every cycle with ``out_valid = 1``.

    Attributes
    ----------
    cycles : ndarray, int64 (n,)
        The cycles, increasing.
    data : ndarray, int32 (n, C)
        ``out_data`` during those cycles (signed ``acc_bits`` values).
    """

    cycles: np.ndarray
    data: np.ndarray


@dataclass(frozen=True)
class ArrayTrace:
    """Every PE register over a window of cycles.

    Attributes
    ----------
    first_cycle : int
        Cycle of index 0.
    registers : dict of str to ndarray (n, R, C)
        One array per register of the contract's PE table (``x``, ``x_valid``, ``x_flag``,
        ``w``, ``w_valid``, ``w_tag``, ``psum``, ``psum_valid``, and ``w_active``/``w_shadow``
        for ws/is or ``acc``/``hold`` for os): the register's content during each cycle.
    """

    first_cycle: int
    registers: dict


@dataclass(frozen=True)
class EdgeStream:
    """The array's top-level inputs during every cycle of a run (for RTL and VCD).

    Attributes
    ----------
    x_data : ndarray, int16 (n_cycles, R)
        Left-edge data (raw 8-bit values, signed or unsigned by ``x_signed``).
    x_valid, x_flag : ndarray, uint8 (n_cycles,)
    w_data : ndarray, int16 (n_cycles, C)
        Top-edge data (by ``w_signed``).
    w_valid : ndarray, uint8 (n_cycles,)
    w_tag : ndarray, int32 (n_cycles,)
    x_signed, w_signed : bool
        Signedness of each lane: ws/os put ``a`` on the x lane and ``b`` on the w lane, is puts
        ``b^T`` on the x lane and ``a^T`` on the w lane.
    """

    x_data: np.ndarray
    x_valid: np.ndarray
    x_flag: np.ndarray
    w_data: np.ndarray
    w_valid: np.ndarray
    w_tag: np.ndarray
    x_signed: bool
    w_signed: bool


@dataclass(frozen=True)
class FaultReport:
    """What faults and bypassed PEs did to a run's output (``docs/contract.md``, section 6).

    The fault-free output is computed exactly by the fast path; an output element is corrupted
    when the faulty run's value differs from it.

    Attributes
    ----------
    faults : tuple of Fault
        The faults of the run.
    bypass : tuple of (int, int)
        The bypassed PEs, sorted.
    expected : ndarray, int32 (M, N)
        The fault-free output.
    corrupted : ndarray, bool (M, N)
        Where the output differs from ``expected``.
    error : ndarray, int64 (M, N)
        ``output - expected`` (0 where the output is right).
    first_cycle : ndarray, int64 (M, N)
        For a corrupted element, the first cycle on which a result vector that adds to it
        differed from the fault-free one on the output port; -1 elsewhere.

    Examples
    --------
    >>> import numpy as np
    >>> from systolic import Fault, SystolicArray
    >>> a, b = np.ones((2, 3), np.int8), np.ones((3, 2), np.int8)
    >>> res = SystolicArray(3, 2, "ws").run(
    ...     a, b, faults=[Fault("psum", (2, 1), 4, "stuck_at_1")])
    >>> res.output.tolist()
    [[3, 19], [3, 19]]
    >>> rep = res.fault_report
    >>> rep.n_corrupted, rep.max_abs_error, rep.first_cycle_seen
    (2, 16, 7)
    >>> rep.summary()
    '2 of 4 outputs corrupted, max abs error 16, first seen in cycle 7'
    """

    faults: tuple
    bypass: tuple
    expected: np.ndarray
    corrupted: np.ndarray
    error: np.ndarray
    first_cycle: np.ndarray

    @property
    def n_corrupted(self) -> int:
        """How many output elements differ from the fault-free output."""
        return int(np.count_nonzero(self.corrupted))

    @property
    def max_abs_error(self) -> int:
        """The largest ``|output - expected|`` (0 when nothing is corrupted)."""
        return int(np.abs(self.error).max()) if self.error.size else 0

    @property
    def first_cycle_seen(self) -> int | None:
        """The first cycle on which a corrupted result appeared, or None."""
        seen = self.first_cycle[self.corrupted]
        return int(seen.min()) if seen.size else None

    def summary(self) -> str:
        """The three numbers above in one line."""
        line = (f"{self.n_corrupted} of {self.corrupted.size} outputs corrupted, "
                f"max abs error {self.max_abs_error}")
        if self.first_cycle_seen is not None:
            line += f", first seen in cycle {self.first_cycle_seen}"
        return line


@dataclass(frozen=True)
class RunResult:
    """Everything a run reports.

    Attributes
    ----------
    output : ndarray, int32 (M, N)
        ``a @ b`` modulo ``2**acc_bits``.
    cycles : int
        ``breakdown.total``.
    breakdown : CycleBreakdown
    utilization : float
        ``macs / (cycles * R * C)``.
    macs : int
        ``M * K * N``.
    overflow_count : int
        Output elements whose exact value lies outside the signed ``acc_bits`` range.
    tiles : int
        Tiles of the mapping.
    vectors : int
        x vectors of the whole schedule (the length of ``gaps``).
    outputs : OutputStream or None
        The output port, when ``record_outputs=True``.
    trace : ArrayTrace or None
        The registers of the requested window.
    dims : tuple of int
        ``(R, C)``.
    dataflow : Dataflow
    fault_report : FaultReport or None
        What the run's faults and bypassed PEs changed; None for a run without either.
    """

    output: np.ndarray
    cycles: int
    breakdown: CycleBreakdown
    utilization: float
    macs: int
    overflow_count: int
    tiles: int
    vectors: int
    outputs: OutputStream | None
    trace: ArrayTrace | None
    dims: tuple[int, int]
    dataflow: Dataflow
    fault_report: FaultReport | None = None

    @property
    def energy_j(self) -> float:
        """Energy of the run in joules (:func:`systolic.energy.energy_j`).

        Priced at the 45 nm defaults with a 24 MiB buffer, TPU v1's Unified Buffer.
        """
        from . import energy

        return energy.energy_j(self)

    @property
    def area_mm2(self) -> float:
        """Area of the run's array in mm^2 (:func:`systolic.energy.area_mm2`), no buffers."""
        from . import energy

        return energy.area_mm2(self)


class Stepper:
    """A cycle-accurate run that advances on request (made by :meth:`SystolicArray.stepper`).

    Attributes
    ----------
    cycle : int
        The next cycle to simulate; :attr:`state` shows the registers during it.
    done : bool
        True once every cycle of the run has been simulated.
    """

    def __init__(self, array: SystolicArray, run: CycleRun):
        self._array = array
        self._run = run

    @property
    def cycle(self) -> int:
        """The next cycle to simulate."""
        return self._run.cycle

    @property
    def done(self) -> bool:
        """True once every cycle of the run has been simulated."""
        return self._run.cycle >= self._run.total

    @property
    def state(self) -> dict[str, np.ndarray]:
        """Every PE register during :attr:`cycle`, name -> ``(R, C)`` array."""
        return self._run.state()

    def step(self, n: int = 1) -> None:
        """Simulate ``n`` more cycles (stops at the end of the run)."""
        n = check_size("n", n)
        self._run.advance(min(self._run.cycle + n, self._run.total))

    def run_to(self, cycle: int) -> None:
        """Simulate up to (not including) ``cycle``, so that :attr:`cycle` becomes ``cycle``."""
        what = (f"an integer from {self._run.cycle} (the current cycle) to {self._run.total} "
                f"(the end of the run)")
        if not is_int(cycle):
            raise TypeError(f"cycle must be {what}, got {cycle!r}")
        if not self._run.cycle <= cycle <= self._run.total:
            raise ValueError(f"cycle must be {what}, got {cycle!r}")
        self._run.advance(int(cycle))

    def result(self) -> RunResult:
        """Finish the run and return its :class:`RunResult` (with the output stream)."""
        self._run.advance(self._run.total)
        return self._array._result(self._run.problem, self._run.schedule, self._run.output(),
                                   None, "exact", OutputStream(*self._run.output_stream()),
                                   None, self._run.report())


class SystolicArray:
    """An ``R x C`` systolic array that follows ``docs/contract.md``.

    Parameters
    ----------
    rows, cols : int
        Array size ``R x C`` (any positive integers).
    dataflow : Dataflow or {"ws", "os", "is"}
        Weight-, output- or input-stationary.
    double_buffer : bool
        Weight double buffering (ws/is): the next tile loads while the current one computes.
    acc_bits : int
        Width of the sums, 16 to 32; they wrap around modulo ``2**acc_bits``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(-128, 128, (300, 700), dtype=np.int8)
    >>> b = rng.integers(-128, 128, (700, 500), dtype=np.int8)
    >>> res = SystolicArray(256, 256, "ws").run(a, b)
    >>> bool((res.output == a.astype(np.int32) @ b.astype(np.int32)).all())
    True
    >>> res.cycles, res.breakdown.stall
    (2567, 0)
    """

    def __init__(self, rows: int = 256, cols: int = 256, dataflow="ws", *,
                 double_buffer: bool = True, acc_bits: int = 32):
        self._rows = check_size("rows", rows)
        self._cols = check_size("cols", cols)
        self._dataflow = check_dataflow(dataflow)
        self._double_buffer = check_bool("double_buffer", double_buffer)
        self._acc_bits = check_acc_bits(acc_bits)

    rows = property(lambda self: self._rows, doc="Number of PE rows ``R``.")
    cols = property(lambda self: self._cols, doc="Number of PE columns ``C``.")
    dataflow = property(lambda self: self._dataflow, doc="The :class:`Dataflow`.")
    double_buffer = property(lambda self: self._double_buffer, doc="Weight double buffering.")
    acc_bits = property(lambda self: self._acc_bits, doc="Width of the sums in bits.")

    def __repr__(self) -> str:
        return (f"SystolicArray(rows={self._rows}, cols={self._cols}, "
                f"dataflow={self._dataflow.value!r}, double_buffer={self._double_buffer}, "
                f"acc_bits={self._acc_bits})")

    # -- shared preparation ------------------------------------------------------------------

    def _prepare(self, a, b, gaps) -> tuple[Problem, Schedule, bool, bool]:
        """The problem, its greedy schedule, and whether the x and the w lane are signed."""
        a, b, a_signed, b_signed = check_operands(a, b)
        m, k = a.shape
        n = b.shape[1]
        n_tiles, vectors = tiles_and_vectors(m, k, n, self._rows, self._cols, self._dataflow)
        # the schedule: gaps, x times and result times of every vector, plus per-tile arrays
        # (os: one result per tile row)
        check_memory(f"the schedule of a {m}x{k}x{n} matmul on a {self._rows}x{self._cols} "
                     f"array ({n_tiles} tiles of {vectors} vectors)",
                     8 * (3 * n_tiles * vectors + n_tiles * (self._rows + 6)),
                     "use a larger array or smaller operands")
        problem = make_problem(a, b, self._rows, self._cols, self._dataflow)
        gaps = check_gaps(gaps, problem.n_tiles * problem.vectors)
        # is streams B^T on the x lane and holds A on the w lane (section 4)
        x_signed, w_signed = (b_signed, a_signed) if problem.dataflow.transposed else \
            (a_signed, b_signed)
        return problem, greedy(problem, self._double_buffer, gaps), x_signed, w_signed

    def _result(self, problem, schedule, output, exact, timing, outputs, trace,
                fault_report=None) -> RunResult:
        if timing == "exact":
            cycle_breakdown = schedule.breakdown
        else:
            cycle_breakdown = scalesim_breakdown(problem.m, problem.k, problem.n, self._rows,
                                                 self._cols, self._dataflow)
        macs = problem.m * problem.k * problem.n
        return RunResult(
            output=output,
            cycles=cycle_breakdown.total,
            breakdown=cycle_breakdown,
            utilization=macs / (cycle_breakdown.total * self._rows * self._cols),
            macs=macs,
            overflow_count=overflow_count(problem, self._acc_bits, exact),
            tiles=problem.n_tiles,
            vectors=problem.n_tiles * problem.vectors,
            outputs=outputs,
            trace=trace,
            dims=(self._rows, self._cols),
            dataflow=self._dataflow,
            fault_report=fault_report,
        )

    # -- public methods ----------------------------------------------------------------------

    def run(self, a, b, *, engine: str = "cycle", timing: str = "exact", gaps=None,
            record_outputs: bool = False, trace=None, progress=None, faults=None,
            bypass=None) -> RunResult:
        """Multiply ``a @ b`` on the array.

        Parameters
        ----------
        a, b : array_like of int
            ``M x K`` and ``K x N`` operands. Each must fit int8 or uint8 (int8/uint8 dtypes,
            or wider integer dtypes whose values fit); values are never truncated.
        engine : {"cycle", "fast"}
            ``"cycle"`` steps every register of every PE on every cycle; ``"fast"`` computes
            the same values with BLAS (exact) and the cycle numbers from the same schedule.
        timing : {"exact", "scalesim"}
            ``"exact"``: the contract's cycle counts; ``"scalesim"``: SCALE-Sim 3.0's count
            (see :func:`systolic.timing.scalesim_breakdown`). Values are the same.
        gaps : array_like of int, optional
            Idle cycles inserted before each x vector, in schedule order (length
            ``RunResult.vectors``). Not combinable with ``timing="scalesim"``.
        record_outputs : bool
            Fill ``RunResult.outputs`` with what the output port shows.
        trace : True or (int, int or None), optional
            ``(first_cycle, stop_cycle)``: fill ``RunResult.trace`` with every PE register
            during those cycles (cycle engine only; at most ``10**8`` register values).
            ``True`` traces the whole run; a ``stop_cycle`` of ``None`` or past the end of
            the run is clipped to it.
        progress : bool, optional
            Progress bar; by default shown when the run is estimated to take over 2 s.
        faults : list of Fault, optional
            Stuck-at and flipped bits in PE registers (``docs/contract.md``, section 6). The
            cycle engine computes any of them; the fast path only stuck bits of ``w_active``
            and ``w_shadow`` (ws/is) and refuses the others.
        bypass : list of (int, int), optional
            PEs that add nothing (their product is 0), on either engine.

        Returns
        -------
        RunResult
            With ``fault_report`` when ``faults`` or ``bypass`` is given.

        Raises
        ------
        TypeError
            Operands that are not integer arrays (or are masked arrays), options of the wrong
            type (flags must be bools).
        ValueError
            Bad shapes, values outside 8 bits, unknown options, bad ``gaps`` or ``trace``, a
            fault the array does not have or that happens after the run, a fault the fast
            path cannot compute, or a run that needs more memory than the limit
            (``SYSTOLIC_MEMORY_LIMIT``, see :mod:`systolic`).

        Examples
        --------
        >>> import numpy as np
        >>> arr = SystolicArray(4, 4, "os")
        >>> res = arr.run(np.ones((3, 5), np.int8), np.ones((5, 2), np.int8),
        ...               record_outputs=True)
        >>> res.output.tolist()
        [[5, 5], [5, 5], [5, 5]]
        >>> res.cycles, res.outputs.cycles.tolist()
        (16, [12, 13, 14, 15])
        """
        check_choice("engine", engine, _ENGINES)
        check_choice("timing", timing, _TIMINGS)
        record_outputs = check_bool("record_outputs", record_outputs)
        progress = check_optional_bool("progress", progress)
        problem, schedule, x_signed, w_signed = self._prepare(a, b, gaps)
        faults, bypass = prepare_faults(faults, bypass, self._dataflow, self._rows, self._cols,
                                        self._acc_bits, schedule.total)
        if gaps is not None and timing == "scalesim":
            raise ValueError("gaps cannot be combined with timing='scalesim': SCALE-Sim "
                             "has no idle gaps")
        if trace is not None and engine != "cycle":
            raise ValueError(f"trace needs engine='cycle', got engine={engine!r}")
        window = check_trace_window(trace, schedule.total,
                                    len(self._dataflow.registers) * self._rows * self._cols)
        if engine == "fast":
            m, n = problem.m, problem.n
            # the product in float64, int64 and int32 and the schedule's cycle numbers
            needed = 20 * m * n + 16 * schedule.result_time.size
            if record_outputs:
                needed += 12 * schedule.result_time.size * self._cols
            check_memory(f"the fast engine on a {m}x{problem.k}x{n} matmul", needed,
                         "use smaller operands")
            if faults or bypass:
                return self._fast_faulty(problem, schedule, faults, bypass, timing,
                                         record_outputs, w_signed)
            exact = exact_result(problem)
            output = wrap(exact, self._acc_bits)
            if problem.dataflow.transposed:
                output = np.ascontiguousarray(output.T)
            outputs = None
            if record_outputs:
                outputs = OutputStream(schedule.result_time.copy(),
                                       fast_output_stream(problem, exact, self._acc_bits))
            return self._result(problem, schedule, output, exact, timing, outputs, None)

        if faults or bypass:
            return self._cycle_faulty(problem, schedule, faults, bypass, timing, record_outputs,
                                      window, progress, x_signed, w_signed)
        self._check_cycle_memory(problem, schedule, record_outputs,
                                 0 if window is None else window[1] - window[0])
        run = CycleRun(problem, schedule, self._acc_bits, record_outputs)
        buffer = None
        if window is not None:
            first, stop = window
            buffer = np.zeros((len(run.registers), stop - first, self._rows, self._cols),
                              np.int32)
        self._advance(run, buffer, window[0] if window else 0, progress)
        outputs = OutputStream(*run.output_stream()) if record_outputs else None
        array_trace = None
        if window is not None:
            array_trace = ArrayTrace(window[0], dict(zip(run.registers, buffer, strict=True)))
        return self._result(problem, schedule, run.output(), None, timing, outputs,
                            array_trace)

    def _fast_faulty(self, problem, schedule, faults, bypass, timing, record_outputs,
                     w_signed) -> RunResult:
        """The fast path of a run with bypassed PEs or stuck weight bits (exact)."""
        check_fast_faults(faults, self._dataflow)
        output, stream, report = fast_report(problem, faults, bypass, schedule.result_time,
                                             self._acc_bits, w_signed)
        outputs = None
        if record_outputs:
            outputs = OutputStream(schedule.result_time.copy(), stream)
        return self._result(problem, schedule, output, None, timing, outputs, None, report)

    def _faulty_run(self, problem, schedule, faults, bypass, record_outputs, trace_cycles,
                    every_column, x_signed, w_signed) -> FaultyRun:
        """A :class:`FaultyRun`, once its memory is known to fit."""
        columns = FaultyRun.stepped_count(faults, bypass, self._cols, every_column)
        needed = FaultyRun.bytes_needed(problem, schedule, record_outputs, columns)
        needed += trace_cycles * len(self._dataflow.registers) * self._rows * self._cols * 4
        check_memory(f"the cycle engine with faults on a {self._rows}x{self._cols} array",
                     needed, "use a smaller array or smaller operands")
        return FaultyRun(problem, schedule, self._acc_bits, record_outputs, faults, bypass,
                         x_signed=x_signed, w_signed=w_signed, every_column=every_column)

    def _cycle_faulty(self, problem, schedule, faults, bypass, timing, record_outputs, window,
                      progress, x_signed, w_signed) -> RunResult:
        """The cycle engine with faults: every register stepped by its equations."""
        run = self._faulty_run(problem, schedule, faults, bypass, record_outputs,
                               0 if window is None else window[1] - window[0],
                               window is not None, x_signed, w_signed)
        buffer = None
        if window is not None:
            buffer = np.zeros((len(run.registers), window[1] - window[0], self._rows,
                               self._cols), np.int32)
        self._advance(run, buffer, window[0] if window else 0, progress)
        outputs = OutputStream(*run.output_stream()) if record_outputs else None
        array_trace = None
        if window is not None:
            array_trace = ArrayTrace(window[0], dict(zip(run.registers, buffer, strict=True)))
        return self._result(problem, schedule, run.output(), None, timing, outputs,
                            array_trace, run.report())

    def _check_cycle_memory(self, problem, schedule, record_outputs: bool,
                            trace_cycles: int) -> None:
        """Refuse a cycle-engine run whose state would not fit the memory limit."""
        needed = CycleRun.bytes_needed(problem, schedule, record_outputs)
        needed += trace_cycles * len(self._dataflow.registers) * self._rows * self._cols * 4
        check_memory(f"the cycle engine on a {self._rows}x{self._cols} array", needed,
                     "use engine='fast' or a smaller array")

    def _advance(self, run: CycleRun, trace, trace_first: int, progress) -> None:
        """Run to the end, in chunks with a progress bar when it is worth one."""
        total = run.total
        if progress is None:
            progress = (_estimated_seconds(run.busy_cycles, self._rows, self._cols)
                        > PROGRESS_SECONDS)
        if not progress:
            run.advance(total, trace, trace_first)
            return
        from tqdm.auto import tqdm

        chunk = max(1, total // 200)
        with tqdm(total=total, unit="cycle", desc="systolic", leave=False) as bar:
            while run.cycle < total:
                before = run.cycle
                run.advance(min(total, before + chunk), trace, trace_first)
                bar.update(run.cycle - before)

    def timing(self, m: int, k: int, n: int) -> CycleBreakdown:
        """Cycle breakdown of an ``(m x k) @ (k x n)`` matmul, from the closed form.

        Examples
        --------
        >>> SystolicArray(256, 256, "ws").timing(256, 256, 256).total
        1023
        """
        return breakdown(m, k, n, self._rows, self._cols, self._dataflow,
                         double_buffer=self._double_buffer)

    def edge_stream(self, a, b, *, gaps=None) -> EdgeStream:
        """The top-level inputs of every cycle of the run of ``a @ b``.

        Examples
        --------
        >>> import numpy as np
        >>> edges = SystolicArray(2, 2).edge_stream(np.ones((1, 2), np.int8),
        ...                                         np.ones((2, 2), np.int8))
        >>> edges.x_valid.tolist(), edges.w_tag.tolist()
        ([0, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 0])
        """
        problem, schedule, x_signed, w_signed = self._prepare(a, b, gaps)
        rows, cols, vectors = self._rows, self._cols, problem.vectors
        total = schedule.total
        check_memory(f"the edge stream of a {total}-cycle run", total * (2 * (rows + cols) + 7),
                     "use smaller operands, shorter gaps or a smaller array")
        x_data = np.zeros((total, rows), np.int16)
        x_valid = np.zeros(total, np.uint8)
        x_flag = np.zeros(total, np.uint8)
        w_data = np.zeros((total, cols), np.int16)
        w_valid = np.zeros(total, np.uint8)
        w_tag = np.zeros(total, np.int32)
        x_src, w_src, tiles = problem.x_src, problem.w_src, problem.tiles
        stationary = problem.dataflow.stationary_weights
        for j in range(problem.n_tiles):
            times = schedule.x_time[j * vectors:(j + 1) * vectors]
            base, col0 = tiles[X_BASE, j], tiles[W_COL, j]
            block = x_src[:, base:base + rows]
            x_data[times, :block.shape[1]] = block
            x_valid[times] = 1
            x_flag[times[0] if stationary else times[-1]] = 1
            if stationary:
                load = schedule.load_time[j]
                weights = w_src[tiles[W_ROW, j]:tiles[W_ROW, j] + rows, col0:col0 + cols]
                w_data[load:load + weights.shape[0], :weights.shape[1]] = weights
                w_valid[load:load + rows] = 1
                w_tag[load:load + rows] = np.arange(rows)
            else:
                block = w_src[:, col0:col0 + cols]
                w_data[times, :block.shape[1]] = block
        return EdgeStream(x_data, x_valid, x_flag, w_data, w_valid, w_tag, x_signed, w_signed)

    def stepper(self, a, b, *, gaps=None, faults=None, bypass=None) -> Stepper:
        """A cycle-accurate run of ``a @ b`` that advances one cycle at a time on request.

        ``faults`` and ``bypass`` are those of :meth:`run`; the state then shows the
        corrupted registers, and the result has a ``fault_report``.

        Examples
        --------
        >>> import numpy as np
        >>> st = SystolicArray(2, 2, "ws").stepper(np.ones((1, 2), np.int8),
        ...                                         np.ones((2, 2), np.int8))
        >>> st.run_to(3)
        >>> st.state["w_shadow"].tolist()
        [[1, 1], [1, 0]]
        >>> st.result().output.tolist()
        [[2, 2]]
        """
        problem, schedule, x_signed, w_signed = self._prepare(a, b, gaps)
        faults, bypass = prepare_faults(faults, bypass, self._dataflow, self._rows, self._cols,
                                        self._acc_bits, schedule.total)
        if faults or bypass:
            return Stepper(self, self._faulty_run(problem, schedule, faults, bypass, True, 0,
                                                  True, x_signed, w_signed))
        self._check_cycle_memory(problem, schedule, True, 0)
        run = CycleRun(problem, schedule, self._acc_bits, True)
        return Stepper(self, run)


def _estimated_seconds(cycles: int, rows: int, cols: int) -> float:
    """Rough time of a cycle-engine run, used to decide whether a progress bar is worth it."""
    return cycles * (rows * cols / PE_CYCLES_PER_SECOND + 1 / CYCLES_PER_SECOND)


def matmul(a, b, dims=(256, 256), dataflow="ws", *, engine: str = "fast") -> np.ndarray:
    """``a @ b`` as computed by an ``R x C`` systolic array with 32-bit sums.

    Parameters
    ----------
    a, b : array_like of int
        ``M x K`` and ``K x N`` operands whose values fit int8 or uint8.
    dims : (int, int)
        Array size ``(rows, cols)``.
    dataflow : Dataflow or {"ws", "os", "is"}
    engine : {"fast", "cycle"}

    Returns
    -------
    ndarray, int32 (M, N)
        ``(a.astype(int64) @ b.astype(int64))`` wrapped to int32.

    Examples
    --------
    >>> import numpy as np
    >>> matmul(np.array([[1, 2]], np.int8), np.array([[3], [4]], np.uint8)).tolist()
    [[11]]
    """
    rows, cols = check_dims(dims)
    dataflow = check_dataflow(dataflow)
    check_choice("engine", engine, _ENGINES)
    return SystolicArray(rows, cols, dataflow).run(a, b, engine=engine).output
