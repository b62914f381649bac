"""The engine against the naive reference model and against numpy.

Small problems are compared with the reference model cycle by cycle: values, cycle counts, the
breakdown, the whole output stream, the edge inputs and every PE register. Larger problems are
compared with numpy and with the closed-form cycle count.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference as ref
import systolic
from strategies import gaps_for, matmul_case, n_vectors

ENGINES = ("cycle", "fast")
BREAKDOWN_FIELDS = ("total", "weight_load", "streaming", "stall", "drain", "fill")


def _array(case) -> systolic.SystolicArray:
    return systolic.SystolicArray(case["rows"], case["cols"], case["dataflow"],
                                  double_buffer=case["double_buffer"],
                                  acc_bits=case["acc_bits"])


def _reference(case, **options) -> ref.ReferenceResult:
    return ref.simulate(case["a"], case["b"], case["rows"], case["cols"], case["dataflow"],
                        double_buffer=case["double_buffer"], acc_bits=case["acc_bits"],
                        **options)


def assert_matches_reference(res, expected: ref.ReferenceResult, *, outputs: bool = True):
    """Every reported quantity of an engine run equals the reference model's."""
    assert res.output.dtype == np.int32
    np.testing.assert_array_equal(res.output, expected.output)
    assert res.cycles == expected.cycles
    for name in BREAKDOWN_FIELDS:
        assert getattr(res.breakdown, name) == expected.breakdown[name], name
    assert res.overflow_count == expected.overflow_count
    assert res.tiles == expected.tiles
    assert res.vectors == expected.vectors
    assert res.macs == expected.macs
    assert res.utilization == pytest.approx(expected.utilization, rel=1e-12)
    if outputs:
        np.testing.assert_array_equal(res.outputs.cycles, expected.out_cycles)
        assert res.outputs.data.dtype == np.int32
        np.testing.assert_array_equal(res.outputs.data, expected.out_data)


def assert_edges_match(edges, expected: ref.ReferenceResult):
    """The engine's per-cycle edge inputs equal the reference schedule's."""
    for name, values in expected.edges.items():
        np.testing.assert_array_equal(getattr(edges, name), values, err_msg=name)


# --------------------------------------------------------------------------------------------
# Small problems against the reference model
# --------------------------------------------------------------------------------------------

@settings(max_examples=100)
@given(matmul_case())
def test_engines_match_reference(case):
    expected = _reference(case)
    arr = _array(case)
    for engine in ENGINES:
        res = arr.run(case["a"], case["b"], engine=engine, record_outputs=True)
        assert_matches_reference(res, expected)


@settings(max_examples=80)
@given(st.data(), matmul_case(max_dim=14, max_array=6))
def test_engines_match_reference_with_gaps(data, case):
    m, k = case["a"].shape
    length = n_vectors(m, k, case["b"].shape[1], case["rows"], case["cols"], case["dataflow"])
    gaps = data.draw(gaps_for(length))
    expected = _reference(case, gaps=gaps)
    arr = _array(case)
    for engine in ENGINES:
        res = arr.run(case["a"], case["b"], engine=engine, gaps=gaps, record_outputs=True)
        assert_matches_reference(res, expected)
    assert_edges_match(arr.edge_stream(case["a"], case["b"], gaps=gaps), expected)


@settings(max_examples=40)
@given(matmul_case(max_dim=10, max_array=5))
def test_edge_stream_matches_reference(case):
    expected = _reference(case)
    assert_edges_match(_array(case).edge_stream(case["a"], case["b"]), expected)


@pytest.mark.parametrize("rows, cols", [(1, 8), (8, 1), (1, 1)])
@pytest.mark.parametrize("dataflow", ref.DATAFLOWS)
def test_single_row_and_single_column_arrays(rows, cols, dataflow, rng):
    a = rng.integers(-128, 128, (9, 13), dtype=np.int8)
    b = rng.integers(0, 256, (13, 11)).astype(np.uint8)
    expected = ref.simulate(a, b, rows, cols, dataflow)
    arr = systolic.SystolicArray(rows, cols, dataflow)
    for engine in ENGINES:
        assert_matches_reference(arr.run(a, b, engine=engine, record_outputs=True), expected)


# Small cases whose every register on every cycle is compared (rows, cols, m, k, n, dataflow,
# double_buffer, gaps).
TRACE_CASES = [
    (3, 4, 5, 7, 9, "ws", True, None),
    (4, 3, 6, 5, 2, "ws", False, [0, 2, 0, 0, 1, 0, 0, 0, 0, 3, 0, 0]),
    (3, 4, 7, 5, 6, "os", True, None),
    (2, 5, 3, 4, 8, "os", True, [1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0]),
    (4, 2, 5, 6, 3, "is", True, None),
    (2, 3, 4, 3, 5, "is", False, None),
]


def _trace_case(params, rng):
    rows, cols, m, k, n, dataflow, double_buffer, gaps = params
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(0, 256, (k, n)).astype(np.uint8)
    case = {"a": a, "b": b, "rows": rows, "cols": cols, "dataflow": dataflow,
            "double_buffer": double_buffer, "acc_bits": 16}
    gaps = None if gaps is None else np.array(gaps)
    return case, gaps, _reference(case, gaps=gaps, record_registers=True)


@pytest.mark.parametrize("params", TRACE_CASES, ids=lambda p: "-".join(map(str, p[:7])))
def test_trace_matches_reference_registers(params, rng):
    case, gaps, expected = _trace_case(params, rng)
    arr = _array(case)
    total = expected.cycles
    names = set(ref.register_names(case["dataflow"]))
    for first, stop in [(0, total), (total // 3, total // 3 + 5)]:
        res = arr.run(case["a"], case["b"], engine="cycle", gaps=gaps, trace=(first, stop))
        assert res.trace.first_cycle == first
        assert set(res.trace.registers) == names
        for name in names:
            np.testing.assert_array_equal(res.trace.registers[name],
                                          expected.registers[name][first:stop], err_msg=name)


@pytest.mark.parametrize("params", TRACE_CASES, ids=lambda p: "-".join(map(str, p[:7])))
def test_stepper_matches_trace_and_run(params, rng):
    case, gaps, expected = _trace_case(params, rng)
    arr = _array(case)
    stepper = arr.stepper(case["a"], case["b"], gaps=gaps)
    assert stepper.cycle == 0
    for t in range(expected.cycles):
        assert stepper.cycle == t
        assert not stepper.done
        for name in ref.register_names(case["dataflow"]):
            np.testing.assert_array_equal(stepper.state[name], expected.registers[name][t],
                                          err_msg=f"{name} in cycle {t}")
        stepper.step()
    assert stepper.done
    run = arr.run(case["a"], case["b"], engine="cycle", gaps=gaps, record_outputs=True)
    assert_matches_reference(run, expected)
    stepped = stepper.result()
    np.testing.assert_array_equal(stepped.output, run.output)
    assert stepped.cycles == run.cycles
    assert stepped.breakdown == run.breakdown


def test_stepper_run_to_and_multi_step(rng):
    case, gaps, expected = _trace_case(TRACE_CASES[0], rng)
    stepper = _array(case).stepper(case["a"], case["b"])
    stepper.step(7)
    assert stepper.cycle == 7
    np.testing.assert_array_equal(stepper.state["psum"], expected.registers["psum"][7])
    stepper.run_to(expected.cycles - 2)
    assert stepper.cycle == expected.cycles - 2
    np.testing.assert_array_equal(stepper.state["x"], expected.registers["x"][-2])
    np.testing.assert_array_equal(stepper.result().output, expected.output)
    assert stepper.done


# --------------------------------------------------------------------------------------------
# Overflow and wrap-around
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dataflow", ref.DATAFLOWS)
@pytest.mark.parametrize("engine", ENGINES)
def test_16_bit_accumulators_wrap_and_count(dataflow, engine):
    a = np.full((5, 40), 127, dtype=np.int8)
    a[1] = -128
    a[2, ::2] = -128  # half the products cancel: this row stays in range
    b = np.full((40, 3), 127, dtype=np.int8)
    b[:, 1] = -128
    expected = ref.simulate(a, b, 4, 3, dataflow, acc_bits=16)
    res = systolic.SystolicArray(4, 3, dataflow, acc_bits=16).run(a, b, engine=engine,
                                                                   record_outputs=True)
    assert_matches_reference(res, expected)
    np.testing.assert_array_equal(res.output, ref.numpy_matmul(a, b, 16))
    assert res.overflow_count == ref.overflow_count(a, b, 16) == 12


@pytest.mark.parametrize("rows, cols, dataflow", [(8, 8, "ws"), (4, 4, "os"), (2, 3, "is")])
@pytest.mark.parametrize("engine", ENGINES)
def test_uint8_products_wrap_like_numpy_at_32_bits(rows, cols, dataflow, engine):
    k = 66060  # 255 * 255 * k exceeds 2**32
    a = np.full((2, k), 255, dtype=np.uint8)
    a[1, ::3] = 254
    b = np.full((k, 3), 255, dtype=np.uint8)
    b[::5, 2] = 0
    res = systolic.SystolicArray(rows, cols, dataflow).run(a, b, engine=engine)
    exact = a.astype(np.int64) @ b.astype(np.int64)
    wrapped = (exact % 2**32).astype(np.uint32).view(np.int32)
    np.testing.assert_array_equal(res.output, wrapped)
    assert res.overflow_count == ref.overflow_count(a, b, 32)
    assert res.overflow_count > 0


# --------------------------------------------------------------------------------------------
# Larger problems against numpy and the closed-form timing
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def readme_operands():
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (300, 700), dtype=np.int8)
    b = rng.integers(-128, 128, (700, 500), dtype=np.int8)
    return a, b


def test_readme_example_matmul(readme_operands):
    a, b = readme_operands
    c = systolic.matmul(a, b, dims=(256, 256))
    assert c.dtype == np.int32
    np.testing.assert_array_equal(c, a.astype(np.int32) @ b.astype(np.int32))
    np.testing.assert_array_equal(systolic.matmul(a, b), c)


def test_readme_example_cycle_engine(readme_operands):
    a, b = readme_operands
    res = systolic.SystolicArray(rows=256, cols=256, dataflow="ws").run(a, b, engine="cycle")
    np.testing.assert_array_equal(res.output, a.astype(np.int32) @ b.astype(np.int32))
    expected = ref.formula_breakdown(300, 700, 500, 256, 256, "ws")
    assert res.cycles == expected["total"]
    assert res.overflow_count == 0


@pytest.mark.parametrize("dataflow", ref.DATAFLOWS)
def test_full_size_cycle_engine(dataflow):
    rng = np.random.default_rng(256)
    a = rng.integers(-128, 128, (256, 256), dtype=np.int8)
    b = rng.integers(0, 256, (256, 256)).astype(np.uint8)
    arr = systolic.SystolicArray(256, 256, dataflow)
    res = arr.run(a, b, engine="cycle", record_outputs=True)
    np.testing.assert_array_equal(res.output, ref.numpy_matmul(a, b))
    expected = ref.formula_breakdown(256, 256, 256, 256, 256, dataflow)
    assert res.cycles == expected["total"]
    for name in BREAKDOWN_FIELDS:
        assert getattr(res.breakdown, name) == expected[name], name
    _assert_stream_follows_contract(res, 256, 256, dataflow)
    fast = arr.run(a, b, engine="fast", record_outputs=True)
    np.testing.assert_array_equal(fast.outputs.cycles, res.outputs.cycles)
    np.testing.assert_array_equal(fast.outputs.data, res.outputs.data)


def _assert_stream_follows_contract(res, rows: int, cols: int, dataflow: str):
    """Result cycles of a gap-free run: t + R + C - 1 (ws/is), e + 2R + C - 1 - r (os)."""
    per_tile = res.vectors // res.tiles
    times = np.array(ref.greedy_schedule(res.tiles, per_tile, rows, dataflow).x_times)
    if dataflow == "os":
        last = times[per_tile - 1::per_tile]
        expected = (last[:, None] + 2 * rows + cols - 1 - np.arange(rows)[::-1]).ravel()
    else:
        expected = times + rows + cols - 1
    np.testing.assert_array_equal(res.outputs.cycles, expected)


@pytest.mark.parametrize("rows, cols", [(17, 5), (1, 64), (64, 1), (5, 17), (3, 100)])
@pytest.mark.parametrize("dataflow", ref.DATAFLOWS)
def test_non_square_arrays_with_many_folds(rows, cols, dataflow):
    rng = np.random.default_rng(rows * 1000 + cols)
    m, k, n = 37, 150, 90
    a = rng.integers(0, 256, (m, k)).astype(np.uint8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    arr = systolic.SystolicArray(rows, cols, dataflow)
    expected = ref.formula_breakdown(m, k, n, rows, cols, dataflow)
    runs = {engine: arr.run(a, b, engine=engine, record_outputs=True) for engine in ENGINES}
    for engine, res in runs.items():
        np.testing.assert_array_equal(res.output, ref.numpy_matmul(a, b), err_msg=engine)
        assert res.cycles == expected["total"], engine
        assert res.tiles > 1
        _assert_stream_follows_contract(res, rows, cols, dataflow)
    np.testing.assert_array_equal(runs["fast"].outputs.data, runs["cycle"].outputs.data)


def test_matmul_accepts_dataflow_enum_and_wide_integer_dtypes(rng):
    a = rng.integers(-128, 128, (20, 30)).astype(np.int64)     # fits int8
    b = rng.integers(0, 256, (30, 10)).astype(np.int32)        # fits uint8
    expected = ref.numpy_matmul(a, b)
    for dataflow in systolic.Dataflow:
        for engine in ENGINES:
            c = systolic.matmul(a, b, (8, 4), dataflow, engine=engine)
            assert c.dtype == np.int32
            np.testing.assert_array_equal(c, expected)
    assert [d.value for d in systolic.Dataflow] == ["ws", "os", "is"]
    assert systolic.Dataflow("is") is systolic.Dataflow.IS


@pytest.mark.parametrize("dataflow, x_signed, w_signed",
                         [("ws", True, False), ("os", True, False), ("is", False, True)])
def test_edge_stream_lane_signedness(dataflow, x_signed, w_signed):
    """Section 1: each lane has its own signedness; ``is`` puts ``b`` on the x lane."""
    a = np.array([[-128, 3], [7, 127]], dtype=np.int64)   # needs int8
    b = np.array([[255, 0], [128, 1]], dtype=np.int64)    # needs uint8
    edges = systolic.SystolicArray(2, 2, dataflow).edge_stream(a, b)
    assert (edges.x_signed, edges.w_signed) == (x_signed, w_signed)
    case = {"a": a, "b": b, "rows": 2, "cols": 2, "dataflow": dataflow,
            "double_buffer": True, "acc_bits": 32}
    assert_edges_match(edges, _reference(case))
