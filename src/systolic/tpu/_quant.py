"""Bit-exact arithmetic of the activation unit: bias, requantization, function, pooling.

Everything is integer arithmetic on int64 except the sigmoid and tanh tables, which are
evaluated in float64 and rounded half to even (documented in docs/tpu.md, "Activation").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_bool, check_choice, check_int, check_int_array, check_number
from .._engine import wrap

__all__ = ["FUNCTIONS", "POOLS", "ROUNDINGS", "Requant", "activate", "pool", "requantize_float32",
           "round_div"]

ROUNDINGS = ("half_even", "half_away", "half_up")
FUNCTIONS = ("identity", "relu", "sigmoid", "tanh")
POOLS = ("none", "max", "avg")

MAX_MULTIPLIER = (1 << 31) - 1
MAX_SHIFT = 62
MAX_FRAC_BITS = 31

_INT32 = (-(1 << 31), (1 << 31) - 1)


def round_div(num, den: int, rounding: str) -> np.ndarray:
    """Divide int64 ``num`` by the positive integer ``den``, rounding ties as ``rounding``.

    ``"half_even"`` rounds a tie to the even quotient, ``"half_away"`` away from zero and
    ``"half_up"`` towards plus infinity; non-ties go to the nearest integer.
    """
    num = check_int_array("num", num, -(1 << 63), (1 << 63) - 1).astype(np.int64)
    # 2 * remainder must fit an int64
    den = np.int64(check_int("den", den, 1, 1 << 62))
    check_choice("rounding", rounding, ROUNDINGS)
    quot = num // den
    twice_rem = 2 * (num - quot * den)
    if rounding == "half_even":
        tie_up = (quot & 1) == 1
    elif rounding == "half_away":
        tie_up = num >= 0
    else:
        tie_up = np.ones(num.shape, dtype=bool)
    up = (twice_rem > den) | ((twice_rem == den) & tie_up)
    return quot + up.astype(np.int64)


def _round_shift(num: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``num / 2**shift`` rounded half to even, elementwise (``0 <= shift <= 62``)."""
    quot = num >> shift
    twice_rem = (num - (quot << shift)) << 1
    den = np.int64(1) << shift
    up = (twice_rem > den) | ((twice_rem == den) & ((quot & 1) == 1))
    return quot + up.astype(np.int64)


def _to_24_bits(num: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``num`` rounded half to even to 24 significant bits, as ``mantissa * 2**exponent``.

    This is what storing an integer (``|num| < 2**53``) in a float32 does.
    """
    _, bits = np.frexp(np.abs(num).astype(np.float64))   # exact: |num| < 2**53
    exponent = np.maximum(bits.astype(np.int64) - 24, 0)
    return _round_shift(num, exponent), exponent


def requantize_float32(acc, scale) -> np.ndarray:
    """``rint(float32(float32(acc) * scale))`` computed exactly in integers.

    The activation unit's float32 mode: the requantization onnxruntime applies to QLinearConv,
    QLinearMatMul, QGemm and QLinearGlobalAveragePool outputs, with both float32 roundings
    (the int32 accumulator to float32, the product to float32) and the final rounding half to
    even done on integers: the accumulator is rounded to 24 significant bits, multiplied
    exactly by the 24-bit mantissa of ``scale``, the product rounded to 24 significant bits,
    then shifted by the scale's exponent with rounding half to even. Products below float32's
    normal range round to 0 either way, so subnormals need no special case.

    Parameters
    ----------
    acc : array_like of int
        int32 values, shape ``(rows, cols)`` (or anything broadcasting with ``scale``).
    scale : array_like of float32
        Finite scale >= 0, per column (or one for all).

    Returns
    -------
    ndarray of int64
        The rounded, not yet saturated, results.
    """
    acc = np.asarray(acc, dtype=np.int64)
    scale = np.asarray(scale, dtype=np.float32)
    if not (np.all(np.isfinite(scale)) and np.all(scale >= 0)):
        raise ValueError("scale must be finite and >= 0")
    frac, exp = np.frexp(scale.astype(np.float64))
    s_mant = np.ldexp(frac, 24).astype(np.int64)          # 24-bit mantissa, exact
    s_exp = exp.astype(np.int64) - 24
    a_mant, a_exp = _to_24_bits(acc)
    p_mant, p_exp = _to_24_bits(a_mant * s_mant)           # < 2**49: exact in int64
    shift = p_exp + a_exp + s_exp
    # |p_mant| <= 2**24, so a left shift beyond 40 saturates any 8-bit output anyway
    up = p_mant << np.clip(shift, 0, 40)
    down = _round_shift(p_mant, np.clip(-shift, 0, 62))
    return np.where(shift >= 0, up, down)


def _check_field(name: str, value, low: int, high: int) -> None:
    check_int(name, value, low, high)


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
        check_bool("out_signed", self.out_signed)
        check_choice("rounding", self.rounding, ROUNDINGS)

    @classmethod
    def from_scale(cls, scale: float, *, zero_point: int = 0, out_signed: bool = True,
                   rounding: str = "half_even", frac_bits: int = 4, bits: int = 24) -> Requant:
        """The requantization closest to multiplying by the real ``scale`` (> 0).

        ``multiplier`` gets about ``bits`` significant bits and ``shift`` follows.
        """
        scale = check_number("scale", scale, positive=True)
        bits = check_int("bits", bits, 2, 32)
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


def activate(acc, bias, requant: Requant, function: str, scale=None) -> np.ndarray:
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
    scale : array_like of float32, optional
        Float32 mode: per-column scales replacing ``multiplier``/``shift``. The int32 sum
        ``acc + bias`` wraps around like an int32 adder, then :func:`requantize_float32`
        rounds it.
    """
    acc = check_int_array("acc", acc, _INT32[0], _INT32[1])
    bias = check_int_array("bias", bias, _INT32[0], _INT32[1])
    if not isinstance(requant, Requant):
        raise TypeError(f"requant must be a Requant, got {requant!r}")
    check_choice("function", function, FUNCTIONS)
    # |acc + bias| <= 2**32 and multiplier < 2**31: the product stays inside int64, exactly.
    value = acc.astype(np.int64) + bias.astype(np.int64)
    if scale is None:
        q = round_div(value * np.int64(requant.multiplier), 1 << requant.shift,
                      requant.rounding)
    else:
        q = requantize_float32(wrap(value, 32), scale)
    if function == "identity":
        y = q
    elif function == "relu":
        y = np.maximum(q, 0)
    else:
        real = q.astype(np.float64) / float(1 << requant.frac_bits)
        if function == "sigmoid":
            # the form that never overflows: e = exp(-|x|) <= 1
            e = np.exp(-np.abs(real))
            curve = np.where(real >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        else:
            curve = np.tanh(real)
        full = 127.0 if requant.out_signed else 255.0
        y = np.rint(curve * full).astype(np.int64)
    low, high = requant.out_range
    return np.clip(y + requant.zero_point, low, high)


def pool(values, kind: str, size: int, width: int, rounding: str) -> np.ndarray:
    """Non-overlapping ``size x size`` pooling (stride ``size``) of pixel rows.

    ``values`` holds one row per pixel of images ``width`` pixels wide, image rows one after
    another; its row count must be a multiple of ``size * width`` and ``width`` a multiple of
    ``size``. Average pooling divides the window sum by ``size**2`` with ``rounding``.
    """
    # int32 values and at most 2**15 x 2**15 windows: every window sum is exact in int64
    values = check_int_array("values", values, _INT32[0], _INT32[1], ndim=2).astype(np.int64)
    check_choice("pool", kind, POOLS)
    size = check_int("size", size, 1, 1 << 15)
    width = check_int("width", width, 1)
    check_choice("rounding", rounding, ROUNDINGS)
    rows, cols = values.shape
    if kind == "none" or size == 1:
        return values
    if width % size or rows % (size * width):
        raise ValueError(f"{rows} rows of width {width} cannot be pooled {size}x{size}")
    blocks = values.reshape(rows // (size * width), size, width // size, size, cols)
    if kind == "max":
        out = blocks.max(axis=(1, 3))
    else:
        out = round_div(blocks.sum(axis=(1, 3)), size * size, rounding)
    return out.reshape(-1, cols)
