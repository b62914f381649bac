"""Cycle counts: the closed forms of contract section 5, both engines, and SCALE-Sim's count."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import reference as ref
import systolic
from helpers import operands
from systolic import timing as systolic_timing

ENGINES = ("cycle", "fast")
BREAKDOWN_FIELDS = ("total", "weight_load", "streaming", "stall", "drain", "fill")


def _assert_breakdown(breakdown, expected: dict[str, int]):
    for name in BREAKDOWN_FIELDS:
        assert getattr(breakdown, name) == expected[name], name
    assert breakdown.total == (breakdown.weight_load + breakdown.streaming + breakdown.stall
                               + breakdown.drain)


SIZES = [(1, 1), (1, 7), (7, 1), (2, 3), (8, 8), (16, 4), (5, 17), (128, 128), (256, 256)]
SHAPES = [1, 3, 8, 100, 256, 257, 1000]


@pytest.mark.parametrize("dataflow", ref.DATAFLOWS)
@pytest.mark.parametrize("double_buffer", [True, False])
@pytest.mark.parametrize("rows, cols", SIZES)
def test_timing_method_matches_formulas(rows, cols, dataflow, double_buffer):
    arr = systolic.SystolicArray(rows, cols, dataflow, double_buffer=double_buffer)
    for m, k, n in itertools.product(SHAPES, repeat=3):
        expected = ref.formula_breakdown(m, k, n, rows, cols, dataflow, double_buffer)
        _assert_breakdown(arr.timing(m, k, n), expected)


# Array sizes and shapes small enough to run every combination through the cycle engine.
ENGINE_SIZES = [(1, 1), (1, 5), (4, 1), (3, 3), (4, 6), (8, 5)]
ENGINE_SHAPES = [1, 2, 5, 9, 16]


@pytest.mark.parametrize("dataflow", ref.DATAFLOWS)
@pytest.mark.parametrize("double_buffer", [True, False])
def test_both_engines_match_timing_over_a_grid(dataflow, double_buffer):
    rng = np.random.default_rng(7)
    for rows, cols in ENGINE_SIZES:
        arr = systolic.SystolicArray(rows, cols, dataflow, double_buffer=double_buffer)
        for m, k, n in itertools.product(ENGINE_SHAPES, repeat=3):
            a = rng.integers(-128, 128, (m, k), dtype=np.int8)
            b = rng.integers(-128, 128, (k, n), dtype=np.int8)
            expected = arr.timing(m, k, n)
            for engine in ENGINES:
                res = arr.run(a, b, engine=engine)
                assert res.breakdown == expected, (rows, cols, m, k, n, engine)
                assert res.cycles == expected.total
                np.testing.assert_array_equal(res.output, ref.numpy_matmul(a, b))


# (R, C, M, K, N, dataflow, double_buffer, total, weight_load, streaming, stall, drain, fill),
# worked out by hand from contract section 5.
HAND_BREAKDOWNS = [
    (1, 1, 1, 1, 1, "ws", True, 3, 1, 1, 0, 1, 1),
    (1, 1, 1, 1, 1, "os", True, 3, 0, 1, 0, 2, 2),
    (1, 1, 1, 1, 1, "is", True, 3, 1, 1, 0, 1, 1),
    (2, 2, 3, 4, 4, "ws", True, 17, 2, 12, 0, 3, 3),
    (2, 2, 3, 4, 4, "ws", False, 23, 2, 12, 6, 3, 3),
    (4, 4, 1, 8, 4, "ws", True, 16, 4, 2, 3, 7, 7),
    (3, 2, 6, 1, 2, "os", True, 11, 0, 2, 2, 7, 5),
    (3, 2, 4, 4, 2, "is", True, 18, 3, 8, 3, 4, 4),
    (256, 256, 256, 256, 256, "ws", True, 1023, 256, 256, 0, 511, 511),
    (256, 256, 256, 256, 256, "os", True, 1023, 0, 256, 0, 767, 767),
]


@pytest.mark.parametrize(
    "rows, cols, m, k, n, dataflow, double_buffer, total, weight_load, streaming, stall, drain, "
    "fill", HAND_BREAKDOWNS)
def test_hand_computed_breakdowns(rows, cols, m, k, n, dataflow, double_buffer, total,
                                  weight_load, streaming, stall, drain, fill):
    expected = {"total": total, "weight_load": weight_load, "streaming": streaming,
                "stall": stall, "drain": drain, "fill": fill}
    arr = systolic.SystolicArray(rows, cols, dataflow, double_buffer=double_buffer)
    _assert_breakdown(arr.timing(m, k, n), expected)
    assert ref.formula_breakdown(m, k, n, rows, cols, dataflow, double_buffer) == expected
    a = np.ones((m, k), dtype=np.int8)
    b = np.ones((k, n), dtype=np.int8)
    res = arr.run(a, b, engine="fast")
    _assert_breakdown(res.breakdown, expected)
    assert res.cycles == total
    assert res.utilization == pytest.approx(m * k * n / (total * rows * cols))


def test_gaps_lengthen_the_run_by_at_most_their_sum():
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (6, 9), dtype=np.int8)
    b = rng.integers(-128, 128, (9, 5), dtype=np.int8)
    arr = systolic.SystolicArray(3, 2, "ws")
    plain = arr.run(a, b, engine="cycle")
    gaps = np.zeros(plain.vectors, dtype=np.int64)
    gaps[0] = 4      # before the very first vector: delays everything
    gaps[7] = 2
    expected = ref.simulate(a, b, 3, 2, "ws", gaps=gaps)
    for engine in ENGINES:
        res = arr.run(a, b, engine=engine, gaps=gaps)
        np.testing.assert_array_equal(res.output, plain.output)
        assert res.cycles == expected.cycles
        assert plain.cycles + 4 <= res.cycles <= plain.cycles + 6
        assert res.breakdown.stall == expected.breakdown["stall"]




@pytest.mark.parametrize("rows, cols, m, k, n, dataflow, total", ref.SCALESIM_MEASURED)
def test_scalesim_timing_reproduces_measurements(rows, cols, m, k, n, dataflow, total):
    rng = np.random.default_rng(m + rows)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    res = systolic.SystolicArray(rows, cols, dataflow).run(a, b, engine="fast",
                                                            timing="scalesim")
    assert res.cycles == total
    np.testing.assert_array_equal(res.output, ref.numpy_matmul(a, b))


@pytest.mark.parametrize("dataflow", ref.DATAFLOWS)
@pytest.mark.parametrize("engine", ENGINES)
def test_scalesim_timing_on_small_problems(dataflow, engine):
    rng = np.random.default_rng(11)
    arr = systolic.SystolicArray(3, 5, dataflow)
    for m, k, n in [(1, 1, 1), (4, 4, 4), (7, 11, 13), (16, 2, 9)]:
        a = rng.integers(-128, 128, (m, k), dtype=np.int8)
        b = rng.integers(0, 256, (k, n)).astype(np.uint8)
        res = arr.run(a, b, engine=engine, timing="scalesim")
        assert res.cycles == ref.scalesim_total(m, k, n, 3, 5, dataflow)
        np.testing.assert_array_equal(res.output, ref.numpy_matmul(a, b))


@pytest.mark.parametrize("dataflow", ref.DATAFLOWS)
@pytest.mark.parametrize("double_buffer", [True, False])
def test_formulas_equal_simulated_cycles(dataflow, double_buffer):
    rng = np.random.default_rng(5)
    for (rows, cols), (m, k, n) in itertools.product(
            [(1, 1), (2, 5), (6, 3), (8, 8)], itertools.product([1, 4, 13], repeat=3)):
        a, b = operands(rng, m, k, n)
        arr = systolic.SystolicArray(rows, cols, dataflow, double_buffer=double_buffer)
        expected = systolic_timing.breakdown(m, k, n, rows, cols, dataflow,
                                             double_buffer=double_buffer)
        assert arr.timing(m, k, n) == expected
        assert expected.total == (expected.weight_load + expected.streaming + expected.stall
                                  + expected.drain)
        res = arr.run(a, b, engine="cycle", record_outputs=True)
        assert res.breakdown == expected, (rows, cols, m, k, n)
        # The last result appears in the last cycle, the first one after the fill.
        assert res.outputs.cycles[-1] == expected.total - 1
        assert res.outputs.cycles[0] - expected.weight_load == expected.fill


def test_scalesim_breakdown_adds_up_and_is_never_negative():
    for rows, cols, dataflow in itertools.product([1, 2, 9], [1, 3], ref.DATAFLOWS):
        for m, k, n in itertools.product([1, 5, 20], repeat=3):
            parts = systolic_timing.scalesim_breakdown(m, k, n, rows, cols, dataflow)
            assert parts.total == (parts.weight_load + parts.streaming + parts.stall
                                   + parts.drain)
            assert min(parts.weight_load, parts.streaming, parts.stall, parts.drain,
                       parts.fill) >= 0
