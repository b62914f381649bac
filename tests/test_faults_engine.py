"""Faults on the cycle engine and the fast path against the naive reference (contract section 6).

The reference model (``tests/reference.py``) applies the faults from the contract's text; the
engine must equal it in every register of every cycle, every output vector and its cycle, and
the accumulated output.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference
from strategies import matmul_case
from systolic import Dataflow, Fault, SystolicArray
from systolic._dataflow import register_widths

_KINDS = ("stuck_at_0", "stuck_at_1", "flip")


def _total(case) -> int:
    arr = SystolicArray(case["rows"], case["cols"], case["dataflow"],
                        double_buffer=case["double_buffer"], acc_bits=case["acc_bits"])
    return arr.timing(case["a"].shape[0], case["a"].shape[1], case["b"].shape[1]).total


@st.composite
def fault_on(draw, case, total: int, kinds=_KINDS, registers=None):
    """One fault of the case's array: any register of its PE kind, any bit, PE and cycle."""
    dataflow = Dataflow(case["dataflow"])
    widths = register_widths(dataflow, case["rows"], case["acc_bits"])
    register = draw(st.sampled_from(registers or dataflow.registers))
    kind = draw(st.sampled_from(kinds))
    return Fault(register,
                 (draw(st.integers(0, case["rows"] - 1)), draw(st.integers(0, case["cols"] - 1))),
                 draw(st.integers(0, widths[register] - 1)), kind,
                 draw(st.integers(0, total - 1)) if kind == "flip" else None)


@st.composite
def faulty_case(draw, max_dim=10, max_array=5, kinds=_KINDS, registers=None, max_faults=4):
    """A small matmul with a few faults and bypassed PEs, never conflicting ones."""
    case = draw(matmul_case(max_dim=max_dim, max_array=max_array))
    total = _total(case)
    if registers is not None:
        registers = tuple(name for name in registers
                          if name in Dataflow(case["dataflow"]).registers)
    faults = []
    if registers != ():
        faults = draw(st.lists(fault_on(case, total, kinds, registers), max_size=max_faults))
    seen, kept = {}, []
    for fault in faults:
        where = (fault.register, fault.pe, fault.bit)
        if fault.kind != "flip" and seen.setdefault(where, fault.kind) != fault.kind:
            continue
        if fault not in kept:
            kept.append(fault)
    pes = st.tuples(st.integers(0, case["rows"] - 1), st.integers(0, case["cols"] - 1))
    case["faults"] = kept
    case["bypass"] = sorted(draw(st.sets(pes, max_size=3)))
    return case


def _array(case):
    return SystolicArray(case["rows"], case["cols"], case["dataflow"],
                         double_buffer=case["double_buffer"], acc_bits=case["acc_bits"])


def _reference(case, record_registers=True):
    return reference.simulate(case["a"], case["b"], case["rows"], case["cols"], case["dataflow"],
                              double_buffer=case["double_buffer"], acc_bits=case["acc_bits"],
                              record_registers=record_registers, faults=case["faults"],
                              bypass=case["bypass"])


def _assert_equal_to_reference(case):
    ref = _reference(case)
    res = _array(case).run(case["a"], case["b"], faults=case["faults"], bypass=case["bypass"],
                           record_outputs=True, trace=True)
    assert res.cycles == ref.cycles
    for name, values in ref.registers.items():
        mine = res.trace.registers[name]
        if not np.array_equal(mine, values):
            t, r, c = np.argwhere(mine != values)[0]
            raise AssertionError(f"register {name} of PE ({r}, {c}) during cycle {t}: "
                                 f"engine {mine[t, r, c]}, reference {values[t, r, c]}")
    np.testing.assert_array_equal(res.outputs.cycles, ref.out_cycles)
    np.testing.assert_array_equal(res.outputs.data, ref.out_data)
    np.testing.assert_array_equal(res.output, ref.output)
    # without a trace only the columns the faults reach are stepped: the same results
    quick = _array(case).run(case["a"], case["b"], faults=case["faults"],
                             bypass=case["bypass"], record_outputs=True)
    np.testing.assert_array_equal(quick.output, ref.output)
    np.testing.assert_array_equal(quick.outputs.cycles, ref.out_cycles)
    np.testing.assert_array_equal(quick.outputs.data, ref.out_data)
    return res, ref


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(faulty_case())
def test_engine_equals_reference_register_by_register(case):
    _assert_equal_to_reference(case)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("kind", _KINDS)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_register_of_every_pe_kind(dataflow, kind, data):
    """Each register of the dataflow's PE with each kind, on its own, somewhere."""
    for register in Dataflow(dataflow).registers:
        case = data.draw(matmul_case(max_dim=8, max_array=4))
        case["dataflow"] = dataflow
        case["faults"] = [data.draw(fault_on(case, _total(case), (kind,), (register,)))]
        case["bypass"] = []
        _assert_equal_to_reference(case)


def test_report_names_the_corrupted_outputs_and_when():
    a = np.arange(12, dtype=np.int8).reshape(3, 4)
    b = np.ones((4, 2), np.int8)
    arr = SystolicArray(4, 2, "ws")
    fault = Fault("psum", (3, 1), 5, "flip", cycle=9)
    res = arr.run(a, b, faults=[fault], record_outputs=True)
    report = res.fault_report
    clean = a.astype(np.int32) @ b.astype(np.int32)
    np.testing.assert_array_equal(report.expected, clean)
    # PE(3, 1) holds during cycle 9 the sum of the vector presented at 9 - 1 - 3 - 1 = 4,
    # x vector 0 (the load takes cycles 0..3), the bottom row of column C - 1: Y[0, 1]
    # gains 32 at the port in cycle 4 + 4 + 2 - 1 = 9
    assert report.corrupted.tolist() == [[False, True], [False, False], [False, False]]
    assert report.error.tolist() == [[0, 32], [0, 0], [0, 0]]
    assert report.first_cycle.tolist() == [[-1, 9], [-1, -1], [-1, -1]]
    assert (report.n_corrupted, report.max_abs_error, report.first_cycle_seen) == (1, 32, 9)
    assert report.summary() == "1 of 6 outputs corrupted, max abs error 32, first seen in cycle 9"
    assert report.faults == (fault,) and report.bypass == ()
    assert res.output[0, 1] == clean[0, 1] + 32


def test_no_faults_no_report_and_a_harmless_fault_an_empty_one():
    a = np.ones((2, 2), np.int8)
    arr = SystolicArray(2, 2, "os")
    assert arr.run(a, a).fault_report is None
    assert arr.run(a, a, faults=[], bypass=[]).fault_report is None
    # psum_valid of the top PE during the last cycle: nothing reads it any more
    late = Fault("psum_valid", (0, 0), 0, "flip", cycle=arr.timing(2, 2, 2).total - 1)
    report = arr.run(a, a, faults=[late]).fault_report
    assert report.n_corrupted == 0 and report.first_cycle_seen is None
    assert report.summary() == "0 of 4 outputs corrupted, max abs error 0"


def test_flip_of_a_sign_bit_is_read_back_signed():
    """Flipping bit 7 of int8 -1 gives 127 (section 6); of uint8 255, 127."""
    for value, dtype in ((-1, np.int8), (255, np.uint8)):
        a = np.full((1, 1), value, dtype)
        b = np.ones((1, 1), dtype)
        arr = SystolicArray(1, 1, "ws")
        # the x register of PE(0, 0) holds the vector during cycle 2 (presented at 1)
        res = arr.run(a, b, faults=[Fault("x", (0, 0), 7, "flip", cycle=2)], trace=True)
        clean = arr.run(a, b, trace=True)
        assert clean.trace.registers["x"][2, 0, 0] == value
        assert res.trace.registers["x"][2, 0, 0] == 127
    res = SystolicArray(1, 1, "ws").run(np.full((1, 1), -1, np.int8), np.ones((1, 1), np.int8),
                                        faults=[Fault("w_active", (0, 0), 7, "stuck_at_0")])
    # the first vector uses w_shadow (1); w_active then holds 1 too, bit 7 already 0
    assert res.output.tolist() == [[-1]]


def test_stepper_shows_the_corrupted_registers():
    a = np.ones((3, 2), np.int8)
    b = np.ones((2, 2), np.int8)
    fault = Fault("w_shadow", (1, 1), 6, "stuck_at_1")
    arr = SystolicArray(2, 2, "ws")
    stepper = arr.stepper(a, b, faults=[fault], bypass=[(0, 0)])
    assert stepper.state["w_shadow"][1, 1] == 64   # the reset value with the stuck bit
    stepper.run_to(6)
    assert stepper.state["w_shadow"].tolist() == [[1, 1], [1, 65]]
    result = stepper.result()
    direct = arr.run(a, b, faults=[fault], bypass=[(0, 0)], record_outputs=True)
    np.testing.assert_array_equal(result.output, direct.output)
    np.testing.assert_array_equal(result.outputs.data, direct.outputs.data)
    assert result.fault_report.summary() == direct.fault_report.summary()
    # column 0 lost its row-0 product, column 1 gained 64 in row 1
    assert direct.output.tolist() == [[1, 66]] * 3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(faulty_case(max_dim=14, max_array=6, kinds=("stuck_at_0", "stuck_at_1"),
                   registers=("w_active", "w_shadow")),
       st.booleans())
def test_fast_path_equals_the_cycle_engine(case, with_gaps):
    """Bypass (every dataflow) and stuck weight bits (ws/is) in closed form."""
    arr = _array(case)
    gaps = None
    if with_gaps:
        vectors = arr.run(case["a"], case["b"], engine="fast").vectors
        gaps = np.arange(vectors) % 3
    options = dict(faults=case["faults"], bypass=case["bypass"], record_outputs=True, gaps=gaps)
    fast = arr.run(case["a"], case["b"], engine="fast", **options)
    cycle = arr.run(case["a"], case["b"], engine="cycle", **options)
    np.testing.assert_array_equal(fast.output, cycle.output)
    np.testing.assert_array_equal(fast.outputs.cycles, cycle.outputs.cycles)
    np.testing.assert_array_equal(fast.outputs.data, cycle.outputs.data)
    if case["faults"] or case["bypass"]:
        for field in ("expected", "corrupted", "error", "first_cycle"):
            np.testing.assert_array_equal(getattr(fast.fault_report, field),
                                          getattr(cycle.fault_report, field))


def test_bypass_is_a_zero_weight_on_ws_and_a_zero_output_on_os():
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, (7, 9), dtype=np.int8)
    b = rng.integers(-128, 128, (9, 5), dtype=np.int8)
    bypass = [(1, 2), (3, 0)]
    pruned = b.astype(np.int64)
    pruned[1::4, 2::3] = 0      # rows 1, 5 of every 4-row tile, columns 2 of every 3
    pruned[3::4, 0::3] = 0
    res = SystolicArray(4, 3, "ws").run(a, b, bypass=bypass)
    np.testing.assert_array_equal(res.output, a.astype(np.int64) @ pruned)
    out = SystolicArray(4, 3, "os").run(a, b, bypass=bypass).output
    expected = a.astype(np.int64) @ b.astype(np.int64)
    expected[1::4, 2::3] = 0
    expected[3::4, 0::3] = 0
    np.testing.assert_array_equal(out, expected)
