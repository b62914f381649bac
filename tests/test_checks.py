"""The shared validation module: one wording, TypeError for types, ValueError for values."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import exact
from systolic._checks import (
    check_bool,
    check_choice,
    check_int,
    check_int_array,
    check_memory,
    check_number,
    check_optional_bool,
    memory_limit,
)


@pytest.mark.parametrize("value", [3, np.int8(3), np.uint64(3), np.int64(3), 3 << 0])
def test_check_int_accepts_every_integer_type(value):
    result = check_int("n", value, 1, 5)
    assert result == 3 and type(result) is int


@pytest.mark.parametrize("value", [3.0, True, np.bool_(True), "3", None, 3 + 0j, [3]])
def test_check_int_refuses_non_integers_with_type_error(value):
    with pytest.raises(TypeError, match=exact(f"n must be an integer from 1 to 5, got "
                                               f"{value!r}")):
        check_int("n", value, 1, 5)


@pytest.mark.parametrize("value", [np.uint64(2**64 - 1), 2**64 + 1, -(2**70), np.int64(-1)])
def test_check_int_compares_before_any_cast(value):
    # A cast to int64 would wrap 2**64 - 1 to -1 and 2**64 + 1 to 1: both are refused.
    with pytest.raises(ValueError, match=exact(f"n must be an integer from 0 to "
                                                f"9223372036854775807, got {value!r}")):
        check_int("n", value, 0, 2**63 - 1)


@pytest.mark.parametrize("low, high, words", [
    (1, None, "a positive integer"), (0, None, "a non-negative integer"),
    (5, None, "an integer >= 5"), (None, 7, "an integer <= 7"),
    (None, None, "an integer"), (16, 32, "an integer from 16 to 32")])
def test_check_int_wording(low, high, words):
    with pytest.raises(TypeError, match=exact(f"x must be {words}, got 'a'")):
        check_int("x", "a", low, high)


@pytest.mark.parametrize("value", [1, 0, "yes", None, 1.0, np.int8(1)])
def test_check_bool_refuses_non_bools(value):
    with pytest.raises(TypeError, match=exact(f"flag must be True or False, got {value!r}")):
        check_bool("flag", value)
    assert check_bool("flag", np.bool_(True)) is True


def test_check_optional_bool():
    assert check_optional_bool("p", None) is None
    assert check_optional_bool("p", False) is False
    with pytest.raises(TypeError, match=exact("p must be True, False or None, got 'no'")):
        check_optional_bool("p", "no")


@pytest.mark.parametrize("value, error", [
    (0, ValueError), (-1.5, ValueError), (float("nan"), ValueError), (float("inf"), ValueError),
    ("1", TypeError), (True, TypeError), (None, TypeError)])
def test_check_number(value, error):
    with pytest.raises(error, match=exact(f"hz must be a positive finite number, "
                                           f"got {value!r}")):
        check_number("hz", value, positive=True)
    assert check_number("hz", np.float32(2.5), positive=True) == 2.5


def test_check_choice():
    assert check_choice("engine", "fast", ("cycle", "fast")) == "fast"
    with pytest.raises(ValueError, match=exact("unknown engine 'gpu': expected 'cycle' or "
                                                "'fast'")):
        check_choice("engine", "gpu", ("cycle", "fast"))
    with pytest.raises(TypeError, match=exact("dataflow must be one of 'ws', 'os', 'is', "
                                               "got b'ws'")):
        check_choice("dataflow", b"ws", ("ws", "os", "is"))


def test_check_int_array():
    assert check_int_array("g", [1, 2], 0).dtype.kind == "i"
    with pytest.raises(TypeError, match=exact("g must not be a masked array: the mask would be "
                                               "ignored")):
        check_int_array("g", np.ma.masked_array([1, 2], mask=[0, 1]))
    with pytest.raises(TypeError, match=exact("g must be an integer array, got dtype float64")):
        check_int_array("g", [1.0, 2.0])
    with pytest.raises(TypeError, match=exact("g must be an integer array, got dtype object")):
        check_int_array("g", [2**70, 1])
    with pytest.raises(ValueError, match=exact("g must hold values from 0 to 9223372036854775807"
                                                ", got min 0, max 18446744073709551615")):
        check_int_array("g", np.array([0, 2**64 - 1], np.uint64), 0, 2**63 - 1)
    with pytest.raises(ValueError, match=exact("g must be 2-D, got shape (2,)")):
        check_int_array("g", [1, 2], ndim=2)


def test_memory_limit_from_the_environment(monkeypatch):
    monkeypatch.delenv("SYSTOLIC_MEMORY_LIMIT", raising=False)
    assert memory_limit() == 4 << 30
    monkeypatch.setenv("SYSTOLIC_MEMORY_LIMIT", "512M")
    assert memory_limit() == 512 << 20
    monkeypatch.setenv("SYSTOLIC_MEMORY_LIMIT", "1000")
    assert memory_limit() == 1000
    with pytest.raises(ValueError, match=exact(
            "the thing needs about 1000.0 KiB, more than the limit of 1000 bytes; use less, or "
            "raise the limit with the environment variable SYSTOLIC_MEMORY_LIMIT")):
        check_memory("the thing", 1000 << 10, "use less")
    monkeypatch.setenv("SYSTOLIC_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match=exact(
            "SYSTOLIC_MEMORY_LIMIT must be a positive number of bytes (with an optional K, M, G "
            "or T suffix), got 'lots'")):
        memory_limit()
