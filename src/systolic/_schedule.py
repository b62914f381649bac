"""Mapping a matmul onto tiles and the greedy schedule (contract sections 4 and 5).

The schedule is a compact set of index arrays, never the operand data: the kernels gather
their operands from the source matrices themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._config import jit
from ._dataflow import Dataflow
from .timing import CycleBreakdown, tiles_and_vectors

__all__ = ["OUT_COL", "OUT_ROW", "W_COL", "W_ROW", "X_BASE", "Problem", "Schedule", "greedy",
           "load_bounds", "make_problem", "switch_bounds"]

# Rows of ``Problem.tiles``: per tile, the x column base, the weight row base, the w column
# base, the output row base and the output column base.
X_BASE, W_ROW, W_COL, OUT_ROW, OUT_COL = range(5)


@dataclass(frozen=True)
class Problem:
    """A matmul cut into tiles for one array.

    ``ws`` and ``os`` multiply ``x_src`` rows into ``w_src``; ``is`` is ``ws`` on the
    transposed problem (``Y^T = B^T A^T``), so its ``x_src`` is ``B^T`` and its result
    ``y_shape`` is ``N x M``.

    Attributes
    ----------
    dataflow : Dataflow
    rows, cols : int
    m, k, n : int
    x_src : ndarray, int32
        One row per source vector: the x vector ``v`` of tile ``j`` is
        ``x_src[v, tiles[X_BASE, j] : tiles[X_BASE, j] + R]`` (zero beyond the edge).
    w_src : ndarray, int32
        ws/is: weight row ``k`` of tile ``j`` is
        ``w_src[tiles[W_ROW, j] + k, tiles[W_COL, j]:][:C]``; os: the w vector ``v`` of tile
        ``j`` is ``w_src[v, tiles[W_COL, j]:][:C]``.
    tiles : ndarray, int64 (5, T)
        Per tile, in rows ``X_BASE, W_ROW, W_COL, OUT_ROW, OUT_COL``: x column base, weight
        row base, w column base, output row base, output column base.
    n_tiles, vectors : int
        ``T`` and ``V``.
    y_shape : tuple
    """

    dataflow: Dataflow
    rows: int
    cols: int
    m: int
    k: int
    n: int
    x_src: np.ndarray
    w_src: np.ndarray
    tiles: np.ndarray
    n_tiles: int
    vectors: int
    y_shape: tuple[int, int]


def make_problem(a: np.ndarray, b: np.ndarray, rows: int, cols: int,
                 dataflow: Dataflow) -> Problem:
    """Cut ``a @ b`` (int32 operands) into tiles in schedule order."""
    m, k = a.shape
    n = b.shape[1]
    n_tiles, vectors = tiles_and_vectors(m, k, n, rows, cols, dataflow)
    kb = -(-k // rows)
    if not dataflow.stationary_weights:
        x_src, w_src = np.ascontiguousarray(a.T), b
        nb = -(-n // cols)
        outer, inner = np.divmod(np.arange(n_tiles), nb)   # mb, nb
        x_base, w_row, w_col = outer * rows, np.zeros(n_tiles, np.int64), inner * cols
        out_row, out_col = outer * rows, inner * cols
        y_shape = (m, n)
    else:
        if dataflow.transposed:
            x_src, w_src, y_shape = np.ascontiguousarray(b.T), np.ascontiguousarray(a.T), (n, m)
        else:
            x_src, w_src, y_shape = a, b, (m, n)
        outer, inner = np.divmod(np.arange(n_tiles), kb)   # nb (mb for is), kb
        x_base, w_row, w_col = inner * rows, inner * rows, outer * cols
        out_row, out_col = np.zeros(n_tiles, np.int64), outer * cols
    tiles = np.empty((5, n_tiles), np.int64)
    tiles[X_BASE], tiles[W_ROW], tiles[W_COL] = x_base, w_row, w_col
    tiles[OUT_ROW], tiles[OUT_COL] = out_row, out_col
    return Problem(dataflow, rows, cols, m, k, n, x_src, w_src, tiles, n_tiles, vectors,
                   y_shape)


@jit
def load_bounds(prev_switch, prev_load, prev_last, rows, double_buffer):
    """Earliest cycle a tile's weight load may start after the previous tile's (contract 3.1).

    The legal schedule asks ``L_j >= max(s_{j-1}, L_{j-1} + R)`` and, without double
    buffering, ``L_j >= e_{j-1} + 1``. The two bounds are returned apart, so that a timing
    model can say which one held the load back.

    Parameters
    ----------
    prev_switch, prev_load, prev_last : int
        The previous tile's switch ``s_{j-1}``, load ``L_{j-1}`` and last x vector ``e_{j-1}``.
    rows : int
    double_buffer : bool

    Returns
    -------
    shift, busy : int
        The bound from the load port and the previous switch, and the bound from the single
        weight register (``-1``, never binding, with double buffering).
    """
    shift = max(prev_switch, prev_load + rows)
    busy = -1 if double_buffer else prev_last + 1
    return shift, busy


@jit
def switch_bounds(load, prev_last, rows):
    """Earliest cycle a tile's first x vector (its switch) may enter (contract 3.1).

    ``s_j >= L_j + R`` (the load is complete in every row) and ``s_j >= e_{j-1} + 1`` (one x
    vector per cycle).

    Returns
    -------
    loaded, busy : int
        The two bounds, apart.
    """
    return load + rows, prev_last + 1


@jit
def _greedy(n_tiles, vectors, rows, stationary, double_buffer, gaps, x_time, load_time):
    previous = -1  # cycle of the previous x vector
    for j in range(n_tiles):
        if not stationary:
            # e_j >= e_{j-1} + R, the tile's pairs back to back after its first one.
            start = 0 if j == 0 else max(previous + 1, previous + rows - vectors + 1)
        else:
            load = 0
            if j > 0:
                shift, busy = load_bounds(x_time[(j - 1) * vectors], load_time[j - 1],
                                          previous, rows, double_buffer)
                load = max(shift, busy)
            load_time[j] = load
            loaded, busy = switch_bounds(load, previous, rows)
            start = max(loaded, busy)
        for v in range(vectors):
            i = j * vectors + v
            previous = (start if v == 0 else previous + 1) + gaps[i]
            x_time[i] = previous


@dataclass(frozen=True)
class Schedule:
    """When things happen at the array's edges.

    Attributes
    ----------
    x_time : ndarray, int64
        Cycle in which each x vector is presented (schedule order).
    load_time : ndarray, int64
        First cycle of each tile's weight load (ws/is; empty for os).
    result_time : ndarray, int64
        Cycle in which each result vector appears on the output port.
    breakdown : CycleBreakdown
    """

    x_time: np.ndarray
    load_time: np.ndarray
    result_time: np.ndarray
    breakdown: CycleBreakdown

    @property
    def total(self) -> int:
        """Cycles of the run, up to and including the last result."""
        return self.breakdown.total


def greedy(problem: Problem, double_buffer: bool, gaps: np.ndarray | None) -> Schedule:
    """Place every x vector and weight load as early as the legal-schedule rules allow.

    A gap of ``g`` before vector ``i`` presents it ``g`` cycles after the earliest cycle the
    rules would otherwise give it; everything after it follows from the rules again.
    """
    rows, cols = problem.rows, problem.cols
    n_tiles, vectors = problem.n_tiles, problem.vectors
    stationary = problem.dataflow.stationary_weights
    if gaps is None:
        gaps = np.zeros(n_tiles * vectors, np.int64)
    x_time = np.empty(n_tiles * vectors, np.int64)
    load_time = np.zeros(n_tiles if stationary else 0, np.int64)
    _greedy(n_tiles, vectors, rows, stationary, bool(double_buffer), gaps, x_time, load_time)
    if stationary:
        result_time = x_time + (rows + cols - 1)
    else:
        last = x_time[vectors - 1::vectors]
        result_time = (last[:, None] + (rows + cols + np.arange(rows))).reshape(-1)
    first, final = int(x_time[0]), int(x_time[-1])
    total = int(result_time[-1]) + 1
    streaming = n_tiles * vectors
    breakdown = CycleBreakdown(total=total, weight_load=first, streaming=streaming,
                               stall=final - first + 1 - streaming, drain=total - 1 - final,
                               fill=int(result_time[0]) - first)
    return Schedule(x_time, load_time, result_time, breakdown)
