"""Activation-unit arithmetic: rounding, requantization, functions, pooling."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from systolic.tpu import Requant, activate, pool, round_div


@pytest.mark.parametrize("rounding, expected", [
    ("half_even", [-2, -2, -2, 0, 0, 1, 2, 2, 2]),
    ("half_away", [-3, -2, -2, -1, 0, 1, 2, 2, 3]),
    ("half_up", [-2, -2, -1, 0, 0, 1, 2, 2, 3]),
])
def test_round_div_ties(rounding, expected):
    num = np.array([-5, -4, -3, -1, 0, 2, 3, 4, 5])   # / 2: -2.5 -2 -1.5 -0.5 0 1 1.5 2 2.5
    assert round_div(num, 2, rounding).tolist() == expected


def _exact(num: int, den: int, rounding: str) -> int:
    q = Fraction(num, den)
    low = q.numerator // q.denominator
    rest = q - low
    if rest != Fraction(1, 2):
        return low + (rest > Fraction(1, 2))
    return {"half_even": low + (low % 2), "half_away": low + (num >= 0),
            "half_up": low + 1}[rounding]


@settings(max_examples=300)
@given(st.integers(-(1 << 62), (1 << 62) - 1), st.integers(0, 61),
       st.sampled_from(["half_even", "half_away", "half_up"]))
def test_round_div_matches_exact_fractions(num, shift, rounding):
    assert int(round_div(np.array([num]), 1 << shift, rounding)[0]) == \
        _exact(num, 1 << shift, rounding)


def test_round_div_rejects_unknown_mode():
    with pytest.raises(ValueError, match=r"^unknown rounding 'nearest': expected one of "
                                         r"'half_even', 'half_away', 'half_up'$"):
        round_div(np.array([1]), 2, "nearest")


def test_requant_saturates_and_adds_zero_point():
    req = Requant(multiplier=1, shift=1, zero_point=3, out_signed=True)
    acc = np.array([[1000, -1000, 5, 7]])
    out = activate(acc, np.zeros(4, np.int32), req, "identity")
    # 5/2 = 2.5 -> 2 (half even), 7/2 = 3.5 -> 4; then + 3 and saturate
    assert out.tolist() == [[127, -128, 5, 7]]
    unsigned = Requant(multiplier=1, shift=0, out_signed=False)
    zero = np.zeros(3, np.int32)
    assert activate(np.array([[-5, 300, 9]]), zero, unsigned, "identity").tolist() == \
        [[0, 255, 9]]


def test_bias_is_added_before_scaling_without_wrapping():
    req = Requant(multiplier=1, shift=24)
    acc = np.array([[(1 << 31) - 1]])
    out = activate(acc, np.array([(1 << 31) - 1]), req, "identity")
    assert out.tolist() == [[127]]          # 2**32 / 2**24 = 256 saturates, no int32 wrap


def test_functions():
    req = Requant(multiplier=1, shift=0, frac_bits=4)
    acc = np.array([[-32, 0, 16, 1000]])
    zero = np.zeros(4, np.int32)
    assert activate(acc, zero, req, "relu").tolist() == [[0, 0, 16, 127]]
    tanh = np.rint(np.tanh(np.array([-2.0, 0.0, 1.0, 62.5])) * 127)
    assert activate(acc, zero, req, "tanh").tolist() == [tanh.astype(int).tolist()]
    sig_req = Requant(multiplier=1, shift=0, frac_bits=4, out_signed=False)
    sig = np.rint(255 / (1 + np.exp(-np.array([-2.0, 0.0, 1.0, 62.5]))))
    assert activate(acc, zero, sig_req, "sigmoid").tolist() == [sig.astype(int).tolist()]
    # far outside the curve: saturates without overflow warnings
    big = np.array([[-(1 << 31), (1 << 31) - 1]])
    sig_zero = Requant(multiplier=1, shift=0, frac_bits=0, out_signed=False)
    assert activate(big, np.zeros(2, np.int32), sig_zero, "sigmoid").tolist() == [[0, 255]]
    with pytest.raises(ValueError, match=r"^unknown function 'gelu': expected one of "
                                         r"'identity', 'relu', 'sigmoid', 'tanh'$"):
        activate(acc, zero, req, "gelu")


def test_from_scale_is_close_and_in_range():
    for scale in (1e-6, 0.0123, 0.5, 1.0, 3.7, 200.0):
        req = Requant.from_scale(scale)
        assert req.multiplier < 1 << 31
        assert req.multiplier / 2 ** req.shift == pytest.approx(scale, rel=1e-6)
    with pytest.raises(ValueError, match=r"^scale must be a positive finite number, got 0$"):
        Requant.from_scale(0)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"multiplier": 1 << 31}, ValueError, r"^multiplier must be an integer from 0 to "
                                          r"2147483647, got 2147483648$"),
    ({"shift": 63}, ValueError, r"^shift must be an integer from 0 to 62, got 63$"),
    ({"zero_point": 128}, ValueError, r"^zero_point must be an integer from -128 to 127, "
                                      r"got 128$"),
    ({"shift": 1.0}, TypeError, r"^shift must be an integer from 0 to 62, got 1\.0$"),
    ({"out_signed": 1}, TypeError, r"^out_signed must be True or False, got 1$"),
    ({"rounding": "down"}, ValueError, r"^unknown rounding 'down': expected one of "
                                       r"'half_even', 'half_away', 'half_up'$"),
])
def test_requant_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        Requant(**kwargs)


def test_pooling():
    # one 4x4 image, 2 channels: channel 1 is channel 0 negated
    img = np.arange(16).reshape(16, 1)
    values = np.hstack([img, -img])
    assert pool(values, "max", 2, 4, "half_even").tolist() == \
        [[5, 0], [7, -2], [13, -8], [15, -10]]
    # window sums 10, 18, 42, 50 -> /4 = 2.5, 4.5, 10.5, 12.5
    assert pool(values, "avg", 2, 4, "half_even")[:, 0].tolist() == [2, 4, 10, 12]
    assert pool(values, "avg", 2, 4, "half_away")[:, 1].tolist() == [-3, -5, -11, -13]
    with pytest.raises(ValueError, match=r"^16 rows of width 3 cannot be pooled 2x2$"):
        pool(values, "max", 2, 3, "half_even")
