# amaranth: UnusedElaboratable=no
"""Faults built into the RTL (``docs/contract.md``, section 6) against the faulty model.

The generator takes the same :class:`systolic.Fault` list and bypassed PEs as the model. Here:
the generator's choices (a module per faulty PE, the fault-free text unchanged, the counter only
for a flip), its errors, lint cleanliness of faulty arrays, and the faulty hardware against the
faulty cycle engine on every PE register and output of every cycle, for every register of both
PE kinds and every fault kind: in Amaranth's simulator, per register, and in cocotb on Icarus,
with all of them in one build per PE kind (the register comparison tells each one apart), on
``is`` and on one 64 x 64 array.
"""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

import systolic
import systolic.hdl as hdl
from amaranth_harness import simulate_edges
from helpers import exact
from systolic import Fault
from systolic.hdl import ArrayConfig, ArrayTop, faults_from_sidecar, register_widths
from systolic.hdl.sim import build_and_run
from systolic.hdl.sim.stimulus import random_case
from test_rtl_tools import REPO, _verilator, _verilator_warnings

KINDS = ("stuck_at_0", "stuck_at_1", "flip")
EDGES = ("x_data", "x_valid", "x_flag", "w_data", "w_valid", "w_tag")



def _bit(width: int, kind: str) -> int:
    """A different bit for each kind: the top, the bottom and one in between."""
    return {"stuck_at_0": width - 1, "stuck_at_1": 0, "flip": width // 2}[kind]


def _model(config: ArrayConfig, case: dict, faults=(), bypass=()):
    """The cycle engine's edge stream, outputs and register trace (faults as given)."""
    array = systolic.SystolicArray(config.rows, config.cols, config.dataflow,
                                   acc_bits=config.acc_bits)
    stream = array.edge_stream(case["a"], case["b"], gaps=case["gaps"])
    faulty = {"faults": list(faults), "bypass": list(bypass)} if faults or bypass else {}
    run = array.run(case["a"], case["b"], engine="cycle", gaps=case["gaps"],
                    record_outputs=True, **faulty)
    traced = array.run(case["a"], case["b"], engine="cycle", gaps=case["gaps"],
                       trace=(0, run.cycles), **faulty)
    edges = {name: np.asarray(getattr(stream, name)) for name in EDGES}
    return edges, run, traced.trace.registers


def _first_difference(config, got: dict, expected: dict) -> str | None:
    """``register (cycle, row, col)`` of the first differing register value, or None."""
    widths = register_widths(config)
    first = None
    for name, values in expected.items():
        bits = np.asarray(values, np.int64) & ((1 << widths[name]) - 1)
        where = np.argwhere(got[name] != bits)
        if where.size and (first is None or tuple(where[0]) < first[1]):
            first = (name, tuple(int(i) for i in where[0]))
    return None if first is None else f"{first[0]} at (cycle, row, col) = {first[1]}"


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------

def test_fault_free_text_is_unchanged_by_empty_lists():
    plain = hdl.generate(3, 2, "os", acc_bits=20)
    assert hdl.generate(3, 2, "os", acc_bits=20, faults=[], bypass=[]) == plain
    assert "faulty" not in plain[0] and "cycle_counter" not in plain[0]
    assert "faults" not in plain[1] and "bypass" not in plain[1]


def test_faulty_pes_get_modules_of_their_own_and_flips_a_counter():
    faults = [Fault("psum", (0, 1), 3, "stuck_at_1"), Fault("psum", (1, 0), 3, "stuck_at_1"),
              Fault("w_shadow", (1, 1), 7, "flip", cycle=12)]
    text, sidecar = hdl.generate(2, 3, "ws", faults=faults, bypass=[(0, 2)])
    modules = re.findall(r"^module (\w+)\(", text, re.M)
    # Same faults at another PE: one module; the flip and the bypass: one each.
    assert modules[:4] == ["systolic_array_pe", "systolic_array_pe_faulty_0",
                           "systolic_array_pe_faulty_1", "systolic_array_pe_faulty_2"]
    assert "systolic_array_cycle_counter" in modules
    assert {name: module for module, name in re.findall(
        r"^  (systolic_array_pe\w*) (pe_r\d_c\d) \($", text, re.M)} == {
        "pe_r0_c0": "systolic_array_pe", "pe_r0_c1": "systolic_array_pe_faulty_0",
        "pe_r0_c2": "systolic_array_pe_faulty_1", "pe_r1_c0": "systolic_array_pe_faulty_0",
        "pe_r1_c1": "systolic_array_pe_faulty_2", "pe_r1_c2": "systolic_array_pe"}
    # The flip compares the 4-bit counter with the cycle before it (11 = 0b1011).
    assert re.search(r"^  input \[3:0\] cycle;$", text, re.M)
    assert re.search(r"= ~ \{ cycle\[3\], cycle\[1:0\] \};", text)  # the set bits of 11
    assert faults_from_sidecar(sidecar) == (sorted(faults, key=lambda f: f.pe), [(0, 2)])
    # Stuck-at faults and a flip at cycle 0 need no counter.
    text, _ = hdl.generate(2, 2, "os", faults=[Fault("acc", (1, 1), 0, "flip", cycle=0)])
    assert "cycle_counter" not in text and "systolic_array_pe_faulty_0" in text


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"fault": Fault("psum", (0, 0), 1, "stuck_at_0")}, TypeError,
     "fault takes a verification mutation (systolic.hdl.Mutation); give faults of the contract "
     "as faults=[...], got Fault(register='psum', pe=(0, 0), bit=1, kind='stuck_at_0', "
     "cycle=None)"),
    ({"faults": [Fault("acc", (0, 0), 1, "stuck_at_0")]}, ValueError,
     "the ws PE has no register 'acc': expected one of 'x', 'x_valid', 'x_flag', 'w', "
     "'w_valid', 'w_tag', 'psum', 'psum_valid', 'w_active', 'w_shadow'"),
    ({"faults": [Fault("w_tag", (0, 0), 1, "stuck_at_0")]}, ValueError,
     "bit 1 is outside register 'w_tag' (1 bits: 0..0)"),
    ({"faults": [Fault("x", (2, 0), 1, "flip", cycle=3)]}, ValueError,
     "fault PE (2, 0) is outside the 2x2 array (rows 0..1, columns 0..1)"),
    ({"faults": Fault("x", (0, 0), 1, "stuck_at_1")}, TypeError,
     "faults must be a list of systolic.Fault, got Fault(register='x', pe=(0, 0), bit=1, "
     "kind='stuck_at_1', cycle=None)"),
    ({"bypass": [(0, 2)]}, ValueError,
     "bypassed PE (0, 2) is outside the 2x2 array (rows 0..1, columns 0..1)"),
])
def test_bad_faults_are_refused(kwargs, error, message):
    with pytest.raises(error, match=exact(message)):
        hdl.generate(2, 2, "ws", **kwargs)
    with pytest.raises(error, match=exact(message)):
        ArrayTop(ArrayConfig(2, 2, "ws"), **kwargs)


def test_verification_mutations_keep_their_name():
    assert hdl.Fault is hdl.Mutation
    text, sidecar = hdl.generate(2, 2, fault=hdl.Fault("out_flip", col=1, bit=3))
    assert sidecar["fault"] == {"kind": "out_flip", "row": 0, "col": 1, "bit": 3}
    assert "assign out_data_1 = (out_skew_1_0 ^ 32'd8);" in text.replace("pe_r1_c1_psum",
                                                                          "out_skew_1_0")


def _lint_arrays(tmp_path):
    """Faulty arrays of both PE kinds: every register and kind, bypass, an all-faulty 1 x 1."""
    arrays = {}
    for dataflow in ("ws", "os"):
        config = ArrayConfig(3, 4, dataflow, acc_bits=20)
        faults = _all_register_faults(config, cycle=7)
        arrays[dataflow] = hdl.write(tmp_path, 3, 4, dataflow, acc_bits=20, faults=faults,
                                     bypass=[(2, 3)], name=f"faulty_{dataflow}")[0]
    arrays["one"] = hdl.write(tmp_path, 1, 1, "os", bypass=[(0, 0)], name="faulty_one",
                              faults=[Fault("w_valid", (0, 0), 0, "stuck_at_1")])[0]
    return arrays


def test_faulty_arrays_are_lint_clean(tmp_path):
    for name, verilog in _lint_arrays(tmp_path).items():
        result = _verilator("-Wall", str(REPO / "rtl" / "systolic_array.vlt"), str(verilog))
        assert result.returncode == 0 and not _verilator_warnings(result), (name, result.stderr)
        icarus = subprocess.run(["iverilog", "-Wall", "-o", str(tmp_path / f"{name}.vvp"),
                                 str(verilog)], capture_output=True, text=True, check=False)
        assert icarus.returncode == 0 and icarus.stderr == "" and icarus.stdout == "", name


# --------------------------------------------------------------------------------------------
# Amaranth's simulator: one register at a time
# --------------------------------------------------------------------------------------------

def _register_faults(config: ArrayConfig, name: str, cycle: int) -> list[Fault]:
    """The three kinds on ``name``, each in another PE (the last row, so nothing masks it)."""
    width = register_widths(config)[name]
    pes = [(config.rows - 1, 0), (config.rows - 1, 1), (config.rows - 2, 2)]
    return [Fault(name, pe, _bit(width, kind), kind, cycle=cycle if kind == "flip" else None)
            for pe, kind in zip(pes, KINDS, strict=True)]


def _all_register_faults(config: ArrayConfig, cycle: int, stop: int = 1 << 16) -> list[Fault]:
    """Every register of the PE kind with each kind of fault, spread over the PEs.

    The flips hit cycles ``cycle``, ``cycle + 1`` ... modulo ``stop`` (below every run's end).
    """
    faults = []
    pes = [(r, c) for r in range(config.rows) for c in range(config.cols)]
    for i, name in enumerate(config.kind.registers):
        width = register_widths(config)[name]
        for j, kind in enumerate(KINDS):
            pe = pes[(3 * i + j) % len(pes)]
            faults.append(Fault(name, pe, _bit(width, kind), kind,
                                cycle=(cycle + i) % stop if kind == "flip" else None))
    return faults


def _registers(dataflow):
    return ArrayConfig(2, 2, dataflow).kind.registers


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("index", range(10))
def test_amaranth_register_faults_equal_the_model(dataflow, index):
    name = _registers(dataflow)[index]
    config = ArrayConfig(3, 3, dataflow, acc_bits=24)
    rng = np.random.default_rng(300 + index + (0 if dataflow == "ws" else 50))
    case = random_case(rng, 3, 3, dataflow, True, True, kind="folds", max_folds=2)
    _, clean, _ = _model(config, case)
    faults = _register_faults(config, name, cycle=int(rng.integers(0, clean.cycles)))
    edges, run, trace = _model(config, case, faults)
    got = simulate_edges(config, edges, run.cycles, registers=True, faults=faults)
    where = _first_difference(config, got["registers"], trace)
    assert where is None, f"{faults}: first difference in {where}"
    np.testing.assert_array_equal(got["out_cycles"], run.outputs.cycles)
    np.testing.assert_array_equal(got["out_data"], run.outputs.data)
    # Not vacuous: the faults change the registers.
    _, _, clean_trace = _model(config, case)
    assert any(not np.array_equal(trace[n], clean_trace[n]) for n in trace)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_amaranth_bypass_and_flip_at_reset_equal_the_model(dataflow):
    config = ArrayConfig(2, 3, dataflow, x_signed=False, acc_bits=16)
    rng = np.random.default_rng(7)
    case = random_case(rng, 2, 3, dataflow, False, True, kind="gaps")
    register = "w_active" if dataflow != "os" else "hold"
    faults = [Fault(register, (0, 0), 2, "flip", cycle=0), Fault("x_flag", (1, 1), 0, "flip",
                                                                 cycle=3)]
    bypass = [(0, 1), (1, 2)]
    edges, run, trace = _model(config, case, faults, bypass)
    got = simulate_edges(config, edges, run.cycles, registers=True, faults=faults,
                         bypass=bypass)
    where = _first_difference(config, got["registers"], trace)
    assert where is None, f"first difference in {where}"
    np.testing.assert_array_equal(got["out_data"], run.outputs.data)


# --------------------------------------------------------------------------------------------
# cocotb on Icarus: the generated Verilog, every register and kind in one build per PE kind
# --------------------------------------------------------------------------------------------

@pytest.mark.rtl
@pytest.mark.parametrize(("rows", "cols", "dataflow"), [(4, 4, "ws"), (3, 4, "os"),
                                                        (2, 2, "ws"), (2, 3, "os"),
                                                        (3, 2, "is")])
def test_cocotb_faulty_rtl_equals_the_faulty_model(tmp_path, rows, cols, dataflow):
    seed = 400 + rows * 10 + cols + len(dataflow)
    rng = np.random.default_rng(seed)
    config = ArrayConfig(rows, cols, dataflow)
    cases = [random_case(rng, rows, cols, dataflow, True, True, kind=kind, max_folds=2)
             for kind in ("folds", "gaps", "short")]
    # Every flip falls inside every case (a flip after the run is refused).
    shortest = min(_model(config, case)[1].cycles for case in cases)
    faults = _all_register_faults(config, cycle=2, stop=shortest)
    bypass = [(rows - 1, cols - 1)]
    run = build_and_run(tmp_path, cases, rows=rows, cols=cols, dataflow=dataflow, seed=seed,
                        registers=True, faults=faults, bypass=bypass)
    assert run.report["errors"] == 0, f"seed {seed}: first mismatch {run.report['first']}"
    assert run.passed and run.report["outputs_checked"] > 0


@pytest.mark.rtl
def test_cocotb_faulty_64x64(tmp_path):
    rng = np.random.default_rng(64)
    a = rng.integers(-128, 128, (64, 64), dtype=np.int8)
    b = rng.integers(-128, 128, (64, 64), dtype=np.int8)
    faults = [Fault("psum", (40, 17), 30, "stuck_at_1"), Fault("w_active", (3, 60), 7, "flip",
                                                                 cycle=150),
              Fault("w_shadow", (63, 0), 0, "stuck_at_1"), Fault("psum", (10, 5), 2, "flip",
                                                                   cycle=200)]
    run = build_and_run(tmp_path, [{"a": a, "b": b}], rows=64, cols=64, seed=64,
                        faults=faults, bypass=[(20, 20), (0, 63)])
    assert run.report["errors"] == 0, f"first mismatch {run.report['first']}"
    assert run.passed and run.report["outputs_checked"] == 64
    clean = systolic.SystolicArray(64, 64).run(a, b)
    faulty = systolic.SystolicArray(64, 64).run(a, b, engine="cycle", faults=faults,
                                                bypass=[(20, 20), (0, 63)])
    assert not np.array_equal(clean.output, faulty.output)  # the faults did something
