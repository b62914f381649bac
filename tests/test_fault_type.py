"""The Fault type and the bypass list refuse what the contract (section 6) does not allow."""

import pytest

import systolic
from systolic.faults import Fault, check_bypass, check_faults


def test_fault_is_exported_from_the_package():
    assert systolic.Fault is Fault


@pytest.mark.parametrize("dataflow, register, width", [
    ("ws", "w_active", 8), ("ws", "w_shadow", 8), ("is", "w_tag", 3), ("os", "acc", 24),
    ("os", "hold", 24), ("os", "psum", 24), ("ws", "x_valid", 1), ("os", "x_flag", 1)])
def test_every_bit_of_a_register_is_accepted_and_the_next_one_refused(dataflow, register,
                                                                      width):
    for bit in range(width):
        Fault(register, (4, 1), bit, "stuck_at_1").check(dataflow, 5, 2, acc_bits=24)
    with pytest.raises(ValueError, match=rf"bit {width} is outside register '{register}' "
                                         rf"\({width} bits: 0\.\.{width - 1}\)"):
        Fault(register, (4, 1), width, "flip", cycle=0).check(dataflow, 5, 2, acc_bits=24)


def test_a_register_of_the_other_pe_kind_is_refused():
    with pytest.raises(ValueError, match="the os PE has no register 'w_shadow'"):
        Fault("w_shadow", (0, 0), 0, "stuck_at_0").check("os", 2, 2)
    with pytest.raises(ValueError, match="the is PE has no register 'hold'"):
        Fault("hold", (0, 0), 0, "stuck_at_0").check("is", 2, 2)


def test_a_pe_outside_the_array_is_refused():
    with pytest.raises(ValueError, match=r"fault PE \(2, 0\) is outside the 2x3 array"):
        Fault("x", (2, 0), 0, "stuck_at_0").check("ws", 2, 3)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(register=3), TypeError, "register must be a register name"),
    (dict(pe=5), TypeError, r"pe must be a pair \(row, col\)"),
    (dict(pe=(1, 2, 3)), TypeError, r"pe must be a pair \(row, col\)"),
    (dict(pe=(-1, 0)), ValueError, r"pe must be a pair \(row, col\)"),
    (dict(bit=1.0), TypeError, "bit must be a non-negative integer, got 1.0"),
    (dict(bit=-1), ValueError, "bit must be a non-negative integer, got -1"),
    (dict(kind="stuck"), ValueError, "unknown kind 'stuck': expected one of 'stuck_at_0'"),
    (dict(kind="flip"), ValueError, "a 'flip' fault needs the cycle it happens in"),
    (dict(kind="flip", cycle=-2), ValueError, "cycle must be a non-negative integer, got -2"),
    (dict(cycle=4), ValueError, "a 'stuck_at_0' fault is permanent and takes no cycle"),
])
def test_bad_fields_are_refused_naming_the_field(kwargs, error, message):
    fields = dict(register="psum", pe=(0, 0), bit=0, kind="stuck_at_0") | kwargs
    with pytest.raises(error, match=message):
        Fault(**fields)


def test_conflicting_and_repeated_faults_are_refused():
    stuck = Fault("psum", (0, 1), 2, "stuck_at_0")
    with pytest.raises(ValueError, match="fault listed twice"):
        check_faults([stuck, stuck], "ws", 2, 2)
    with pytest.raises(ValueError, match="stuck at both 0 and 1"):
        check_faults([stuck, Fault("psum", (0, 1), 2, "stuck_at_1")], "ws", 2, 2)
    with pytest.raises(TypeError, match="faults must be a list of systolic.Fault"):
        check_faults(stuck, "ws", 2, 2)
    with pytest.raises(TypeError, match="got an item 'psum'"):
        check_faults(["psum"], "ws", 2, 2)
    flips = [Fault("psum", (0, 1), 2, "flip", cycle=c) for c in (3, 4)]
    assert check_faults(flips + [stuck], "ws", 2, 2) == (*flips, stuck)
    assert check_faults(None, "os", 1, 1) == ()


def test_bypass_list_is_checked_and_sorted():
    assert check_bypass(None, 2, 2) == ()
    assert check_bypass([[1, 1], (0, 1)], 2, 2) == ((0, 1), (1, 1))
    with pytest.raises(ValueError, match=r"bypassed PE \(0, 1\) is listed twice"):
        check_bypass([(0, 1), (0, 1)], 2, 2)
    with pytest.raises(TypeError, match="bypass must be a list of"):
        check_bypass("0,1", 2, 2)
    with pytest.raises(TypeError, match=r"bypassed PE must be a pair"):
        check_bypass([(0, 1.5)], 2, 2)
