"""Multiply int8 matrices on a 256 x 256 systolic array, cycle by cycle.

A 300 x 700 by 700 x 500 product runs through the cycle-accurate engine in every dataflow;
each result is checked against numpy and the cycle breakdown is printed: with and without
weight double buffering, and as SCALE-Sim 3.0 would count it.

Run ``python examples/demo.py`` (a few seconds once the compiled kernels are cached).
"""

from __future__ import annotations

import time

import numpy as np

import systolic
from systolic._table import Column, Table

M, K, N = 300, 700, 500
DIMS = (256, 256)
COLUMNS = ("total", "weight_load", "streaming", "stall", "drain", "fill")


TABLE = Table([Column("dataflow / timing", 26, "<"),
               *(Column(name, 12, spec=",") for name in COLUMNS),
               Column("util", 12, spec=".1%")])


def row(label: str, result: systolic.RunResult) -> str:
    parts = result.breakdown
    return TABLE.row([label, *(getattr(parts, name) for name in COLUMNS), result.utilization])


def main() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (M, K), dtype=np.int8)
    b = rng.integers(-128, 128, (K, N), dtype=np.int8)
    expected = a.astype(np.int32) @ b.astype(np.int32)

    print(f"A ({M}x{K}, int8) @ B ({K}x{N}, int8) on a {DIMS[0]}x{DIMS[1]} array, "
          f"cycle-accurate engine\n")
    print(TABLE.header())
    for dataflow in systolic.Dataflow:
        buffering = (True, False) if dataflow is not systolic.Dataflow.OS else (True,)
        for double_buffer in buffering:
            arr = systolic.SystolicArray(*DIMS, dataflow, double_buffer=double_buffer)
            start = time.perf_counter()
            result = arr.run(a, b, engine="cycle")
            seconds = time.perf_counter() - start
            if not np.array_equal(result.output, expected):
                raise SystemExit(f"{dataflow.value}: the array's result differs from numpy")
            label = dataflow.value + ("" if dataflow is systolic.Dataflow.OS
                                      else " double-buf" if double_buffer else " single-buf")
            print(row(label, result) + f"   ({seconds * 1e3:.0f} ms, equals numpy)")
        scalesim = systolic.SystolicArray(*DIMS, dataflow).run(a, b, engine="fast",
                                                               timing="scalesim")
        print(row(f"{dataflow.value} SCALE-Sim count", scalesim))
    print("\ntotal = weight_load + streaming + stall + drain; fill overlaps streaming.")


if __name__ == "__main__":
    main()
