"""The Amaranth components in Amaranth's own simulator (no Icarus).

PE unit tests drive one processing element directly and check the register transfers of
contract section 3; small arrays are compared cycle by cycle, every PE register included, with
the naive reference model (``tests/reference.py``) and with the engine.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

import reference as ref
import systolic
from amaranth_harness import simulate_edges, to_signed
from systolic.hdl import ArrayConfig, ProcessingElement, register_widths
from systolic.hdl.sim.stimulus import base_seed, random_case


def run_pe(config: ArrayConfig, steps: list[dict], row: int = 0) -> list[dict]:
    """Apply one input dict per cycle to a PE; return its registers after every cycle."""
    pe = ProcessingElement(config)
    seen = []

    async def testbench(ctx):
        if config.stationary == "ws":
            ctx.set(pe.row, row)
        inputs = [name for name in ("x_in", "x_valid_in", "x_flag_in", "w_in", "w_valid_in",
                                    "w_tag_in", "psum_in", "psum_valid_in", "load")
                  if hasattr(pe, name)]
        for step in steps:
            for name in inputs:  # inputs not given in a step are 0
                width = len(getattr(pe, name))
                ctx.set(getattr(pe, name), step.get(name, 0) & ((1 << width) - 1))
            await ctx.tick()
            seen.append({name: ctx.get(getattr(pe, name)) for name in
                         ("x", "x_valid", "x_flag", "w", "w_valid", "w_tag", "psum",
                          "psum_valid", *(("w_active", "w_shadow") if config.stationary == "ws"
                                          else ("acc", "hold")))})

    sim = Simulator(pe)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return seen


def signed(value: int, bits: int) -> int:
    return int(to_signed(value, bits))


def test_ws_pe_latches_only_its_row_tag_and_switches_with_the_flag():
    config = ArrayConfig(4, 1, "ws")
    regs = run_pe(config, [
        {"w_in": -7, "w_valid_in": 1, "w_tag_in": 1},             # another row's weight
        {"w_in": -3, "w_valid_in": 1, "w_tag_in": 2},             # ours: into w_shadow
        {"w_in": 99, "w_valid_in": 0, "w_tag_in": 2},             # not valid: ignored
        {"x_in": 5, "x_valid_in": 1, "x_flag_in": 1, "psum_in": 1000, "psum_valid_in": 1},
        {"x_in": -128, "x_valid_in": 1, "x_flag_in": 0, "psum_in": 0},
        {"x_in": 77, "x_valid_in": 0, "psum_in": 12},             # invalid x: no product
    ], row=2)
    assert [r["w_shadow"] for r in regs[:3]] == [0, 0xFD, 0xFD]
    assert regs[3]["w_active"] == 0xFD                            # copied by the switch
    # The switching vector already uses the shadow weight: 1000 + (-3) * 5.
    assert signed(regs[3]["psum"], 32) == 985 and regs[3]["psum_valid"] == 1
    assert signed(regs[4]["psum"], 32) == 384 and regs[4]["x_flag"] == 0
    assert signed(regs[5]["psum"], 32) == 12 and regs[5]["psum_valid"] == 0
    assert regs[5]["x"] == 77                                     # passed on regardless
    assert [r["w_tag"] for r in regs[:3]] == [1, 2, 2]


@pytest.mark.parametrize(("x_signed", "w_signed", "product"), [
    (True, True, -128 * 127), (False, True, 255 * 127), (True, False, -128 * 255),
    (False, False, 255 * 255)])
def test_ws_pe_signedness_and_wraparound(x_signed, w_signed, product):
    config = ArrayConfig(1, 1, "ws", x_signed, w_signed, acc_bits=16)
    x, w = (-128 if x_signed else 255), (127 if w_signed else 255)
    regs = run_pe(config, [
        {"w_in": w, "w_valid_in": 1, "w_tag_in": 0},
        {"x_in": x, "x_valid_in": 1, "x_flag_in": 1, "psum_in": 0x7FFF},
    ])
    assert signed(regs[1]["psum"], 16) == ref.wrap(0x7FFF + product, 16)


def test_os_pe_accumulates_holds_and_drains():
    config = ArrayConfig(2, 1, "os", acc_bits=24)
    regs = run_pe(config, [
        {"x_in": 3, "w_in": -4, "x_valid_in": 1},
        {"x_in": -128, "w_in": -128, "x_valid_in": 1, "x_flag_in": 1},   # last pair
        {"x_in": 9, "w_in": 9, "x_valid_in": 0, "psum_in": 5, "psum_valid_in": 1},
        {"load": 1, "psum_in": 6},                                       # drain strobe
        {"psum_in": 7, "psum_valid_in": 0},
    ])
    assert signed(regs[0]["acc"], 24) == -12
    assert signed(regs[1]["hold"], 24) == -12 + 16384 and regs[1]["acc"] == 0
    assert regs[2]["acc"] == 0                                           # invalid pair
    assert signed(regs[2]["psum"], 24) == 5 and regs[2]["psum_valid"] == 1
    assert signed(regs[3]["psum"], 24) == 16372 and regs[3]["psum_valid"] == 1
    assert signed(regs[4]["psum"], 24) == 7 and regs[4]["psum_valid"] == 0
    assert [r["w_valid"] for r in regs] == [0] * 5


def _register_bits(values: np.ndarray, name: str, config: ArrayConfig) -> np.ndarray:
    """Model register values as the RTL's unsigned bit patterns."""
    return np.asarray(values, np.int64) & ((1 << register_widths(config)[name]) - 1)


ARRAYS = [
    ArrayConfig(1, 1, "ws"),
    ArrayConfig(1, 4, "os", x_signed=False),
    ArrayConfig(4, 1, "ws", w_signed=False, acc_bits=16),
    ArrayConfig(3, 2, "is", x_signed=False, w_signed=False, acc_bits=20),
    ArrayConfig(2, 3, "os", acc_bits=16),
    ArrayConfig(4, 4, "ws", x_signed=False),
    ArrayConfig(3, 5, "os", w_signed=False),
]


@pytest.mark.parametrize("config", ARRAYS, ids=lambda c: c.name)
@pytest.mark.parametrize("kind", ["folds", "short", "gaps"])
def test_array_matches_reference_every_register(config, kind):
    seed = base_seed(1000 + ARRAYS.index(config) * 10 + ["folds", "short", "gaps"].index(kind))
    rng = np.random.default_rng(seed)
    case = random_case(rng, config.rows, config.cols, config.dataflow, config.x_signed,
                       config.w_signed, kind=kind)
    expected = ref.simulate(case["a"], case["b"], config.rows, config.cols, config.dataflow,
                            acc_bits=config.acc_bits, gaps=case["gaps"], record_registers=True)
    got = simulate_edges(config, expected.edges, expected.cycles, registers=True)
    np.testing.assert_array_equal(got["out_cycles"], expected.out_cycles, err_msg=f"seed {seed}")
    np.testing.assert_array_equal(got["out_data"], expected.out_data, err_msg=f"seed {seed}")
    for name, values in expected.registers.items():
        mismatch = np.argwhere(got["registers"][name] != _register_bits(values, name, config))
        assert mismatch.size == 0, (f"seed {seed}: register {name} differs first at "
                                    f"(cycle, row, col) = {tuple(mismatch[0])}")


@pytest.mark.parametrize("config", ARRAYS[3:6], ids=lambda c: c.name)
def test_array_matches_engine_stream(config):
    seed = base_seed(2000 + ARRAYS.index(config))
    rng = np.random.default_rng(seed)
    case = random_case(rng, config.rows, config.cols, config.dataflow, config.x_signed,
                       config.w_signed, kind="gaps")
    arr = systolic.SystolicArray(config.rows, config.cols, config.dataflow,
                                 acc_bits=config.acc_bits)
    stream = arr.edge_stream(case["a"], case["b"], gaps=case["gaps"])
    res = arr.run(case["a"], case["b"], engine="cycle", gaps=case["gaps"], record_outputs=True)
    edges = {name: np.asarray(getattr(stream, name)) for name in
             ("x_data", "x_valid", "x_flag", "w_data", "w_valid", "w_tag")}
    got = simulate_edges(config, edges, res.cycles)
    np.testing.assert_array_equal(got["out_cycles"], res.outputs.cycles, err_msg=f"seed {seed}")
    np.testing.assert_array_equal(got["out_data"], res.outputs.data, err_msg=f"seed {seed}")
