"""Checks of user input shared by the whole package (no numba, no amaranth).

One wording everywhere: ``"<name> must be <what>, got <value!r>"``, raised as :class:`TypeError`
when the value has the wrong type and as :class:`ValueError` when it has the right type but
the wrong value. Numbers are compared as Python ints before anything casts them, so that no
cast can wrap an out-of-range value (a uint64, a numpy int of any width or a Python bigint)
into range.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

__all__ = ["INT64_MAX", "check_bool", "check_choice", "check_int", "check_int_array",
           "check_memory", "check_number", "check_optional_bool", "describe_range", "is_int",
           "memory_limit"]

#: Largest value of an int64, the widest integer the engines compute with.
INT64_MAX = (1 << 63) - 1


def is_int(value) -> bool:
    """True for Python and numpy integers, False for bools (which are ints to Python)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def describe_range(low: int | None, high: int | None) -> str:
    """``"a positive integer"``, ``"an integer from 16 to 32"``, ... for ``low..high``."""
    if high is None:
        if low is None:
            return "an integer"
        if low == 1:
            return "a positive integer"
        if low == 0:
            return "a non-negative integer"
        return f"an integer >= {low}"
    if low is None:
        return f"an integer <= {high}"
    return f"an integer from {low} to {high}"


def check_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as a Python int in ``low..high`` (either bound optional).

    Raises
    ------
    TypeError
        ``value`` is not an integer (floats, even integral ones, bools and strings included).
    ValueError
        ``value`` is outside ``low..high``.
    """
    what = describe_range(low, high)
    if not is_int(value):
        raise TypeError(f"{name} must be {what}, got {value!r}")
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return number


def check_bool(name: str, value) -> bool:
    """``value`` as a bool; anything but ``True``/``False`` (or a numpy bool) is a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_optional_bool(name: str, value) -> bool | None:
    """``None`` or a bool (see :func:`check_bool`)."""
    if value is None:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True, False or None, got {value!r}")
    return bool(value)


def check_number(name: str, value, *, positive: bool = False) -> float:
    """``value`` as a finite float (``> 0`` if ``positive``); bools and strings are refused."""
    what = "a positive finite number" if positive else "a finite number"
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be {what}, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or (positive and not number > 0):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return number


def check_choice(name: str, value, choices) -> str:
    """``value`` if it is one of the strings ``choices``.

    The message reads ``"unknown <name> 'x': expected 'a' or 'b'"`` (``"expected one of 'a',
    'b', 'c'"`` for more than two choices).
    """
    choices = tuple(choices)
    if len(choices) == 2:
        expected = f"{choices[0]!r} or {choices[1]!r}"
    else:
        expected = "one of " + ", ".join(repr(choice) for choice in choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}: expected {expected}")
    return value


def check_int_array(name: str, value, low: int | None = None, high: int | None = None, *,
                    ndim: int | None = None) -> np.ndarray:
    """``value`` as an integer ndarray whose values lie in ``low..high`` (dtype unchanged).

    Masked arrays are refused (the mask would be ignored), and so are object arrays, whatever
    they hold. The bounds are compared as Python ints, so a uint64 above ``2**63 - 1`` is
    reported, never wrapped.
    """
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{name} must not be a masked array: the mask would be ignored")
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {array.dtype.name}")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {array.shape}")
    if array.size and (low is not None or high is not None):
        smallest, largest = int(array.min()), int(array.max())
        if (low is not None and smallest < low) or (high is not None and largest > high):
            if high is None:
                what = f"values >= {low}"
            elif low is None:
                what = f"values <= {high}"
            else:
                what = f"values from {low} to {high}"
            raise ValueError(f"{name} must hold {what}, got min {smallest}, max {largest}")
    return array


#: Default of :func:`memory_limit`: 4 GiB.
DEFAULT_MEMORY_LIMIT = 4 << 30


def memory_limit() -> int:
    """Bytes an engine, exporter or generator may allocate for one call.

    4 GiB unless the environment variable ``SYSTOLIC_MEMORY_LIMIT`` gives another number of
    bytes (a plain integer, or with a ``K``, ``M``, ``G`` or ``T`` suffix for powers of 1024).
    """
    text = os.environ.get("SYSTOLIC_MEMORY_LIMIT", "").strip()
    if not text:
        return DEFAULT_MEMORY_LIMIT
    scale = 1
    suffix = text[-1].upper()
    if suffix in "KMGT":
        scale = 1 << (10 * ("KMGT".index(suffix) + 1))
        text = text[:-1]
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"SYSTOLIC_MEMORY_LIMIT must be a positive number of bytes (with an "
                         f"optional K, M, G or T suffix), got "
                         f"{os.environ['SYSTOLIC_MEMORY_LIMIT']!r}")
    return int(text) * scale


def _size(nbytes: int) -> str:
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


def check_memory(what: str, nbytes: int, advice: str) -> None:
    """Refuse, before allocating, ``what`` when its estimated ``nbytes`` pass the limit.

    The message says how much is needed, the limit, and what to change (``advice``, or raising
    ``SYSTOLIC_MEMORY_LIMIT``).
    """
    limit = memory_limit()
    if nbytes > limit:
        raise ValueError(f"{what} needs about {_size(nbytes)}, more than the limit of "
                         f"{_size(limit)}; {advice}, or raise the limit with the environment "
                         f"variable SYSTOLIC_MEMORY_LIMIT")
