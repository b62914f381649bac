"""Compiled kernels that step every register of the array, cycle by cycle.

Layout of the state (all arrays are owned by the caller, so that a run can stop after any
cycle and resume: this is what the stepper, trace windows and progress bars rely on).

A register that moves one PE per cycle keeps its place in memory; the index that names it
advances instead. This is the usual wavefront (time-skewed) layout of systolic arrays and it
turns every shift of the hardware into no work at all:

* ``xring[r]`` is row ``r``'s x lane: its ``r`` skew registers followed by the ``x`` registers
  of ``PE(r, 0..C-1)``. The value presented at the left edge during cycle ``tau`` sits at
  position ``(-tau) mod P`` for ``P`` cycles, so the inputs of a whole PE row during one cycle
  are ``C`` consecutive entries. The first ``C`` positions are mirrored after position ``P`` to
  keep that window contiguous when it wraps.
* ``lanes`` holds, per edge cycle ``tau mod P``, the 1-bit and tag signals that travel with
  the data: ``x_valid``, ``x_flag``, ``w_valid`` and ``w_tag``.
* ``wring`` holds the w lane: by edge cycle (ws, the weight-load path) or by diagonal
  ``tau + c`` (os, the second operand), so that a PE row reads one contiguous vector.
* ``psring`` holds the ``psum`` registers and the de-skew registers behind the bottom row:
  in ws by diagonal ``tau + c`` (a partial sum moving down stays in place and is added to),
  in os by ``t - r`` (the drain shift register), with ``psvis`` giving the first cycle at
  which each os drain value is in its register (0: empty, which reads as 0 and invalid).
* ``pe`` holds the registers that do not move: ``w_active``/``w_shadow`` (ws) or
  ``acc``/``hold`` (os).

Sums are kept modulo ``2**32`` in int32 and reduced to ``acc_bits`` when they are read;
reduction modulo ``2**acc_bits`` commutes with addition, so the bits are those of a register
that wraps on every add. :func:`snapshot` rebuilds every PE register of the current cycle in
the contract's ``(R, C)`` form.

The kernels take these arrays as one :class:`State` and the schedule's inputs as one
:class:`Stream` (numba passes named tuples of arrays as cheaply as the arrays themselves).
Both families step cycles the same way (:func:`_chunk_stop`): a chunk of cycles at a time,
edges first, then every PE (:func:`_step_strip_ws`, :func:`_step_rows_os`), then the output
port; a cycle inside a trace window is stepped alone and recorded.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._config import jit
from ._dataflow import LANE_REGISTERS
from ._schedule import OUT_COL, OUT_ROW, W_COL, W_ROW, X_BASE

__all__ = ["State", "Stream", "run_os", "run_ws", "snapshot", "wrap_array"]

# Rows of ``lanes``.
X_VALID, X_FLAG, W_VALID, W_TAG = 0, 1, 2, 3
# Entries of ``cursor``: the next x vector to present, results seen on the output port, the
# tile whose weights load next, the oldest tile whose flag is still inside the array, and the
# oldest weight load still inside the array.
NEXT_VECTOR, RESULTS, NEXT_LOAD, OLDEST_FLAG, OLDEST_LOAD = 0, 1, 2, 3, 4
# Rows of a snapshot, in the order of ``Dataflow.registers``: the lane registers, then the two
# registers that stay in the PE (w_active, w_shadow or acc, hold).
(REG_X, REG_X_VALID, REG_X_FLAG, REG_W, REG_W_VALID, REG_W_TAG, REG_PSUM,
 REG_PSUM_VALID) = range(len(LANE_REGISTERS))
REG_STAY_0, REG_STAY_1 = len(LANE_REGISTERS), len(LANE_REGISTERS) + 1


class State(NamedTuple):
    """Everything a run changes, owned by the caller (see the module docstring).

    ``pe`` holds the registers that stay in the PE; ``y`` the accumulated result;
    ``out_cycles``/``out_data`` the recorded output stream (empty when not recorded).
    """

    mask: int
    xring: np.ndarray
    lanes: np.ndarray
    wring: np.ndarray
    psring: np.ndarray
    psvis: np.ndarray
    pe: np.ndarray
    cursor: np.ndarray
    y: np.ndarray
    out_cycles: np.ndarray
    out_data: np.ndarray


class Stream(NamedTuple):
    """What enters the array: the operands, their tiles (rows ``X_BASE`` .. ``OUT_COL`` of
    :class:`systolic._schedule.Problem`), and the schedule's cycles."""

    x_src: np.ndarray
    w_src: np.ndarray
    tiles: np.ndarray
    x_time: np.ndarray
    load_time: np.ndarray
    vectors: int


@jit
def _wrap(value, acc_bits):
    """``value`` reduced to a signed ``acc_bits``-bit number."""
    v = np.int64(value) & ((np.int64(1) << acc_bits) - 1)
    if v >= (np.int64(1) << (acc_bits - 1)):
        v -= np.int64(1) << acc_bits
    return v


@jit
def wrap_array(values, acc_bits):
    """Reduce int32 sums in place to signed ``acc_bits`` bits."""
    flat = values.reshape(-1)
    if acc_bits < 32:
        for i in range(flat.size):
            flat[i] = _wrap(flat[i], acc_bits)


@jit
def _chunk_stop(t, t1, chunk, trace_first, trace_stop):
    """End of the block of cycles that starts at ``t``, and whether it is a traced cycle.

    A cycle inside the trace window ``trace_first .. trace_stop - 1`` is stepped alone (its
    registers are recorded first); other cycles go in chunks of up to ``chunk`` that stop
    where the window begins.
    """
    if trace_first <= t < trace_stop:
        return t + 1, True
    stop = min(t1, t + chunk)
    if t < trace_first < stop:
        stop = trace_first
    return stop, False


@jit
def _window(times, stride, offset, n, first, reach, t, stop):
    """The events ``j`` (at ``times[j * stride + offset]``) that are inside the array at some
    cycle of ``t .. stop - 1``, given that an event stays inside for ``reach`` more cycles.

    Returns ``first_inside, end``: events before ``first_inside`` have left for good.
    """
    f = first
    while f < n and times[f * stride + offset] + reach < t:
        f += 1
    end = f
    while end < n and times[end * stride + offset] < stop:
        end += 1
    return f, end


@jit
def _present(t, state, stream, flag_first):
    """Put the x vector of cycle ``t`` (or an idle vector) on the left edge.

    Returns the tile and source index of the vector, or ``-1, -1`` on an idle cycle.
    """
    xring, lanes, cursor, mask = state.xring, state.lanes, state.cursor, state.mask
    x_src, x_time, vectors = stream.x_src, stream.x_time, stream.vectors
    rows = xring.shape[0]
    period = mask + 1
    cols = xring.shape[1] - period
    slot = t & mask
    pos = (-t) & mask
    i = cursor[NEXT_VECTOR]
    if i < x_time.size and x_time[i] == t:
        tile = i // vectors
        src = i - tile * vectors
        base = stream.tiles[X_BASE, tile]
        width = min(rows, x_src.shape[1] - base)
        for r in range(rows):
            xring[r, pos] = x_src[src, base + r] if r < width else 0
        lanes[X_VALID, slot] = 1
        if flag_first:
            lanes[X_FLAG, slot] = 1 if src == 0 else 0
        else:
            lanes[X_FLAG, slot] = 1 if src == vectors - 1 else 0
        cursor[NEXT_VECTOR] = i + 1
    else:
        tile = -1
        src = -1
        for r in range(rows):
            xring[r, pos] = 0
        lanes[X_VALID, slot] = 0
        lanes[X_FLAG, slot] = 0
    if pos < cols:
        for r in range(rows):
            xring[r, pos + period] = xring[r, pos]
    return tile, src


@jit
def _record(t, out, state, acc_bits):
    """Log one output vector if the stream is being recorded."""
    cursor, out_cycles, out_data = state.cursor, state.out_cycles, state.out_data
    n = cursor[RESULTS]
    if out_data.shape[0] > 0:
        out_cycles[n] = t
        for c in range(out.size):
            out_data[n, c] = _wrap(out[c], acc_bits)
    cursor[RESULTS] = n + 1


@jit
def _lane_snapshot(t, state, regs):
    """The x-lane registers of every PE during cycle ``t``."""
    xring, lanes, mask = state.xring, state.lanes, state.mask
    rows = xring.shape[0]
    cols = regs.shape[2]
    for r in range(rows):
        for c in range(cols):
            tau = t - 1 - r - c
            if tau < 0:
                regs[REG_X, r, c] = 0
                regs[REG_X_VALID, r, c] = 0
                regs[REG_X_FLAG, r, c] = 0
            else:
                regs[REG_X, r, c] = xring[r, (-tau) & mask]
                regs[REG_X_VALID, r, c] = lanes[X_VALID, tau & mask]
                regs[REG_X_FLAG, r, c] = lanes[X_FLAG, tau & mask]


@jit
def snapshot(t, stationary, state, acc_bits, regs):
    """Write every register of every PE during cycle ``t`` into ``regs`` (n_regs, R, C), in
    the order of :attr:`Dataflow.registers <systolic.Dataflow.registers>`."""
    lanes, wring, psring, psvis, pe = state.lanes, state.wring, state.psring, state.psvis, state.pe
    mask = state.mask
    rows, cols = regs.shape[1], regs.shape[2]
    _lane_snapshot(t, state, regs)
    for r in range(rows):
        for c in range(cols):
            tau = t - 1 - r - c
            if stationary:
                live = tau >= 0
                regs[REG_W, r, c] = wring[tau & mask, c] if live else 0
                regs[REG_W_VALID, r, c] = lanes[W_VALID, tau & mask] if live else 0
                regs[REG_W_TAG, r, c] = lanes[W_TAG, tau & mask] if live else 0
                regs[REG_PSUM, r, c] = (_wrap(psring[(t - 1 - r) & mask, c], acc_bits)
                                        if live else 0)
                regs[REG_PSUM_VALID, r, c] = lanes[X_VALID, tau & mask] if live else 0
                regs[REG_STAY_0, r, c] = pe[0, r, c]
                regs[REG_STAY_1, r, c] = pe[1, r, c]
            else:
                regs[REG_W, r, c] = wring[(t - 1 - r) & mask, c] if tau >= 0 else 0
                regs[REG_W_VALID, r, c] = 0
                regs[REG_W_TAG, r, c] = 0
                slot = (t - r) & mask
                live = 0 < psvis[slot, c] <= t
                regs[REG_PSUM, r, c] = _wrap(psring[slot, c], acc_bits) if live else 0
                regs[REG_PSUM_VALID, r, c] = 1 if live else 0
                regs[REG_STAY_0, r, c] = _wrap(pe[0, r, c], acc_bits)
                regs[REG_STAY_1, r, c] = _wrap(pe[1, r, c], acc_bits)


@jit
def _edges_ws(t, state, stream):
    """Present the left edge (x lane) and the top edge (weight load) during cycle ``t``."""
    lanes, wring, cursor = state.lanes, state.wring, state.cursor
    w_src, tiles, load_time = stream.w_src, stream.tiles, stream.load_time
    cols = wring.shape[1]
    n_tiles = tiles.shape[1]
    w_rows, w_cols = w_src.shape[0], w_src.shape[1]
    rows = state.xring.shape[0]
    _present(t, state, stream, True)
    slot = t & state.mask
    j = cursor[NEXT_LOAD]
    while j < n_tiles and load_time[j] + rows <= t:
        j += 1
    cursor[NEXT_LOAD] = j
    if j < n_tiles and load_time[j] <= t:
        k = t - load_time[j]
        row = tiles[W_ROW, j] + k
        col0 = tiles[W_COL, j]
        for c in range(cols):
            wring[slot, c] = w_src[row, col0 + c] if row < w_rows and col0 + c < w_cols else 0
        lanes[W_VALID, slot] = 1
        lanes[W_TAG, slot] = k
    else:
        for c in range(cols):
            wring[slot, c] = 0
        lanes[W_VALID, slot] = 0
        lanes[W_TAG, slot] = 0


@jit
def _output_ws(t, state, stream, out, acc_bits):
    """Read the output port during cycle ``t``: the de-skewed bottom psum of the vector
    presented ``R + C - 1`` cycles earlier, one diagonal of ``psring``."""
    psring, y, mask = state.psring, state.y, state.mask
    rows = state.xring.shape[0]
    cols = psring.shape[1]
    tau = t - rows - cols + 1
    if tau >= 0 and state.lanes[X_VALID, tau & mask]:
        for c in range(cols):
            out[c] = psring[(tau + c) & mask, c]
        i = state.cursor[RESULTS]
        tile = i // stream.vectors
        v = i - tile * stream.vectors
        col0 = stream.tiles[OUT_COL, tile]
        for c in range(min(cols, y.shape[1] - col0)):
            y[v, col0 + c] += out[c]
        _record(t, out, state, acc_bits)


@jit
def _step_strip_ws(t, stop, c0, c1, row_block, state, stream, flags, loads):
    """Step columns ``c0 .. c1-1`` of every PE row through cycles ``t .. stop-1`` (ws).

    Columns are independent in the weight-stationary array (partial sums move down, the x
    lane is read-only here), so a wide array is stepped one strip of columns at a time.
    ``flags`` and ``loads`` are the ranges of tiles whose switch and weight load are inside
    the array during the chunk.
    """
    xring, lanes, wring, psring, mask = (state.xring, state.lanes, state.wring, state.psring,
                                         state.mask)
    active, shadow = state.pe[0], state.pe[1]
    x_time, load_time, vectors = stream.x_time, stream.load_time, stream.vectors
    f, f_end = flags
    g, g_end = loads
    rows = active.shape[0]
    for r0 in range(0, rows, row_block):
        r1 = min(rows, r0 + row_block)
        for tt in range(t, stop):
            for r in range(r0, r1):
                # Switch: the first vector of a tile reaches PE(r, c) during
                # s + r + c, uses w_shadow and copies it into w_active.
                for jj in range(f, f_end):
                    c = tt - r - x_time[jj * vectors]
                    if c0 <= c < c1:
                        active[r, c] = shadow[r, c]
                # Weight load: the value with tag r reaches PE(r, c) during
                # L + r + (r + c) and is latched into w_shadow.
                for jj in range(g, g_end):
                    c = tt - load_time[jj] - 2 * r
                    if c0 <= c < c1:
                        slot = (tt - r - c) & mask
                        if lanes[W_VALID, slot] and lanes[W_TAG, slot] == r:
                            shadow[r, c] = wring[slot, c]
                # psum <= psum_in + w_active * x_in for the row's columns.
                p0 = ((r - tt) & mask) + c0
                width = c1 - c0
                acc_row = psring[(tt - r) & mask, c0:c1]
                x_row = xring[r, p0:p0 + width]
                w_row = active[r, c0:c1]
                if r == 0:
                    for c in range(width):
                        acc_row[c] = w_row[c] * x_row[c]
                else:
                    for c in range(width):
                        acc_row[c] += w_row[c] * x_row[c]


@jit
def run_ws(t0, t1, state, stream, acc_bits, trace, trace_first, chunk, row_block, col_block):
    """Step the weight-stationary array through cycles ``t0 .. t1-1`` (contract 3.1).

    Cycles are stepped in chunks of up to ``chunk`` cycles: first the edge inputs of the whole
    chunk enter their delay lines, then every PE steps through the chunk, in tiles of
    ``row_block`` rows by ``col_block`` columns that stay in the L1 cache, then the output
    port is read for every cycle of the chunk. This order gives the same register values as
    stepping one cycle at a time: a PE row depends only on the row above one cycle earlier,
    on its own registers and on the edge inputs, and the rings are long enough that nothing
    is overwritten before it is read. Cycles inside the ``trace`` window (n_regs, n, R, C) are
    stepped one at a time and recorded.
    """
    rows, cols = state.pe.shape[1], state.pe.shape[2]
    n_tiles = stream.tiles.shape[1]
    cursor = state.cursor
    out = np.zeros(cols, np.int32)
    trace_stop = trace_first + trace.shape[1]
    t = t0
    while t < t1:
        stop, traced = _chunk_stop(t, t1, chunk, trace_first, trace_stop)
        if traced:
            snapshot(t, True, state, acc_bits, trace[:, t - trace_first])
        for tt in range(t, stop):
            _edges_ws(tt, state, stream)
        # Switches and weight loads that are inside the array at some point of the chunk.
        flags = _window(stream.x_time, stream.vectors, 0, n_tiles, cursor[OLDEST_FLAG],
                        rows + cols - 2, t, stop)
        loads = _window(stream.load_time, 1, 0, n_tiles, cursor[OLDEST_LOAD],
                        2 * rows + cols - 3, t, stop)
        cursor[OLDEST_FLAG], cursor[OLDEST_LOAD] = flags[0], loads[0]
        n_strips = (cols + col_block - 1) // col_block
        for strip in range(n_strips):
            _step_strip_ws(t, stop, strip * col_block, min(cols, (strip + 1) * col_block),
                           row_block, state, stream, flags, loads)
        for tt in range(t, stop):
            _output_ws(tt, state, stream, out, acc_bits)
        t = stop


@jit
def _edges_os(t, state, stream):
    """Present the operand pair of cycle ``t``: x on the left edge, w on the top edge (stored
    on the diagonal ``t + c``)."""
    wring, mask, w_src = state.wring, state.mask, stream.w_src
    cols = wring.shape[1]
    w_cols = w_src.shape[1]
    tile, src = _present(t, state, stream, False)
    if tile >= 0:
        col0 = stream.tiles[W_COL, tile]
        for c in range(cols):
            wring[(t + c) & mask, c] = w_src[src, col0 + c] if col0 + c < w_cols else 0
    else:
        for c in range(cols):
            wring[(t + c) & mask, c] = 0


@jit
def _output_os(t, state, stream, out, acc_bits):
    """Read the output port during cycle ``t``: column ``c``'s bottom psum from ``C - 1 - c``
    cycles earlier (de-skew), valid when column ``C - 1``'s is. The value then leaves the
    array, so its slot is emptied for the next use."""
    psring, psvis, y, mask = state.psring, state.psvis, state.y, state.mask
    rows = state.xring.shape[0]
    cols = psring.shape[1]
    valid = False
    for c in range(cols):
        slot = (t - (cols - 1 - c) - rows + 1) & mask
        visible = psvis[slot, c]
        live = 0 < visible <= t
        out[c] = psring[slot, c] if live else 0
        if c == cols - 1:
            valid = live
        if live:
            psring[slot, c] = 0
            psvis[slot, c] = 0
    if valid:
        q = state.cursor[RESULTS]
        tile = q // rows
        r_out = stream.tiles[OUT_ROW, tile] + rows - 1 - (q - tile * rows)
        col0 = stream.tiles[OUT_COL, tile]
        if r_out < y.shape[0]:
            for c in range(min(cols, y.shape[1] - col0)):
                y[r_out, col0 + c] = out[c]
        _record(t, out, state, acc_bits)


@jit
def _step_rows_os(t, stop, row_block, state, stream, flags):
    """Step every PE through cycles ``t .. stop-1`` (os), ``row_block`` rows at a time.

    ``flags`` is the range of tiles whose last flag is inside the array during the chunk.
    """
    xring, wring, psring, psvis, mask = (state.xring, state.wring, state.psring, state.psvis,
                                         state.mask)
    acc, hold = state.pe[0], state.pe[1]
    x_time, vectors = stream.x_time, stream.vectors
    f, f_end = flags
    rows, cols = acc.shape[0], acc.shape[1]
    for r0 in range(0, rows, row_block):
        r1 = min(rows, r0 + row_block)
        for tt in range(t, stop):
            for r in range(r0, r1):
                # acc <= acc + x_in * w_in: both operands of the vector presented
                # tt - r - c, one contiguous vector each.
                p0 = (r - tt) & mask
                x_row = xring[r, p0:p0 + cols]
                w_row = wring[(tt - r) & mask]
                acc_row = acc[r]
                for c in range(cols):
                    acc_row[c] += x_row[c] * w_row[c]
                # The last flag: the finished sum moves to hold, acc restarts from 0,
                # and the column's load will put hold on the drain path.
                for jj in range(f, f_end):
                    e = x_time[jj * vectors + vectors - 1]
                    c = tt - r - e
                    if 0 <= c < cols:
                        hold[r, c] = acc[r, c]
                        acc[r, c] = 0
                        t_load = e + rows + c
                        slot = (t_load + 1 - r) & mask
                        psring[slot, c] = hold[r, c]
                        psvis[slot, c] = t_load + 1


@jit
def run_os(t0, t1, state, stream, acc_bits, trace, trace_first, chunk, row_block):
    """Step the output-stationary array through cycles ``t0 .. t1-1`` (contract 3.2).

    Chunked and cache-blocked like :func:`run_ws`. The drain path is kept exact without a
    per-cycle shift: when the last flag passes ``PE(r, c)`` its finished sum is copied into
    ``hold``, and that is the value the column's load will copy into the drain register of
    row ``r`` at ``t_load = e + R + c`` (the legal schedule keeps ``hold`` unchanged until
    then). So it is written straight into the slot that register will occupy, stamped with
    the cycle it becomes visible (``t_load + 1``); a slot without a visible value reads as the
    zeros that row 0 shifts in. ``psvis`` holds the stamps.
    """
    rows, cols = state.pe.shape[1], state.pe.shape[2]
    n_tiles = stream.tiles.shape[1]
    cursor = state.cursor
    out = np.zeros(cols, np.int32)
    trace_stop = trace_first + trace.shape[1]
    t = t0
    while t < t1:
        stop, traced = _chunk_stop(t, t1, chunk, trace_first, trace_stop)
        if traced:
            snapshot(t, False, state, acc_bits, trace[:, t - trace_first])
        for tt in range(t, stop):
            _edges_os(tt, state, stream)
        # Last flags inside the array at some point of the chunk.
        flags = _window(stream.x_time, stream.vectors, stream.vectors - 1, n_tiles,
                        cursor[OLDEST_FLAG], rows + cols - 2, t, stop)
        cursor[OLDEST_FLAG] = flags[0]
        _step_rows_os(t, stop, row_block, state, stream, flags)
        for tt in range(t, stop):
            _output_os(tt, state, stream, out, acc_bits)
        t = stop
