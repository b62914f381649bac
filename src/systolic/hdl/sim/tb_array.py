"""cocotb testbench of ``systolic_array``: driver -> monitor -> model -> checker.

:func:`systolic.hdl.sim.build_and_run` writes the matmul cases to an ``.npz`` file and starts
this module inside the simulator with these environment variables:

``SYSTOLIC_SIDECAR``
    The generator's JSON sidecar; the only source of the array's parameters.
``SYSTOLIC_CASES``
    ``.npz`` written by ``model_streams.save_cases``: for every case, the cycle-accurate
    model's edge stream, output stream and (for small arrays) register trace.
``SYSTOLIC_REGISTERS``
    ``1`` to compare every PE register on every cycle as well (small arrays).
``SYSTOLIC_REPORT``
    Where to write the checker's findings as JSON (for the runner and the mutation test).
``SYSTOLIC_PROGRESS``
    ``1`` to log progress (cycle, elapsed and remaining time) about every 5 % of a case, for
    runs that take minutes.

Each case is a reset followed by the model's per-cycle edge stream; the checker compares every
output value and the cycle it appears on with the model's output stream.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

# The simulator loads this file as the top-level module ``tb_array``, next to a top-level
# ``model_streams``, without the ``systolic`` package (see ``rtl_runner._testbench_on_path``).
if __package__:
    from .model_streams import EDGE_NAMES, load_case
else:
    from model_streams import EDGE_NAMES, load_case

#: Extra cycles simulated after the model's last result, to catch late or spurious outputs
#: (fault-free arrays only).
TAIL_CYCLES = 3
#: Rising edges with ``rst`` high before each case (the reset is synchronous).
RESET_CYCLES = 2


def register_widths(sidecar: dict) -> dict[str, int]:
    """Bit width of every PE register named in the sidecar."""
    return {reg["name"]: reg["width"] for reg in sidecar["pe_registers"]}


class Driver:
    """Drives one cycle of the unskewed edge stream onto the top-level input ports."""

    def __init__(self, dut, rows: int, cols: int):
        self.x_data = [getattr(dut, f"x_data_{r}") for r in range(rows)]
        self.w_data = [getattr(dut, f"w_data_{c}") for c in range(cols)]
        self.flags = {name: getattr(dut, name) for name in ("x_valid", "x_flag", "w_valid",
                                                            "w_tag")}

    def drive(self, edges: dict | None, t: int):
        """Present cycle ``t`` of ``edges``, or idle inputs if ``edges`` is None."""
        if edges is None:
            for handle in self.x_data + self.w_data + list(self.flags.values()):
                handle.value = 0
            return
        for handle, value in zip(self.x_data, edges["x_data"][t], strict=True):
            handle.value = int(value) & 0xFF
        for handle, value in zip(self.w_data, edges["w_data"][t], strict=True):
            handle.value = int(value) & 0xFF
        for name, handle in self.flags.items():
            handle.value = int(edges[name][t])


class Monitor:
    """Samples ``out_valid`` and ``out_data_<c>`` (and optionally every PE register)."""

    def __init__(self, dut, rows: int, cols: int, registers: dict[str, int] | None):
        self.out_valid = dut.out_valid
        self.out_data = [getattr(dut, f"out_data_{c}") for c in range(cols)]
        # (handle, is a vector): one-bit handles read as Logic, wider ones as LogicArray.
        self.registers = {}
        if registers:
            for r in range(rows):
                for c in range(cols):
                    pe = getattr(dut, f"pe_r{r}_c{c}")
                    for name, width in registers.items():
                        self.registers[(r, c, name)] = (getattr(pe, name), width > 1)

    def sample(self) -> tuple[int, list[int] | None]:
        """``(out_valid, out_data as unsigned bit patterns or None when not valid)``."""
        valid = int(self.out_valid.value)
        if not valid:
            return 0, None
        return 1, [handle.value.to_unsigned() for handle in self.out_data]

    def sample_registers(self) -> dict:
        return {key: handle.value.to_unsigned() if vector else int(handle.value)
                for key, (handle, vector) in self.registers.items()}


class Model:
    """The cycle-accurate model's streams for each case (computed by the test process)."""

    def __init__(self, path: str):
        self.data = np.load(path)
        self.n_cases = int(self.data["n_cases"])

    def case(self, i: int):
        """``(edges, expected outputs {cycle: data}, cycles, register trace or None)``."""
        streams = load_case(self.data, i)
        edges = {name: streams[f"edges_{name}"] for name in EDGE_NAMES}
        expected = dict(zip((int(t) for t in streams["out_cycles"]), streams["out_data"],
                            strict=True))
        trace = {key[4:]: value for key, value in streams.items() if key.startswith("reg_")}
        return edges, expected, int(streams["cycles"]), trace or None


class Checker:
    """Compares the monitored stream with the model; remembers the first mismatch."""

    def __init__(self, log, sidecar: dict):
        self.log = log
        self.cols = sidecar["cols"]
        self.acc_mask = (1 << sidecar["acc_bits"]) - 1
        self.masks = {name: (1 << width) - 1
                      for name, width in register_widths(sidecar).items()}
        self.expected = {}
        self.errors = 0
        self.outputs_checked = 0
        self.first = None

    def _error(self, **finding):
        self.errors += 1
        if self.first is None:
            self.first = finding
            self.log.error("first mismatch: %s", finding)

    def expect(self, expected_outputs: dict):
        """Set the model's outputs of the current case: ``{cycle: out_data}``."""
        self.expected = expected_outputs

    def check_outputs(self, case: int, t: int, valid: int, data):
        expected = self.expected.get(t)
        if valid != (expected is not None):
            self._error(case=case, cycle=t, column=self.cols - 1, what="out_valid",
                        rtl=valid, model=int(expected is not None))
            return
        if expected is None:
            return
        self.outputs_checked += 1
        for c in range(self.cols):
            model_bits = int(expected[c]) & self.acc_mask
            if data[c] != model_bits:
                self._error(case=case, cycle=t, column=c, what="out_data",
                            rtl=self._signed(data[c]), model=int(expected[c]))

    def _signed(self, bits: int) -> int:
        return bits - (self.acc_mask + 1) if bits > self.acc_mask >> 1 else bits

    def check_registers(self, case: int, t: int, sampled: dict, trace: dict, index: int):
        for (r, c, name), bits in sampled.items():
            model = int(trace[name][index, r, c])
            if bits != model & self.masks[name]:
                self._error(case=case, cycle=t, row=r, column=c, register=name, rtl=bits,
                            model=model)


class Testbench:
    """Wires driver, monitor, model and checker together for one DUT."""

    def __init__(self, dut, sidecar: dict, registers: bool, progress: bool):
        rows, cols = sidecar["rows"], sidecar["cols"]
        self.dut = dut
        self.driver = Driver(dut, rows, cols)
        self.monitor = Monitor(dut, rows, cols, register_widths(sidecar) if registers else None)
        self.model = Model(os.environ["SYSTOLIC_CASES"])
        self.checker = Checker(dut._log, sidecar)
        self.progress = progress
        # A faulty array's run ends at the model's last cycle: after it a fault can keep
        # out_valid high (a stuck valid bit), where the model (section 6) defines no output.
        self.tail = 0 if sidecar.get("faults") else TAIL_CYCLES
        self.cycles = 0

    async def reset(self):
        self.dut.rst.value = 1
        self.driver.drive(None, 0)
        for _ in range(RESET_CYCLES):
            await FallingEdge(self.dut.clk)

    async def run_case(self, case: int):
        edges, expected, cycles, trace = self.model.case(case)
        self.checker.expect(expected)
        n_cycles = cycles + self.tail
        n_edges = len(edges["x_valid"])
        await self.reset()
        step = max(1, n_cycles // 20)
        start = time.perf_counter()
        # One await per cycle: at the falling edge of cycle t the registers hold their
        # cycle-t values, and the inputs written now are captured at the end of cycle t.
        for t in range(n_cycles):
            if t == 0:
                self.dut.rst.value = 0
            valid, data = self.monitor.sample()
            self.checker.check_outputs(case, t, valid, data)
            if trace is not None and t < cycles:
                self.checker.check_registers(case, t, self.monitor.sample_registers(), trace, t)
            self.driver.drive(edges if t < n_edges else None, t)
            await FallingEdge(self.dut.clk)
            if self.progress and (t + 1) % step == 0:
                elapsed = time.perf_counter() - start
                self.dut._log.info("cycle %d of %d (%d%%): %.0f s so far, about %.0f s left",
                                   t + 1, n_cycles, 100 * (t + 1) // n_cycles, elapsed,
                                   elapsed * (n_cycles - t - 1) / (t + 1))
        self.cycles += n_cycles


@cocotb.test()
async def matmul_cases(dut):
    """Every case of ``SYSTOLIC_CASES`` through the RTL and the model, compared cycle by cycle."""
    sidecar = json.loads(Path(os.environ["SYSTOLIC_SIDECAR"]).read_text())
    registers = os.environ.get("SYSTOLIC_REGISTERS", "0") == "1"
    progress = os.environ.get("SYSTOLIC_PROGRESS", "0") == "1"
    tb = Testbench(dut, sidecar, registers, progress)
    Clock(dut.clk, 10, unit="ns", impl="gpi").start()
    start = time.perf_counter()
    for i in range(tb.model.n_cases):
        dut._log.info("case %d of %d", i + 1, tb.model.n_cases)
        await tb.run_case(i)
    elapsed = time.perf_counter() - start
    report = {"errors": tb.checker.errors, "first": tb.checker.first,
              "cases": tb.model.n_cases, "cycles": tb.cycles,
              "outputs_checked": tb.checker.outputs_checked, "seconds": elapsed}
    Path(os.environ["SYSTOLIC_REPORT"]).write_text(json.dumps(report))
    assert tb.checker.errors == 0, f"{tb.checker.errors} mismatches, first: {tb.checker.first}"
