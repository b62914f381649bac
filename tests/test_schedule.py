"""The schedule (`_schedule`): the legal-schedule rule of contract 3.1, shared by the array's
scheduler and the TPU, and schedules with gaps."""

from __future__ import annotations

import numpy as np
import pytest

import systolic
from helpers import assert_same_run, operands
from systolic._schedule import greedy, load_bounds, make_problem, switch_bounds
from systolic.tpu import TPU, Program, TPUConfig


@pytest.mark.parametrize("double_buffer", [True, False])
def test_load_bounds_follow_the_contract(double_buffer):
    # L_j >= s_{j-1}, L_j >= L_{j-1} + R and, with one weight register, L_j >= e_{j-1} + 1.
    for prev_switch, prev_load, prev_last, rows in [(10, 2, 30, 4), (10, 8, 11, 4),
                                                    (5, 0, 5, 1), (20, 19, 40, 8)]:
        shift, busy = load_bounds(prev_switch, prev_load, prev_last, rows, double_buffer)
        assert shift == max(prev_switch, prev_load + rows)
        assert busy == (-1 if double_buffer else prev_last + 1)


def test_switch_bounds_follow_the_contract():
    # s_j >= L_j + R and one x vector per cycle.
    assert switch_bounds(7, 3, 4) == (11, 4)
    assert switch_bounds(0, 20, 4) == (4, 21)


@pytest.mark.parametrize("double_buffer", [True, False])
@pytest.mark.parametrize(("rows", "vectors", "n_tiles"), [(4, 2, 3), (4, 8, 3), (3, 3, 4)])
def test_tpu_switches_where_the_array_scheduler_does(rows, vectors, n_tiles, double_buffer):
    """With nothing else in the way, the TPU presents each tile's first vector on the same
    cycles (up to a constant offset) as the array's greedy schedule."""
    config = TPUConfig(rows=rows, cols=rows, clock_hz=1e9, dram_bytes_per_s=1e12,
                       host_bytes_per_s=1e12, host_latency_cycles=0, ub_bytes=4096,
                       acc_rows=64, weight_memory_bytes=1 << 12, host_memory_bytes=1 << 16,
                       double_buffer=double_buffer)
    tpu = TPU(config)
    lines = [f"Read_Weights 0, {n_tiles}", f"Read_Host_Memory 0, 0, {vectors}"]
    lines += [f"MatrixMultiply.switch 0, {j * vectors}, {vectors}" for j in range(n_tiles)]
    report = tpu.run(Program.parse("\n".join(lines + ["Halt"])))
    tpu_starts = np.array([e.start for e in report.timeline if e.unit == "matrix"])

    a = np.ones((vectors, rows * n_tiles), np.int32)
    b = np.ones((rows * n_tiles, rows), np.int32)
    problem = make_problem(a, b, rows, rows, systolic.Dataflow.WS)
    schedule = greedy(problem, double_buffer, None)
    array_starts = schedule.x_time[::vectors]
    np.testing.assert_array_equal(np.diff(tpu_starts), np.diff(array_starts))


DATAFLOWS = ("ws", "os", "is")


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
        a, b = operands(rng, m, k, n, signed_b=True)
        arr = systolic.SystolicArray(rows, cols, dataflow, double_buffer=double_buffer)
        plain = arr.run(a, b, engine="fast")
        gaps = rng.integers(0, 4, plain.vectors) * (rng.random(plain.vectors) < 0.3)
        cycle = arr.run(a, b, engine="cycle", gaps=gaps, record_outputs=True)
        fast = arr.run(a, b, engine="fast", gaps=gaps, record_outputs=True)
        assert_same_run(cycle, fast)
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
    a, b = operands(rng, 4, 6, 5)
    arr = systolic.SystolicArray(3, 3, "ws")
    gaps = np.zeros(arr.run(a, b, engine="fast").vectors, np.int64)
    gaps[0] = 5
    plain, delayed = arr.run(a, b, engine="fast"), arr.run(a, b, engine="cycle", gaps=gaps)
    assert delayed.breakdown.weight_load == plain.breakdown.weight_load + 5
    assert delayed.cycles == plain.cycles + 5


def test_single_buffering_waits_for_the_previous_tile():
    rng = np.random.default_rng(4)
    a, b = operands(rng, 10, 12, 4)
    double = systolic.SystolicArray(4, 4, "ws").run(a, b, record_outputs=True)
    single = systolic.SystolicArray(4, 4, "ws", double_buffer=False).run(
        a, b, record_outputs=True)
    np.testing.assert_array_equal(single.output, double.output)
    # Three tiles: every switch after the first waits R cycles more for its weights.
    assert single.cycles - double.cycles == 2 * 4
    assert single.breakdown.stall == double.breakdown.stall + 2 * 4
