"""The numba kernels (``_kernels``): chunked and stepped runs equal one-shot runs, and the
trace window they fill is bounded."""

from __future__ import annotations

import numpy as np
import pytest

import systolic
from helpers import assert_same_run, operands

DATAFLOWS = ("ws", "os", "is")


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_chunked_progress_run_equals_one_shot(dataflow):
    rng = np.random.default_rng(9)
    a, b = operands(rng, 30, 20, 25)
    arr = systolic.SystolicArray(6, 5, dataflow)
    one_shot = arr.run(a, b, record_outputs=True, progress=False)
    chunked = arr.run(a, b, record_outputs=True, progress=True)
    assert_same_run(one_shot, chunked)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_stepper_state_equals_trace(dataflow):
    rng = np.random.default_rng(12)
    a, b = operands(rng, 5, 7, 6, signed_b=True)
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


def test_trace_window_is_bounded():
    arr = systolic.SystolicArray(100, 100)
    a = np.ones((2000, 100), np.int8)
    b = np.ones((100, 100), np.int8)
    with pytest.raises(ValueError, match=r"^trace window of 2000 cycles holds 200000000 "):
        arr.run(a, b, trace=(0, 2000))
