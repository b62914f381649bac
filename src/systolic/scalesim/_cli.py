"""``systolic scalesim``: SCALE-Sim 3.0's command line (``python -m scalesim.scale``)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .. import energy
from ..timing import breakdown
from ..tpu._scalesim import TopologyError, TopologyWarning, read_topology
from . import ConfigError, ValuesError, check_values, read_config, run, write_reports

DESCRIPTION = """\
Compute SCALE-Sim 3.0's COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and
DETAILED_ACCESS_REPORT.csv for a topology and a config, with the same flags, file formats
and numbers as `python -m scalesim.scale`, and write them to OUTDIR/<run_name>/ together
with SYSTOLIC_REPORT.csv (this model's exact cycles with weight double buffering, and their
breakdown) and ENERGY_REPORT.csv (each layer's energy at those cycles and the design's area,
from systolic.energy's 45 nm table, the three SRAMs taken as one buffer). SCALE-Sim's
traces (layer<i>/*_TRACE.csv) are not written: -s is accepted and ignored. Both bandwidth
modes (CALC, USER) are modelled; custom layouts, sparsity and Ramulator traces are not
(they are refused, naming the key).

--with-values also runs every layer's true GEMM on the array model (the fast path, int8
operands drawn with --seed), checks each output against numpy's and prints the time; the
exit status is 1, naming the layer, if one differs. The reports are written either way."""

SYSTOLIC_HEADER = ("LayerID, Layer, M, K, N, SCALE-Sim M, Exact Cycles, Weight Load, "
                   "Streaming, Stall, Drain, Fill, Util %,")
ENERGY_HEADER = ("LayerID, Layer, Energy J, MAC J, Accumulator Add J, Register Hop J, SRAM J, "
                 "DRAM J, Idle J, Area mm2,")


def add_parser(commands) -> None:
    """Add the ``scalesim`` sub-command to ``commands`` (an argparse sub-parsers object)."""
    parser = commands.add_parser(
        "scalesim", help="SCALE-Sim 3.0's reports from its own config and topology files",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", metavar="CONFIG", type=Path, default=Path("./configs/scale.cfg"),
                        help="SCALE-Sim config file (default ./configs/scale.cfg)")
    parser.add_argument("-t", metavar="TOPOLOGY", type=Path,
                        default=Path("./topologies/conv_nets/test.csv"),
                        help="topology CSV (default ./topologies/conv_nets/test.csv)")
    parser.add_argument("-p", metavar="OUTDIR", type=Path, default=Path("./results/"),
                        help="folder for <run_name>/ and its reports (default ./results/)")
    parser.add_argument("-i", metavar="conv|gemm", choices=("conv", "gemm"), default="conv",
                        help="topology rows: conv (default) or gemm (name, M, N, K)")
    parser.add_argument("-l", metavar="LAYOUT", type=Path, default=None,
                        help="layout CSV; checked to exist, otherwise unused (custom layouts "
                             "are not supported)")
    parser.add_argument("-s", metavar="Y|N", choices=("Y", "N"), default="Y",
                        help="accepted for compatibility; traces are never written")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="a progress bar per layer (default: when stderr is a terminal)")
    parser.add_argument("--with-values", action="store_true",
                        help="also compute every layer's output on the array model with random "
                             "int8 operands and check it against numpy")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the --with-values operands (default 0)")
    parser.set_defaults(handler=main)


def _fail(message: str) -> int:
    print(f"systolic scalesim: error: {message}", file=sys.stderr)
    return 2


def main(args) -> int:
    """Run the sub-command; return the exit status (2 with one line on stderr on bad input)."""
    for flag, path in (("-c", args.c), ("-t", args.t), ("-l", args.l)):
        if path is not None and not path.is_file():
            return _fail(f"{flag} {path}: no such file")
    try:
        config = read_config(args.c)
    except ConfigError as error:
        return _fail(f"{args.c}: {error}")
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    try:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always", TopologyWarning)
            layers = read_topology(args.t, kind=args.i)
        report = run(config, layers if layers[0].line > 1 else args.t, gemm=args.i == "gemm",
                     progress=progress)
    except TopologyError as error:
        return _fail(f"{args.t} {error}")
    except UnicodeDecodeError:
        return _fail(f"{args.t}: not a text file")
    for note in notes:
        print(f"systolic scalesim: note: {args.t} {note.message}", file=sys.stderr)
    try:
        folder = write_reports(report, args.p)
    except OSError as error:
        return _fail(f"cannot write to {args.p}: {error.strerror or error}")
    lines, energy_lines = [SYSTOLIC_HEADER], [ENERGY_HEADER]
    sram_kib = config.ifmap_kb + config.filter_kb + config.ofmap_kb
    area = energy.area_mm2((config.rows, config.cols), dataflow=config.dataflow,
                           sram_kib=sram_kib)
    for index, layer in enumerate(report.layers):
        parts = breakdown(layer.m, layer.k, layer.n, config.rows, config.cols, config.dataflow)
        util = layer.m * layer.k * layer.n * 100 / (parts.total * config.rows * config.cols)
        values = (layer.name, layer.m, layer.k, layer.n, layer.scalesim_m, parts.total,
                  parts.weight_load, parts.streaming, parts.stall, parts.drain, parts.fill, util)
        lines.append(f"{index}, " + ", ".join(str(v) for v in values) + ",")
        joules = energy.energy_breakdown(energy.matmul_counts(
            layer.m, layer.k, layer.n, config.rows, config.cols, config.dataflow,
            cycles=parts.total, sram_kib=sram_kib))
        values = (layer.name, sum(joules.values()), *joules.values(), area)
        energy_lines.append(f"{index}, " + ", ".join(str(v) for v in values) + ",")
    (folder / "SYSTOLIC_REPORT.csv").write_text("\n".join(lines) + "\n")
    (folder / "ENERGY_REPORT.csv").write_text("\n".join(energy_lines) + "\n")
    cycles = sum(row["Total Cycles"] for row in report.compute)
    print(f"{len(report.layers)} layers on a {config.rows}x{config.cols} {config.dataflow} "
          f"array: {cycles:,} SCALE-Sim cycles; reports in {folder}")
    if args.with_values:
        try:
            seconds = check_values(report, seed=args.seed, progress=progress)
        except ValuesError as error:
            print(f"systolic scalesim: error: values differ from numpy: {error}",
                  file=sys.stderr)
            return 1
        macs = sum(layer.m * layer.k * layer.n for layer in report.layers)
        print(f"values: {len(report.layers)} layers, {macs:,} int8 MACs on the array model in "
              f"{seconds:.2f} s, equal to numpy")
    return 0
