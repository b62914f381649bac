"""Self-checks of the naive reference model against numpy and against the contract's formulas.

The reference model is what the engine is measured against, so it is itself checked here:
values against a plain numpy matmul, cycle counts against the closed forms of contract
section 5, and the individual timing claims of sections 2 and 3 on its recorded registers.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference as ref
from strategies import gaps_for, matmul_case, n_vectors


def _simulate(case, **options):
    return ref.simulate(case["a"], case["b"], case["rows"], case["cols"], case["dataflow"],
                        double_buffer=case["double_buffer"], acc_bits=case["acc_bits"],
                        **options)


@settings(max_examples=80)
@given(matmul_case())
def test_values_and_cycles_match_numpy_and_formulas(case):
    res = _simulate(case)
    a, b = case["a"], case["b"]
    np.testing.assert_array_equal(res.output, ref.numpy_matmul(a, b, case["acc_bits"]))
    assert res.overflow_count == ref.overflow_count(a, b, case["acc_bits"])
    m, k = a.shape
    expected = ref.formula_breakdown(m, k, b.shape[1], case["rows"], case["cols"],
                                     case["dataflow"], case["double_buffer"])
    assert res.breakdown == expected
    assert res.cycles == expected["total"]
    assert expected["total"] == (expected["weight_load"] + expected["streaming"]
                                 + expected["stall"] + expected["drain"])


@settings(max_examples=60)
@given(matmul_case(max_dim=12, max_array=6))
def test_results_appear_on_the_contract_cycle(case):
    res = _simulate(case)
    rows, cols = case["rows"], case["cols"]
    times = np.array(res.schedule.x_times)
    if case["dataflow"] == "os":
        # Tile row r of a tile whose last pair is presented in cycle e: cycle e + 2R + C - 1 - r.
        last = times[res.vectors // res.tiles - 1::res.vectors // res.tiles]
        expected = [e + 2 * rows + cols - 1 - r for e in last for r in reversed(range(rows))]
    else:
        # The x vector presented in cycle t gives its result in cycle t + R + C - 1.
        expected = times + rows + cols - 1
    np.testing.assert_array_equal(res.out_cycles, expected)


@settings(max_examples=40)
@given(matmul_case(max_dim=10, max_array=5))
def test_registers_follow_the_skew(case):
    """Section 2: the x lane reaches PE(r, c) during t + r + c, the w lane during t + c + r."""
    res = _simulate(case, record_registers=True)
    regs, edges = res.registers, res.edges
    rows, cols = case["rows"], case["cols"]
    for t in range(res.cycles):
        for r in range(rows):
            for c in range(cols):
                # The register is written at the end of the cycle the input reached the PE.
                source = t - 1 - r - c
                if source < 0:
                    assert regs["x"][t, r, c] == 0 and regs["w"][t, r, c] == 0
                    continue
                assert regs["x"][t, r, c] == edges["x_data"][source, r]
                assert regs["x_valid"][t, r, c] == edges["x_valid"][source]
                assert regs["x_flag"][t, r, c] == edges["x_flag"][source]
                assert regs["w"][t, r, c] == edges["w_data"][source, c]
                assert regs["w_valid"][t, r, c] == edges["w_valid"][source]
                assert regs["w_tag"][t, r, c] == edges["w_tag"][source]
    if case["dataflow"] == "os":
        # The w lane's valid and tag are unused in os and held at 0.
        assert not regs["w_valid"].any() and not regs["w_tag"].any()


@pytest.mark.parametrize("rows, cols", [(1, 1), (3, 4), (4, 2), (5, 5)])
def test_weight_latches_at_the_contract_cycle(rows, cols):
    """Section 3.1: row k of a tile loaded from cycle L is latched at the end of L + c + 2k."""
    a = np.ones((2, rows), dtype=np.int8)
    weights = np.arange(1, rows * cols + 1, dtype=np.int64).reshape(rows, cols) % 120 + 1
    res = ref.simulate(a, weights, rows, cols, "ws", record_registers=True)
    assert res.schedule.load_times == [0]
    shadow = res.registers["w_shadow"]
    for k in range(rows):
        for c in range(cols):
            latch = c + 2 * k
            assert shadow[latch, k, c] == 0
            assert shadow[latch + 1, k, c] == weights[k, c]


@settings(max_examples=100)
@given(st.data(), st.integers(1, 6), st.integers(1, 8), st.integers(1, 8),
       st.sampled_from(ref.DATAFLOWS), st.booleans())
def test_schedule_obeys_the_legal_rules(data, n_tiles, n_vec, rows, dataflow, double_buffer):
    gaps = data.draw(gaps_for(n_tiles * n_vec))
    sched = ref.greedy_schedule(n_tiles, n_vec, rows, dataflow, double_buffer, gaps)
    times = sched.x_times
    plain = ref.greedy_schedule(n_tiles, n_vec, rows, dataflow, double_buffer)
    assert all(later > earlier for earlier, later in pairwise(times))
    # Gaps only delay: never earlier than without gaps, and at most by the gaps before it.
    for i, (t, t0) in enumerate(zip(times, plain.x_times, strict=True)):
        assert t0 + gaps[i] <= t <= t0 + int(gaps[: i + 1].sum())
    starts = times[::n_vec]
    ends = times[n_vec - 1::n_vec]
    if dataflow == "os":
        assert sched.load_times == []
        assert all(e1 >= e0 + rows for e0, e1 in pairwise(ends))
        return
    loads = sched.load_times
    assert loads[0] == 0
    for j in range(n_tiles):
        assert starts[j] >= loads[j] + rows
        if j:
            assert loads[j] >= starts[j - 1]
            assert loads[j] >= loads[j - 1] + rows
            if not double_buffer:
                assert loads[j] >= ends[j - 1] + 1


@settings(max_examples=60)
@given(st.data(), matmul_case(max_dim=12, max_array=6))
def test_gaps_delay_but_do_not_change_values(data, case):
    m, k = case["a"].shape
    length = n_vectors(m, k, case["b"].shape[1], case["rows"], case["cols"], case["dataflow"])
    gaps = data.draw(gaps_for(length))
    plain = _simulate(case)
    gapped = _simulate(case, gaps=gaps)
    np.testing.assert_array_equal(gapped.output, plain.output)
    np.testing.assert_array_equal(gapped.out_data, plain.out_data)
    assert plain.cycles <= gapped.cycles <= plain.cycles + int(gaps.sum())
    bd = gapped.breakdown
    assert bd["total"] == bd["weight_load"] + bd["streaming"] + bd["stall"] + bd["drain"]


# (R, C, M, K, N, dataflow, double_buffer, total), computed by hand from the section 5 formulas.
HAND_TOTALS = [
    (1, 1, 1, 1, 1, "ws", True, 3),
    (1, 1, 1, 1, 1, "os", True, 3),
    (1, 1, 1, 1, 1, "is", True, 3),
    (2, 2, 2, 2, 2, "ws", True, 7),
    (2, 2, 2, 2, 2, "os", True, 7),
    (4, 4, 4, 4, 4, "ws", True, 15),
    (4, 4, 4, 4, 4, "os", True, 15),
    (2, 2, 3, 4, 4, "ws", True, 17),    # 4 tiles of 3 vectors: 2 + 3*3 + 3 + 3
    (2, 2, 3, 4, 4, "ws", False, 23),   # 2 + 3*(3+2) + 3 + 3
    (4, 4, 1, 8, 4, "ws", True, 16),    # 2 tiles of 1 vector wait for the load: 4 + 4 + 1 + 7
    (4, 4, 1, 8, 4, "ws", False, 17),   # 4 + 5 + 1 + 7
    (2, 3, 4, 5, 3, "os", True, 16),    # 2 tiles of 5 pairs: 5 + 5 + 6
    (3, 2, 4, 4, 2, "is", True, 18),    # 4 tiles of 2 vectors, period 3: 3 + 3*3 + 2 + 4
]


@pytest.mark.parametrize("rows, cols, m, k, n, dataflow, double_buffer, total", HAND_TOTALS)
def test_hand_computed_totals(rows, cols, m, k, n, dataflow, double_buffer, total):
    assert ref.formula_breakdown(m, k, n, rows, cols, dataflow, double_buffer)["total"] == total
    a = np.full((m, k), -3, dtype=np.int8)
    b = np.full((k, n), 5, dtype=np.int8)
    res = ref.simulate(a, b, rows, cols, dataflow, double_buffer=double_buffer)
    assert res.cycles == total
    np.testing.assert_array_equal(res.output, np.full((m, n), -15 * k))


def test_hand_computed_breakdown_of_one_ws_case():
    # 2x2 array, M=3, K=4, N=4: 4 tiles of 3 vectors, switches at 2, 5, 8, 11.
    res = ref.simulate(np.ones((3, 4), np.int8), np.ones((4, 4), np.int8), 2, 2, "ws")
    assert res.schedule.x_times == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert res.schedule.load_times == [0, 2, 5, 8]
    assert res.breakdown == {"total": 17, "weight_load": 2, "streaming": 12, "stall": 0,
                             "drain": 3, "fill": 3}


def test_hand_computed_single_buffered_schedule():
    res = ref.simulate(np.ones((3, 4), np.int8), np.ones((4, 4), np.int8), 2, 2, "ws",
                       double_buffer=False)
    assert res.schedule.load_times == [0, 5, 10, 15]
    assert res.schedule.x_times == [2, 3, 4, 7, 8, 9, 12, 13, 14, 17, 18, 19]
    assert res.breakdown["stall"] == 6


def test_hand_computed_os_stall():
    # 3x2 array, M=6, K=1, N=2: 2 tiles of one pair each; the second waits for the drain.
    res = ref.simulate(np.ones((6, 1), np.int8), np.ones((1, 2), np.int8), 3, 2, "os")
    assert res.schedule.x_times == [0, 3]
    assert res.breakdown == {"total": 11, "weight_load": 0, "streaming": 2, "stall": 2,
                             "drain": 7, "fill": 5}
    np.testing.assert_array_equal(res.out_cycles, [5, 6, 7, 8, 9, 10])


def test_numpy_reference_wraps_and_counts():
    a = np.full((2, 3), 127, dtype=np.int8)
    a[1] = -128
    b = np.full((3, 1), 127, dtype=np.int8)
    # Exact sums 48387 and -48768 do not fit int16; they wrap modulo 2**16.
    np.testing.assert_array_equal(ref.numpy_matmul(a, b, 16), [[48387 - 65536], [-48768 + 65536]])
    assert ref.overflow_count(a, b, 16) == 2
    assert ref.overflow_count(a, b, 24) == 0
    np.testing.assert_array_equal(ref.numpy_matmul(a, b, 32), [[48387], [-48768]])


def test_numpy_reference_wraps_uint8_at_32_bits():
    k = 66052  # 255 * 255 * 66052 = 2**32 + 64004
    a = np.full((1, k), 255, dtype=np.uint8)
    b = np.full((k, 1), 255, dtype=np.uint8)
    assert ref.numpy_matmul(a, b, 32)[0, 0] == 64004
    assert ref.overflow_count(a, b, 32) == 1


def test_wrap_edges():
    assert ref.wrap(32767, 16) == 32767
    assert ref.wrap(32768, 16) == -32768
    assert ref.wrap(-32769, 16) == 32767
    assert ref.wrap(2**31, 32) == -(2**31)




@pytest.mark.parametrize("rows, cols, m, k, n, dataflow, total", ref.SCALESIM_MEASURED)
def test_scalesim_formula_reproduces_measurements(rows, cols, m, k, n, dataflow, total):
    assert ref.scalesim_total(m, k, n, rows, cols, dataflow) == total
