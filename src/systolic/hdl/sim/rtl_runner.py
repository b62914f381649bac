"""Build the generated Verilog with cocotb's runner and run ``tb_array`` on it."""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cocotb_tools.check_results import get_results
from cocotb_tools.runner import get_runner

from .._config import ArrayConfig
from .._generate import load_sidecar, write
from .._netlist import ROW_MODULE, TOP_MODULE, array_netlist, row_blocks_verilog
from .._verilator import lean_runner, public_signals
from .._waivers import VERILATOR_WAIVERS
from .model_streams import save_cases
from .stimulus import base_seed, lane_operands

__all__ = ["SIM", "RtlRun", "build_and_run", "icarus_base_dir", "run_matmul_at_size"]

_HERE = Path(__file__).resolve().parent

#: The simulator ``build_and_run`` uses: ``SIM`` from the environment, Icarus by default.
SIM = os.environ.get("SIM", "icarus")
_IVL_SYSTEM_DIR = Path("/usr/lib/x86_64-linux-gnu/ivl")


def icarus_base_dir(root: Path) -> Path | None:
    """A copy of Icarus's base directory whose ``vvp.conf`` skips the ``nodangle`` pass.

    ``nodangle`` gets much slower as the design grows (minutes at 128 x 128), and the
    generated netlist has no dangling logic worth removing. Returns None when Icarus's base
    directory is not where Debian puts it; the build then uses Icarus's defaults.
    """
    source = _ivl_system_dir()
    if source is None:
        return None
    target = root / "ivl"
    if (target / "vvp.conf").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name in ("vvp.conf", "vvp-s.conf"):
            lines = entry.read_text().splitlines(keepends=True)
            (target / entry.name).write_text(
                "".join(line for line in lines if line.strip() != "functor:nodangle"))
        elif not (target / entry.name).exists():
            (target / entry.name).symlink_to(entry)
    return target


def _ivl_system_dir() -> Path | None:
    if (_IVL_SYSTEM_DIR / "vvp.conf").exists():
        return _IVL_SYSTEM_DIR
    iverilog = shutil.which("iverilog")
    if iverilog is None:
        return None
    candidate = Path(iverilog).resolve().parent.parent / "lib" / "ivl"
    return candidate if (candidate / "vvp.conf").exists() else None


def _use_row_blocks(verilog_path: Path, config: ArrayConfig) -> None:
    """Rewrite the top module of ``verilog_path`` with its rows as :data:`ROW_MODULE`."""
    text = verilog_path.read_text()
    start = text.index(f"module {TOP_MODULE}(")
    end = text.index("endmodule\n", start) + len("endmodule\n")
    verilog_path.write_text(text[:start] + row_blocks_verilog(array_netlist(config)) + text[end:])


def _simulator(simulator: str, work: Path, verilog_path: Path, sidecar: dict, registers: bool,
               ivl_root: Path | None, row_blocks: bool = False):
    """``(runner, sources, build_args)`` for ``simulator`` (a name cocotb's runner knows).

    Icarus skips its ``nodangle`` pass (:func:`icarus_base_dir`). Verilator builds without
    ``--public-flat-rw``, from the lint waivers, a control file making public only what the
    testbench reads, and the Verilog; ``SIM_VERILATOR_OPT`` sets g++'s optimisation (-O0).
    """
    if simulator == "verilator":
        control = work / "public.vlt"
        # In os arrays every row's load input is the bottom row's x_flag register;
        # Verilator cannot see that a row block's outputs are registers, so it reports the
        # loop through the block as combinational and settles it by iterating.
        hierarchy = (f'hier_block -module "{ROW_MODULE}"\n'
                     'lint_off -rule UNOPTFLAT -file "*" -match "*Circular combinational logic: '
                     f'\'{TOP_MODULE}.row_*"\n' if row_blocks else "")
        control.write_text(public_signals(sidecar, registers) + hierarchy)
        waivers = work / "waivers.vlt"
        waivers.write_text(VERILATOR_WAIVERS)
        runner = lean_runner(os.environ.get("SIM_VERILATOR_OPT", "-O0"))
        return runner, [waivers, control, verilog_path], ["--hierarchical"] if row_blocks else []
    build_args = []
    if simulator == "icarus":
        base = icarus_base_dir(ivl_root or work)
        if base is not None:
            build_args = ["-B", str(base)]
    return get_runner(simulator), [verilog_path], build_args


def _testbench_on_path(runner):
    """Let the simulator's Python import ``tb_array`` from this folder as a top-level module.

    Imported as ``systolic.hdl.sim.tb_array``, the testbench would import the ``systolic``
    package and with it numba, which takes seconds in the simulator's embedded Python (4.6 s
    against 0.6 s in a plain process, measured), on every build. The testbench needs only
    numpy and :mod:`.model_streams`, so it is loaded on its own. cocotb 2.1's runner sets the
    simulator's ``PYTHONPATH`` to this process's ``sys.path`` in ``_set_env_test`` (ignoring
    ``extra_env``); this folder is added in front of it there.
    """
    set_env_test = runner._set_env_test

    def _set_env_test():
        set_env_test()
        runner.env["PYTHONPATH"] = os.pathsep.join([str(_HERE), runner.env["PYTHONPATH"]])

    runner._set_env_test = _set_env_test
    return runner


@dataclass
class RtlRun:
    """What one build-and-run measured and what the checker found."""

    report: dict
    generate_seconds: float
    build_seconds: float
    test_seconds: float  # simulator process only (the model's time is model_seconds)
    model_seconds: float
    verilog_bytes: int
    passed: bool


def build_and_run(work: Path, cases: list[dict], *, rows: int, cols: int, dataflow: str = "ws",
                  x_signed: bool = True, w_signed: bool = True, acc_bits: int = 32,
                  registers: bool = False, seed: int = 0, fault=None, faults=None,
                  bypass=None, ivl_root: Path | None = None, progress: bool = False,
                  simulator: str | None = None, row_blocks: bool = False) -> RtlRun:
    """Generate, compile and simulate; return the checker's report.

    ``work`` holds everything of this run (Verilog, sidecar, build directory, the model's
    streams, report), so concurrent runs never share a directory. ``cases`` are dicts with
    ``a``, ``b`` and optional ``gaps``. A failing cocotb test is reported through
    ``RtlRun.passed`` and the report, not raised, so callers can inspect the mismatch. With
    ``progress``, each stage is announced on stdout and the simulator logs its progress there
    instead of into ``sim.log`` (for runs that take minutes). ``simulator`` is ``"icarus"`` or
    ``"verilator"``; by default :data:`SIM`. ``fault`` (a verification mutation), ``faults``
    and ``bypass`` go to the generator (:func:`systolic.hdl.generate`); the model gets the
    same ``faults`` and ``bypass`` from the sidecar.

    ``row_blocks`` (Verilator only, without faults or register checks) builds the top module
    with its rows as one hierarchical block (:func:`systolic.hdl._netlist.row_blocks_verilog`):
    the same PE and delay modules and connections, which Verilator then compiles once per
    row module instead of once per PE: 5 to 7 times faster builds at 256 x 256.
    """
    simulator = simulator or SIM
    if row_blocks and (simulator != "verilator" or registers):
        raise ValueError("row_blocks is for Verilator builds without register checks")

    def stage(message: str):
        if progress:
            print(f"[{time.perf_counter() - start:6.0f} s] {message}", flush=True)

    work = Path(work).resolve()  # the simulator runs in another directory
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    stage(f"generating the Verilog of a {rows} x {cols} {dataflow} array")
    verilog_path, sidecar_path = write(work, rows, cols, dataflow, x_signed=x_signed,
                                       w_signed=w_signed, acc_bits=acc_bits, name="dut",
                                       fault=fault, faults=faults, bypass=bypass)
    if row_blocks:
        _use_row_blocks(verilog_path, ArrayConfig(rows, cols, dataflow, x_signed, w_signed,
                                                  acc_bits))
    generated = time.perf_counter()
    sidecar = load_sidecar(sidecar_path)
    runner, sources, build_args = _simulator(simulator, work, verilog_path, sidecar, registers,
                                             ivl_root, row_blocks)
    stage(f"compiling {verilog_path.stat().st_size / 1e6:.1f} MB of Verilog with {simulator}")
    build_dir = work / "build"
    runner.build(sources=sources, hdl_toplevel="systolic_array", build_dir=build_dir,
                 build_args=build_args, timescale=("1ns", "1ps"), always=True,
                 log_file=work / "build.log")
    built = time.perf_counter()
    cases_path = work / "cases.npz"
    report_path = work / "report.json"
    stage("running the cycle-accurate model")
    model_start = time.perf_counter()
    save_cases(cases_path, sidecar, cases, registers)
    model_seconds = time.perf_counter() - model_start
    env = {
        "SYSTOLIC_SIDECAR": str(sidecar_path),
        "SYSTOLIC_CASES": str(cases_path),
        "SYSTOLIC_REGISTERS": "1" if registers else "0",
        "SYSTOLIC_REPORT": str(report_path),
        "SYSTOLIC_PROGRESS": "1" if progress else "0",
    }
    results = work / "results.xml"
    stage("simulating and comparing every output with the model")
    # The simulator runs in ``work``, so that its results file and logs stay there.
    try:
        _testbench_on_path(runner).test(hdl_toplevel="systolic_array", hdl_toplevel_lang="verilog",
                    test_module="tb_array", test_dir=work, build_dir=build_dir,
                    seed=seed, extra_env=env, results_xml=str(results),
                    log_file=None if progress else work / "sim.log")
    except SystemExit:
        # Under pytest the runner exits on a failed cocotb test; the results file tells.
        pass
    tested = time.perf_counter() - model_seconds
    passed = results.exists() and get_results(results)[1] == 0
    if not report_path.exists():
        if progress:  # the simulator's output went to stdout, not to sim.log
            raise RuntimeError("the cocotb test wrote no report; see the simulator output above")
        log = (work / "sim.log").read_text() if (work / "sim.log").exists() else ""
        raise RuntimeError(f"the cocotb test wrote no report; simulator log:\n{log[-4000:]}")
    report = json.loads(report_path.read_text())
    return RtlRun(report, generated - start, built - generated, tested - built, model_seconds,
                  verilog_path.stat().st_size, passed)


def run_matmul_at_size(work: Path, rows: int, cols: int, *,
                       simulator: str | None = None) -> RtlRun:
    """One ``rows x rows`` by ``rows x cols`` int8 ws matmul through the RTL and the model.

    What ``systolic sim`` and ``make sim ROWS=.. COLS=..`` run: every stage is announced and
    the simulation logs its progress on stdout; a summary line (time, Verilog size, peak
    memory of the simulator, cases, cycles and outputs compared) follows. The seed is 256
    unless ``SIM_SEED`` sets another.
    """
    seed = base_seed(256)
    rng = np.random.default_rng(seed)
    a, b = lane_operands(rng, rows, rows, cols, "ws", True, True)
    start = time.perf_counter()
    run = build_and_run(work, [{"a": a, "b": b}], rows=rows, cols=cols, seed=seed,
                        progress=True, simulator=simulator)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    print(f"{rows}x{cols}: {time.perf_counter() - start:.0f} s total, Verilog "
          f"{run.verilog_bytes / 1e6:.1f} MB, peak child memory {peak:.2f} GB")
    print(f"seed {seed}: {run.report['cases']} cases, {run.report['cycles']} cycles, "
          f"{run.report['outputs_checked']} outputs; generate {run.generate_seconds:.1f} s, "
          f"compile {run.build_seconds:.1f} s, simulate {run.test_seconds:.1f} s")
    if run.report["errors"]:
        print(f"seed {seed}: {run.report['errors']} mismatches, first {run.report['first']}")
    return run
