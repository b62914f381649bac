"""The legal-schedule rule of contract 3.1, shared by the array's scheduler and the TPU."""

from __future__ import annotations

import numpy as np
import pytest

import systolic
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
