"""Checks of user input; every message names the bad value."""

from __future__ import annotations

import numpy as np

from ._checks import check_choice, check_int, check_int_array, is_int
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

#: Largest total of idle gaps: the schedule's cycle numbers stay far inside int64.
GAP_SUM_LIMIT = 1 << 60

_INT8 = (-128, 127)
_UINT8 = (0, 255)


def check_size(name: str, value) -> int:
    """``value`` as a positive int (TypeError for a non-integer, ValueError below 1)."""
    return check_int(name, value, 1)


def check_dims(dims) -> tuple[int, int]:
    """``dims`` as ``(rows, cols)``: a tuple of two positive integers."""
    message = f"dims must be two positive integers (rows, cols), got {dims!r}"
    if not isinstance(dims, tuple) or not all(is_int(d) for d in dims):
        raise TypeError(message)
    if len(dims) != 2 or not all(d >= 1 for d in dims):
        raise ValueError(message)
    return int(dims[0]), int(dims[1])


def check_dataflow(dataflow) -> Dataflow:
    """A :class:`Dataflow` from a member or its value (``"ws"``, ``"os"``, ``"is"``)."""
    if isinstance(dataflow, Dataflow):
        return dataflow
    return Dataflow(check_choice("dataflow", dataflow, [d.value for d in Dataflow]))


def check_acc_bits(acc_bits) -> int:
    """The accumulator width, an integer from 16 to 32."""
    return check_int("acc_bits", acc_bits, 16, 32)


def _check_operand(name: str, value) -> tuple[np.ndarray, bool]:
    array = check_int_array(name, value)
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
    array = check_int_array("gaps", gaps)
    if array.shape != (n_vectors,):
        raise ValueError(f"gaps must have one entry per x vector ({n_vectors}), "
                         f"got shape {array.shape}")
    if n_vectors and int(array.min()) < 0:
        raise ValueError(f"gaps must not be negative, got {int(array.min())} "
                         f"at index {int(np.argmin(array))}")
    # The schedule adds the gaps up in int64: bound their sum (as exact Python ints, never a
    # wrapping cast) well below 2**63 so that every cycle number stays exact.
    if n_vectors and int(array.max()) * n_vectors > GAP_SUM_LIMIT:
        total = int(array.sum(dtype=object))
        if total > GAP_SUM_LIMIT:
            raise ValueError(f"gaps must add up to at most {GAP_SUM_LIMIT} cycles, got {total}")
    return np.ascontiguousarray(array, dtype=np.int64)


def check_trace_window(trace, total: int, cells_per_cycle: int) -> tuple[int, int] | None:
    """``trace`` as ``(first_cycle, stop_cycle)`` within ``0..total``, bounded in size.

    ``True`` means the whole run; a ``stop_cycle`` of ``None`` or past the run's end is clipped
    to the end (as :func:`systolic.vcd.export_vcd` clips its window).
    """
    if trace is None or trace is False:
        return None
    if trace is True:
        trace = (0, total)
    message = (f"trace must be True or (first_cycle, stop_cycle) with "
               f"0 <= first_cycle < stop_cycle, got {trace!r}")
    if (not isinstance(trace, (tuple, list)) or len(trace) != 2 or not is_int(trace[0])
            or not (trace[1] is None or is_int(trace[1]))):
        raise TypeError(message)
    first = int(trace[0])
    stop = total if trace[1] is None else int(trace[1])
    if not 0 <= first < stop:
        raise ValueError(message)
    if first >= total:
        raise ValueError(f"trace window {trace!r} starts after the run's last cycle "
                         f"{total - 1}")
    stop = min(stop, total)
    cells = (stop - first) * cells_per_cycle
    if cells > TRACE_CELL_LIMIT:
        raise ValueError(f"trace window of {stop - first} cycles holds {cells} register values, "
                         f"more than the limit of {TRACE_CELL_LIMIT}; use a shorter window, or "
                         f"Stepper to read the registers one cycle at a time")
    return first, stop
