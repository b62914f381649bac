"""Hypothesis drives the public API with hostile values: every call either gives the right
answer or raises TypeError/ValueError with a one-line message."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import systolic
from systolic import tpu

# Small legal values next to the classic traps: zero, negatives, int64/uint64 edges, bigints,
# integral floats, bools, strings, None, numpy scalars of every width.
_INTS = [-(2**70), -(2**63), -1, 0, 1, 2, 3, 5, 16, 24, 32, 33, 2**31, 2**63, 2**64 - 1, 2**64 + 1]
_TRAPS = [None, True, False, 2.0, 3.5, float("nan"), "2", b"2", "ws", [2], (2,), 2 + 0j]


def _numpy_ints(value):
    out = []
    for dtype in (np.int8, np.uint8, np.int32, np.uint32, np.int64, np.uint64):
        info = np.iinfo(dtype)
        if info.min <= value <= info.max:
            out.append(dtype(value))
    return out


_HOSTILE = st.one_of(st.sampled_from(_INTS), st.sampled_from(_TRAPS),
                     st.sampled_from(_INTS).flatmap(
                         lambda v: st.sampled_from(_numpy_ints(v) or [v])))
_SIZE = st.one_of(st.integers(1, 5), _HOSTILE)


def _clear(error: BaseException) -> None:
    """A clear error: the right kind, a message, one line."""
    assert isinstance(error, (TypeError, ValueError)), repr(error)
    message = str(error)
    assert message and "\n" not in message, repr(message)


def _operand(draw, shape, hostile):
    kinds = ["int8", "uint8", "int64"]
    if hostile:
        kinds += ["wide", "uint64", "float", "bool", "masked", "object", "list"]
    kind = draw(st.sampled_from(kinds))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "int8":
        return rng.integers(-128, 128, shape, dtype=np.int8)
    if kind == "uint8":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if kind == "int64":
        return rng.integers(-128, 128, shape, dtype=np.int64)
    if kind == "wide":
        return rng.integers(-300, 2**40, shape, dtype=np.int64)
    if kind == "uint64":
        return rng.integers(0, 2**64 - 1, shape, dtype=np.uint64, endpoint=True)
    if kind == "float":
        return rng.integers(-128, 128, shape).astype(np.float64)
    if kind == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if kind == "masked":
        return np.ma.masked_array(rng.integers(-128, 128, shape, dtype=np.int8))
    if kind == "object":
        return np.array(rng.integers(-128, 128, shape).tolist(), dtype=object)
    return rng.integers(-128, 128, shape).tolist()


_PARAMETERS = (None, "rows", "cols", "dataflow", "double_buffer", "acc_bits", "a", "b", "shape",
               "engine", "gaps", "trace")


@st.composite
def _array_calls(draw):
    """One call with at most one hostile parameter (so that both branches are exercised)."""
    bad = draw(st.sampled_from(_PARAMETERS))

    def pick(name, legal):
        return draw(_HOSTILE if name == bad else legal)

    rows, cols = pick("rows", st.integers(1, 5)), pick("cols", st.integers(1, 5))
    dataflow = pick("dataflow", st.sampled_from(["ws", "os", "is", systolic.Dataflow.OS]))
    double_buffer = pick("double_buffer", st.booleans())
    acc_bits = pick("acc_bits", st.sampled_from([16, 20, 32]))
    m, k, n = (draw(st.integers(1, 6)) for _ in range(3))
    k_b = k + 1 if bad == "shape" else k
    a = _operand(draw, (m, k), bad == "a")
    b = _operand(draw, (k_b, n), bad == "b")
    engine = pick("engine", st.sampled_from(["fast", "cycle"]))
    gaps = None
    if bad == "gaps":
        gaps = draw(st.one_of(_HOSTILE, st.lists(st.sampled_from([0, 1, 2, -1, 2**63]),
                                                 max_size=40)))
    trace = None
    if bad == "trace":
        trace = draw(st.one_of(st.just(True), _HOSTILE,
                               st.tuples(st.sampled_from([0, 1, -1, 2.0, 10**6]),
                                         st.sampled_from([None, 3, 10**6, 0]))))
        engine = "cycle"
    return rows, cols, dataflow, double_buffer, acc_bits, a, b, engine, gaps, trace


def _expected(a, b, acc_bits):
    exact = np.asarray(a).astype(np.int64) @ np.asarray(b).astype(np.int64)
    half = 1 << (acc_bits - 1)
    return (exact + half) % (1 << acc_bits) - half


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_array_calls())
def test_array_api_gives_right_answers_or_clear_errors(call):
    rows, cols, dataflow, double_buffer, acc_bits, a, b, engine, gaps, trace = call
    try:
        arr = systolic.SystolicArray(rows, cols, dataflow, double_buffer=double_buffer,
                                     acc_bits=acc_bits)
        if gaps is not None and not isinstance(gaps, list):
            gaps = [gaps]
        res = arr.run(a, b, engine=engine, gaps=None if gaps is None else np.array(gaps),
                      trace=trace, progress=False)
    except (TypeError, ValueError) as error:
        _clear(error)
        return
    event("accepted")
    # Accepted: the values were legal, so the answer must be exact.
    np.testing.assert_array_equal(res.output, _expected(a, b, arr.acc_bits))
    if gaps is None:
        assert res.cycles == arr.timing(*np.shape(a), np.shape(b)[1]).total


@settings(max_examples=200, deadline=None)
@given(st.lists(_SIZE, min_size=5, max_size=5), st.one_of(st.sampled_from(["ws", "os", "is"]),
                                                          _HOSTILE))
def test_timing_gives_numbers_or_clear_errors(sizes, dataflow):
    try:
        result = systolic.timing.breakdown(*sizes, dataflow)
    except (TypeError, ValueError) as error:
        _clear(error)
        return
    parts = result.weight_load + result.streaming + result.stall + result.drain
    assert result.total == parts and min(parts, result.fill) >= 0


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["rows", "cols", "clock_hz", "ub_bytes", "acc_rows", "weight_fifo_tiles",
                        "host_memory_bytes", "host_latency_cycles", "double_buffer",
                        "precision"]), _HOSTILE)
def test_tpu_config_takes_legal_values_or_raises_clearly(name, value):
    try:
        config = tpu.TPUConfig(**{name: value})
    except (TypeError, ValueError) as error:
        _clear(error)
        return
    stored = getattr(config, name)
    # clock_hz is a float field: an integer clock is stored as the nearest float
    assert stored == (float(value) if name == "clock_hz" else value)
    assert type(stored) in (int, float, bool, str)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["multiplier", "shift", "zero_point", "frac_bits", "out_signed",
                        "rounding"]), _HOSTILE,
       st.lists(st.sampled_from([-(2**31), -1, 0, 1, 2**31 - 1, 2**31, 2**40]), min_size=2,
                max_size=2),
       st.sampled_from(["identity", "relu", "sigmoid", "tanh", "gelu", 3]))
def test_activation_is_exact_or_raises_clearly(name, value, acc, function):
    try:
        requant = tpu.Requant(**{name: value})
        out = tpu.activate(np.array([acc], np.int64), np.array([acc[0], 0], np.int64),
                           requant, function)
    except (TypeError, ValueError) as error:
        _clear(error)
        return
    if function in ("identity", "relu"):
        low, high = requant.out_range
        for total, got in zip((acc[0] + acc[0], acc[1]), out[0].tolist(), strict=True):
            # Python integers: a numpy-typed field (np.int8(0)) would overflow the reference
            num = total * int(requant.multiplier)
            den = 1 << int(requant.shift)
            quot, rem = divmod(num, den)
            tie = 2 * rem == den
            if 2 * rem > den or (tie and requant.rounding == "half_up") or (
                    tie and requant.rounding == "half_away" and num >= 0) or (
                    tie and requant.rounding == "half_even" and quot % 2):
                quot += 1
            if function == "relu":
                quot = max(quot, 0)
            assert got == min(max(quot + int(requant.zero_point), low), high)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(tpu.MNEMONICS + ("halt", "MATMUL")),
       st.lists(st.one_of(st.integers(-2, 2**17), _HOSTILE), max_size=4),
       st.lists(st.sampled_from(["acc", "switch", "relu", "RELU", "pool", "max", 3]),
                max_size=2))
def test_instructions_encode_decode_or_raise_clearly(mnemonic, operands, flags):
    try:
        inst = tpu.Instruction(mnemonic, tuple(operands), tuple(flags))
    except (TypeError, ValueError) as error:
        _clear(error)
        return
    program = tpu.Program.from_instructions([inst])
    assert tpu.Program.decode(program.encode()) == program
    assert tpu.Program.parse(program.text) == program


@pytest.mark.parametrize("addr", [0, np.uint64(5), -1, 2**64, 1.0])
@settings(max_examples=100, deadline=None)
@given(data=st.one_of(_HOSTILE, st.lists(st.integers(-300, 300), max_size=5),
                      st.binary(max_size=5)))
def test_host_memory_stores_bytes_or_raises_clearly(addr, data):
    machine = tpu.TPU(tpu.TPUConfig(rows=4, cols=4))
    try:
        machine.host.write(addr, data)
    except (TypeError, ValueError) as error:
        _clear(error)
        return
    expected = list(data) if isinstance(data, bytes) else [int(v) % 256 for v in
                                                           np.ravel(np.asarray(data))]
    assert machine.host.read(int(addr), len(expected)).tolist() == expected
