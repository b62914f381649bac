"""Faults and bypass lists that a run refuses, with the exact messages (contract section 6)."""

import re

import numpy as np
import pytest

from systolic import Fault, SystolicArray

A = np.ones((3, 4), np.int8)
B = np.ones((4, 2), np.int8)


@pytest.mark.parametrize("dataflow, fault, message", [
    ("os", Fault("w_shadow", (0, 0), 0, "stuck_at_1"),
     "the os PE has no register 'w_shadow': expected one of 'x', 'x_valid', 'x_flag', 'w', "
     "'w_valid', 'w_tag', 'psum', 'psum_valid', 'acc', 'hold'"),
    ("is", Fault("acc", (0, 0), 0, "flip", cycle=1), "the is PE has no register 'acc'"),
    ("ws", Fault("out_data", (0, 0), 0, "stuck_at_0"), "the ws PE has no register 'out_data'"),
    ("ws", Fault("x", (4, 0), 0, "stuck_at_0"),
     r"fault PE (4, 0) is outside the 4x2 array (rows 0..3, columns 0..1)"),
    ("ws", Fault("x", (0, 2), 0, "stuck_at_0"), "fault PE (0, 2) is outside the 4x2 array"),
    ("ws", Fault("x", (0, 0), 8, "stuck_at_0"), "bit 8 is outside register 'x' (8 bits: 0..7)"),
    ("os", Fault("psum", (0, 0), 24, "flip", cycle=0),
     "bit 24 is outside register 'psum' (24 bits: 0..23)"),
    ("ws", Fault("w_tag", (0, 0), 2, "stuck_at_1"),
     "bit 2 is outside register 'w_tag' (2 bits: 0..1)"),
    ("ws", Fault("x_valid", (0, 0), 1, "stuck_at_1"),
     "bit 1 is outside register 'x_valid' (1 bits: 0..0)"),
])
def test_a_fault_the_array_does_not_have_is_refused(dataflow, fault, message):
    arr = SystolicArray(4, 2, dataflow, acc_bits=24)
    for engine in ("cycle", "fast"):
        with pytest.raises(ValueError, match=re.escape(message)):
            arr.run(A, B, engine=engine, faults=[fault])
    with pytest.raises(ValueError, match=re.escape(message)):
        arr.stepper(A, B, faults=[fault])


def test_a_flip_at_or_after_the_last_cycle_is_refused():
    arr = SystolicArray(4, 2, "ws")
    total = arr.timing(3, 4, 2).total
    assert total == 12
    arr.run(A, B, faults=[Fault("psum", (0, 0), 0, "flip", cycle=total - 1)])
    late = Fault("psum", (0, 0), 0, "flip", cycle=total)
    message = (f"{late!r} happens after the run: its cycle must be below the run's 12 cycles "
               f"(0..11)")
    with pytest.raises(ValueError, match=re.escape(message)):
        arr.run(A, B, faults=[late])
    with pytest.raises(ValueError, match=re.escape(message)):
        arr.stepper(A, B, faults=[late])
    # gaps make the run longer, and the same flip fits
    arr.run(A, B, faults=[late], gaps=[0, 0, 1])


@pytest.mark.parametrize("dataflow, fault", [
    ("ws", Fault("psum", (0, 0), 3, "stuck_at_1")),
    ("ws", Fault("w_shadow", (0, 0), 3, "flip", cycle=2)),
    ("is", Fault("x_flag", (1, 1), 0, "stuck_at_0")),
    ("os", Fault("acc", (0, 0), 0, "stuck_at_1")),
])
def test_the_fast_path_refuses_what_it_cannot_compute(dataflow, fault):
    arr = SystolicArray(4, 2, dataflow)
    message = (f"the fast engine cannot compute {fault!r} exactly (it computes bypassed PEs and "
               f"stuck bits of w_active/w_shadow on ws/is): use engine='cycle'")
    with pytest.raises(ValueError, match=re.escape(message)):
        arr.run(A, B, engine="fast", faults=[fault])
    arr.run(A, B, engine="cycle", faults=[fault])


def test_bad_fault_and_bypass_lists_are_refused():
    arr = SystolicArray(4, 2, "ws")
    stuck = Fault("psum", (0, 0), 0, "stuck_at_0")
    with pytest.raises(TypeError, match="faults must be a list of systolic.Fault, got Fault"):
        arr.run(A, B, faults=stuck)
    with pytest.raises(TypeError, match="faults must be a list of systolic.Fault, got an item"):
        arr.run(A, B, faults=[("psum", (0, 0), 0, "stuck_at_0")])
    with pytest.raises(ValueError, match="fault listed twice"):
        arr.run(A, B, faults=[stuck, stuck])
    with pytest.raises(ValueError, match="bit 0 of register 'psum' of PE \\(0, 0\\) is stuck at "
                                         "both 0 and 1"):
        arr.run(A, B, faults=[stuck, Fault("psum", (0, 0), 0, "stuck_at_1")])
    with pytest.raises(ValueError, match=re.escape("bypassed PE (0, 2) is outside the 4x2 "
                                                   "array")):
        arr.run(A, B, engine="fast", bypass=[(0, 2)])
    with pytest.raises(TypeError, match="bypass must be a list of \\(row, col\\) pairs"):
        arr.run(A, B, bypass=(0, 1, 2)[0])
