"""Cost of a fault campaign on the digits network, against a fault-free run in the same run.

Run ``python benchmarks/bench_campaign.py``; the markdown table is printed and written to
``benchmarks/results/campaign.md``. The baseline is one fault-free run of the compiled network
on the cycle engine; a campaign's cost is given per run and as a multiple of it, on one process
and on a pool of two (the same table both times, which the script checks).
"""

from __future__ import annotations

import functools
import os
import platform
import time
from pathlib import Path

import numba
import numpy as np

from machine import best_time, cpu_model
from systolic._table import markdown_table
from systolic.faults import FaultModel, NetworkWorkload, campaign
from systolic.tpu import TPUConfig, compile_network, digits_mlp

RESULTS = Path(__file__).parent / "results" / "campaign.md"
RUNS = 40
REPEATS = 5


def main() -> None:
    model = digits_mlp()
    rows = []
    for size in (16, 256):
        config = TPUConfig(rows=size, cols=size)
        compiled = compile_network(model.network, len(model.x_test), config)
        clean = best_time(functools.partial(compiled.run, model.x_test, engine="cycle"),
                          REPEATS)
        work = NetworkWorkload(model.network, model.x_test, model.y_test, config)
        faults = FaultModel(("stuck_at_0", "stuck_at_1"), "psum", bits=range(24, 32), count=2)
        tables = {}
        for processes in (1, 2):
            start = time.perf_counter()
            tables[processes] = campaign(work, faults, RUNS, seed=1, processes=processes,
                                         progress=False)
            per_run = (time.perf_counter() - start) / RUNS
            rows.append([f"{size}x{size}", processes, f"{clean * 1e3:.1f} ms",
                         f"{per_run * 1e3:.1f} ms", f"{per_run / clean:.2f}x"])
        assert tables[1].equals(tables[2]), "the table depends on the process count"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    text = "\n".join([
        "# Fault campaign benchmark",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores (load average {load} when it ran); "
        f"Python {platform.python_version()}, numpy {np.__version__}, numba "
        f"{numba.__version__}. Workload: the int8 digits network on its 360 test images, "
        f"{RUNS} runs of 2 faulty PEs (psum bits 24..31 stuck), cycle engine; the fault-free "
        f"run is the best of {REPEATS}, a campaign's time includes starting its processes.",
        "",
        *markdown_table(["matrix unit", "processes", "fault-free run", "campaign, per run",
                         "ratio"], rows),
        "",
    ])
    print(text)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
