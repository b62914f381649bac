"""Cycle counts of a matmul on the array, without running it.

:func:`breakdown` is the closed form of ``docs/contract.md`` section 5 for the greedy schedule;
:func:`scalesim_breakdown` is SCALE-Sim 3.0's count of the same problem. Both engines of
:class:`systolic.SystolicArray` report exactly :func:`breakdown` when no idle gaps are given.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._checks import check_bool
from ._dataflow import Dataflow
from ._validate import check_dataflow, check_size

__all__ = ["CycleBreakdown", "breakdown", "scalesim_breakdown", "tiles_and_vectors"]


@dataclass(frozen=True)
class CycleBreakdown:
    """Where the cycles of a run go (contract section 5).

    ``total == weight_load + streaming + stall + drain``; ``fill`` overlaps ``streaming`` and
    is not part of the sum.

    Attributes
    ----------
    total : int
        Cycles from cycle 0 up to and including the cycle on which the last result appears.
    weight_load : int
        Cycles before the first x vector is presented.
    streaming : int
        Cycles in which an x vector is presented.
    stall : int
        Cycles between the first and the last x vector in which none is presented.
    drain : int
        Cycles after the last x vector until the last result appears.
    fill : int
        Cycles from the first x vector to the first result.
    """

    total: int
    weight_load: int
    streaming: int
    stall: int
    drain: int
    fill: int


def tiles_and_vectors(m: int, k: int, n: int, rows: int, cols: int,
                      dataflow: Dataflow) -> tuple[int, int]:
    """Number of tiles ``T`` and x vectors per tile ``V`` (contract section 5)."""
    row_extent, col_extent, vectors = dataflow.extents(m, k, n)
    return -(-row_extent // rows) * -(-col_extent // cols), vectors


def _check_problem(m, k, n, rows, cols, dataflow):
    # Python ints from here on: numpy scalars (a uint8 rows, say) would wrap in the arithmetic.
    sizes = tuple(check_size(name, value) for name, value in
                  (("m", m), ("k", k), ("n", n), ("rows", rows), ("cols", cols)))
    return sizes + (check_dataflow(dataflow),)


def breakdown(m: int, k: int, n: int, rows: int, cols: int, dataflow="ws", *,
              double_buffer: bool = True) -> CycleBreakdown:
    """Closed-form cycle breakdown of ``(m x k) @ (k x n)`` on a ``rows x cols`` array.

    Parameters
    ----------
    m, k, n : int
        Problem size: ``A`` is ``m x k``, ``B`` is ``k x n``.
    rows, cols : int
        Array size ``R x C``.
    dataflow : Dataflow or {"ws", "os", "is"}
    double_buffer : bool
        Weight double buffering (ignored for ``os``).

    Returns
    -------
    CycleBreakdown

    Examples
    --------
    >>> breakdown(256, 256, 256, 256, 256, "ws")
    CycleBreakdown(total=1023, weight_load=256, streaming=256, stall=0, drain=511, fill=511)
    """
    m, k, n, rows, cols, dataflow = _check_problem(m, k, n, rows, cols, dataflow)
    double_buffer = check_bool("double_buffer", double_buffer)
    tiles, vectors = tiles_and_vectors(m, k, n, rows, cols, dataflow)
    if dataflow is Dataflow.OS:
        period = max(vectors, rows)
        weight_load, drain, fill = 0, 2 * rows + cols - 1, vectors - 1 + rows + cols
    else:
        period = max(vectors, rows) if double_buffer else vectors + rows
        weight_load, drain, fill = rows, rows + cols - 1, rows + cols - 1
    span = (tiles - 1) * period + vectors  # first x vector to last, inclusive
    streaming = tiles * vectors
    return CycleBreakdown(total=weight_load + span + drain, weight_load=weight_load,
                          streaming=streaming, stall=span - streaming, drain=drain, fill=fill)


def scalesim_breakdown(m: int, k: int, n: int, rows: int, cols: int,
                       dataflow="ws") -> CycleBreakdown:
    """SCALE-Sim 3.0's cycle count of the same problem, split into the same parts.

    SCALE-Sim runs its folds one after another without weight double buffering; each fold
    costs ``2R + C + T - 2`` cycles (``ws``/``is``) or ``R + C + T - 2`` (``os``), and the total
    is one less than the sum (its last output cycle, counted from 0). The parts are:

    * ``weight_load``: the first fold's ``R`` weight-load cycles (``0`` for ``os``);
    * ``streaming``: ``folds * T``, the cycles in which an operand vector enters;
    * ``stall``: the non-streaming cycles of every fold but the last (weight load, fill and
      drain of the earlier folds, which SCALE-Sim does not overlap);
    * ``drain``: the rest of the last fold, ``R + C - 3``. On a ``1 x 1`` array that is
      ``-1``: the missing cycle comes off ``weight_load`` (``ws``/``is``) or ``streaming``
      (``os``) instead, so that the parts are never negative and still add up to ``total``;
    * ``fill``: the contract's fill (first x vector to first result), at most what is left of
      ``total`` after ``weight_load``.

    Examples
    --------
    >>> scalesim_breakdown(256, 256, 256, 256, 256, "ws").total
    1021
    """
    m, k, n, rows, cols, dataflow = _check_problem(m, k, n, rows, cols, dataflow)
    sr, sc, t = dataflow.extents(m, k, n)
    folds = -(-sr // rows) * -(-sc // cols)
    if dataflow is Dataflow.OS:
        overhead, weight_load, fill = rows + cols - 2, 0, t - 1 + rows + cols
    else:
        overhead, weight_load, fill = 2 * rows + cols - 2, rows, rows + cols - 1
    total = folds * (overhead + t) - 1
    streaming = folds * t
    stall = (folds - 1) * overhead
    drain = total - weight_load - streaming - stall
    if drain < 0:
        if weight_load >= -drain:
            weight_load += drain
        else:
            streaming += drain
        drain = 0
    return CycleBreakdown(total=total, weight_load=weight_load, streaming=streaming,
                          stall=stall, drain=drain, fill=min(fill, total - weight_load))
