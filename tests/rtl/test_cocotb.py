"""cocotb on Icarus: the generated Verilog against the cycle-accurate model.

Every test generates its array into its own directory, compiles it and runs ``tb_array``,
which drives the model's edge stream and compares every output value and cycle (and, up to
8 x 8, every PE register on every cycle) with the model. Seeds are fixed and printed; set
``SIM_SEED`` to explore others.
"""

from __future__ import annotations

import numpy as np
import pytest

from systolic.hdl import Fault
from systolic.hdl.sim import build_and_run, rtl_runner, run_matmul_at_size
from systolic.hdl.sim.stimulus import base_seed, full_size, lane_operands, random_case

pytestmark = pytest.mark.rtl

#: (rows, cols, dataflow, x_signed, w_signed, acc_bits): square, 1 x N, N x 1, non-square,
#: every dataflow, signed/unsigned mixes and narrow sums.
SMALL = [
    (4, 4, "ws", True, True, 32),
    (1, 5, "ws", False, True, 16),
    (6, 1, "os", True, False, 24),
    (3, 5, "is", True, True, 16),
    (8, 8, "ws", False, True, 32),
    (5, 3, "os", False, False, 32),
    (8, 6, "os", True, True, 16),
    (2, 7, "is", False, False, 20),
    (7, 2, "ws", True, False, 18),
    (1, 1, "os", True, True, 16),
]


def _report(run, seed):
    print(f"seed {seed}: {run.report['cases']} cases, {run.report['cycles']} cycles, "
          f"{run.report['outputs_checked']} outputs; generate {run.generate_seconds:.1f} s, "
          f"compile {run.build_seconds:.1f} s, simulate {run.test_seconds:.1f} s")


def _params(config):
    rows, cols, dataflow, x_signed, w_signed, acc_bits = config
    return {"rows": rows, "cols": cols, "dataflow": dataflow, "x_signed": x_signed,
            "w_signed": w_signed, "acc_bits": acc_bits}


@pytest.mark.parametrize("config", SMALL, ids=lambda c: "{}x{}_{}_{}{}_acc{}".format(
    c[0], c[1], c[2], "i" if c[3] else "u", "i" if c[4] else "u", c[5]))
def test_small_arrays_every_register(tmp_path, config):
    seed = base_seed(100 + SMALL.index(config))
    rng = np.random.default_rng(seed)
    params = _params(config)
    lanes = (params["rows"], params["cols"], params["dataflow"], params["x_signed"],
             params["w_signed"])
    cases = [random_case(rng, *lanes, kind=kind) for kind in ("folds", "short", "gaps", "gaps")]
    run = build_and_run(tmp_path, cases, registers=True, seed=seed, **params)
    _report(run, seed)
    assert run.report["errors"] == 0, f"seed {seed}: first mismatch {run.report['first']}"
    assert run.passed
    assert run.report["outputs_checked"] > 0


@pytest.mark.parametrize(("rows", "cols", "dataflow", "kind"), [
    (16, 16, "ws", "gaps"), (16, 16, "os", "folds"), (32, 32, "ws", "folds"),
    (24, 32, "is", "gaps")])
def test_medium_arrays(tmp_path, rows, cols, dataflow, kind):
    seed = base_seed(rows * 1000 + cols + len(dataflow))
    rng = np.random.default_rng(seed)
    cases = [random_case(rng, rows, cols, dataflow, True, True, kind=kind, max_folds=2)]
    run = build_and_run(tmp_path, cases, rows=rows, cols=cols, dataflow=dataflow, seed=seed)
    _report(run, seed)
    assert run.report["errors"] == 0, f"seed {seed}: first mismatch {run.report['first']}"
    assert run.passed


@pytest.mark.parametrize(("rows", "cols", "dataflow", "signed", "kind"), [
    (5, 3, "ws", True, "folds"), (4, 6, "os", True, "gaps"), (3, 5, "is", False, "gaps"),
    (6, 4, "os", False, "folds")])
def test_row_blocks_on_verilator(tmp_path, rows, cols, dataflow, signed, kind):
    # The top with its rows as hierarchical blocks, as the full-size Verilator runs build it.
    if rtl_runner.SIM != "verilator":
        pytest.skip("row blocks are a Verilator build: SIM=verilator make sim")
    seed = base_seed(rows * 100 + cols + len(kind))
    rng = np.random.default_rng(seed)
    cases = [random_case(rng, rows, cols, dataflow, signed, signed, kind=kind, max_folds=2)
             for _ in range(2)]
    run = build_and_run(tmp_path, cases, rows=rows, cols=cols, dataflow=dataflow,
                        x_signed=signed, w_signed=signed, seed=seed, row_blocks=True)
    _report(run, seed)
    assert run.report["errors"] == 0, f"seed {seed}: first mismatch {run.report['first']}"
    assert run.passed
    assert run.report["cases"] == 2


def test_64x64_matmul(tmp_path):
    seed = base_seed(64)
    rng = np.random.default_rng(seed)
    a, b = lane_operands(rng, 64, 128, 96, "ws", True, True)
    run = build_and_run(tmp_path, [{"a": a, "b": b}], rows=64, cols=64, seed=seed)
    _report(run, seed)
    assert run.report["errors"] == 0, f"seed {seed}: first mismatch {run.report['first']}"
    assert run.passed


# --------------------------------------------------------------------------------------------
# Mutation check: the testbench must notice wrong hardware and say where
# --------------------------------------------------------------------------------------------

def _positive_case(rows, cols):
    # Positive operands make every result non-zero, so a late value always differs.
    rng = np.random.default_rng(7)
    return {"a": rng.integers(1, 128, (5, rows)).astype(np.int8),
            "b": rng.integers(1, 128, (rows, cols)).astype(np.int8), "gaps": None}


@pytest.mark.parametrize("fault", [Fault("out_flip", col=1, bit=5), Fault("out_delay", col=2)],
                         ids=lambda f: f.kind)
def test_checker_reports_output_fault(tmp_path, fault):
    rows, cols = 3, 4
    run = build_and_run(tmp_path, [_positive_case(rows, cols)], rows=rows, cols=cols,
                        fault=fault)
    # ws: weights load in cycles 0..R-1, the first vector follows at R and its result
    # appears R + C - 1 cycles later (contract 3.1).
    first_result = rows + rows + cols - 1
    assert not run.passed
    assert run.report["errors"] == 5  # one per result vector, all in the faulty column
    first = run.report["first"]
    assert (first["cycle"], first["column"], first["what"]) == (first_result, fault.col,
                                                                 "out_data")
    if fault.kind == "out_flip":
        assert first["rtl"] ^ first["model"] == 1 << fault.bit
    else:
        assert first["rtl"] == 0  # the column still shows the idle value of the cycle before


def test_checker_reports_pe_register_fault(tmp_path):
    fault = Fault("psum_flip", row=2, col=1, bit=0)
    run = build_and_run(tmp_path, [_positive_case(3, 4)], rows=3, cols=4, fault=fault,
                        registers=True)
    assert not run.passed
    first = run.report["first"]
    # The flipped input is captured at the end of cycle 0: psum of PE(2, 1) is 1, not 0.
    assert first == {"case": 0, "cycle": 1, "row": 2, "column": 1, "register": "psum",
                     "rtl": 1, "model": 0}


# --------------------------------------------------------------------------------------------
# Full size: `make sim ROWS=256 COLS=256`
# --------------------------------------------------------------------------------------------

@pytest.mark.full_size
@pytest.mark.slow
def test_full_size_matmul(tmp_path):
    size = full_size()
    if size is None:
        pytest.skip("full-size run: set SIM_ROWS/SIM_COLS (make sim ROWS=256 COLS=256)")
    rows, cols = size
    run = run_matmul_at_size(tmp_path, rows, cols)
    assert run.report["errors"] == 0, f"first mismatch {run.report['first']}"
    assert run.passed
