"""A drop-in for SCALE-Sim 3.0: its config and topology files in, its three reports out.

``run(config, topology)`` computes, for every layer, the cells of SCALE-Sim's
``COMPUTE_REPORT.csv``, ``BANDWIDTH_REPORT.csv`` and ``DETAILED_ACCESS_REPORT.csv``;
``write_reports`` writes them with SCALE-Sim's headers and number formatting. The counts are
closed forms where they exist and a compiled replay of SCALE-Sim's read and write buffers over
the demand streams where they do not; no trace is built. See docs/scalesim.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..tpu._scalesim import TopologyError, TopologyLayer, read_topology
from . import _closed
from ._closed import CALC_BANDWIDTH, LayerShape, all_lines_active, calc_fill_window
from ._config import Config, ConfigError, read_config

__all__ = ["Config", "ConfigError", "Report", "ValuesError", "check_values", "read_config",
           "run", "write_reports", "HEADERS"]

HEADERS = {
    "COMPUTE_REPORT.csv": (
        "LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, Overall Util %, "
        "Mapping Efficiency %, Compute Util %,"),
    "BANDWIDTH_REPORT.csv": (
        "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, Avg IFMAP DRAM BW, "
        "Avg FILTER DRAM BW, Avg OFMAP DRAM BW,"),
    "DETAILED_ACCESS_REPORT.csv": (
        "LayerID, SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, "
        "SRAM Filter Start Cycle, SRAM Filter Stop Cycle, SRAM Filter Reads, "
        "SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, SRAM OFMAP Writes, "
        "DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, "
        "DRAM Filter Start Cycle, DRAM Filter Stop Cycle, DRAM Filter Reads, "
        "DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,"),
}


@dataclass(frozen=True)
class Report:
    """SCALE-Sim's three reports: one record (a dict keyed by the header's columns) per layer.

    Attributes
    ----------
    config : Config
    layers : list of TopologyLayer
    compute, bandwidth, detail : list of dict
        The rows of ``COMPUTE_REPORT.csv``, ``BANDWIDTH_REPORT.csv`` and
        ``DETAILED_ACCESS_REPORT.csv``; cycles and counts are ints, the rest floats.
    """

    config: Config
    layers: list
    compute: list
    bandwidth: list
    detail: list

    def tables(self) -> dict:
        """The three reports by file name, as lists of records."""
        return {"COMPUTE_REPORT.csv": self.compute, "BANDWIDTH_REPORT.csv": self.bandwidth,
                "DETAILED_ACCESS_REPORT.csv": self.detail}


def _columns(name):
    return [c.strip() for c in HEADERS[name].split(",")[1:-1]]


def _dram_window(reads, first_req, last_flush, limit, items):
    # CALC: without a flush one prefetch ends at cycle -1; otherwise prefetches run from one
    # epoch's length before the first request to just after the last flush.
    if last_flush < 0:
        return calc_fill_window(reads, items)
    return first_req - math.ceil(limit / CALC_BANDWIDTH), last_flush + 1


def _replay_counts(layer: TopologyLayer, config: Config):
    # The compiled replay of SCALE-Sim's buffers (imported here: numba only when needed);
    # returns what _closed.counts returns.
    from . import _kernel
    shape = LayerShape(layer, config)
    rows, cols = config.rows, config.cols
    m, k, n = layer.scalesim_m, layer.k, layer.n
    if layer.conv is not None:
        ifh, ifw, _, fw, ch, stride = layer.conv
        ew = shape.ew
    else:
        ifh, ifw, fw, ch, stride, ew = m, k, k, 1, 1, 1
    dataflow = config.dataflow
    if_items = config.ifmap_kb * 1024 // 100
    fi_items = config.filter_kb * 1024 // 100
    conv = np.array([ew, stride, ifh, ifw, fw, ch], np.int64)
    code = {"ws": _kernel.WS, "is": _kernel.IS, "os": _kernel.OS}[dataflow]
    user = config.bandwidth_mode == "USER"
    buffers = []
    for operand, (size_kb, bw, n_addr) in enumerate((
            (config.ifmap_kb, config.ifmap_bandwidth, ifh * ifw * ch),
            (config.filter_kb, config.filter_bandwidth, k * n))):
        if not user:
            empty = np.zeros(1, np.int64)
            buffers.append((empty, empty, np.zeros(9, np.int64), 0))
            continue
        words = size_kb * 1024
        height, width = shape.prefetch_shape(operand)
        valid = shape.valid_entries() if operand == 0 else k * n
        if all_lines_active(valid, words):
            # All reads hit, no prefetch after the first fill.
            eps = -(-words // 100)
            starts = lines = np.zeros(1, np.int64)
            n_lines = active_lines = valid // eps + 1
            prefetch_lines, fetch_rows = 0, -(-(height * width) // bw)
        else:
            order = _kernel.prefetch_order(code, operand, rows, cols, m, k, n, conv)
            starts, lines, n_lines, active_lines, prefetch_lines, fetch_rows = \
                _kernel.hashed_lines(order, words, bw, n_addr)
        first_fill = min(-(-((words + 1) // 2) // bw), fetch_rows)
        per_prefetch = -(-(words - (words + 1) // 2) // bw)
        state = np.array([0, active_lines, n_lines, active_lines, prefetch_lines, bw, -1,
                          first_fill * bw, per_prefetch], np.int64)
        buffers.append((starts, lines, state, first_fill))
    out = np.zeros(_kernel.NUM_RESULTS, np.int64)
    _kernel.replay(code, rows, cols, m, k, n, conv, user, 50 * if_items, 50 * fi_items,
                   buffers[0][0], buffers[0][1], buffers[0][2], buffers[1][0], buffers[1][1],
                   buffers[1][2], config.ofmap_kb * 1024,
                   config.ofmap_bandwidth if user else cols, out)
    total, stall = int(out[_kernel.TOTAL]), int(out[_kernel.STALL])
    if user:
        # USER: the first fill ends at cycle -1, every prefetch after it extends the window.
        if_dram = (-buffers[0][3], int(buffers[0][2][6]))
        fi_dram = (-buffers[1][3], int(buffers[1][2][6]))
        dram_reads = (int(buffers[0][2][7]), int(buffers[1][2][7]))
    else:
        if_dram = _dram_window(int(out[_kernel.IF_DRAM_READS]), int(out[_kernel.IF_FIRST_REQ]),
                               int(out[_kernel.IF_LAST_FLUSH]), 50 * if_items, if_items)
        fi_dram = _dram_window(int(out[_kernel.FI_DRAM_READS]), int(out[_kernel.FI_FIRST_REQ]),
                               int(out[_kernel.FI_LAST_FLUSH]), 50 * fi_items, fi_items)
        dram_reads = (int(out[_kernel.IF_DRAM_READS]), int(out[_kernel.FI_DRAM_READS]))
    of_dram = (int(out[_kernel.OF_DRAM_START]), int(out[_kernel.OF_DRAM_STOP]))
    sram_windows = ((int(out[_kernel.IF_SRAM_START]), int(out[_kernel.IF_SRAM_STOP])),
                    (int(out[_kernel.FI_SRAM_START]), int(out[_kernel.FI_SRAM_STOP])),
                    (int(out[_kernel.OF_SRAM_START]), int(out[_kernel.OF_SRAM_STOP])))
    return (total, stall, sram_windows, dram_reads, (if_dram, fi_dram, of_dram),
            int(out[_kernel.OF_DRAM_WRITES]))


def _layer(layer: TopologyLayer, config: Config, replay: bool = False):
    # One layer's three report rows; ``replay`` forces the replay even where a closed form
    # exists (the tests compare the two).
    rows, cols = config.rows, config.cols
    m, k, n = layer.scalesim_m, layer.k, layer.n
    dataflow = config.dataflow
    shape = LayerShape(layer, config)
    t, rf, cf = shape.t, shape.rf, shape.cf
    found = None if replay else _closed.counts(layer, config)
    if found is None:
        found = _replay_counts(layer, config)
    total, stall, sram_windows, dram_reads, windows, of_writes = found
    if_dram, fi_dram, _ = windows
    # SRAM counts as SCALE-Sim's compute classes count them (before padding).
    folds = [(shape.ru(fr), shape.cu(fc)) for fc in range(cf) for fr in range(rf)]
    if dataflow == "ws":
        sram = (cf * m * k, k * n, rf * m * n)
        fold_cycles = 2 * rows + 2 * cols + t - 3
    elif dataflow == "is":
        sram = (k * m, cf * k * n, rf * m * n)
        fold_cycles = 2 * rows + 2 * cols + t - 3
    else:
        # SCALE-Sim's systolic_compute_os adds each padded fold's height and width again.
        sram = (cf * m * k, rf * k * n, m * n + len(folds) * (rows + cols))
        fold_cycles = rows + cols + t - 2
    mapping = sum([ru * cu / (rows * cols) for ru, cu in folds]) / len(folds)
    compute = sum([ru * cu * t / (rows * cols * fold_cycles) for ru, cu in folds]) / len(folds)
    dram = (*dram_reads, of_writes)
    compute_row = dict(zip(_columns("COMPUTE_REPORT.csv"), (
        int(windows[2][1] - min(if_dram[0], fi_dram[0])), total, stall,
        (m * n * k * 100) / (total * rows * cols), mapping * 100, compute * 100), strict=True))
    bandwidth_row = dict(zip(_columns("BANDWIDTH_REPORT.csv"), (
        *(count / total for count in sram),
        *(count / (stop - start + 1)
          for count, (start, stop) in zip(dram, windows, strict=True))), strict=True))
    detail = []
    for (start, stop), count in zip(sram_windows, sram, strict=True):
        detail += [float(start), float(stop), count]
    for (start, stop), count in zip(windows, dram, strict=True):
        detail += [float(start), float(stop), count]
    detail_row = dict(zip(_columns("DETAILED_ACCESS_REPORT.csv"), detail, strict=True))
    return compute_row, bandwidth_row, detail_row


def run(config, topology, gemm: bool = False, *, progress: bool = False) -> Report:
    """Compute SCALE-Sim 3.0's three reports for ``topology`` under ``config``.

    Parameters
    ----------
    config : Config, str or pathlib.Path
        A :class:`Config`, or a ``.cfg`` file (path or text) for :func:`read_config`.
    topology : str, pathlib.Path or list of TopologyLayer
        A topology file (path or text) or layers from :func:`systolic.tpu.read_topology`.
    gemm : bool
        Read the file as ``name, M, N, K`` rows (SCALE-Sim's ``-i gemm``).
    progress : bool
        Show a progress bar, one step per layer.

    Returns
    -------
    Report

    Raises
    ------
    ConfigError, TopologyError
        A bad config key or topology line.
    """
    if not isinstance(config, Config):
        config = read_config(config)
    if isinstance(topology, (list, tuple)):
        layers = list(topology)
        if not all(isinstance(layer, TopologyLayer) for layer in layers):
            raise TypeError("topology must be a path, a file's text or a list of "
                            "TopologyLayer")
    else:
        if isinstance(topology, str) and "\n" not in topology and Path(topology).is_file():
            topology = Path(topology)       # any file name, not only *.csv
        layers = read_topology(topology, kind="gemm" if gemm else "conv")
        if layers[0].line == 1:
            raise TopologyError(1, "SCALE-Sim always skips the first line as a header, and "
                                   "this one is a layer: add a header line")
    if progress:
        from tqdm import tqdm
        iterator = tqdm(layers, desc="layers", unit="layer")
    else:
        iterator = layers
    tables = [_layer(layer, config) for layer in iterator]
    return Report(config, layers, [t[0] for t in tables], [t[1] for t in tables],
                  [t[2] for t in tables])


class ValuesError(ArithmeticError):
    """A layer's output computed on the array model differs from numpy's."""


def check_values(report: Report, *, seed: int = 0, progress: bool = False) -> float:
    """Compute every layer's output on the array model and check it against numpy.

    Each layer's true GEMM (``layer.m x layer.k @ layer.k x layer.n``, not SCALE-Sim's padded
    ``M``) runs on a :class:`systolic.SystolicArray` of the report's size and dataflow through
    the fast path, with int8 operands drawn from ``numpy.random.default_rng(seed)`` layer after
    layer; the reference is numpy's product of the same operands in float64, exact here (every
    sum is below ``2**53``) and converted to int64.

    Returns
    -------
    float
        Seconds spent in the array model (the reference's time not included).

    Raises
    ------
    ValuesError
        Naming the first layer whose output differs, and where.
    """
    import time

    from ..array import SystolicArray

    config = report.config
    array = SystolicArray(config.rows, config.cols, config.dataflow)
    rng = np.random.default_rng(seed)
    layers = report.layers
    if progress:
        from tqdm import tqdm
        layers = tqdm(layers, desc="values", unit="layer")
    seconds = 0.0
    for index, layer in enumerate(layers):
        a = rng.integers(-128, 128, (layer.m, layer.k), dtype=np.int8)
        b = rng.integers(-128, 128, (layer.k, layer.n), dtype=np.int8)
        start = time.perf_counter()
        output = array.run(a, b, engine="fast").output
        seconds += time.perf_counter() - start
        expected = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
        if output.shape != expected.shape or not np.array_equal(output, expected):
            if output.shape != expected.shape:
                where = f"shape {output.shape}, expected {expected.shape}"
            else:
                row, col = np.argwhere(output != expected)[0]
                where = (f"output[{row}, {col}] = {output[row, col]}, numpy gives "
                         f"{expected[row, col]}")
            raise ValuesError(f"layer {index} ({layer.name!r}, {layer.m}x{layer.k}x{layer.n}): "
                              f"{where}")
    return seconds


def write_reports(report: Report, outdir) -> Path:
    """Write the three reports to ``outdir/<run_name>/`` as SCALE-Sim does; return that folder.

    Rows are ``"<layer index>, " + ", ".join(values) + ","``, values printed with ``str``.
    """
    folder = Path(outdir) / report.config.run_name
    folder.mkdir(parents=True, exist_ok=True)
    for name, records in report.tables().items():
        lines = [HEADERS[name]]
        for index, record in enumerate(records):
            lines.append(f"{index}, " + ", ".join(str(v) for v in record.values()) + ",")
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder

