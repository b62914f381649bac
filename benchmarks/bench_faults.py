"""Cost of faults on the cycle engine and the fast path, against fault-free runs in the same run.

Run ``python benchmarks/bench_faults.py``; the markdown table is printed and written to
``benchmarks/results/faults.md``. Every time is the best of several repeats, and every ratio
divides by the fault-free run of the same dataflow measured in the same run.

``--baseline SRC`` also times the fault-free cycle engine of another source tree (the ``src``
folder of a checkout of the version before faults), in a fresh interpreter alternating with
this tree's, to show that the fault-free engine did not get slower.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np

import systolic
from machine import best_time, cpu_model
from systolic import Fault
from systolic._dataflow import register_widths
from systolic._fault_engine import prepare_faults
from systolic._table import markdown_table

RESULTS = Path(__file__).parent / "results" / "faults.md"
REPEATS = 7
SIZE = 256
CAMPAIGN = 40

# Times the fault-free cycle engine (256^3 on 256x256, each dataflow) with whatever systolic
# is first on sys.path; prints one line of three best times in seconds.
FAULT_FREE = """
import time, numpy as np, systolic
rng = np.random.default_rng(0)
a = rng.integers(-128, 128, (256, 256), dtype=np.int8)
b = rng.integers(-128, 128, (256, 256), dtype=np.int8)
times = []
for dataflow in ("ws", "os", "is"):
    arr = systolic.SystolicArray(256, 256, dataflow)
    arr.run(a, b, progress=False)
    best = min(_timed(lambda: arr.run(a, b, progress=False)) for _ in range({repeats}))
    times.append(best)
print(*times)
"""
TIMED = """
def _timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start
"""


def random_fault(rng, dataflow: str, total: int) -> Fault:
    """A fault drawn uniformly over the bits of every register of every PE (and flip cycles)."""
    widths = register_widths(systolic.Dataflow(dataflow), SIZE, 32)
    names = list(widths)
    bits = np.array([widths[name] for name in names])
    register = names[rng.choice(len(names), p=bits / bits.sum())]
    kind = ("stuck_at_0", "stuck_at_1", "flip")[rng.integers(3)]
    return Fault(register, (int(rng.integers(SIZE)), int(rng.integers(SIZE))),
                 int(rng.integers(widths[register])), kind,
                 int(rng.integers(total)) if kind == "flip" else None)


def fault_free_versions(baseline: str, rounds: int = 8) -> tuple[list[float], list[float]]:
    """Best fault-free times of the baseline tree and of this one, alternating processes."""
    here = str(Path(systolic.__file__).resolve().parents[1])
    code = "import time\n" + TIMED + FAULT_FREE.format(repeats=REPEATS)
    best = {baseline: [float("inf")] * 3, here: [float("inf")] * 3}
    for _ in range(rounds):
        for tree in (baseline, here):
            env = dict(os.environ, PYTHONPATH=tree)
            done = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                  capture_output=True, text=True, cwd="/")
            times = [float(word) for word in done.stdout.split()]
            best[tree] = [min(old, new) for old, new in zip(best[tree], times, strict=True)]
    return best[baseline], best[here]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="src folder of the version to compare the "
                                           "fault-free engine with")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (SIZE, SIZE), dtype=np.int8)
    b = rng.integers(-128, 128, (SIZE, SIZE), dtype=np.int8)
    lines = [
        "# Fault benchmark",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the start; Python {platform.python_version()}, numpy "
        f"{np.__version__}, numba {numba.__version__}. Array {SIZE}x{SIZE}, {SIZE}^3 int8 "
        f"matmul, best of {REPEATS} runs; each ratio is against the fault-free run of the same "
        f"dataflow and engine measured in this run.",
        "",
    ]
    rows = []
    for dataflow in ("ws", "os", "is"):
        arr = systolic.SystolicArray(SIZE, SIZE, dataflow)
        total = arr.timing(SIZE, SIZE, SIZE).total
        stationary = dataflow != "os"
        cases = {
            "fault-free": None,
            "1 stuck psum bit (30)": [Fault("psum", (100, 100), 30, "stuck_at_1")],
            "1 psum flip": [Fault("psum", (100, 100), 30, "flip", cycle=total // 2)],
            "1 bypassed PE": "bypass",
            (f"1 stuck {'w_shadow' if stationary else 'hold'} bit"):
                [Fault("w_shadow" if stationary else "hold", (7, 9), 6, "stuck_at_1")],
            "10 column-local faults": [Fault("psum", (r, 25 * r), r, "stuck_at_0")
                                       for r in range(10)],
            "1 stuck x bit, column 224 (its row stepped)":
                [Fault("x", (100, 224), 3, "stuck_at_1")],
            "1 stuck x bit, column 0 (its row stepped)": [Fault("x", (100, 0), 3, "stuck_at_1")],
            "stuck x bit in column 128 and psum bit in column 200 (128 columns stepped)":
                [Fault("x", (100, 128), 3, "stuck_at_1"),
                 Fault("psum", (50, 200), 20, "stuck_at_0")],
        }
        base = None
        for name, faults in cases.items():
            options = dict(progress=False)
            if faults == "bypass":
                options["bypass"] = [(10, 10)]
            elif faults is not None:
                options["faults"] = faults
            repeats = 2 if "128 columns" in name else REPEATS
            seconds = best_time(functools.partial(arr.run, a, b, **options), repeats)
            base = base or seconds
            rows.append([f"{dataflow}, cycle engine, {name}", f"{seconds * 1e3:.1f} ms",
                         f"{seconds / base:.2f}"])
        # a campaign's faults: uniform over every bit of every register of every PE
        draws = np.random.default_rng(1)
        faults = [random_fault(draws, dataflow, total) for _ in range(CAMPAIGN)]
        ratios = sorted(best_time(functools.partial(arr.run, a, b, faults=[fault],
                                                  progress=False), 3)
                        / base for fault in faults)
        rows.append([f"{dataflow}, cycle engine, {CAMPAIGN} random single faults "
                     f"(uniform over register bits)",
                     f"median ratio {ratios[CAMPAIGN // 2]:.2f}, "
                     f"{sum(r <= 2 for r in ratios)} of {CAMPAIGN} within 2x",
                     f"max {ratios[-1]:.1f}"])
        fast_base = best_time(functools.partial(arr.run, a, b, engine="fast"), REPEATS)
        fast_faults = ([Fault("w_shadow", (7, 9), 6, "stuck_at_1"),
                        Fault("w_active", (3, 3), 0, "stuck_at_0")] if stationary else [])
        fast = best_time(functools.partial(arr.run, a, b, engine="fast", faults=fast_faults,
                                           bypass=[(10, 10), (20, 30)]), REPEATS)
        what = "2 bypassed PEs" + (", 2 stuck weight bits" if stationary else "")
        rows += [[f"{dataflow}, fast path, fault-free", f"{fast_base * 1e3:.2f} ms", "1.00"],
                 [f"{dataflow}, fast path, {what}", f"{fast * 1e3:.2f} ms",
                  f"{fast / fast_base:.2f}"]]
    lines += markdown_table(["run", "time", "ratio"], rows)
    if args.baseline:
        before, after = fault_free_versions(args.baseline)
        lines += ["", "Fault-free cycle engine, 256^3 on 256x256, before and after faults "
                  "(alternating fresh processes, best of 8 x "
                  f"{REPEATS} runs each):", ""]
        lines += markdown_table(
            ["dataflow", "before", "after", "ratio"],
            [[dataflow, f"{old * 1e3:.1f} ms", f"{new * 1e3:.1f} ms", f"{new / old:.2f}"]
             for dataflow, old, new in zip(("ws", "os", "is"), before, after, strict=True)])
    # what a fault-free run does more than before: check the (absent) faults and bypasses
    arr = systolic.SystolicArray(SIZE, SIZE, "ws")
    check = best_time(lambda: prepare_faults(None, None, arr.dataflow, SIZE, SIZE, 32, 1000),
                      1000)
    lines += ["", f"A fault-free run's only new work, checking that it has no faults or "
                  f"bypasses: {check * 1e6:.1f} us."]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
