"""Run the generated array in Amaranth's own simulator from a per-cycle edge stream."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from systolic.hdl import ArrayConfig, ArrayTop

__all__ = ["simulate_edges", "to_signed"]


def to_signed(values, bits: int) -> np.ndarray:
    """Read unsigned ``bits``-bit patterns as two's-complement values."""
    values = np.asarray(values, dtype=np.int64)
    return np.where(values >= 1 << (bits - 1), values - (1 << bits), values)


def simulate_edges(config: ArrayConfig, edges: dict, n_cycles: int, *,
                   registers: bool = False, fault=None, faults=None, bypass=None) -> dict:
    """Drive ``edges`` (the model's per-cycle edge inputs) for ``n_cycles`` cycles.

    Returns a dict with ``out_cycles`` and ``out_data`` (signed ``acc_bits`` values of every
    cycle with ``out_valid``) and, if ``registers``, ``registers[name]`` of shape
    ``(n_cycles, R, C)`` holding every PE register's bit pattern during every cycle.
    ``fault``, ``faults`` and ``bypass`` are built into the array as by :class:`ArrayTop`.
    """
    dut = ArrayTop(config, fault=fault, faults=faults, bypass=bypass)
    rows, cols = config.rows, config.cols
    names = list(dut.pe_signals[0][0])
    result = {"out_cycles": [], "out_data": []}
    trace = {name: np.zeros((n_cycles, rows, cols), np.int64) for name in names}
    edge_len = len(edges["x_valid"])

    async def testbench(ctx):
        for t in range(n_cycles):
            if registers:
                for r in range(rows):
                    for c in range(cols):
                        for name, signal in dut.pe_signals[r][c].items():
                            trace[name][t, r, c] = ctx.get(signal)
            if ctx.get(dut.out_valid):
                result["out_cycles"].append(t)
                result["out_data"].append([ctx.get(getattr(dut, f"out_data_{c}"))
                                           for c in range(cols)])
            i = t if t < edge_len else None
            for r in range(rows):
                ctx.set(getattr(dut, f"x_data_{r}"),
                        int(edges["x_data"][i, r]) & 0xFF if i is not None else 0)
            for c in range(cols):
                ctx.set(getattr(dut, f"w_data_{c}"),
                        int(edges["w_data"][i, c]) & 0xFF if i is not None else 0)
            for port in ("x_valid", "x_flag", "w_valid", "w_tag"):
                ctx.set(getattr(dut, port), int(edges[port][i]) if i is not None else 0)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    result["out_cycles"] = np.array(result["out_cycles"], np.int64)
    result["out_data"] = to_signed(np.array(result["out_data"], np.int64).reshape(-1, cols),
                                   config.acc_bits)
    if registers:
        result["registers"] = trace
    return result
