"""The two engines behind :class:`systolic.SystolicArray`: state of a cycle-accurate run, and
the exact values of the fast path."""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import threadpoolctl

from . import _kernels
from ._config import BLOCK_COLS, BLOCK_CYCLES, BLOCK_ROWS
from ._schedule import OUT_COL, OUT_ROW, W_COL, X_BASE, Problem, Schedule

__all__ = ["CycleRun", "blas_threads_for", "exact_product", "exact_result", "fast_output_stream",
           "overflow_count", "wrap"]

# float64 sums of integer products are exact while every partial sum stays below 2**53.
_FLOAT64_EXACT = 2**53
# Products with fewer multiply-accumulates run on one BLAS thread.
_BLAS_THREADED_MACS = 2**27


def exact_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The exact integer product ``a @ b`` as int64.

    Uses float64 BLAS when ``K * max|a| * max|b| < 2**53`` (then every partial sum, in any
    order, is an exactly representable integer), else an int64 matmul.
    """
    bound = a.shape[1] * int(np.abs(a).max()) * int(np.abs(b).max())
    if bound >= _FLOAT64_EXACT:
        return a.astype(np.int64) @ b.astype(np.int64)
    with blas_threads_for(a.shape[0] * a.shape[1] * b.shape[1]):
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)


def blas_threads_for(macs: int):
    """A context for BLAS work of ``macs`` multiply-accumulates: one thread below 2**27.

    A multithreaded BLAS spends far longer waking and spinning its threads than computing a
    small product, 75x longer when the other cores are busy (measured: 15 ms against 0.2 ms
    for 64x256 @ 256x256), and the TPU level makes thousands of such calls.
    """
    if macs >= _BLAS_THREADED_MACS:
        return contextlib.nullcontext()
    return _blas_threads().limit(limits=1, user_api="blas")


@functools.cache
def _blas_threads() -> threadpoolctl.ThreadpoolController:
    return threadpoolctl.ThreadpoolController()


def exact_result(problem: Problem) -> np.ndarray:
    """The exact product in the problem's own orientation (``Y^T`` for ``is``)."""
    if problem.dataflow.stationary_weights:
        return exact_product(problem.x_src, problem.w_src)
    return exact_product(np.ascontiguousarray(problem.x_src.T), problem.w_src)


def wrap(values: np.ndarray, acc_bits: int) -> np.ndarray:
    """int64 ``values`` modulo ``2**acc_bits`` as signed int32."""
    half = np.int64(1) << np.int64(acc_bits - 1)
    modulus = np.int64(1) << np.int64(acc_bits)
    return ((values + half) % modulus - half).astype(np.int32)


def overflow_count(problem: Problem, acc_bits: int, exact: np.ndarray | None = None) -> int:
    """How many exact results lie outside the signed ``acc_bits`` range (contract section 1).

    No product is computed when ``K * max|a| * max|b|`` already fits: then nothing can
    overflow. Otherwise ``exact`` (from :func:`exact_result`) is used or computed.
    """
    half = 1 << (acc_bits - 1)
    bound = problem.k * int(np.abs(problem.x_src).max()) * int(np.abs(problem.w_src).max())
    if bound < half:
        return 0
    if exact is None:
        exact = exact_result(problem)
    return int(np.count_nonzero((exact < -half) | (exact > half - 1)))


def fast_output_stream(problem: Problem, exact: np.ndarray,
                       acc_bits: int) -> np.ndarray:
    """What the output port shows for every result vector, without stepping the array.

    ``exact`` is the exact product in the problem's own orientation (``Y^T`` for ``is``).
    ws/is: the partial product of each tile; os: one row of a finished output tile per
    result, bottom tile row first.
    """
    rows, cols = problem.rows, problem.cols
    n_tiles, vectors = problem.n_tiles, problem.vectors
    tiles = problem.tiles
    if problem.dataflow.stationary_weights:
        data = np.zeros((n_tiles, vectors, cols), np.int64)
        x_src = problem.x_src.astype(np.float64)
        w_src = problem.w_src.astype(np.float64)
        with blas_threads_for(problem.m * problem.k * problem.n):
            for j in range(n_tiles):
                base, col0 = tiles[X_BASE, j], tiles[W_COL, j]
                part = x_src[:, base:base + rows] @ w_src[base:base + rows, col0:col0 + cols]
                data[j, :, :part.shape[1]] = part.astype(np.int64)
        return wrap(data.reshape(-1, cols), acc_bits)
    data = np.zeros((n_tiles, rows, cols), np.int64)
    for j in range(n_tiles):
        row0, col0 = tiles[OUT_ROW, j], tiles[OUT_COL, j]
        block = exact[row0:row0 + rows, col0:col0 + cols]
        data[j, :block.shape[0], :block.shape[1]] = block
    return wrap(data[:, ::-1].reshape(-1, cols), acc_bits)


class CycleRun:
    """All state of one cycle-accurate run; :meth:`advance` steps it in place.

    Parameters
    ----------
    problem : Problem
    schedule : Schedule
    acc_bits : int
    record_outputs : bool
        Keep every output vector and its cycle.
    """

    def __init__(self, problem: Problem, schedule: Schedule, acc_bits: int,
                 record_outputs: bool):
        rows, cols = problem.rows, problem.cols
        self.problem = problem
        self.schedule = schedule
        self.acc_bits = acc_bits
        self.stationary = problem.dataflow.stationary_weights
        self.registers = problem.dataflow.registers
        # Ring length: a power of two longer than any register path (R + C) plus one chunk of
        # cycles, so that a slot is never reused while the value in it is still needed.
        # The os drain path is written up to R cycles ahead (see ``run_os``).
        period = self.ring_period(rows, cols, self.stationary)
        n_results = schedule.result_time.size if record_outputs else 0
        self.kernel_state = _kernels.State(
            mask=period - 1,
            xring=np.zeros((rows, period + cols), np.int16),
            lanes=np.zeros((4, period), np.int32),
            wring=np.zeros((period, cols), np.int16),
            psring=np.zeros((period, cols), np.int32),
            psvis=np.zeros((period, cols) if not self.stationary else (1, 1), np.int64),
            pe=np.zeros((2, rows, cols), np.int16 if self.stationary else np.int32),
            cursor=np.zeros(5, np.int64),
            y=np.zeros(problem.y_shape, np.int32),
            out_cycles=np.zeros(n_results, np.int64),
            out_data=np.zeros((n_results, cols), np.int32))
        self.stream = _kernels.Stream(problem.x_src, problem.w_src, problem.tiles,
                                      schedule.x_time, schedule.load_time, problem.vectors)
        self.out_cycles, self.out_data = self.kernel_state.out_cycles, self.kernel_state.out_data
        self.cycle = 0
        self._no_trace = np.zeros((len(self.registers), 0, 1, 1), np.int32)
        self._quiet_start, self._quiet_stop = self._quiet_spans()

    @staticmethod
    def ring_period(rows: int, cols: int, stationary: bool) -> int:
        """Length of the rings of register values (a power of two)."""
        reach = rows + cols + BLOCK_CYCLES + 2 + (0 if stationary else rows)
        return 1 << int(reach - 1).bit_length()

    @classmethod
    def bytes_needed(cls, problem: Problem, schedule: Schedule, record_outputs: bool) -> int:
        """Bytes that :class:`CycleRun` allocates for this run (what ``__init__`` builds)."""
        rows, cols = problem.rows, problem.cols
        stationary = problem.dataflow.stationary_weights
        period = cls.ring_period(rows, cols, stationary)
        needed = (2 * rows * (period + cols) + 16 * period + period * cols * (2 + 4)
                  + (0 if stationary else 8 * period * cols)
                  + 2 * rows * cols * (2 if stationary else 4)
                  + 4 * problem.y_shape[0] * problem.y_shape[1])
        if record_outputs:
            needed += schedule.result_time.size * (8 + 4 * cols)
        return needed

    @property
    def total(self) -> int:
        """Cycles of the whole run."""
        return self.schedule.total

    def _quiet_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """Spans ``[start, stop)`` of cycles in which the array holds only idle values.

        Every edge input (an x vector, a weight-load row) has left the array one ring period
        after it entered (the period exceeds every register path, os drain included), and
        one more period later every ring slot holds the value of an idle cycle. From then on
        until the next edge input each cycle repeats the state of the one ``period`` cycles
        earlier, so the engine may skip whole periods there (``advance``).
        """
        schedule = self.schedule
        events = [schedule.x_time]
        if self.stationary:
            rows = self.problem.rows
            events += [schedule.load_time, schedule.load_time + (rows - 1)]
        events = np.unique(np.concatenate(events))
        period = self.kernel_state.mask + 1
        start = events[:-1] + 2 * period
        stop = events[1:]
        keep = stop - start >= period
        return start[keep], stop[keep]

    @property
    def busy_cycles(self) -> int:
        """Cycles the kernels step when nothing is traced (the others are skipped)."""
        period = self.kernel_state.mask + 1
        skipped = (self._quiet_stop - self._quiet_start) // period * period
        return self.total - int(skipped.sum())

    def advance(self, stop: int, trace: np.ndarray | None = None, trace_first: int = 0):
        """Step cycles ``self.cycle .. stop - 1``; fill ``trace`` for the cycles it covers.

        Whole ring periods of long idle spans outside the traced window are skipped in one
        step: the registers afterwards are those that stepping would give (``_quiet_spans``).
        """
        if stop <= self.cycle:
            return
        if self._quiet_start.size:
            period = self.kernel_state.mask + 1
            # a traced window is stepped cycle by cycle: skip only before it or after it
            window = (0, 0) if trace is None else (trace_first, trace_first + trace.shape[1])
            first = int(np.searchsorted(self._quiet_stop, self.cycle, side="right"))
            for start, end in zip(self._quiet_start[first:].tolist(),
                                  self._quiet_stop[first:].tolist(), strict=True):
                if start >= stop:
                    break
                if start < window[1] and end > window[0]:
                    if start >= window[0]:
                        continue
                    end = window[0]
                if self.cycle < start:
                    self._step(start, trace, trace_first)
                if self.cycle >= end:
                    continue
                self.cycle += (min(end, stop) - self.cycle) // period * period
                if self.cycle >= stop:
                    return
        self._step(stop, trace, trace_first)

    def _step(self, stop: int, trace: np.ndarray | None, trace_first: int):
        """Step every cycle ``self.cycle .. stop - 1`` through the kernels."""
        if stop <= self.cycle:
            return
        if trace is None:
            trace, trace_first = self._no_trace, 0
        if self.stationary:
            _kernels.run_ws(self.cycle, stop, self.kernel_state, self.stream, self.acc_bits, trace,
                            trace_first, BLOCK_CYCLES, BLOCK_ROWS, BLOCK_COLS)
        else:
            _kernels.run_os(self.cycle, stop, self.kernel_state, self.stream, self.acc_bits, trace,
                            trace_first, BLOCK_CYCLES, BLOCK_ROWS)
        self.cycle = stop

    def state(self) -> dict[str, np.ndarray]:
        """Every PE register during the current cycle, each as an ``(R, C)`` array."""
        regs = np.zeros((len(self.registers), self.problem.rows, self.problem.cols), np.int32)
        _kernels.snapshot(self.cycle, self.stationary, self.kernel_state, self.acc_bits, regs)
        return dict(zip(self.registers, regs, strict=True))

    def output_stream(self) -> tuple[np.ndarray, np.ndarray]:
        """The recorded output stream: the cycles with ``out_valid = 1`` and their vectors."""
        return self.out_cycles, self.out_data

    def report(self) -> None:
        """A fault-free run has no fault report (see ``FaultyRun.report``)."""
        return None

    def output(self) -> np.ndarray:
        """The accumulated result ``Y`` (``M x N``, int32, wrapped to ``acc_bits``)."""
        y = self.kernel_state.y.copy()
        _kernels.wrap_array(y, self.acc_bits)
        return np.ascontiguousarray(y.T) if self.problem.dataflow.transposed else y
