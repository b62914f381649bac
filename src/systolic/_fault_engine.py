"""Runs with faults and bypassed PEs (``docs/contract.md``, section 6).

The fault-free kernels (:mod:`systolic._kernels`) gain their speed from the legal schedule:
switches, weight loads and drains are driven by the schedule's cycles, and a value that moves
through the array keeps one place in memory. A fault breaks both (a stuck ``x_flag`` switches
on every cycle, a stuck ``w_tag`` bit latches weights into the wrong row, a flipped bit exists
in one PE and not in its neighbours), so a faulty run steps every register of section 3 by its
equations, one cycle at a time, with the faults applied after each edge.

Only the PEs a fault can reach are stepped. A fault's effects move right along the x lane
and down a column (the w lane, ``psum``, the os drain and its ``load``, which comes from the
column's own bottom PE); nothing moves left. So a fault on an x-lane register of column ``c``
reaches columns ``c..C-1``, any other fault or a bypass only its own column, and every other
column shows the fault-free values, which the fast path gives exactly. The x inputs of the
leftmost stepped column are the fault-free skewed edge inputs. When every fault is on the x
lane or in a register that stays in the PE, only the rows holding faults are stepped
(:func:`in_rows`). A trace or a stepper steps every PE.

The fault-free reference of :class:`FaultReport <systolic.FaultReport>` comes from the fast
path too, and the host reads the output port at the cycles the schedule gives for results,
whatever ``out_valid`` shows (section 6), so a faulty run takes exactly ``total`` cycles.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._config import jit
from ._dataflow import Dataflow, register_widths
from ._engine import blas_threads_for, exact_result, fast_output_stream, wrap
from ._schedule import OUT_COL, OUT_ROW, W_COL, W_ROW, X_BASE, Problem, Schedule
from .faults import check_bypass, check_faults

__all__ = ["FaultyRun", "check_fast_faults", "fast_faulty", "fast_report", "prepare_faults",
           "stream_to_output"]

# Register indices, in the order of ``Dataflow.registers``.
_X, _XV, _XF, _W, _WV, _WT, _PSUM, _PSV, _STAY0, _STAY1 = range(10)
# Registers of the x lane: a fault there reaches every column to its right.
_X_LANE = ("x", "x_valid", "x_flag")
# Registers whose stuck bits the fast path computes exactly (stationary weights, ws/is).
_FAST_STUCK = ("w_active", "w_shadow")


class Faults(NamedTuple):
    """The checked faults of one run, as the kernel takes them.

    ``stuck_*`` list one entry per faulty register of a PE (``and``/``or`` masks of all its
    stuck bits); ``flip_*`` one entry per flip, sorted by cycle. PEs are named by row and
    *stepped-column index*. ``width``/``signed`` say how each register's pattern is read.
    """

    stuck_reg: np.ndarray
    stuck_row: np.ndarray
    stuck_col: np.ndarray
    stuck_and: np.ndarray
    stuck_or: np.ndarray
    flip_cycle: np.ndarray
    flip_reg: np.ndarray
    flip_row: np.ndarray
    flip_col: np.ndarray
    flip_mask: np.ndarray
    width: np.ndarray
    signed: np.ndarray


def prepare_faults(faults, bypass, dataflow: Dataflow, rows: int, cols: int, acc_bits: int,
                   total: int | None):
    """Check ``faults`` and ``bypass`` for this array and run (section 6).

    Returns
    -------
    faults : tuple of Fault
    bypass : tuple of (int, int)

    Raises
    ------
    TypeError, ValueError
        From :func:`systolic.faults.check_faults` and :func:`~systolic.faults.check_bypass`,
        and for a flip at or after the run's last cycle ``total - 1``.
    """
    faults = check_faults(faults, dataflow, rows, cols, acc_bits)
    bypass = check_bypass(bypass, rows, cols)
    if total is not None:
        for fault in faults:
            if fault.kind == "flip" and fault.cycle >= total:
                raise ValueError(f"{fault!r} happens after the run: its cycle must be below "
                                 f"the run's {total} cycles (0..{total - 1})")
    return faults, bypass


def check_fast_faults(faults, dataflow: Dataflow) -> None:
    """Refuse a fault that the fast path cannot compute exactly.

    It computes bypassed PEs and, on ws/is, stuck bits of ``w_active`` and ``w_shadow``.
    """
    for fault in faults:
        if not (dataflow.stationary_weights and fault.register in _FAST_STUCK
                and fault.kind != "flip"):
            raise ValueError(f"the fast engine cannot compute {fault!r} exactly (it computes "
                             f"bypassed PEs and stuck bits of w_active/w_shadow on ws/is): "
                             f"use engine='cycle'")


def stepped_columns(faults, bypass, cols: int, everything: bool) -> np.ndarray:
    """The columns a faulty run must step: those the faults and bypasses can reach."""
    if everything:
        return np.arange(cols, dtype=np.int64)
    reached = {pe[1] for pe in bypass}
    for fault in faults:
        if fault.register in _X_LANE:
            reached.update(range(fault.pe[1], cols))
        else:
            reached.add(fault.pe[1])
    return np.array(sorted(reached), dtype=np.int64)


def _kernel_faults(faults, dataflow: Dataflow, rows: int, acc_bits: int, x_signed: bool,
                   w_signed: bool, local: np.ndarray, local_row: np.ndarray) -> Faults:
    registers = dataflow.registers
    widths = register_widths(dataflow, rows, acc_bits)
    signed = {"x": x_signed, "w": w_signed, "psum": True}
    if dataflow.stationary_weights:
        signed.update(w_active=w_signed, w_shadow=w_signed)
    else:
        signed.update(acc=True, hold=True)
    stuck: dict[tuple, list[int]] = {}
    flips = []
    for fault in faults:
        where = (registers.index(fault.register), int(local_row[fault.pe[0]]),
                 int(local[fault.pe[1]]))
        if fault.kind == "flip":
            flips.append((fault.cycle, *where, fault.mask))
        else:
            masks = stuck.setdefault(where, [-1, 0])
            if fault.kind == "stuck_at_0":
                masks[0] &= ~fault.mask
            else:
                masks[1] |= fault.mask
    flips.sort()
    stuck_rows = [(*where, *masks) for where, masks in stuck.items()]

    def column(items, i):
        return np.array([item[i] for item in items], dtype=np.int64)

    return Faults(*(column(stuck_rows, i) for i in range(5)),
                  *(column(flips, i) for i in range(5)),
                  np.array([widths[name] for name in registers], np.int64),
                  np.array([signed.get(name, False) for name in registers], np.bool_))


class State(NamedTuple):
    """What a faulty run changes (see :class:`FaultyRun`)."""

    mask: int
    regs: np.ndarray        # (R, S, 10): every register of the stepped PEs, contract values
    ex: np.ndarray          # (P, R): left-edge data presented during cycle tau, at tau mod P
    ew: np.ndarray          # (P, C): top-edge data
    edge_bits: np.ndarray   # (5, P): x_valid, x_flag, w_valid, w_tag, x vector (-1: none)
    bottom: np.ndarray      # (2, P, S): bottom row psum and psum_valid, for the de-skew
    load: np.ndarray        # (S,): os, the bottom x_flag of each column during the cycle
    cursor: np.ndarray      # next x vector, next weight load, next flip, next result, records
    res_data: np.ndarray    # (n_results, S): the port at the schedule's result cycles
    out_cycles: np.ndarray  # cycles with out_valid = 1 (when recorded and column C-1 stepped)
    out_data: np.ndarray    # (n, S): the port on those cycles


class Setup(NamedTuple):
    """What a faulty run reads: stepped columns, bypasses and the schedule's result cycles."""

    cols: np.ndarray        # global column of each stepped column
    left_stepped: np.ndarray  # whether each stepped column's left neighbour is stepped too
    bypass: np.ndarray      # (R, S) bool
    result_time: np.ndarray
    total_cols: int
    stationary: bool
    acc_bits: int


_NEXT_X, _NEXT_LOAD, _NEXT_FLIP, _NEXT_RESULT, _RECORDS = range(5)


@jit
def _norm(value, width, signed):
    """``value``'s low ``width`` bits, read as a signed or an unsigned pattern."""
    p = np.int64(value) & ((np.int64(1) << width) - 1)
    if signed and p >> (width - 1):
        p -= np.int64(1) << width
    return p


@jit
def _apply(t, state, faults):
    """Apply the flips of cycle ``t`` and then every stuck bit to the registers of cycle ``t``
    (section 6: flips first, so a stuck bit cannot be flipped)."""
    regs, cursor = state.regs, state.cursor
    i = cursor[_NEXT_FLIP]
    while i < faults.flip_cycle.size and faults.flip_cycle[i] == t:
        reg = faults.flip_reg[i]
        r, j = faults.flip_row[i], faults.flip_col[i]
        regs[r, j, reg] = _norm(regs[r, j, reg] ^ faults.flip_mask[i], faults.width[reg],
                                faults.signed[reg])
        i += 1
    cursor[_NEXT_FLIP] = i
    for k in range(faults.stuck_reg.size):
        reg = faults.stuck_reg[k]
        r, j = faults.stuck_row[k], faults.stuck_col[k]
        value = (np.int64(regs[r, j, reg]) & faults.stuck_and[k]) | faults.stuck_or[k]
        regs[r, j, reg] = _norm(value, faults.width[reg], faults.signed[reg])


@jit
def _edges(t, state, stream, rows, stationary):
    """The top-level inputs presented during cycle ``t`` into the edge ring (section 2)."""
    ex, ew, bits, cursor = state.ex, state.ew, state.edge_bits, state.cursor
    x_src, w_src, tiles, x_time, vectors = (stream.x_src, stream.w_src, stream.tiles,
                                            stream.x_time, stream.vectors)
    slot = t & state.mask
    cols = ew.shape[1]
    i = cursor[_NEXT_X]
    tile = -1
    src = 0
    if i < x_time.size and x_time[i] == t:
        tile = i // vectors
        src = i - tile * vectors
        base = tiles[X_BASE, tile]
        for r in range(rows):
            ex[slot, r] = x_src[src, base + r] if base + r < x_src.shape[1] else 0
        bits[0, slot] = 1
        bits[1, slot] = (src == 0) if stationary else (src == vectors - 1)
        bits[4, slot] = i
        cursor[_NEXT_X] = i + 1
    else:
        for r in range(rows):
            ex[slot, r] = 0
        bits[0, slot] = 0
        bits[1, slot] = 0
        bits[4, slot] = -1
    bits[2, slot] = 0
    bits[3, slot] = 0
    for c in range(cols):
        ew[slot, c] = 0
    if stationary:
        load_time = stream.load_time
        j = cursor[_NEXT_LOAD]
        while j < load_time.size and load_time[j] + rows <= t:
            j += 1
        cursor[_NEXT_LOAD] = j
        if j < load_time.size and load_time[j] <= t:
            k = t - load_time[j]
            row = tiles[W_ROW, j] + k
            col0 = tiles[W_COL, j]
            for c in range(cols):
                if row < w_src.shape[0] and col0 + c < w_src.shape[1]:
                    ew[slot, c] = w_src[row, col0 + c]
            bits[2, slot] = 1
            bits[3, slot] = k
    elif tile >= 0:
        col0 = tiles[W_COL, tile]
        for c in range(cols):
            if col0 + c < w_src.shape[1]:
                ew[slot, c] = w_src[src, col0 + c]


@jit
def _x_edge(ex, bits, mask, tau, r):
    """Value, valid and flag that the x edge of row ``r`` presented during cycle ``tau``
    (all 0 before cycle 0)."""
    if tau < 0:
        return 0, 0, 0
    return ex[tau & mask, r], bits[0, tau & mask], bits[1, tau & mask]


@jit
def _w_edge(ew, bits, mask, tau, c):
    """Value, valid and tag that the w edge of column ``c`` presented during cycle ``tau``
    (all 0 before cycle 0)."""
    if tau < 0:
        return 0, 0, 0
    return ew[tau & mask, c], bits[2, tau & mask], bits[3, tau & mask]


@jit
def _port(t, state, setup, record):
    """Read the output port during cycle ``t`` (section 2: de-skew behind the bottom row)."""
    bottom, cursor, mask = state.bottom, state.cursor, state.mask
    regs = state.regs
    rows = regs.shape[0]
    n = setup.cols.size
    slot = t & mask
    for j in range(n):
        bottom[0, slot, j] = regs[rows - 1, j, _PSUM]
        bottom[1, slot, j] = regs[rows - 1, j, _PSV]
    q = cursor[_NEXT_RESULT]
    at_result = q < setup.result_time.size and setup.result_time[q] == t
    last = setup.cols[n - 1] == setup.total_cols - 1
    valid = record and last and bottom[1, slot, n - 1] != 0
    if not (at_result or valid):
        return
    k = cursor[_RECORDS]
    for j in range(n):
        tau = t - (setup.total_cols - 1 - setup.cols[j])
        value = bottom[0, tau & mask, j] if tau >= 0 else 0
        if at_result:
            state.res_data[q, j] = value
        if valid:
            state.out_data[k, j] = value
    if at_result:
        cursor[_NEXT_RESULT] = q + 1
    if valid:
        state.out_cycles[k] = t
        cursor[_RECORDS] = k + 1


@jit
def _step(t, state, stream, setup):
    """Every stepped PE from cycle ``t`` to ``t + 1`` by the equations of section 3.

    Rows bottom-up and columns right to left, so that every input (the left and upper
    neighbours' registers) is still the value of cycle ``t`` when it is read.
    """
    regs, ex, ew, bits, mask = state.regs, state.ex, state.ew, state.edge_bits, state.mask
    rows, n = regs.shape[0], regs.shape[1]
    acc_bits = setup.acc_bits
    stationary = setup.stationary
    if not stationary:
        for j in range(n):
            state.load[j] = regs[rows - 1, j, _XF]
    for r in range(rows - 1, -1, -1):
        for j in range(n - 1, -1, -1):
            c = setup.cols[j]
            if setup.left_stepped[j]:
                x_in = regs[r, j - 1, _X]
                xv_in = regs[r, j - 1, _XV]
                xf_in = regs[r, j - 1, _XF]
            else:
                x_in, xv_in, xf_in = _x_edge(ex, bits, mask, t - r - c, r)
            if r == 0:
                w_in, wv_in, wt_in = _w_edge(ew, bits, mask, t - c, c)
                ps_in = 0
                psv_in = 0
            else:
                w_in = regs[r - 1, j, _W]
                wv_in = regs[r - 1, j, _WV]
                wt_in = regs[r - 1, j, _WT]
                ps_in = regs[r - 1, j, _PSUM]
                psv_in = regs[r - 1, j, _PSV]
            live = xv_in != 0 and not setup.bypass[r, j]
            if stationary:
                active = regs[r, j, _STAY0]
                shadow = regs[r, j, _STAY1]
                weight = shadow if xf_in else active
                product = np.int64(weight) * x_in if live else 0
                regs[r, j, _PSUM] = _norm(np.int64(ps_in) + product, acc_bits, True)
                regs[r, j, _PSV] = xv_in
                regs[r, j, _STAY0] = weight
                if wv_in and wt_in == r:
                    regs[r, j, _STAY1] = w_in
            else:
                acc = regs[r, j, _STAY0]
                hold = regs[r, j, _STAY1]
                product = np.int64(w_in) * x_in if live else 0
                total = _norm(np.int64(acc) + product, acc_bits, True)
                if state.load[j]:
                    regs[r, j, _PSUM] = hold
                    regs[r, j, _PSV] = 1
                else:
                    regs[r, j, _PSUM] = ps_in
                    regs[r, j, _PSV] = psv_in
                regs[r, j, _STAY0] = 0 if xf_in else total
                if xf_in:
                    regs[r, j, _STAY1] = total
            regs[r, j, _X] = x_in
            regs[r, j, _XV] = xv_in
            regs[r, j, _XF] = xf_in
            regs[r, j, _W] = w_in
            regs[r, j, _WV] = wv_in
            regs[r, j, _WT] = wt_in


@jit
def _run(t0, t1, state, stream, setup, faults, record, trace, trace_first):
    """Step cycles ``t0 .. t1 - 1``: port, trace, edges, every PE, then the faults."""
    rows = state.regs.shape[0]
    trace_stop = trace_first + trace.shape[1]
    for t in range(t0, t1):
        if trace_first <= t < trace_stop:
            for k in range(trace.shape[0]):
                trace[k, t - trace_first] = state.regs[:, :, k]
        _port(t, state, setup, record)
        _edges(t, state, stream, rows, setup.stationary)
        _step(t, state, stream, setup)
        _apply(t + 1, state, faults)


class RowState(NamedTuple):
    """What a faulty run in rows changes (see :func:`_run_rows`)."""

    mask: int
    regs: np.ndarray        # (n_rows, C, 10): the registers of the stepped rows
    ex: np.ndarray
    ew: np.ndarray
    edge_bits: np.ndarray
    cursor: np.ndarray
    res: np.ndarray         # (n_results, C) int64: ws, change of each result; os, its value
    has: np.ndarray         # (n_results, C): os, whether ``res`` holds the result


def in_rows(faults, bypass, dataflow: Dataflow, rows: int, every_column: bool) -> bool:
    """Whether a run can step only the rows that hold a fault (:func:`_run_rows`).

    When every fault is on the x lane or on a register that stays in the PE, a fault's
    effects stay in its row except through the sums: on ws a product that changes adds its
    change to every ``psum`` below it (sums are modular, so changes add up), on os a changed
    ``hold`` drains to the port unchanged. Not when the x lane of the bottom row drives what
    the other rows see: ``x_valid`` there makes ``out_valid`` on ws, ``x_flag`` the drain
    ``load`` on os. Worth it only for an x-lane fault (others reach one column anyway).
    """
    stay = ("w_active", "w_shadow") if dataflow.stationary_weights else ("acc", "hold")
    bottom = "x_valid" if dataflow.stationary_weights else "x_flag"
    if every_column or not any(fault.register in _X_LANE for fault in faults):
        return False
    return all(fault.register in _X_LANE + stay
               and not (fault.register == bottom and fault.pe[0] == rows - 1)
               for fault in faults)


@jit
def _run_rows(t0, t1, state, stream, row_of, first_col, bypass, faults, stationary, rows,
              acc_bits):
    """Step the rows that hold faults, columns ``first_col[k]..C-1`` of row ``row_of[k]``.

    Their inputs from outside the row are fault-free: the x lane of the first stepped column
    and the w lane come from the skewed edges. ws: each product's change from the fault-free
    product (that vector's tile weight times its x value) is added to the change of the
    result of that x vector; os: when the column's fault-free ``load`` comes, ``hold`` is the
    value the port shows for this row of the tile.
    """
    regs, ex, ew, bits, mask = state.regs, state.ex, state.ew, state.edge_bits, state.mask
    w_src, tiles, vectors = stream.w_src, stream.tiles, stream.vectors
    n_rows, cols = regs.shape[0], regs.shape[1]
    for t in range(t0, t1):
        _edges(t, state, stream, rows, stationary)
        for k in range(n_rows):
            r = row_of[k]
            for c in range(cols - 1, first_col[k] - 1, -1):
                tau = t - r - c
                slot = tau & mask
                if c > first_col[k]:
                    x_in = regs[k, c - 1, _X]
                    xv_in = regs[k, c - 1, _XV]
                    xf_in = regs[k, c - 1, _XF]
                else:
                    x_in, xv_in, xf_in = _x_edge(ex, bits, mask, tau, r)
                live = xv_in != 0 and not bypass[r, c]
                if stationary:
                    active = regs[k, c, _STAY0]
                    shadow = regs[k, c, _STAY1]
                    weight = shadow if xf_in else active
                    change = np.int64(weight) * x_in if live else 0
                    vec = bits[4, slot] if tau >= 0 else -1
                    if vec >= 0:
                        tile = vec // vectors
                        w_row, w_col = tiles[W_ROW, tile] + r, tiles[W_COL, tile] + c
                        if w_row < w_src.shape[0] and w_col < w_src.shape[1]:
                            change -= np.int64(w_src[w_row, w_col]) * ex[slot, r]
                        state.res[vec, c] += change
                    regs[k, c, _STAY0] = weight
                    if tau >= 0 and bits[2, slot] and bits[3, slot] == r:
                        regs[k, c, _STAY1] = ew[slot, c]
                else:
                    # load: the bottom PE's x_flag, the edge flag of cycle t - R - c
                    tl = t - rows - c
                    if tl >= 0 and bits[1, tl & mask]:
                        q = bits[4, tl & mask] // vectors * rows + rows - 1 - r
                        state.res[q, c] = regs[k, c, _STAY1]
                        state.has[q, c] = 1
                    w_in = ew[slot, c] if tau >= 0 else 0
                    product = np.int64(w_in) * x_in if live else 0
                    total = _norm(np.int64(regs[k, c, _STAY0]) + product, acc_bits, True)
                    regs[k, c, _STAY0] = 0 if xf_in else total
                    if xf_in:
                        regs[k, c, _STAY1] = total
                regs[k, c, _X] = x_in
                regs[k, c, _XV] = xv_in
                regs[k, c, _XF] = xf_in
        _apply(t + 1, state, faults)


class FaultyRun:
    """All state of one cycle-accurate run with faults; the interface of ``CycleRun``.

    Parameters
    ----------
    problem : Problem
    schedule : Schedule
    acc_bits : int
    record_outputs : bool
        Keep the output stream (the cycles with ``out_valid = 1``).
    faults, bypass : tuple
        Checked by :func:`prepare_faults`.
    x_signed, w_signed : bool
        How the operand lanes read a bit pattern.
    every_column : bool
        Step every column (for traces and the stepper), not only those the faults reach.
    """

    def __init__(self, problem: Problem, schedule: Schedule, acc_bits: int,
                 record_outputs: bool, faults, bypass, x_signed: bool, w_signed: bool,
                 every_column: bool):
        from ._kernels import Stream

        rows, cols = problem.rows, problem.cols
        self.problem, self.schedule, self.acc_bits = problem, schedule, acc_bits
        self.faults, self.bypass = faults, bypass
        self.registers = problem.dataflow.registers
        self.cycle = 0
        self.stream = Stream(problem.x_src, problem.w_src, problem.tiles, schedule.x_time,
                             schedule.load_time, problem.vectors)
        self._clean = None
        self.rows_only = in_rows(faults, bypass, problem.dataflow, rows, every_column)
        if self.rows_only:
            self._init_rows(x_signed, w_signed)
            return
        stepped = stepped_columns(faults, bypass, cols, every_column)
        local = np.full(cols, -1, np.int64)
        local[stepped] = np.arange(stepped.size)
        n = stepped.size
        self.stepped = stepped
        left = np.zeros(n, np.bool_)
        left[1:] = stepped[1:] == stepped[:-1] + 1
        bypassed = np.zeros((rows, n), np.bool_)
        for r, c in bypass:
            bypassed[r, local[c]] = True
        self.setup = Setup(stepped, left, bypassed, schedule.result_time, cols,
                           problem.dataflow.stationary_weights, acc_bits)
        self.kernel_faults = _kernel_faults(faults, problem.dataflow, rows, acc_bits,
                                            x_signed, w_signed, local, np.arange(rows))
        period = self.ring_period(rows, cols)
        self._records = record_outputs and n > 0 and stepped[-1] == cols - 1
        capacity = schedule.total if self._records else 0
        self.kernel_state = State(
            mask=period - 1,
            regs=np.zeros((rows, n, 10), np.int32),
            ex=np.zeros((period, rows), np.int32),
            ew=np.zeros((period, cols), np.int32),
            edge_bits=np.zeros((5, period), np.int32),
            bottom=np.zeros((2, period, n), np.int32),
            load=np.zeros(n, np.int32),
            cursor=np.zeros(5, np.int64),
            res_data=np.zeros((schedule.result_time.size, n), np.int32),
            out_cycles=np.zeros(capacity, np.int64),
            out_data=np.zeros((capacity, n), np.int32))
        self._no_trace = np.zeros((10, 0, rows, n), np.int32)
        _apply(0, self.kernel_state, self.kernel_faults)

    def _init_rows(self, x_signed: bool, w_signed: bool) -> None:
        """Set up a run that steps only the rows holding faults (:func:`in_rows`)."""
        problem, rows, cols = self.problem, self.problem.rows, self.problem.cols
        first = {}
        for r, c in [fault.pe for fault in self.faults] + list(self.bypass):
            first[r] = min(c, first.get(r, cols))
        self.row_of = np.array(sorted(first), np.int64)
        self.first_col = np.array([first[r] for r in self.row_of], np.int64)
        local_row = np.full(rows, -1, np.int64)
        local_row[self.row_of] = np.arange(self.row_of.size)
        self.bypassed = np.zeros((rows, cols), np.bool_)
        for r, c in self.bypass:
            self.bypassed[r, c] = True
        self.kernel_faults = _kernel_faults(self.faults, problem.dataflow, rows, self.acc_bits,
                                            x_signed, w_signed, np.arange(cols), local_row)
        period = self.ring_period(rows, cols)
        results = self.schedule.result_time.size
        self.kernel_state = RowState(
            mask=period - 1,
            regs=np.zeros((self.row_of.size, cols, 10), np.int32),
            ex=np.zeros((period, rows), np.int32),
            ew=np.zeros((period, cols), np.int32),
            edge_bits=np.zeros((5, period), np.int32),
            cursor=np.zeros(5, np.int64),
            res=np.zeros((results, cols), np.int64),
            has=np.zeros((results, cols) if not problem.dataflow.stationary_weights
                         else (0, 0), np.uint8))
        _apply(0, self.kernel_state, self.kernel_faults)

    @staticmethod
    def ring_period(rows: int, cols: int) -> int:
        """Length of the edge and bottom-row rings: longer than any skew or de-skew path."""
        return 1 << int(rows + cols + 1).bit_length()

    @classmethod
    def bytes_needed(cls, problem: Problem, schedule: Schedule, record_outputs: bool,
                     columns: int) -> int:
        """Bytes a run stepping ``columns`` columns allocates, the fault-free reference too."""
        rows, cols = problem.rows, problem.cols
        period = cls.ring_period(rows, cols)
        results = schedule.result_time.size
        needed = (40 * rows * columns + 4 * period * (rows + cols + 4 + 2 * columns)
                  + 4 * results * columns + 24 * results * cols
                  + 40 * problem.y_shape[0] * problem.y_shape[1])
        if record_outputs:
            needed += schedule.total * (8 + 4 * columns) + results * (8 + 4 * cols)
        return needed

    @staticmethod
    def stepped_count(faults, bypass, cols: int, every_column: bool) -> int:
        """How many columns the run steps."""
        return stepped_columns(faults, bypass, cols, every_column).size

    @property
    def total(self) -> int:
        """Cycles of the whole run."""
        return self.schedule.total

    @property
    def busy_cycles(self) -> int:
        """Cycles the kernel steps (a faulty run skips none)."""
        return self.total

    def advance(self, stop: int, trace: np.ndarray | None = None, trace_first: int = 0):
        """Step cycles ``self.cycle .. stop - 1``; fill ``trace`` for the cycles it covers."""
        if stop <= self.cycle:
            return
        if self.rows_only:
            _run_rows(self.cycle, stop, self.kernel_state, self.stream, self.row_of,
                      self.first_col, self.bypassed, self.kernel_faults,
                      self.problem.dataflow.stationary_weights, self.problem.rows,
                      self.acc_bits)
            self.cycle = stop
            return
        if trace is None:
            trace, trace_first = self._no_trace, 0
        _run(self.cycle, stop, self.kernel_state, self.stream, self.setup, self.kernel_faults,
             self._records, trace, trace_first)
        self.cycle = stop

    def state(self) -> dict[str, np.ndarray]:
        """Every PE register during the current cycle (all columns stepped)."""
        return dict(zip(self.registers, np.moveaxis(self.kernel_state.regs, 2, 0).copy(),
                        strict=True))

    # -- results, once every cycle has run -------------------------------------------------

    def clean(self) -> tuple[np.ndarray, np.ndarray]:
        """The fault-free output ``Y`` and result stream, from the fast path (exact)."""
        if self._clean is None:
            exact = exact_result(self.problem)
            self._clean = (wrap(exact, self.acc_bits),
                           fast_output_stream(self.problem, exact, self.acc_bits))
        return self._clean

    def stream_at_results(self) -> np.ndarray:
        """What the port showed at every result cycle of the schedule, ``(n_results, C)``."""
        stream = self.clean()[1].copy()
        if self.rows_only:
            state = self.kernel_state
            if self.problem.dataflow.stationary_weights:
                return wrap(stream + state.res, self.acc_bits)
            has = state.has.astype(bool)
            stream[has] = state.res[has]
            return stream
        stream[:, self.stepped] = self.kernel_state.res_data
        return stream

    def output(self) -> np.ndarray:
        """The accumulated result ``Y`` (``M x N``), as the host reads it."""
        return stream_to_output(self.problem, self.stream_at_results(), self.acc_bits)

    def output_stream(self) -> tuple[np.ndarray, np.ndarray]:
        """The cycles with ``out_valid = 1`` and the port during them."""
        stream = self.stream_at_results()
        if self.rows_only or not self._records:
            return self.schedule.result_time.copy(), stream
        count = int(self.kernel_state.cursor[_RECORDS])
        cycles = self.kernel_state.out_cycles[:count].copy()
        data = np.zeros((count, self.problem.cols), np.int32)
        # an unstepped column is fault-free: its value on a result cycle, else 0 (an
        # invalid psum is 0 on both PE kinds)
        at = np.searchsorted(self.schedule.result_time, cycles)
        hit = at < self.schedule.result_time.size
        hit[hit] = self.schedule.result_time[at[hit]] == cycles[hit]
        data[hit] = self.clean()[1][at[hit]]
        data[:, self.stepped] = self.kernel_state.out_data[:count]
        return cycles, data

    def report(self):
        """The :class:`FaultReport <systolic.FaultReport>` of the finished run."""
        expected, clean_stream = self.clean()
        stream = self.stream_at_results()
        return _report(self.problem, self.faults, self.bypass, self.schedule.result_time,
                       stream_to_output(self.problem, stream, self.acc_bits), stream,
                       expected, clean_stream)


def _report(problem: Problem, faults, bypass, result_time, output, stream, expected,
            clean_stream):
    """The :class:`FaultReport <systolic.FaultReport>` of a run's output and result stream
    against the fault-free ones (``expected`` in the problem's orientation)."""
    from .array import FaultReport

    first = _first_cycles(problem, stream != clean_stream, result_time)
    if problem.dataflow.transposed:
        expected = np.ascontiguousarray(expected.T)
    corrupted = output != expected
    first[~corrupted] = -1
    return FaultReport(faults=faults, bypass=bypass, expected=expected, corrupted=corrupted,
                       error=output.astype(np.int64) - expected.astype(np.int64),
                       first_cycle=first)


def _first_cycles(problem: Problem, differs: np.ndarray, result_time: np.ndarray):
    """Per output element, the first result cycle whose contribution to it differs."""
    rows, cols = problem.rows, problem.cols
    y = np.full(problem.y_shape, np.iinfo(np.int64).max, np.int64)
    tiles = problem.tiles
    if problem.dataflow.stationary_weights:
        v = problem.vectors
        for j in range(problem.n_tiles):
            col0 = tiles[OUT_COL, j]
            width = min(cols, y.shape[1] - col0)
            cycles = np.where(differs[j * v:(j + 1) * v, :width],
                              result_time[j * v:(j + 1) * v, None], y.max())
            block = y[:, col0:col0 + width]
            np.minimum(block, cycles, out=block)
    else:
        for j in range(problem.n_tiles):
            row0, col0 = tiles[OUT_ROW, j], tiles[OUT_COL, j]
            part = slice(j * rows, (j + 1) * rows)
            cycles = np.where(differs[part], result_time[part, None], y.max())[::-1]
            height, width = min(rows, y.shape[0] - row0), min(cols, y.shape[1] - col0)
            y[row0:row0 + height, col0:col0 + width] = cycles[:height, :width]
    if problem.dataflow.transposed:
        y = np.ascontiguousarray(y.T)
    return y


def stream_to_output(problem: Problem, stream: np.ndarray, acc_bits: int) -> np.ndarray:
    """``Y`` (``M x N``) from the result vectors the host read, as the scheduler adds them
    up (section 4): ws/is accumulate the tiles of one output column block, os places rows."""
    rows, cols = problem.rows, problem.cols
    y = np.zeros(problem.y_shape, np.int64)
    tiles = problem.tiles
    if problem.dataflow.stationary_weights:
        v = problem.vectors
        for j in range(problem.n_tiles):
            col0 = tiles[OUT_COL, j]
            width = min(cols, y.shape[1] - col0)
            y[:, col0:col0 + width] += stream[j * v:(j + 1) * v, :width]
    else:
        for j in range(problem.n_tiles):
            row0, col0 = tiles[OUT_ROW, j], tiles[OUT_COL, j]
            block = stream[j * rows:(j + 1) * rows][::-1]
            height, width = min(rows, y.shape[0] - row0), min(cols, y.shape[1] - col0)
            y[row0:row0 + height, col0:col0 + width] = block[:height, :width]
    out = wrap(y, acc_bits)
    return np.ascontiguousarray(out.T) if problem.dataflow.transposed else out


def _faulty_tile(problem: Problem, j: int, x_tile, stream, force, keep) -> None:
    """The result vectors of ws/is tile ``j`` with stuck weight bits and bypassed PEs."""
    rows, cols, v = problem.rows, problem.cols, problem.vectors
    base, row0, col0 = (problem.tiles[X_BASE, j], problem.tiles[W_ROW, j],
                        problem.tiles[W_COL, j])
    x_tile[:] = 0
    part = problem.x_src[:, base:base + rows]
    x_tile[:, :part.shape[1]] = part
    weights = np.zeros((rows, cols), np.int64)
    block = problem.w_src[row0:row0 + rows, col0:col0 + cols]
    weights[:block.shape[0], :block.shape[1]] = block
    shadow = force(weights, "w_shadow")
    active = force(shadow, "w_active") * keep
    shadow *= keep
    # float64 products of a tile are exact: every |sum| <= R * 128 * 255 < 2**53
    stream[j * v:(j + 1) * v] = x_tile @ active
    stream[j * v] = x_tile[0] @ shadow


def fast_faulty(problem: Problem, faults, bypass, acc_bits: int, w_signed: bool):
    """The fast path with bypassed PEs and stuck weight bits, exactly as the cycle engine.

    ws/is: a tile's first x vector (it carries the switch) multiplies the ``w_shadow`` values
    of the tile (the loaded weights with ``w_shadow``'s stuck bits), the others the
    ``w_active`` values (those again with ``w_active``'s stuck bits); a bypassed PE's weight is
    0 in both. os: the output elements computed by bypassed PEs are 0.

    Returns
    -------
    output : ndarray, int32 (M, N)
    stream : ndarray, int32 (n_results, C)
        The result vectors on the output port.
    expected : ndarray, int32 (M, N)
        The fault-free output.
    clean_stream : ndarray
        The fault-free result vectors.
    """
    rows, cols = problem.rows, problem.cols
    exact = exact_result(problem)
    expected = wrap(exact, acc_bits)
    clean_stream = fast_output_stream(problem, exact, acc_bits)
    keep = np.ones((rows, cols), bool)
    for r, c in bypass:
        keep[r, c] = False
    if not problem.dataflow.stationary_weights:
        mask = np.tile(keep, (-(-problem.m // rows), -(-problem.n // cols)))
        faulty = np.where(mask[:problem.m, :problem.n], exact, 0)
        output = wrap(faulty, acc_bits)
        return output, fast_output_stream(problem, faulty, acc_bits), expected, clean_stream
    masks = {name: (np.full((rows, cols), -1, np.int64), np.zeros((rows, cols), np.int64))
             for name in _FAST_STUCK}
    for fault in faults:
        and_mask, or_mask = masks[fault.register]
        if fault.kind == "stuck_at_0":
            and_mask[fault.pe] &= ~fault.mask
        else:
            or_mask[fault.pe] |= fault.mask

    def force(values, name):
        and_mask, or_mask = masks[name]
        pattern = ((values & and_mask) | or_mask) & 0xFF
        return np.where(pattern >= 128, pattern - 256, pattern) if w_signed else pattern

    stream = np.zeros((problem.n_tiles * problem.vectors, cols), np.int64)
    x_tile = np.zeros((problem.vectors, rows), np.float64)
    with blas_threads_for(problem.m * problem.k * problem.n):
        for j in range(problem.n_tiles):
            _faulty_tile(problem, j, x_tile, stream, force, keep)
    stream = wrap(stream, acc_bits)
    return (stream_to_output(problem, stream, acc_bits), stream, expected, clean_stream)


def fast_report(problem: Problem, faults, bypass, result_time, acc_bits: int, w_signed: bool):
    """``fast_faulty``'s output and stream, and its :class:`FaultReport`."""
    output, stream, expected, clean_stream = fast_faulty(problem, faults, bypass, acc_bits,
                                                         w_signed)
    return output, stream, _report(problem, faults, bypass, result_time, output, stream,
                                   expected, clean_stream)

