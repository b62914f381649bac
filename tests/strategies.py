"""Hypothesis strategies for small matmul problems that favour extreme operand values."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from systolic import Dataflow

__all__ = ["KINDS", "gaps_for", "matmul_case", "n_vectors", "operand"]

#: Operand kinds: the value range of each lane.
KINDS = {"int8": (-128, 127), "uint8": (0, 255)}
_EXTREMES = {"int8": (-128, 127, -127, -1, 0, 1), "uint8": (0, 255, 254, 1, 128, 127)}
# Wider integer dtypes are accepted when every value fits int8 or uint8.
_CONTAINERS = {"int8": ("int8", "int16", "int64"), "uint8": ("uint8", "int16", "int32")}


@st.composite
def operand(draw, rows: int, cols: int, kind: str):
    """A ``rows x cols`` matrix of ``kind`` values that favours the extremes of the range."""
    low, high = KINDS[kind]
    value = st.one_of(st.sampled_from(_EXTREMES[kind]), st.integers(low, high))
    flat = draw(st.lists(value, min_size=rows * cols, max_size=rows * cols))
    dtype = draw(st.sampled_from(_CONTAINERS[kind]))
    return np.array(flat, dtype=dtype).reshape(rows, cols)


@st.composite
def matmul_case(draw, max_dim: int = 20, max_array: int = 8):
    """A whole small problem: operands, array size, dataflow and options."""
    m = draw(st.integers(1, max_dim))
    k = draw(st.integers(1, max_dim))
    n = draw(st.integers(1, max_dim))
    return {
        "a": draw(operand(m, k, draw(st.sampled_from(sorted(KINDS))))),
        "b": draw(operand(k, n, draw(st.sampled_from(sorted(KINDS))))),
        "rows": draw(st.integers(1, max_array)),
        "cols": draw(st.integers(1, max_array)),
        "dataflow": draw(st.sampled_from(("ws", "os", "is"))),
        "double_buffer": draw(st.booleans()),
        "acc_bits": draw(st.sampled_from((16, 24, 32))),
    }


def n_vectors(m: int, k: int, n: int, rows: int, cols: int, dataflow: str) -> int:
    """Number of x vectors of the schedule (the length of a ``gaps`` array)."""
    row_extent, col_extent, vectors = Dataflow(dataflow).extents(m, k, n)
    return math.ceil(row_extent / rows) * math.ceil(col_extent / cols) * vectors


def gaps_for(length: int):
    """Idle-cycle counts for ``length`` x vectors: mostly none, some short, a few long."""
    gap = st.one_of(st.just(0), st.just(0), st.integers(1, 3), st.integers(4, 12))
    return st.lists(gap, min_size=length, max_size=length).map(
        lambda values: np.array(values, dtype=np.int64))
