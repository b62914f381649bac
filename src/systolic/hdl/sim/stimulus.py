"""Random matmul stimulus for the RTL tests: extreme operands, folds, gaps."""

from __future__ import annotations

import math
import os

import numpy as np

from systolic import Dataflow

__all__ = ["base_seed", "full_size", "lane_operands", "n_vectors", "operand", "random_case"]

_EXTREMES = {True: np.array([-128, 127, 0, -1, 1]), False: np.array([0, 255, 128, 127, 1])}


def base_seed(default: int) -> int:
    """``SIM_SEED`` from the environment if set (to explore), else ``default``."""
    return int(os.environ.get("SIM_SEED", default))


def full_size() -> tuple[int, int] | None:
    """``(rows, cols)`` from ``SIM_ROWS``/``SIM_COLS``, or None for the default regression."""
    rows = os.environ.get("SIM_ROWS", "").strip()
    cols = os.environ.get("SIM_COLS", "").strip()
    if not rows:
        return None
    try:
        size = (int(rows), int(cols or rows))
    except ValueError:
        raise ValueError(
            f"SIM_ROWS/SIM_COLS must be integers, got {rows!r}/{cols!r}") from None
    if min(size) < 1:
        raise ValueError(f"SIM_ROWS/SIM_COLS must be positive, got {rows!r}/{cols!r}")
    return size


def operand(rng: np.random.Generator, shape: tuple[int, int], signed: bool) -> np.ndarray:
    """Random int8 (``signed``) or uint8 values, about a quarter of them range extremes."""
    low, high = (-128, 127) if signed else (0, 255)
    values = rng.integers(low, high + 1, size=shape)
    extremes = rng.choice(_EXTREMES[signed], size=shape)
    values = np.where(rng.random(shape) < 0.25, extremes, values)
    return values.astype(np.int8 if signed else np.uint8)


def lane_operands(rng, m: int, k: int, n: int, dataflow: str, x_signed: bool,
                  w_signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """``a`` (M x K) and ``b`` (K x N) whose values fit the lanes they enter (contract 4)."""
    a_signed, b_signed = ((w_signed, x_signed) if Dataflow(dataflow).transposed
                          else (x_signed, w_signed))
    return operand(rng, (m, k), a_signed), operand(rng, (k, n), b_signed)


def n_vectors(m: int, k: int, n: int, rows: int, cols: int, dataflow: str) -> int:
    """Number of x vectors of the schedule (the length of ``gaps``)."""
    row_extent, col_extent, vectors = Dataflow(dataflow).extents(m, k, n)
    return math.ceil(row_extent / rows) * math.ceil(col_extent / cols) * vectors


def random_case(rng, rows: int, cols: int, dataflow: str, x_signed: bool, w_signed: bool, *,
                kind: str = "folds", max_folds: int = 3) -> dict:
    """One random matmul case for an ``rows x cols`` array.

    ``kind`` selects the shape family: ``folds`` needs up to ``max_folds`` tiles along both K
    and N (accumulation across tiles), ``short`` streams fewer vectors than ``rows`` per tile
    so weight tiles switch back to back, ``gaps`` is ``folds`` with random idle cycles.
    """
    # Drawn as the array sees the matmul (Dataflow.extents): the extent folded onto the rows,
    # the one folded onto the columns, and the vectors each tile streams.
    flow = Dataflow(dataflow)
    first = int(rng.integers(1, max_folds * rows + 1))
    if flow.stationary_weights:
        row_extent = first
        vectors = int(rng.integers(1, rows + 1)) if kind == "short" else \
            int(rng.integers(1, 2 * rows))
        col_extent = int(rng.integers(1, max_folds * cols + 1))
    else:
        vectors = first
        row_extent = int(rng.integers(1, max_folds * rows + 1))
        col_extent = int(rng.integers(1, max_folds * cols + 1))
        if kind == "short":
            vectors = int(rng.integers(1, rows + 1))
    m, k, n = flow.matmul_of(row_extent, col_extent, vectors)
    a, b = lane_operands(rng, m, k, n, dataflow, x_signed, w_signed)
    gaps = None
    if kind == "gaps":
        length = n_vectors(m, k, n, rows, cols, dataflow)
        gaps = np.where(rng.random(length) < 0.3, rng.integers(1, 6, length), 0).astype(np.int64)
    return {"a": a, "b": b, "gaps": gaps}
