"""Checks of user input; every message names the bad value."""

from __future__ import annotations

import numbers

import numpy as np

from ._config import TRACE_CELL_LIMIT
from ._dataflow import Dataflow

__all__ = [
    "check_acc_bits",
    "check_choice",
    "check_dataflow",
    "check_dims",
    "check_gaps",
    "check_operands",
    "check_size",
    "check_trace_window",
]

_INT8 = (-128, 127)
_UINT8 = (0, 255)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_size(name: str, value) -> int:
    """``value`` as a positive int, or ValueError ``"<name> must be a positive integer"``."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_dims(dims) -> tuple[int, int]:
    """``dims`` as ``(rows, cols)``: a tuple of two positive integers."""
    if (not isinstance(dims, tuple) or len(dims) != 2
            or not all(_is_int(d) and d >= 1 for d in dims)):
        raise ValueError(f"dims must be two positive integers (rows, cols), got {dims!r}")
    return int(dims[0]), int(dims[1])


def check_dataflow(dataflow) -> Dataflow:
    """A :class:`Dataflow` from a member or its value (``"ws"``, ``"os"``, ``"is"``)."""
    if isinstance(dataflow, Dataflow):
        return dataflow
    return Dataflow(dataflow)


def check_acc_bits(acc_bits) -> int:
    """The accumulator width, an integer from 16 to 32."""
    if not _is_int(acc_bits) or not 16 <= acc_bits <= 32:
        raise ValueError(f"acc_bits must be an integer from 16 to 32, got {acc_bits!r}")
    return int(acc_bits)


def check_choice(kind: str, value, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else ``"unknown <kind> ..."``."""
    if not isinstance(value, str) or value not in choices:
        expected = " or ".join(repr(choice) for choice in choices)
        raise ValueError(f"unknown {kind} {value!r}: expected {expected}")
    return value


def _check_operand(name: str, value) -> tuple[np.ndarray, bool]:
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {array.dtype.name}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    if array.dtype == np.int8:
        return array, True
    if array.dtype == np.uint8:
        return array, False
    low, high = int(array.min()), int(array.max())
    if _INT8[0] <= low and high <= _INT8[1]:
        return array, True
    if _UINT8[0] <= low and high <= _UINT8[1]:
        return array, False
    raise ValueError(f"{name} has values outside int8/uint8: min {low}, max {high}")


def check_operands(a, b) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    """Validate the operands of ``a @ b``.

    Returns
    -------
    a, b : ndarray
        The operands as int32 arrays (values unchanged).
    a_signed, b_signed : bool
        Whether each operand is read as int8 (True) or uint8 (False).
    """
    a, a_signed = _check_operand("a", a)
    b, b_signed = _check_operand("b", b)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: a is {a.shape[0]}x{a.shape[1]} "
                         f"but b is {b.shape[0]}x{b.shape[1]}")
    return (np.ascontiguousarray(a, dtype=np.int32), np.ascontiguousarray(b, dtype=np.int32),
            a_signed, b_signed)


def check_gaps(gaps, n_vectors: int) -> np.ndarray | None:
    """``gaps`` as int64 array of ``n_vectors`` non-negative idle-cycle counts (or None)."""
    if gaps is None:
        return None
    array = np.asarray(gaps)
    if array.dtype.kind not in "iu":
        raise TypeError(f"gaps must be an integer array, got dtype {array.dtype.name}")
    if array.shape != (n_vectors,):
        raise ValueError(f"gaps must have one entry per x vector ({n_vectors}), "
                         f"got shape {array.shape}")
    if n_vectors and array.min() < 0:
        raise ValueError(f"gaps must not be negative, got {int(array.min())} "
                         f"at index {int(np.argmin(array))}")
    return np.ascontiguousarray(array, dtype=np.int64)


def check_trace_window(trace, total: int, cells_per_cycle: int) -> tuple[int, int] | None:
    """``trace`` as ``(first_cycle, stop_cycle)`` within ``0..total``, bounded in size."""
    if trace is None:
        return None
    if (not isinstance(trace, (tuple, list)) or len(trace) != 2
            or not all(_is_int(t) for t in trace)):
        raise ValueError(f"trace must be (first_cycle, stop_cycle), got {trace!r}")
    first, stop = int(trace[0]), int(trace[1])
    if not 0 <= first < stop <= total:
        raise ValueError(f"trace window must satisfy 0 <= first_cycle < stop_cycle <= {total} "
                         f"(the run's cycles), got {trace!r}")
    cells = (stop - first) * cells_per_cycle
    if cells > TRACE_CELL_LIMIT:
        raise ValueError(f"trace window of {stop - first} cycles holds {cells} register values, "
                         f"more than the limit of {TRACE_CELL_LIMIT}; use a shorter window")
    return first, stop
