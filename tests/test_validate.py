"""Bad input raises a clear error that names the bad value."""

from __future__ import annotations

import numpy as np
import pytest

import systolic
from helpers import exact

A = np.ones((3, 4), dtype=np.int8)
B = np.ones((4, 2), dtype=np.int8)



@pytest.fixture
def arr():
    return systolic.SystolicArray(4, 4)


@pytest.mark.parametrize("dtype", [np.float64, np.bool_])
def test_non_integer_operands(arr, dtype):
    name = np.dtype(dtype).name
    with pytest.raises(TypeError, match=exact(f"a must be an integer array, got dtype {name}")):
        arr.run(A.astype(dtype), B)
    with pytest.raises(TypeError, match=exact(f"b must be an integer array, got dtype {name}")):
        arr.run(A, B.astype(dtype))
    with pytest.raises(TypeError, match=exact(f"a must be an integer array, got dtype {name}")):
        systolic.matmul(A.astype(dtype), B)


def test_operands_must_be_2d(arr):
    with pytest.raises(ValueError, match=exact("a must be 2-D, got shape (3,)")):
        arr.run(np.ones(3, dtype=np.int8), B)
    with pytest.raises(ValueError, match=exact("b must be 2-D, got shape (4, 2, 1)")):
        arr.run(A, np.ones((4, 2, 1), dtype=np.int8))


def test_inner_dimensions_must_agree(arr):
    with pytest.raises(ValueError, match=exact("inner dimensions differ: a is 3x4 but b is 5x2")):
        arr.run(A, np.ones((5, 2), dtype=np.int8))
    with pytest.raises(ValueError, match=exact("inner dimensions differ: a is 3x4 but b is 5x2")):
        systolic.matmul(A, np.ones((5, 2), dtype=np.int8))


def test_operands_must_not_be_empty(arr):
    with pytest.raises(ValueError, match=exact("a must not be empty, got shape (0, 4)")):
        arr.run(np.ones((0, 4), dtype=np.int8), B)
    with pytest.raises(ValueError, match=exact("b must not be empty, got shape (4, 0)")):
        arr.run(A, np.ones((4, 0), dtype=np.int8))


def test_values_must_fit_eight_bits(arr):
    a = np.array([[-300, 12], [0, 1]], dtype=np.int16)
    b = np.ones((2, 2), dtype=np.int8)
    with pytest.raises(ValueError,
                       match=exact("a has values outside int8/uint8: min -300, max 12")):
        arr.run(a, b)
    # Mixing -1 and 255 fits neither int8 nor uint8: rejected, never truncated.
    with pytest.raises(ValueError,
                       match=exact("b has values outside int8/uint8: min -1, max 255")):
        arr.run(b, np.array([[-1, 255], [0, 0]], dtype=np.int32))


def test_in_range_values_of_wider_dtypes_are_accepted(arr):
    a = np.array([[-128, 127], [5, -5]], dtype=np.int64)
    b = np.array([[255, 0], [128, 1]], dtype=np.int16)
    expected = a @ b.astype(np.int64)
    np.testing.assert_array_equal(arr.run(a, b).output, expected)


@pytest.mark.parametrize("dims, error", [
    ((0, 4), ValueError), ((4, 0), ValueError), ((-1, 2), ValueError), ((4, 4, 4), ValueError),
    ([4, 4], TypeError), ((4.0, 4), TypeError), ((True, 4), TypeError), (4, TypeError),
    ("44", TypeError)])
def test_dims_must_be_two_positive_integers(dims, error):
    message = f"dims must be two positive integers (rows, cols), got {dims!r}"
    with pytest.raises(error, match=exact(message)):
        systolic.matmul(A, B, dims=dims)


@pytest.mark.parametrize("name, value, error", [
    ("rows", 0, ValueError), ("cols", -3, ValueError), ("rows", 2.0, TypeError),
    ("cols", True, TypeError), ("rows", "4", TypeError)])
def test_array_size_must_be_positive_integer(name, value, error):
    sizes = {"rows": 4, "cols": 4, name: value}
    with pytest.raises(error, match=exact(f"{name} must be a positive integer, got "
                                           f"{value!r}")):
        systolic.SystolicArray(sizes["rows"], sizes["cols"])


def test_unknown_dataflow():
    message = "unknown dataflow 'xs': expected one of 'ws', 'os', 'is'"
    with pytest.raises(ValueError, match=exact(message)):
        systolic.SystolicArray(4, 4, "xs")
    with pytest.raises(ValueError, match=exact(message)):
        systolic.matmul(A, B, (4, 4), "xs")


def test_unknown_engine(arr):
    message = "unknown engine 'gpu': expected 'cycle' or 'fast'"
    with pytest.raises(ValueError, match=exact(message)):
        arr.run(A, B, engine="gpu")
    with pytest.raises(ValueError, match=exact(message)):
        systolic.matmul(A, B, engine="gpu")


def test_unknown_timing(arr):
    with pytest.raises(ValueError, match=exact("unknown timing 'x': expected 'exact' or "
                                                "'scalesim'")):
        arr.run(A, B, timing="x")


@pytest.mark.parametrize("acc_bits", [8, 15, 33, 64])
def test_acc_bits_range(acc_bits):
    with pytest.raises(ValueError, match=exact(f"acc_bits must be an integer from 16 to 32, "
                                                f"got {acc_bits}")):
        systolic.SystolicArray(4, 4, acc_bits=acc_bits)


@pytest.mark.parametrize("engine", ["cycle", "fast"])
def test_gaps_must_match_the_schedule(arr, engine):
    vectors = arr.run(A, B).vectors
    with pytest.raises(ValueError, match="gaps"):
        arr.run(A, B, engine=engine, gaps=np.zeros(vectors + 1, dtype=np.int64))
    with pytest.raises(ValueError, match="gaps"):
        arr.run(A, B, engine=engine, gaps=np.zeros(vectors - 1, dtype=np.int64))
    negative = np.zeros(vectors, dtype=np.int64)
    negative[1] = -1
    with pytest.raises(ValueError, match="gaps"):
        arr.run(A, B, engine=engine, gaps=negative)
    with pytest.raises(ValueError, match="gaps"):
        arr.stepper(A, B, gaps=negative)
    with pytest.raises(ValueError, match="gaps"):
        arr.edge_stream(A, B, gaps=negative)
