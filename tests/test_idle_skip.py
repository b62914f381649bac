"""Long idle gaps are skipped in one step, with the registers stepping gives."""

from __future__ import annotations

import numpy as np
import pytest

import systolic


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("double_buffer", [True, False])
def test_skipping_gives_the_registers_of_stepping(dataflow, double_buffer):
    rng = np.random.default_rng(7)
    a = rng.integers(-128, 128, (7, 9), dtype=np.int8)
    b = rng.integers(-128, 128, (9, 5), dtype=np.int8)
    arr = systolic.SystolicArray(3, 4, dataflow, double_buffer=double_buffer)
    gaps = rng.choice([0, 0, 1, 300, 1000], arr.run(a, b, engine="fast").vectors)
    # a whole-run trace steps every cycle: the reference
    stepped = arr.run(a, b, gaps=gaps, trace=True, record_outputs=True)
    skipped = arr.run(a, b, gaps=gaps, record_outputs=True)
    np.testing.assert_array_equal(skipped.output, stepped.output)
    np.testing.assert_array_equal(skipped.outputs.cycles, stepped.outputs.cycles)
    np.testing.assert_array_equal(skipped.outputs.data, stepped.outputs.data)
    stepper = arr.stepper(a, b, gaps=gaps)
    for cycle in sorted(set(rng.integers(0, stepped.cycles, 80).tolist())):
        stepper.run_to(cycle)
        state = stepper.state
        for name, values in stepped.trace.registers.items():
            np.testing.assert_array_equal(state[name], values[cycle], err_msg=f"{name} {cycle}")


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_trace_windows_around_skipped_gaps(dataflow):
    rng = np.random.default_rng(8)
    a = rng.integers(-128, 128, (5, 6), dtype=np.int8)
    b = rng.integers(-128, 128, (6, 3), dtype=np.int8)
    arr = systolic.SystolicArray(3, 2, dataflow)
    gaps = np.zeros(arr.run(a, b, engine="fast").vectors, np.int64)
    gaps[1], gaps[-1] = 5000, 3000
    full = arr.run(a, b, gaps=gaps, trace=True).trace
    total = arr.run(a, b, gaps=gaps, engine="fast").cycles
    for window in [(0, 200), (100, 400), (2000, 2100), (4990, 5300), (total - 100, total)]:
        part = arr.run(a, b, gaps=gaps, trace=window).trace
        for name, values in part.registers.items():
            np.testing.assert_array_equal(values, full.registers[name][window[0]:window[1]])


def test_a_billion_idle_cycles_take_no_time():
    arr = systolic.SystolicArray(4, 4)
    a = np.ones((4, 4), np.int8)
    gaps = np.zeros(4, np.int64)
    gaps[2] = 10**9
    res = arr.run(a, a, gaps=gaps, record_outputs=True, progress=None)
    np.testing.assert_array_equal(res.output, np.full((4, 4), 4))
    assert res.cycles == arr.run(a, a).cycles + 10**9
    assert res.outputs.cycles[-1] == res.cycles - 1
