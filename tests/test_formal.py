"""Formal proofs of the generated RTL (systolic.formal): they pass, and a mutation fails them."""

import pytest

from systolic.formal import Mutation, array_depth, check_array, proof_plan, prove_pe
from systolic.hdl import Fault


@pytest.mark.parametrize("kind", ["ws", "os"])
def test_pe_register_transfers_are_proven(kind, tmp_path):
    result = prove_pe(kind, x_signed=False, workdir=tmp_path)
    assert result.passed, (tmp_path / "proof" / "logfile.txt").read_text()
    assert (result.status, result.mode, result.trace) == ("PASS", "prove", None)
    assert "successful proof by k-induction" in (tmp_path / "proof" / "logfile.txt").read_text()


@pytest.mark.parametrize("kind, wire, bit", [("ws", "psum", 3), ("ws", "w_shadow", 0),
                                             ("os", "hold", 30)])
def test_a_mutated_pe_fails_with_a_counterexample(kind, wire, bit, tmp_path):
    result = prove_pe(kind, mutation=Mutation(wire, bit), workdir=tmp_path)
    assert (result.passed, result.status) == (False, "FAIL")
    assert result.trace is not None and result.trace.suffix == ".vcd"
    assert f"{wire}" in result.trace.read_text()


@pytest.mark.parametrize("dataflow, signs", [("ws", (True, True)), ("os", (False, True)),
                                             ("is", (True, False))])
def test_small_array_meets_the_contract(dataflow, signs, tmp_path):
    result = check_array(2, 3, dataflow, x_signed=signs[0], w_signed=signs[1], workdir=tmp_path)
    assert result.passed, (tmp_path / "proof" / "logfile.txt").read_text()
    assert result.depth == array_depth(2, 3) + 1 == 12


@pytest.mark.parametrize("dataflow, fault", [
    ("ws", Fault("psum_flip", col=1, row=1, bit=4)),
    ("os", Fault("out_delay", col=0)),
    ("ws", Fault("out_flip", col=1, bit=31)),
])
def test_a_faulty_array_fails_with_a_counterexample(dataflow, fault, tmp_path):
    result = check_array(2, 2, dataflow, fault=fault, workdir=tmp_path)
    assert result.status == "FAIL" and result.trace.exists()


def test_a_mutated_pe_fails_the_array_check(tmp_path):
    result = check_array(2, 2, "os", mutation=Mutation("psum", 0), workdir=tmp_path)
    assert result.status == "FAIL" and result.trace.exists()


def test_plan_covers_every_kind_dataflow_and_signedness():
    plan = proof_plan(3, 4)
    assert len(plan) == 2 * 4 + 2 * 3 * 4 + 3
    assert {args[2] for function, args, _ in plan if function is check_array} == {"ws", "os",
                                                                                   "is"}


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown solver 'cvc5': expected one of 'yices', 'z3'"):
        prove_pe("ws", solver="cvc5", workdir=tmp_path)
    with pytest.raises(TypeError, match="mutation must be a Mutation or None, got 'psum'"):
        prove_pe("ws", mutation="psum")
    with pytest.raises(ValueError, match="no mutation candidate for PE wire 'nowire' bit 0"):
        prove_pe("ws", mutation=Mutation("nowire"), workdir=tmp_path)
    with pytest.raises(ValueError, match="unknown dataflow 'xs'"):
        check_array(2, 2, "xs")
