"""Helpers shared by the tests: anchored error messages, operands and run comparisons.

``tests/`` is on pytest's ``pythonpath`` (``pyproject.toml``), so test files in sub-folders
import this module as ``helpers``.
"""

from __future__ import annotations

import re

import numpy as np


def exact(message: str) -> str:
    """A regex that matches ``message`` exactly, for ``pytest.raises(match=...)``."""
    return "^" + re.escape(message) + "$"


def operands(rng, m, k, n, signed_a=True, signed_b=False):
    """Random 8-bit ``(m, k)`` and ``(k, n)`` operands, int8 or uint8 each."""
    a = (rng.integers(-128, 128, (m, k)) if signed_a else rng.integers(0, 256, (m, k)))
    b = (rng.integers(-128, 128, (k, n)) if signed_b else rng.integers(0, 256, (k, n)))
    return (a.astype(np.int8 if signed_a else np.uint8),
            b.astype(np.int8 if signed_b else np.uint8))


def wrapped(a, b, acc_bits=32):
    """``a @ b`` wrapped to ``acc_bits`` two's complement, computed in int64 by numpy."""
    exact_sum = a.astype(np.int64) @ b.astype(np.int64)
    half, modulus = 1 << (acc_bits - 1), 1 << acc_bits
    return (exact_sum + half) % modulus - half


def assert_same_run(first, second, outputs=True):
    """Two ``RunResult`` objects agree on values, counts and (optionally) the output port."""
    np.testing.assert_array_equal(first.output, second.output)
    for name in ("cycles", "breakdown", "utilization", "macs", "overflow_count", "tiles",
                 "vectors", "dims", "dataflow"):
        assert getattr(first, name) == getattr(second, name), name
    if outputs:
        np.testing.assert_array_equal(first.outputs.cycles, second.outputs.cycles)
        np.testing.assert_array_equal(first.outputs.data, second.outputs.data)
