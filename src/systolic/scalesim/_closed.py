"""Closed forms of SCALE-Sim 3.0's memory counts, for the layers that never stall.

Also the layer geometry and the buffer rules that the closed forms and the replay share:
:class:`LayerShape`, :func:`all_lines_active` and :func:`calc_fill_window`.

SCALE-Sim's scratchpad stalls only when a read misses its buffer (USER mode) or when its OFMAP
buffer must drain mid-layer. When neither can happen, every demand row is served one cycle
after it is issued and the counts are arithmetic in the layer's shape; :func:`counts` returns
them, and ``None`` for the layers that need the replay of :mod:`._kernel` (docs/scalesim.md,
"Closed forms"). tests/test_scalesim_closed.py holds these to that replay.

* IFMAP/FILTER reads never miss in USER mode when every hashed line of the operand is active
  (``valid // eps + 1 <= ceil(active / eps)``), and in CALC mode never. In CALC the DRAM
  counts are closed too when the operand's distinct addresses are fewer than one epoch
  (``50 * floor(words / 100)``): no epoch is ever flushed.
* The OFMAP buffer never drains before the end when the layer writes at most
  ``words - ceil(words / 2)`` words.
"""

from __future__ import annotations

import numpy as np

# CALC mode prefetches at this many words per cycle (hard-coded in SCALE-Sim).
CALC_BANDWIDTH = 10


def _ceil(a, b):
    return -(-a // b)


def all_lines_active(valid: int, words: int) -> bool:
    """USER mode: whether every hashed line of an operand with ``valid`` entries is active in
    a buffer of ``words`` words, so that every read hits and nothing is prefetched after the
    first fill."""
    eps = _ceil(words, 100)
    return valid // eps + 1 <= _ceil(_ceil(words, 2), eps)


def calc_fill_window(reads: int, items: int) -> tuple[int, int]:
    """CALC mode: the DRAM window of an operand that is never flushed, one prefetch of
    ``reads`` words in whole epochs of ``items`` ending at cycle -1."""
    return -_ceil(_ceil(reads, items) * items, CALC_BANDWIDTH), -1


class LayerShape:
    """A layer as SCALE-Sim maps it: GEMM sizes, folds and the conv geometry."""

    def __init__(self, layer, config):
        self.rows, self.cols = config.rows, config.cols
        self.m, self.k, self.n = layer.scalesim_m, layer.k, layer.n
        self.dataflow = config.dataflow
        self.sr, self.sc, self.t = {"ws": (self.k, self.n, self.m), "is": (self.k, self.m, self.n),
                                    "os": (self.m, self.n, self.k)}[self.dataflow]
        self.rf, self.cf = _ceil(self.sr, self.rows), _ceil(self.sc, self.cols)
        self.period = self.rows + self.cols + self.t - 2 + (self.rows if self.dataflow != "os"
                                                              else 0)
        self.conv = layer.conv
        if self.conv is not None:
            ifh, ifw, fh, fw, _, stride = self.conv
            self.eh = _ceil(ifh - fh + stride, stride)
            self.ew = _ceil(ifw - fw + stride, stride)

    def ru(self, fr):
        return min(self.rows, self.sr - fr * self.rows)

    def cu(self, fc):
        return min(self.cols, self.sc - fc * self.cols)

    def prefetch_shape(self, operand: int) -> tuple[int, int]:
        """Height and width of SCALE-Sim's stacked prefetch matrix of the IFMAP (``operand``
        0) or FILTER (1) operand, padding included (docs/scalesim.md, USER mode)."""
        if operand == 0:
            return {"ws": (self.m * self.rf, self.rows), "is": (self.k * self.cf, self.cols),
                    "os": (self.k * self.rf, self.rows)}[self.dataflow]
        return ((self.n * self.rf, self.rows) if self.dataflow == "is"
                else (self.k * self.cf, self.cols))

    def valid_entries(self):
        """IFMAP operand entries inside the input (SCALE-Sim's last windows may hang over)."""
        if self.conv is None:
            return self.m * self.k
        ifh, ifw, fh, fw, ch, stride = self.conv
        rows_in = sum(max(0, min(fh, ifh - oy * stride)) for oy in range(self.eh))
        cols_in = sum(max(0, min(fw, ifw - ox * stride)) for ox in range(self.ew))
        return rows_in * cols_in * ch

    def distinct_ifmap(self):
        """Distinct input addresses the layer reads (CALC mode's DRAM reads without flush)."""
        if self.conv is None:
            return self.m * self.k
        ifh, ifw, fh, fw, ch, stride = self.conv

        def hit(size, window, count):
            if stride <= window:
                return size      # the windows overlap or touch and reach the far edge
            return sum(max(0, min(window, size - o * stride)) for o in range(count))

        return hit(ifh, fh, self.eh) * hit(ifw, fw, self.ew) * ch

    def valid(self, p, k):
        """Whether IFMAP operand entries ``(pixel p, window element k)`` are inside the input."""
        if self.conv is None:
            return np.ones(np.broadcast(p, k).shape, bool)
        ifh, ifw, _, fw, ch, stride = self.conv
        py, px = (p // self.ew) * stride, (p % self.ew) * stride
        ky, kx = k // (fw * ch), (k % (fw * ch)) // ch
        return (py + ky < ifh) & (px + kx < ifw)

    def last_ifmap_row(self):
        """Demand row of the last valid IFMAP entry, over all folds (``-1`` if none)."""
        rows, cols = self.rows, self.cols
        for fold in range(self.rf * self.cf - 1, -1, -1):
            fc, fr = divmod(fold, self.rf)
            ru, cu = self.ru(fr), self.cu(fc)
            if self.dataflow == "ws":
                # Row R + p + c holds pixel p with element fr*R + c; per element, the last
                # pixel inside the input is the last output row and column that fit.
                c = np.arange(ru)
                k = fr * rows + c
                if self.conv is None:
                    p = np.full(ru, self.m - 1)
                else:
                    ifh, ifw, _, fw, ch, stride = self.conv
                    ky, kx = k // (fw * ch), (k % (fw * ch)) // ch
                    p = (np.minimum(self.eh - 1, (ifh - 1 - ky) // stride) * self.ew
                         + np.minimum(self.ew - 1, (ifw - 1 - kx) // stride))
                j = rows + p + c
            elif self.dataflow == "os":
                # Row c + k holds pixel fr*R + c with element k; per pixel, its last element
                # inside the input.
                c = np.arange(ru)
                p = fr * rows + c
                if self.conv is None:
                    k = np.full(ru, self.k - 1)
                else:
                    ifh, ifw, fh, fw, ch, stride = self.conv
                    ylim = ifh - 1 - (p // self.ew) * stride
                    xlim = ifw - 1 - (p % self.ew) * stride
                    keep = (ylim >= 0) & (xlim >= 0)
                    c, ylim, xlim = c[keep], ylim[keep], xlim[keep]
                    k = (np.minimum(fh - 1, ylim) * fw + np.minimum(fw - 1, xlim)) * ch + ch - 1
                j = c + k
            else:
                # Row R-1-i holds element fr*R + i with the fold's pixels fc*C + c.
                i = np.arange(ru)[:, None]
                ok = self.valid(fc * cols + np.arange(cu)[None, :], fr * rows + i).any(axis=1)
                j = rows - 1 - np.flatnonzero(ok)
            if j.size:
                return fold * self.period + int(j.max())
        return -1


def counts(layer, config):
    """The replay's results for ``layer`` in closed form, or ``None`` when it may stall.

    Returns ``(total, stall, sram_windows, dram_reads, dram_windows, ofmap_writes)``:
    ``sram_windows`` the (start, stop) serviced cycles of the IFMAP, FILTER and OFMAP SRAMs,
    ``dram_reads`` the IFMAP and FILTER DRAM reads, ``dram_windows`` the (start, stop) of the
    IFMAP, FILTER and OFMAP DRAM traffic.
    """
    s = LayerShape(layer, config)
    rows, cols, dataflow = s.rows, s.cols, s.dataflow
    user = config.bandwidth_mode == "USER"
    # SRAM OFMAP writes (valid OFMAP demand entries): each row fold rewrites ws/is outputs.
    writes = s.m * s.n * (s.rf if dataflow != "os" else 1)
    of_words = config.ofmap_kb * 1024
    if writes > of_words - _ceil(of_words, 2):
        return None
    dram_reads, dram_windows = [], []
    for operand, (size_kb, bw) in enumerate(((config.ifmap_kb, config.ifmap_bandwidth),
                                             (config.filter_kb, config.filter_bandwidth))):
        words = size_kb * 1024
        if user:
            if not all_lines_active(s.valid_entries() if operand == 0 else s.k * s.n, words):
                return None
            # The prefetch matrix (padding included) in rows of bw words; one first fill.
            height, width = s.prefetch_shape(operand)
            fill = min(_ceil(_ceil(words, 2), bw), _ceil(height * width, bw))
            dram_reads.append(fill * bw)
            dram_windows.append((-fill, -1))
        else:
            items = words // 100
            distinct = s.distinct_ifmap() if operand == 0 else s.k * s.n
            if distinct >= 50 * items:
                return None
            dram_reads.append(distinct)
            dram_windows.append(calc_fill_window(distinct, items))
    # No stall: row i is issued at cycle i, reads are served at i + 1, writes at i.
    folds, period, t = s.rf * s.cf, s.period, s.t
    base = (folds - 1) * period
    ru0, ru_last, cu_last = s.ru(0), s.ru(s.rf - 1), s.cu(s.cf - 1)
    if dataflow == "ws":
        first = (rows, rows - ru0, 2 * rows - 1)
        last_filter = base + rows - 1
        last_ofmap = base + 2 * rows + t + cu_last - 3
    elif dataflow == "is":
        first = (rows - ru0, rows, 2 * rows - 1)
        last_filter = base + rows + t + ru_last - 2
        last_ofmap = base + 2 * rows + t + cu_last - 3
    else:
        first = (0, 0, t - 1 + rows - ru0)
        last_filter = base + t + cu_last - 2
        last_ofmap = base + t + rows + cu_last - 3
    total = folds * period - 1
    sram_windows = ((first[0] + 1, s.last_ifmap_row() + 1), (first[1] + 1, last_filter + 1),
                    (first[2], last_ofmap))
    ofmap_bw = config.ofmap_bandwidth if user else cols
    dram_windows.append((total, total + _ceil(writes, ofmap_bw) - 1))
    return total, 0, sram_windows, tuple(dram_reads), tuple(dram_windows), writes
