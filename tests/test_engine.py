"""The engines (``_engine``): both engines against numpy and each other, the output port, the
exact product, edge streams, cache blocking and the run options not covered elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

import systolic
from helpers import assert_same_run, exact, operands, wrapped
from systolic._engine import exact_product

DATAFLOWS = ("ws", "os", "is")


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("acc_bits", [16, 24, 32])
def test_both_engines_equal_numpy_and_each_other(dataflow, acc_bits):
    rng = np.random.default_rng(acc_bits)
    for rows, cols, m, k, n in [(4, 4, 9, 10, 11), (3, 7, 20, 5, 2), (8, 2, 1, 33, 17),
                                (16, 16, 40, 40, 40)]:
        a, b = operands(rng, m, k, n, signed_a=bool(m % 2), signed_b=bool(n % 2))
        arr = systolic.SystolicArray(rows, cols, dataflow, acc_bits=acc_bits)
        cycle = arr.run(a, b, engine="cycle", record_outputs=True)
        fast = arr.run(a, b, engine="fast", record_outputs=True)
        np.testing.assert_array_equal(cycle.output, wrapped(a, b, acc_bits))
        assert cycle.output.dtype == fast.output.dtype == np.int32
        assert_same_run(cycle, fast)


def test_output_stream_is_the_port():
    a = np.arange(6, dtype=np.int8).reshape(2, 3)
    b = np.ones((3, 2), np.int8)
    res = systolic.SystolicArray(3, 2, "ws").run(a, b, record_outputs=True)
    # Vector m presented in cycle R + m appears in cycle R + m + R + C - 1.
    assert res.outputs.cycles.tolist() == [7, 8]
    assert res.outputs.data.tolist() == [[3, 3], [12, 12]]


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
    with pytest.raises(ValueError, match=exact(
            f"trace window (99, 100) starts after the run's last cycle {total - 1}")):
        arr.run(a, b, trace=(99, 100))
    with pytest.raises(TypeError, match=exact("trace must be True or (first_cycle, "
                                               "stop_cycle) with 0 <= first_cycle < "
                                               "stop_cycle, got 5")):
        arr.run(a, b, trace=5)
    with pytest.raises(ValueError, match=exact("trace must be True or (first_cycle, "
                                                "stop_cycle) with 0 <= first_cycle < "
                                                "stop_cycle, got (3, 3)")):
        arr.run(a, b, trace=(3, 3))
    with pytest.raises(ValueError, match=exact("trace needs engine='cycle', got "
                                                "engine='fast'")):
        arr.run(a, b, engine="fast", trace=(0, 2))
    with pytest.raises(ValueError, match=r"^gaps cannot be combined with timing='scalesim'"):
        arr.run(a, b, timing="scalesim", gaps=np.zeros(2, np.int64))
    with pytest.raises(TypeError, match=exact("gaps must be an integer array, got dtype "
                                               "float64")):
        arr.run(a, b, gaps=np.zeros(2))
    with pytest.raises(ValueError, match=exact("gaps must have one entry per x vector (2), "
                                                "got shape (3,)")):
        arr.run(a, b, gaps=np.zeros(3, np.int64))
    stepper = arr.stepper(a, b)
    stepper.step(3)
    with pytest.raises(ValueError, match=exact(f"cycle must be an integer from 3 (the "
                                                f"current cycle) to {total} (the end of "
                                                f"the run), got 1")):
        stepper.run_to(1)
    with pytest.raises(ValueError, match=exact("n must be a positive integer, got 0")):
        stepper.step(0)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("blocks", [(1, 1, 1), (5, 2, 3), (64, 64, 64)])
def test_cache_blocking_does_not_change_anything(dataflow, blocks, monkeypatch):
    import systolic._engine as engine

    rng = np.random.default_rng(21)
    a, b = operands(rng, 23, 17, 19, signed_b=True)
    arr = systolic.SystolicArray(5, 7, dataflow, acc_bits=24)
    gaps = rng.integers(0, 3, arr.run(a, b, engine="fast").vectors)
    total = arr.run(a, b, engine="fast", gaps=gaps).cycles
    default = arr.run(a, b, gaps=gaps, record_outputs=True, trace=(total // 2, total // 2 + 9))
    for name, value in zip(("BLOCK_CYCLES", "BLOCK_ROWS", "BLOCK_COLS"), blocks, strict=True):
        monkeypatch.setattr(engine, name, value)
    blocked = arr.run(a, b, gaps=gaps, record_outputs=True, trace=(total // 2, total // 2 + 9))
    assert_same_run(default, blocked)
    for name, values in default.trace.registers.items():
        np.testing.assert_array_equal(blocked.trace.registers[name], values, err_msg=name)
