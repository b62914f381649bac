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
"""

from __future__ import annotations

import numpy as np

from ._config import jit

__all__ = ["run_os", "run_ws", "snapshot", "wrap_array"]

# Rows of ``lanes``.
X_VALID, X_FLAG, W_VALID, W_TAG = 0, 1, 2, 3
# Entries of ``cursor``: the next x vector to present, results seen on the output port, the
# tile whose weights load next, the oldest tile whose flag is still inside the array, and the
# oldest weight load still inside the array.
NEXT_VECTOR, RESULTS, NEXT_LOAD, OLDEST_FLAG, OLDEST_LOAD = 0, 1, 2, 3, 4


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
def _present(t, mask, xring, lanes, x_src, tiles, x_time, vectors, cursor, flag_first):
    """Put the x vector of cycle ``t`` (or an idle vector) on the left edge.

    Returns the tile and source index of the vector, or ``-1, -1`` on an idle cycle.
    """
    rows = xring.shape[0]
    period = mask + 1
    cols = xring.shape[1] - period
    slot = t & mask
    pos = (-t) & mask
    i = cursor[NEXT_VECTOR]
    if i < x_time.size and x_time[i] == t:
        tile = i // vectors
        src = i - tile * vectors
        base = tiles[0, tile]
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
def _record(t, out, cursor, out_cycles, out_data, acc_bits):
    """Log one output vector if the stream is being recorded."""
    n = cursor[RESULTS]
    if out_data.shape[0] > 0:
        out_cycles[n] = t
        for c in range(out.size):
            out_data[n, c] = _wrap(out[c], acc_bits)
    cursor[RESULTS] = n + 1


@jit
def _lane_snapshot(t, mask, xring, lanes, regs):
    """The x-lane registers of every PE during cycle ``t`` (``regs[0:3]``)."""
    rows = xring.shape[0]
    cols = regs.shape[2]
    for r in range(rows):
        for c in range(cols):
            tau = t - 1 - r - c
            if tau < 0:
                regs[0, r, c] = 0
                regs[1, r, c] = 0
                regs[2, r, c] = 0
            else:
                regs[0, r, c] = xring[r, (-tau) & mask]
                regs[1, r, c] = lanes[X_VALID, tau & mask]
                regs[2, r, c] = lanes[X_FLAG, tau & mask]


@jit
def snapshot(t, stationary, mask, xring, lanes, wring, psring, psvis, pe, acc_bits, regs):
    """Write every register of every PE during cycle ``t`` into ``regs`` (n_regs, R, C), in
    the order of :attr:`Dataflow.registers <systolic.Dataflow.registers>`."""
    rows, cols = regs.shape[1], regs.shape[2]
    _lane_snapshot(t, mask, xring, lanes, regs)
    for r in range(rows):
        for c in range(cols):
            tau = t - 1 - r - c
            if stationary:
                live = tau >= 0
                regs[3, r, c] = wring[tau & mask, c] if live else 0
                regs[4, r, c] = lanes[W_VALID, tau & mask] if live else 0
                regs[5, r, c] = lanes[W_TAG, tau & mask] if live else 0
                regs[6, r, c] = _wrap(psring[(t - 1 - r) & mask, c], acc_bits) if live else 0
                regs[7, r, c] = lanes[X_VALID, tau & mask] if live else 0
                regs[8, r, c] = pe[0, r, c]
                regs[9, r, c] = pe[1, r, c]
            else:
                regs[3, r, c] = wring[(t - 1 - r) & mask, c] if tau >= 0 else 0
                regs[4, r, c] = 0
                regs[5, r, c] = 0
                slot = (t - r) & mask
                live = 0 < psvis[slot, c] <= t
                regs[6, r, c] = _wrap(psring[slot, c], acc_bits) if live else 0
                regs[7, r, c] = 1 if live else 0
                regs[8, r, c] = _wrap(pe[0, r, c], acc_bits)
                regs[9, r, c] = _wrap(pe[1, r, c], acc_bits)


@jit
def _edges_ws(t, mask, xring, lanes, wring, x_src, w_src, tiles, x_time, load_time, vectors,
              cursor):
    """Present the left edge (x lane) and the top edge (weight load) during cycle ``t``."""
    cols = wring.shape[1]
    n_tiles = tiles.shape[1]
    w_rows, w_cols = w_src.shape[0], w_src.shape[1]
    rows = xring.shape[0]
    _present(t, mask, xring, lanes, x_src, tiles, x_time, vectors, cursor, True)
    slot = t & mask
    j = cursor[NEXT_LOAD]
    while j < n_tiles and load_time[j] + rows <= t:
        j += 1
    cursor[NEXT_LOAD] = j
    if j < n_tiles and load_time[j] <= t:
        k = t - load_time[j]
        row = tiles[1, j] + k
        col0 = tiles[2, j]
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
def _output_ws(t, rows, mask, lanes, psring, tiles, vectors, y, cursor, out, out_cycles,
               out_data, acc_bits):
    """Read the output port during cycle ``t``: the de-skewed bottom psum of the vector
    presented ``R + C - 1`` cycles earlier, one diagonal of ``psring``."""
    cols = psring.shape[1]
    tau = t - rows - cols + 1
    if tau >= 0 and lanes[X_VALID, tau & mask]:
        for c in range(cols):
            out[c] = psring[(tau + c) & mask, c]
        i = cursor[RESULTS]
        tile = i // vectors
        v = i - tile * vectors
        col0 = tiles[4, tile]
        for c in range(min(cols, y.shape[1] - col0)):
            y[v, col0 + c] += out[c]
        _record(t, out, cursor, out_cycles, out_data, acc_bits)


@jit
def _step_strip_ws(t, stop, c0, c1, row_block, mask, xring, lanes, wring, psring, active,
                   shadow, x_time, load_time, vectors, f, f_end, g, g_end):
    """Step columns ``c0 .. c1-1`` of every PE row through cycles ``t .. stop-1`` (ws).

    Columns are independent in the weight-stationary array (partial sums move down, the x
    lane is read-only here), so a wide array is stepped one strip of columns at a time.
    """
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
def run_ws(t0, t1, mask, xring, lanes, wring, psring, pe, x_src, w_src, tiles, x_time,
           load_time, vectors, y, cursor, out_cycles, out_data, acc_bits, trace, trace_first,
           chunk, row_block, col_block):
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
    rows, cols = pe.shape[1], pe.shape[2]
    n_tiles = tiles.shape[1]
    out = np.zeros(cols, np.int32)
    dummy = np.zeros((1, 1), np.int64)
    active = pe[0]
    shadow = pe[1]
    trace_stop = trace_first + trace.shape[1]
    t = t0
    while t < t1:
        if trace_first <= t < trace_stop:
            stop = t + 1
            snapshot(t, True, mask, xring, lanes, wring, psring, dummy, pe, acc_bits,
                     trace[:, t - trace_first])
        else:
            stop = min(t1, t + chunk)
            if t < trace_first < stop:
                stop = trace_first
        for tt in range(t, stop):
            _edges_ws(tt, mask, xring, lanes, wring, x_src, w_src, tiles, x_time, load_time,
                      vectors, cursor)
        # Switches and weight loads that are inside the array at some point of the chunk.
        f = cursor[OLDEST_FLAG]
        while f < n_tiles and x_time[f * vectors] + rows + cols - 2 < t:
            f += 1
        cursor[OLDEST_FLAG] = f
        f_end = f
        while f_end < n_tiles and x_time[f_end * vectors] < stop:
            f_end += 1
        g = cursor[OLDEST_LOAD]
        while g < n_tiles and load_time[g] + 2 * rows + cols - 3 < t:
            g += 1
        cursor[OLDEST_LOAD] = g
        g_end = g
        while g_end < n_tiles and load_time[g_end] < stop:
            g_end += 1
        n_strips = (cols + col_block - 1) // col_block
        for strip in range(n_strips):
            _step_strip_ws(t, stop, strip * col_block, min(cols, (strip + 1) * col_block),
                           row_block, mask, xring, lanes, wring, psring, active, shadow,
                           x_time, load_time, vectors, f, f_end, g, g_end)
        for tt in range(t, stop):
            _output_ws(tt, rows, mask, lanes, psring, tiles, vectors, y, cursor, out,
                       out_cycles, out_data, acc_bits)
        t = stop


@jit
def _edges_os(t, mask, xring, lanes, wring, x_src, w_src, tiles, x_time, vectors, cursor):
    """Present the operand pair of cycle ``t``: x on the left edge, w on the top edge (stored
    on the diagonal ``t + c``)."""
    cols = wring.shape[1]
    w_cols = w_src.shape[1]
    tile, src = _present(t, mask, xring, lanes, x_src, tiles, x_time, vectors, cursor, False)
    if tile >= 0:
        col0 = tiles[2, tile]
        for c in range(cols):
            wring[(t + c) & mask, c] = w_src[src, col0 + c] if col0 + c < w_cols else 0
    else:
        for c in range(cols):
            wring[(t + c) & mask, c] = 0


@jit
def _output_os(t, rows, mask, psring, psvis, tiles, y, cursor, out, out_cycles, out_data,
               acc_bits):
    """Read the output port during cycle ``t``: column ``c``'s bottom psum from ``C - 1 - c``
    cycles earlier (de-skew), valid when column ``C - 1``'s is. The value then leaves the
    array, so its slot is emptied for the next use."""
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
        q = cursor[RESULTS]
        tile = q // rows
        r_out = tiles[3, tile] + rows - 1 - (q - tile * rows)
        col0 = tiles[4, tile]
        if r_out < y.shape[0]:
            for c in range(min(cols, y.shape[1] - col0)):
                y[r_out, col0 + c] = out[c]
        _record(t, out, cursor, out_cycles, out_data, acc_bits)


@jit
def run_os(t0, t1, mask, xring, lanes, wring, psring, psvis, pe, x_src, w_src, tiles, x_time,
           vectors, y, cursor, out_cycles, out_data, acc_bits, trace, trace_first, chunk,
           row_block):
    """Step the output-stationary array through cycles ``t0 .. t1-1`` (contract 3.2).

    Chunked and cache-blocked like :func:`run_ws`. The drain path is kept exact without a
    per-cycle shift: when the last flag passes ``PE(r, c)`` its finished sum is copied into
    ``hold``, and that is the value the column's load will copy into the drain register of
    row ``r`` at ``t_load = e + R + c`` (the legal schedule keeps ``hold`` unchanged until
    then). So it is written straight into the slot that register will occupy, stamped with
    the cycle it becomes visible (``t_load + 1``); a slot without a visible value reads as the
    zeros that row 0 shifts in. ``psvis`` holds the stamps.
    """
    rows, cols = pe.shape[1], pe.shape[2]
    n_tiles = tiles.shape[1]
    out = np.zeros(cols, np.int32)
    acc = pe[0]
    hold = pe[1]
    trace_stop = trace_first + trace.shape[1]
    t = t0
    while t < t1:
        if trace_first <= t < trace_stop:
            stop = t + 1
            snapshot(t, False, mask, xring, lanes, wring, psring, psvis, pe, acc_bits,
                     trace[:, t - trace_first])
        else:
            stop = min(t1, t + chunk)
            if t < trace_first < stop:
                stop = trace_first
        for tt in range(t, stop):
            _edges_os(tt, mask, xring, lanes, wring, x_src, w_src, tiles, x_time, vectors,
                      cursor)
        # Last flags inside the array at some point of the chunk.
        f = cursor[OLDEST_FLAG]
        while f < n_tiles and x_time[f * vectors + vectors - 1] + rows + cols - 2 < t:
            f += 1
        cursor[OLDEST_FLAG] = f
        f_end = f
        while f_end < n_tiles and x_time[f_end * vectors + vectors - 1] < stop:
            f_end += 1
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
        for tt in range(t, stop):
            _output_os(tt, rows, mask, psring, psvis, tiles, y, cursor, out, out_cycles,
                       out_data, acc_bits)
        t = stop
