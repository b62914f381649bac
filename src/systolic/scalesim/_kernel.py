"""The per-layer memory replay of SCALE-Sim 3.0 (CALC bandwidth mode), compiled with numba.

SCALE-Sim builds one demand matrix per operand (a row per cycle, ``-1`` for no request), feeds
them row by row to its double-buffered scratchpad and writes every address to trace files. This
kernel walks the same rows in the same order without building them: for each row it derives
the valid entries of the IFMAP, FILTER and OFMAP demand from the fold, the row and the
dataflow, and keeps only what the reports need (see docs/scalesim.md).
"""

from __future__ import annotations

import numba
import numpy as np

WS, IS, OS = 0, 1, 2

# Indices of the result vector.
(TOTAL, STALL, IF_SRAM_START, IF_SRAM_STOP, FI_SRAM_START, FI_SRAM_STOP, OF_SRAM_START,
 OF_SRAM_STOP, IF_DRAM_READS, IF_FIRST_REQ, IF_LAST_FLUSH, FI_DRAM_READS, FI_FIRST_REQ,
 FI_LAST_FLUSH, OF_DRAM_WRITES, OF_DRAM_START, OF_DRAM_STOP, NUM_RESULTS) = range(18)


@numba.njit(cache=True, inline="always")
def _ifmap_addr(p, k, ew, stride, ifh, ifw, fw, ch):
    # SCALE-Sim's operand_matrix.calc_ifmap_elem_addr, without the offset: -1 off the input.
    oy, ox = p // ew, p % ew
    iy, ix = oy * stride, ox * stride
    cy, rest = k // (fw * ch), k % (fw * ch)
    cx, cc = rest // ch, rest % ch
    if cy + iy >= ifh or cx + ix >= ifw:
        return -1
    return ((cy * ifw + cx) * ch + cc) + (iy * ifw + ix) * ch


@numba.njit(cache=True)
def ifmap_tables(m, k, conv):
    """Per output pixel and per window element, the parts of :func:`_ifmap_addr`.

    ``addr(p, k) = pa[p] + ka[k]`` when ``py[p] + ky[k] < IfH`` and ``px[p] + kx[k] < IfW``,
    else ``-1``: the replay's inner loops then need no division.
    """
    ew, stride, ifw, fw, ch = conv[0], conv[1], conv[3], conv[4], conv[5]
    pa = np.empty(m, np.int64)
    py = np.empty(m, np.int64)
    px = np.empty(m, np.int64)
    for p in range(m):
        py[p] = (p // ew) * stride
        px[p] = (p % ew) * stride
        pa[p] = (py[p] * ifw + px[p]) * ch
    ka = np.empty(k, np.int64)
    ky = np.empty(k, np.int64)
    kx = np.empty(k, np.int64)
    for j in range(k):
        ky[j] = j // (fw * ch)
        kx[j] = (j % (fw * ch)) // ch
        ka[j] = (ky[j] * ifw + kx[j]) * ch + j % ch
    return pa, py, px, ka, ky, kx


@numba.njit(cache=True, inline="always")
def _addr(p, j, tables, ifh, ifw):
    pa, py, px, ka, ky, kx = tables
    if py[p] + ky[j] >= ifh or px[p] + kx[j] >= ifw:
        return -1
    return pa[p] + ka[j]


@numba.njit(cache=True, inline="always")
def _read(addr, cyc, stamp, state):
    # CALC read buffer: an address is a miss unless seen since the last flush; every
    # `limit` misses the epoch is prefetched and forgotten. state: epoch, misses in epoch,
    # total misses, first request cycle, last flush cycle, limit.
    if state[3] < 0:
        state[3] = cyc
    if stamp[addr] == state[0]:
        return
    stamp[addr] = state[0]
    state[1] += 1
    state[2] += 1
    if state[1] == state[5]:
        state[0] += 1
        state[1] = 0
        state[4] = cyc


@numba.njit(cache=True)
def prefetch_order(dataflow, operand, rows, cols, m, k, n, conv):
    """The operand's addresses in SCALE-Sim's prefetch (DRAM fetch) order, ``-1`` for padding.

    ``operand`` 0 is the IFMAP, 1 the FILTER. The per-fold slices are stacked, and rolled out
    along anti-diagonals where SCALE-Sim does so (docs/scalesim.md, USER mode).
    """
    if dataflow == WS:
        sr, sc = k, n
    elif dataflow == IS:
        sr, sc = k, m
    else:
        sr, sc = m, n
    rf = (sr + rows - 1) // rows
    cf = (sc + cols - 1) // cols
    # (stacked height, width, folds, rows per fold, diag)
    if operand == 0:
        if dataflow == WS:
            per, width, diag = m, rows, True
        elif dataflow == IS:
            per, width, diag = k, cols, False
        else:
            per, width, diag = k, rows, True
    else:
        if dataflow == IS:
            per, width, diag = n, rows, True
        else:
            per, width, diag = k, cols, dataflow == OS
    folds = cf if (operand == 0 and dataflow == IS) or (operand == 1 and dataflow != IS) \
        else rf
    height = per * folds
    order = np.empty(height * width, np.int64)
    idx = 0
    if diag:
        for d in range(height + width):
            for r in range(min(d, height - 1), max(0, d - width + 1) - 1, -1):
                order[idx] = _stacked(dataflow, operand, r, d - r, per, rows, cols, sr, sc,
                                      n, conv)
                idx += 1
    else:
        for r in range(height):
            for c in range(width):
                order[idx] = _stacked(dataflow, operand, r, c, per, rows, cols, sr, sc, n, conv)
                idx += 1
    return order[:idx]


@numba.njit(cache=True, inline="always")
def _stacked(dataflow, operand, r, c, per, rows, cols, sr, sc, n, conv):
    fold, i = r // per, r % per
    if operand == 0:
        if dataflow == WS:
            if c >= min(rows, sr - fold * rows):
                return -1
            return _ifmap_addr(i, fold * rows + c, conv[0], conv[1], conv[2], conv[3],
                               conv[4], conv[5])
        if dataflow == IS:
            if c >= min(cols, sc - fold * cols):
                return -1
            return _ifmap_addr(fold * cols + c, i, conv[0], conv[1], conv[2], conv[3],
                               conv[4], conv[5])
        if c >= min(rows, sr - fold * rows):
            return -1
        return _ifmap_addr(fold * rows + c, i, conv[0], conv[1], conv[2], conv[3], conv[4],
                           conv[5])
    if dataflow == IS:
        if c >= min(rows, sr - fold * rows):
            return -1
        return (fold * rows + c) * n + i
    if c >= min(cols, sc - fold * cols):
        return -1
    return i * n + fold * cols + c


@numba.njit(cache=True)
def hashed_lines(order, size_words, bw, n_addr):
    """SCALE-Sim's hashed read-buffer lines over ``order``, as a CSR map address -> lines.

    Returns ``(starts, lines, n_lines, active_lines, prefetch_lines, fetch_rows)``.
    """
    eps = (size_words + 99) // 100
    active = (size_words + 1) // 2
    counts = np.zeros(n_addr + 1, np.int64)
    valid = 0
    for a in order:
        if a >= 0:
            counts[a + 1] += 1
            valid += 1
    starts = np.cumsum(counts)
    fill = starts[:-1].copy()
    lines = np.empty(valid, np.int64)
    j = 0
    for a in order:
        if a >= 0:
            lines[fill[a]] = j // eps
            fill[a] += 1
            j += 1
    n_lines = valid // eps + 1
    active_lines = min((active + eps - 1) // eps, n_lines)
    prefetch_lines = min((size_words - active + eps - 1) // eps, n_lines - active_lines)
    fetch_rows = (order.shape[0] + bw - 1) // bw
    return starts, lines, n_lines, active_lines, prefetch_lines, fetch_rows


@numba.njit(cache=True, inline="always")
def _user_read(addr, cyc, off, starts, lines, st):
    # USER read buffer (read_buffer.service_reads without layouts). st: window start, window
    # end, number of lines, active lines, prefetch lines, words per prefetch, last response
    # cycle, DRAM reads, lines per prefetch. Without prefetch lines every line is active
    # (the window holds them all), so every address hits.
    if st[4] == 0:
        return off
    while True:
        s, e = st[0], st[1]
        for p in range(starts[addr], starts[addr + 1]):
            line = lines[p]
            if (s < e and s <= line < e) or (s >= e and (line >= s or line < e)):
                return off
        s = (s + st[4]) % st[2]
        st[0] = s
        st[1] = (s + st[3]) % st[2]
        st[7] += st[8] * st[5]
        st[6] += st[8] + 1
        pot = st[6] - (cyc + off)
        off += pot
        if pot > 0:
            off += pot


@numba.njit(cache=True, inline="always")
def _service(user, addr, cyc, off, stamp, state, starts, lines, st):
    if user:
        return _user_read(addr, cyc, off, starts, lines, st)
    _read(addr, cyc, stamp, state)
    return off


@numba.njit(cache=True, inline="always")
def _close_line(fills, n_lines, words):
    if n_lines == fills.shape[0]:
        fills = np.concatenate((fills, np.empty(n_lines, np.int64)))
    fills[n_lines] = words
    return fills


@numba.njit(cache=True)
def replay(dataflow, rows, cols, m, k, n, conv, user, if_limit, fi_limit, if_starts, if_lines,
           if_st, fi_starts, fi_lines, fi_st, of_size, of_bw, out):
    """Replay one layer; ``conv`` is (E_w, stride, IfH, IfW, FW, C). Fills ``out``.

    CALC (``user`` false) counts DRAM reads with the epoch model (``*_limit`` misses per
    epoch); USER runs the hashed-line read buffers (``*_starts``/``*_lines`` from
    :func:`hashed_lines`, state ``*_st`` as in :func:`_user_read`).
    """
    ifh, ifw, ch = conv[2], conv[3], conv[5]
    tables = ifmap_tables(m, k, conv)
    if dataflow == WS:
        sr, sc, t = k, n, m
        period = 2 * rows + cols + t - 2
    elif dataflow == IS:
        sr, sc, t = k, m, n
        period = 2 * rows + cols + t - 2
    else:
        sr, sc, t = m, n, k
        period = rows + cols + t - 2
    rf = (sr + rows - 1) // rows
    cf = (sc + cols - 1) // cols
    if_stamp = np.full(0 if user else ifh * ifw * ch, -1, np.int64)
    fi_stamp = np.full(0 if user else k * n, -1, np.int64)
    if_state = np.array([0, 0, 0, -1, -1, if_limit], np.int64)
    fi_state = np.array([0, 0, 0, -1, -1, fi_limit], np.int64)
    # OFMAP write buffer: free words, words in the open line, closed line fills, drain state.
    active = (of_size + 1) // 2
    drain_lines = (of_size - active + of_bw - 1) // of_bw
    fills = np.empty(16, np.int64)
    n_lines = 0
    drained = 0
    free = of_size
    open_words = 0
    drain_end = 0
    of_start = -1
    of_stop = -1
    of_writes = 0
    stall = 0
    first = np.full(3, -1, np.int64)
    last = np.full(3, -1, np.int64)
    row = 0
    max_cc = 0
    for fc in range(cf):
        cu = min(cols, sc - fc * cols)
        for fr in range(rf):
            ru = min(rows, sr - fr * rows)
            for j in range(period):
                cyc = row + stall
                row += 1
                any_if = False
                any_fi = False
                off_if = 1
                off_fi = 1
                if dataflow == WS:
                    base = j - rows
                    for c in range(max(0, base - t + 1), min(ru, base + 1)):
                        a = _addr(base - c, fr * rows + c, tables, ifh, ifw)
                        if a >= 0:
                            any_if = True
                            off_if = _service(user, a, cyc, off_if, if_stamp, if_state,
                                              if_starts, if_lines, if_st)
                    if j < rows and rows - 1 - j < ru:
                        kk = fr * rows + rows - 1 - j
                        for c in range(cu):
                            any_fi = True
                            off_fi = _service(user, kk * n + fc * cols + c, cyc, off_fi,
                                              fi_stamp, fi_state, fi_starts, fi_lines, fi_st)
                    base = j - (2 * rows - 1)
                    writes = max(0, min(cu, base + 1) - max(0, base - t + 1))
                elif dataflow == IS:
                    if j < rows and rows - 1 - j < ru:
                        kk = fr * rows + rows - 1 - j
                        for c in range(cu):
                            a = _addr(fc * cols + c, kk, tables, ifh, ifw)
                            if a >= 0:
                                any_if = True
                                off_if = _service(user, a, cyc, off_if, if_stamp, if_state,
                                                  if_starts, if_lines, if_st)
                    base = j - rows
                    for c in range(max(0, base - t + 1), min(ru, base + 1)):
                        any_fi = True
                        off_fi = _service(user, (fr * rows + c) * n + base - c, cyc, off_fi,
                                          fi_stamp, fi_state, fi_starts, fi_lines, fi_st)
                    base = j - (2 * rows - 1)
                    writes = max(0, min(cu, base + 1) - max(0, base - t + 1))
                else:
                    for c in range(max(0, j - t + 1), min(ru, j + 1)):
                        a = _addr(fr * rows + c, j - c, tables, ifh, ifw)
                        if a >= 0:
                            any_if = True
                            off_if = _service(user, a, cyc, off_if, if_stamp, if_state,
                                              if_starts, if_lines, if_st)
                    for c in range(max(0, j - t + 1), min(cu, j + 1)):
                        any_fi = True
                        off_fi = _service(user, (j - c) * n + fc * cols + c, cyc, off_fi,
                                          fi_stamp, fi_state, fi_starts, fi_lines, fi_st)
                    base = j - (t - 1)
                    writes = max(0, min(cu, base - rows + ru + 1) - max(0, base - rows + 1))
                if any_if:
                    if first[0] < 0:
                        first[0] = cyc + off_if
                    last[0] = cyc + off_if
                if any_fi:
                    if first[1] < 0:
                        first[1] = cyc + off_fi
                    last[1] = cyc + off_fi
                cc = cyc
                for _ in range(writes):
                    free -= 1
                    open_words += 1
                    if open_words == of_bw:
                        fills = _close_line(fills, n_lines, of_bw)
                        n_lines += 1
                        open_words = 0
                    if cc < drain_end:
                        if free <= 0:
                            cc = drain_end
                    elif free < active:
                        if open_words > 0:
                            fills = _close_line(fills, n_lines, open_words)
                            n_lines += 1
                            open_words = 0
                        take = min(drain_lines, n_lines - drained)
                        size = (take - 1) * of_bw + fills[drained + take - 1]
                        of_writes += size
                        free += size
                        if of_start < 0:
                            of_start = cc
                        of_stop = max(of_stop, cc + take - 1)
                        drain_end = cc + take - 1
                        drained += take
                if writes > 0:
                    if first[2] < 0:
                        first[2] = cc
                    last[2] = cc
                max_cc = max(max_cc, cc)
                stall += max(off_if - 1, off_fi - 1, cc - cyc)
    # empty_all_buffers, from the last row's serviced cycle: force the open line out, then
    # drain chunk after chunk.
    if open_words > 0:
        fills = _close_line(fills, n_lines, open_words)
        n_lines += 1
    cycle = cc
    while drained < n_lines:
        take = min(drain_lines, n_lines - drained)
        of_writes += (take - 1) * of_bw + fills[drained + take - 1]
        if of_start < 0:
            of_start = cycle
        of_stop = max(of_stop, cycle + take - 1)
        cycle = cycle + take
        drained += take
    out[TOTAL] = max_cc
    out[STALL] = stall
    out[IF_SRAM_START], out[IF_SRAM_STOP] = first[0], last[0]
    out[FI_SRAM_START], out[FI_SRAM_STOP] = first[1], last[1]
    out[OF_SRAM_START], out[OF_SRAM_STOP] = first[2], last[2]
    out[IF_DRAM_READS], out[IF_FIRST_REQ], out[IF_LAST_FLUSH] = if_state[2], if_state[3], \
        if_state[4]
    out[FI_DRAM_READS], out[FI_FIRST_REQ], out[FI_LAST_FLUSH] = fi_state[2], fi_state[3], \
        fi_state[4]
    out[OF_DRAM_WRITES], out[OF_DRAM_START], out[OF_DRAM_STOP] = of_writes, of_start, of_stop
