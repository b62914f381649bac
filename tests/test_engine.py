"""Internal checks of the engine: schedule legality, both engines against numpy and the
closed forms, chunked and stepped runs, and the options not covered elsewhere."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

import systolic
from systolic import timing as systolic_timing
from systolic._engine import exact_product
from systolic._schedule import greedy, make_problem

DATAFLOWS = ("ws", "os", "is")
FIELDS = ("total", "weight_load", "streaming", "stall", "drain", "fill")


def _exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


def _operands(rng, m, k, n, signed_a=True, signed_b=False):
    a = (rng.integers(-128, 128, (m, k)) if signed_a else rng.integers(0, 256, (m, k)))
    b = (rng.integers(-128, 128, (k, n)) if signed_b else rng.integers(0, 256, (k, n)))
    return (a.astype(np.int8 if signed_a else np.uint8),
            b.astype(np.int8 if signed_b else np.uint8))


def _wrapped(a, b, acc_bits=32):
    exact = a.astype(np.int64) @ b.astype(np.int64)
    half, modulus = 1 << (acc_bits - 1), 1 << acc_bits
    return (exact + half) % modulus - half


def _assert_same_run(first, second, outputs=True):
    np.testing.assert_array_equal(first.output, second.output)
    for name in ("cycles", "breakdown", "utilization", "macs", "overflow_count", "tiles",
                 "vectors", "dims", "dataflow"):
        assert getattr(first, name) == getattr(second, name), name
    if outputs:
        np.testing.assert_array_equal(first.outputs.cycles, second.outputs.cycles)
        np.testing.assert_array_equal(first.outputs.data, second.outputs.data)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("acc_bits", [16, 24, 32])
def test_both_engines_equal_numpy_and_each_other(dataflow, acc_bits):
    rng = np.random.default_rng(acc_bits)
    for rows, cols, m, k, n in [(4, 4, 9, 10, 11), (3, 7, 20, 5, 2), (8, 2, 1, 33, 17),
                                (16, 16, 40, 40, 40)]:
        a, b = _operands(rng, m, k, n, signed_a=bool(m % 2), signed_b=bool(n % 2))
        arr = systolic.SystolicArray(rows, cols, dataflow, acc_bits=acc_bits)
        cycle = arr.run(a, b, engine="cycle", record_outputs=True)
        fast = arr.run(a, b, engine="fast", record_outputs=True)
        np.testing.assert_array_equal(cycle.output, _wrapped(a, b, acc_bits))
        assert cycle.output.dtype == fast.output.dtype == np.int32
        _assert_same_run(cycle, fast)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("double_buffer", [True, False])
def test_formulas_equal_simulated_cycles(dataflow, double_buffer):
    rng = np.random.default_rng(5)
    for (rows, cols), (m, k, n) in itertools.product(
            [(1, 1), (2, 5), (6, 3), (8, 8)], itertools.product([1, 4, 13], repeat=3)):
        a, b = _operands(rng, m, k, n)
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


def _check_legal(schedule, rows, vectors, n_tiles, stationary, double_buffer):
    """The legal-schedule rules of contract sections 3.1 and 3.2."""
    x_time = schedule.x_time
    assert np.all(np.diff(x_time) >= 1)
    starts, ends = x_time[::vectors], x_time[vectors - 1::vectors]
    if stationary:
        load = schedule.load_time
        assert load[0] >= 0
        assert np.all(starts >= load + rows)
        assert np.all(load[1:] >= starts[:-1])
        assert np.all(load[1:] >= load[:-1] + rows)
        if not double_buffer:
            assert np.all(load[1:] >= ends[:-1] + 1)
    else:
        assert np.all(ends[1:] >= ends[:-1] + rows)
    assert len(starts) == n_tiles


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("double_buffer", [True, False])
def test_gaps_keep_the_schedule_legal_and_engines_equal(dataflow, double_buffer):
    rng = np.random.default_rng(17)
    for rows, cols, m, k, n in [(3, 4, 5, 8, 9), (4, 2, 2, 9, 3), (2, 2, 7, 3, 5)]:
        a, b = _operands(rng, m, k, n, signed_b=True)
        arr = systolic.SystolicArray(rows, cols, dataflow, double_buffer=double_buffer)
        plain = arr.run(a, b, engine="fast")
        gaps = rng.integers(0, 4, plain.vectors) * (rng.random(plain.vectors) < 0.3)
        cycle = arr.run(a, b, engine="cycle", gaps=gaps, record_outputs=True)
        fast = arr.run(a, b, engine="fast", gaps=gaps, record_outputs=True)
        _assert_same_run(cycle, fast)
        np.testing.assert_array_equal(cycle.output, plain.output)
        assert plain.cycles <= cycle.cycles <= plain.cycles + gaps.sum()
        problem = make_problem(a.astype(np.int32), b.astype(np.int32), rows, cols,
                               systolic.Dataflow(dataflow))
        schedule = greedy(problem, double_buffer, gaps.astype(np.int64))
        _check_legal(schedule, rows, problem.vectors, problem.n_tiles,
                     dataflow != "os", double_buffer)
        edges = arr.edge_stream(a, b, gaps=gaps)
        np.testing.assert_array_equal(np.flatnonzero(edges.x_valid), schedule.x_time)
        assert edges.x_data.shape == (cycle.cycles, rows)


def test_gap_before_the_first_vector_delays_the_whole_run():
    rng = np.random.default_rng(2)
    a, b = _operands(rng, 4, 6, 5)
    arr = systolic.SystolicArray(3, 3, "ws")
    gaps = np.zeros(arr.run(a, b, engine="fast").vectors, np.int64)
    gaps[0] = 5
    plain, delayed = arr.run(a, b, engine="fast"), arr.run(a, b, engine="cycle", gaps=gaps)
    assert delayed.breakdown.weight_load == plain.breakdown.weight_load + 5
    assert delayed.cycles == plain.cycles + 5


def test_single_buffering_waits_for_the_previous_tile():
    rng = np.random.default_rng(4)
    a, b = _operands(rng, 10, 12, 4)
    double = systolic.SystolicArray(4, 4, "ws").run(a, b, record_outputs=True)
    single = systolic.SystolicArray(4, 4, "ws", double_buffer=False).run(
        a, b, record_outputs=True)
    np.testing.assert_array_equal(single.output, double.output)
    # Three tiles: every switch after the first waits R cycles more for its weights.
    assert single.cycles - double.cycles == 2 * 4
    assert single.breakdown.stall == double.breakdown.stall + 2 * 4


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_chunked_progress_run_equals_one_shot(dataflow):
    rng = np.random.default_rng(9)
    a, b = _operands(rng, 30, 20, 25)
    arr = systolic.SystolicArray(6, 5, dataflow)
    one_shot = arr.run(a, b, record_outputs=True, progress=False)
    chunked = arr.run(a, b, record_outputs=True, progress=True)
    _assert_same_run(one_shot, chunked)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_stepper_state_equals_trace(dataflow):
    rng = np.random.default_rng(12)
    a, b = _operands(rng, 5, 7, 6, signed_b=True)
    arr = systolic.SystolicArray(3, 4, dataflow, acc_bits=16)
    res = arr.run(a, b, trace=(0, arr.timing(5, 7, 6).total))
    stepper = arr.stepper(a, b)
    for t in range(res.cycles):
        state = stepper.state
        for name, values in res.trace.registers.items():
            np.testing.assert_array_equal(state[name], values[t], err_msg=f"{name} at {t}")
        stepper.step()
    assert stepper.done
    np.testing.assert_array_equal(stepper.result().output, res.output)


def test_output_stream_is_the_port():
    a = np.arange(6, dtype=np.int8).reshape(2, 3)
    b = np.ones((3, 2), np.int8)
    res = systolic.SystolicArray(3, 2, "ws").run(a, b, record_outputs=True)
    # Vector m presented in cycle R + m appears in cycle R + m + R + C - 1.
    assert res.outputs.cycles.tolist() == [7, 8]
    assert res.outputs.data.tolist() == [[3, 3], [12, 12]]


def test_scalesim_breakdown_adds_up_and_is_never_negative():
    for rows, cols, dataflow in itertools.product([1, 2, 9], [1, 3], DATAFLOWS):
        for m, k, n in itertools.product([1, 5, 20], repeat=3):
            parts = systolic_timing.scalesim_breakdown(m, k, n, rows, cols, dataflow)
            assert parts.total == (parts.weight_load + parts.streaming + parts.stall
                                   + parts.drain)
            assert min(parts.weight_load, parts.streaming, parts.stall, parts.drain,
                       parts.fill) >= 0


def test_exact_product_is_exact_at_the_extremes():
    a = np.full((3, 70000), 255, np.int32)
    b = np.full((70000, 2), 255, np.int32)
    b[0, 1] = 0
    np.testing.assert_array_equal(exact_product(a, b),
                                  a.astype(np.int64) @ b.astype(np.int64))


def test_edge_stream_signedness_follows_the_lanes():
    a = np.array([[1, -2]], np.int8)
    b = np.array([[200], [3]], np.uint8)
    ws = systolic.SystolicArray(2, 2, "ws").edge_stream(a, b)
    is_ = systolic.SystolicArray(2, 2, "is").edge_stream(a, b)
    assert (ws.x_signed, ws.w_signed) == (True, False)
    assert (is_.x_signed, is_.w_signed) == (False, True)
    assert ws.x_data.dtype == np.int16 and ws.x_valid.dtype == np.uint8
    assert int(ws.w_data.max()) == 200


def test_option_errors():
    arr = systolic.SystolicArray(2, 2)
    a, b = np.ones((2, 2), np.int8), np.ones((2, 2), np.int8)
    total = arr.timing(2, 2, 2).total
    with pytest.raises(ValueError, match=_exact(
            f"trace window (99, 100) starts after the run's last cycle {total - 1}")):
        arr.run(a, b, trace=(99, 100))
    with pytest.raises(TypeError, match=_exact("trace must be True or (first_cycle, "
                                               "stop_cycle) with 0 <= first_cycle < "
                                               "stop_cycle, got 5")):
        arr.run(a, b, trace=5)
    with pytest.raises(ValueError, match=_exact("trace must be True or (first_cycle, "
                                                "stop_cycle) with 0 <= first_cycle < "
                                                "stop_cycle, got (3, 3)")):
        arr.run(a, b, trace=(3, 3))
    with pytest.raises(ValueError, match=_exact("trace needs engine='cycle', got "
                                                "engine='fast'")):
        arr.run(a, b, engine="fast", trace=(0, 2))
    with pytest.raises(ValueError, match=r"^gaps cannot be combined with timing='scalesim'"):
        arr.run(a, b, timing="scalesim", gaps=np.zeros(2, np.int64))
    with pytest.raises(TypeError, match=_exact("gaps must be an integer array, got dtype "
                                               "float64")):
        arr.run(a, b, gaps=np.zeros(2))
    with pytest.raises(ValueError, match=_exact("gaps must have one entry per x vector (2), "
                                                "got shape (3,)")):
        arr.run(a, b, gaps=np.zeros(3, np.int64))
    stepper = arr.stepper(a, b)
    stepper.step(3)
    with pytest.raises(ValueError, match=_exact(f"cycle must be an integer from 3 (the "
                                                f"current cycle) to {total} (the end of "
                                                f"the run), got 1")):
        stepper.run_to(1)
    with pytest.raises(ValueError, match=_exact("n must be a positive integer, got 0")):
        stepper.step(0)


def test_trace_window_is_bounded():
    arr = systolic.SystolicArray(100, 100)
    a = np.ones((2000, 100), np.int8)
    b = np.ones((100, 100), np.int8)
    with pytest.raises(ValueError, match=r"^trace window of 2000 cycles holds 200000000 "):
        arr.run(a, b, trace=(0, 2000))


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("blocks", [(1, 1, 1), (5, 2, 3), (64, 64, 64)])
def test_cache_blocking_does_not_change_anything(dataflow, blocks, monkeypatch):
    import systolic._engine as engine

    rng = np.random.default_rng(21)
    a, b = _operands(rng, 23, 17, 19, signed_b=True)
    arr = systolic.SystolicArray(5, 7, dataflow, acc_bits=24)
    gaps = rng.integers(0, 3, arr.run(a, b, engine="fast").vectors)
    total = arr.run(a, b, engine="fast", gaps=gaps).cycles
    default = arr.run(a, b, gaps=gaps, record_outputs=True, trace=(total // 2, total // 2 + 9))
    for name, value in zip(("BLOCK_CYCLES", "BLOCK_ROWS", "BLOCK_COLS"), blocks):
        monkeypatch.setattr(engine, name, value)
    blocked = arr.run(a, b, gaps=gaps, record_outputs=True, trace=(total // 2, total // 2 + 9))
    _assert_same_run(default, blocked)
    for name, values in default.trace.registers.items():
        np.testing.assert_array_equal(blocked.trace.registers[name], values, err_msg=name)
