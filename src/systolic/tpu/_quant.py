"""Bit-exact arithmetic of the activation unit: bias, requantization, function, pooling.

Everything is integer arithmetic on int64 except the sigmoid and tanh tables, which are
evaluated in float64 and rounded half to even (documented in docs/tpu.md, "Activation").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FUNCTIONS", "POOLS", "ROUNDINGS", "Requant", "activate", "pool", "round_div"]

ROUNDINGS = ("half_even", "half_away", "half_up")
FUNCTIONS = ("identity", "relu", "sigmoid", "tanh")
POOLS = ("none", "max", "avg")

MAX_MULTIPLIER = (1 << 31) - 1
MAX_SHIFT = 62
MAX_FRAC_BITS = 31


def round_div(num, den: int, rounding: str) -> np.ndarray:
    """Divide int64 ``num`` by the positive integer ``den``, rounding ties as ``rounding``.

    ``"half_even"`` rounds a tie to the even quotient, ``"half_away"`` away from zero and
    ``"half_up"`` towards plus infinity; non-ties go to the nearest integer.
    """
    num = np.asarray(num, dtype=np.int64)
    den = np.int64(den)
    quot = num // den
    twice_rem = 2 * (num - quot * den)
    if rounding == "half_even":
        tie_up = (quot & 1) == 1
    elif rounding == "half_away":
        tie_up = num >= 0
    elif rounding == "half_up":
        tie_up = np.ones(num.shape, dtype=bool)
    else:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, not {rounding!r}")
    up = (twice_rem > den) | ((twice_rem == den) & tie_up)
    return quot + up.astype(np.int64)


def _check_field(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, not {value!r}")


@dataclass(frozen=True)
class Requant:
    """Requantization of the activation unit: ``int32 -> int8/uint8``.

    The output is ``saturate(f(round((acc + bias) * multiplier / 2**shift)) + zero_point)``
    with ``f`` the activation function (see :func:`activate`).

    Parameters
    ----------
    multiplier : int
        Integer scale, ``0 <= multiplier < 2**31``.
    shift : int
        Right shift applied after the multiplication, ``0..62``.
    zero_point : int
        Added after the function, ``-128..127``.
    out_signed : bool
        int8 output (-128..127) when true, uint8 (0..255) otherwise.
    rounding : str
        ``"half_even"``, ``"half_away"`` (from zero) or ``"half_up"``; also used by average
        pooling.
    frac_bits : int
        Sigmoid and tanh read the rounded value as a fixed-point number with this many
        fraction bits, ``0..31``.
    """

    multiplier: int = 1
    shift: int = 0
    zero_point: int = 0
    out_signed: bool = True
    rounding: str = "half_even"
    frac_bits: int = 4

    def __post_init__(self):
        _check_field("multiplier", self.multiplier, 0, MAX_MULTIPLIER)
        _check_field("shift", self.shift, 0, MAX_SHIFT)
        _check_field("zero_point", self.zero_point, -128, 127)
        _check_field("frac_bits", self.frac_bits, 0, MAX_FRAC_BITS)
        if not isinstance(self.out_signed, bool):
            raise TypeError(f"out_signed must be a bool, not {self.out_signed!r}")
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {ROUNDINGS}, not {self.rounding!r}")

    @classmethod
    def from_scale(cls, scale: float, *, zero_point: int = 0, out_signed: bool = True,
                   rounding: str = "half_even", frac_bits: int = 4, bits: int = 24) -> Requant:
        """The requantization closest to multiplying by the real ``scale`` (> 0).

        ``multiplier`` gets about ``bits`` significant bits and ``shift`` follows.
        """
        if not scale > 0:
            raise ValueError(f"scale must be > 0, not {scale!r}")
        shift = bits - 1 - int(np.floor(np.log2(scale)))
        shift = min(max(shift, 0), MAX_SHIFT)
        multiplier = int(round(scale * 2.0 ** shift))
        while multiplier > MAX_MULTIPLIER:
            shift -= 1
            multiplier = int(round(scale * 2.0 ** shift))
        return cls(multiplier, shift, zero_point, out_signed, rounding, frac_bits)

    @property
    def out_range(self) -> tuple[int, int]:
        """Smallest and largest output value."""
        return (-128, 127) if self.out_signed else (0, 255)


def activate(acc, bias, requant: Requant, function: str) -> np.ndarray:
    """Bias, requantize, apply ``function`` and saturate; int64 result in the output range.

    Parameters
    ----------
    acc : array_like of int
        Accumulator values (int32), shape ``(rows, cols)``.
    bias : array_like of int
        int32 bias per column, shape ``(cols,)``.
    requant : Requant
    function : str
        ``"identity"``, ``"relu"`` (``max(q, 0)``), ``"sigmoid"`` or ``"tanh"``. The last two
        give ``rint(f(q / 2**frac_bits) * S)`` with ``S`` = 127 for int8, 255 for uint8 outputs.
    """
    value = np.asarray(acc, dtype=np.int64) + np.asarray(bias, dtype=np.int64)
    q = round_div(value * np.int64(requant.multiplier), 1 << requant.shift, requant.rounding)
    if function == "identity":
        y = q
    elif function == "relu":
        y = np.maximum(q, 0)
    elif function in ("sigmoid", "tanh"):
        real = q.astype(np.float64) / float(1 << requant.frac_bits)
        if function == "sigmoid":
            # the form that never overflows: e = exp(-|x|) <= 1
            e = np.exp(-np.abs(real))
            curve = np.where(real >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        else:
            curve = np.tanh(real)
        full = 127.0 if requant.out_signed else 255.0
        y = np.rint(curve * full).astype(np.int64)
    else:
        raise ValueError(f"function must be one of {FUNCTIONS}, not {function!r}")
    low, high = requant.out_range
    return np.clip(y + requant.zero_point, low, high)


def pool(values, kind: str, size: int, width: int, rounding: str) -> np.ndarray:
    """Non-overlapping ``size x size`` pooling (stride ``size``) of pixel rows.

    ``values`` holds one row per pixel of images ``width`` pixels wide, image rows one after
    another; its row count must be a multiple of ``size * width`` and ``width`` a multiple of
    ``size``. Average pooling divides the window sum by ``size**2`` with ``rounding``.
    """
    values = np.asarray(values, dtype=np.int64)
    rows, cols = values.shape
    if kind == "none" or size == 1:
        return values
    if width % size or rows % (size * width):
        raise ValueError(f"{rows} rows of width {width} cannot be pooled {size}x{size}")
    blocks = values.reshape(rows // (size * width), size, width // size, size, cols)
    if kind == "max":
        out = blocks.max(axis=(1, 3))
    elif kind == "avg":
        out = round_div(blocks.sum(axis=(1, 3)), size * size, rounding)
    else:
        raise ValueError(f"pool must be one of {POOLS}, not {kind!r}")
    return out.reshape(-1, cols)
