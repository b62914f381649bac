"""The ``systolic`` command line.

Sub-commands:

``matmul``
    Multiply random int8 matrices on one array; print cycles, utilisation and the breakdown, and
    check the result against numpy.
``run``
    Time every layer of a SCALE-Sim topology CSV on one array; print a per-layer table and
    optionally write it as CSV or JSON.
``hdl``
    Generate the Verilog of an array and its JSON sidecar (:func:`systolic.hdl.write`).
``sim``
    Run the cocotb regression (``tests/rtl`` of a source checkout) for one array size.
``scalesim``
    SCALE-Sim 3.0's three reports from its own config and topology files
    (:mod:`systolic.scalesim`).

Bad arguments or files end the program with exit status 2 and a one-line message on stderr.
See ``docs/cli.md`` for examples.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

__all__ = ["main"]


class _UsageError(Exception):
    """A bad argument or input file: reported on one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``systolic matmul: error: ...``)."""

    def error(self, message):
        raise _UsageError(f"{self.prog}: error: {message}")


def _pair(text: str) -> tuple[int, int]:
    return _dims(text, 2, "RxC (for example 256x256)")


def _triple(text: str) -> tuple[int, int, int]:
    return _dims(text, 3, "MxKxN (for example 1024x1024x1024)")


def _dims(text: str, count: int, form: str):
    parts = text.lower().split("x")
    if len(parts) != count or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"expected {form} with positive integers, got {text!r}")
    return tuple(int(part) for part in parts)


def _add_array_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dims", type=_pair, default=(256, 256), metavar="RxC",
                        help="array rows x columns (default 256x256, TPU v1)")
    parser.add_argument("--dataflow", choices=("ws", "os", "is"), default="ws",
                        help="weight-, output- or input-stationary (default ws)")
    parser.add_argument("--no-double-buffer", dest="double_buffer", action="store_false",
                        help="model a single weight register (ws/is)")
    parser.add_argument("--acc-bits", type=int, default=32,
                        help="accumulator width in bits, 16..32 (default 32)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="systolic",
                     description="Cycle-accurate model of a TPU-style systolic array.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)

    matmul = commands.add_parser(
        "matmul", help="multiply random int8 matrices and report cycles",
        description="Multiply random int8 matrices on one array, report cycles, utilisation and "
                    "the cycle breakdown, and check the product against numpy.")
    _add_array_options(matmul)
    matmul.add_argument("--shape", type=_triple, default=(256, 256, 256), metavar="MxKxN",
                        help="(M x K) @ (K x N) (default 256x256x256)")
    matmul.add_argument("--engine", choices=("fast", "cycle"), default="fast",
                        help="fast path or every PE on every cycle (default fast)")
    matmul.add_argument("--timing", choices=("exact", "scalesim"), default="exact",
                        help="this array's cycle count or SCALE-Sim 3.0's (default exact)")
    matmul.add_argument("--seed", type=int, default=0, help="seed of the random operands (0)")
    matmul.add_argument("--json", action="store_true", help="print the report as JSON")
    matmul.set_defaults(handler=_matmul)

    run = commands.add_parser(
        "run", help="time the layers of a SCALE-Sim topology CSV",
        description="Time every layer of a SCALE-Sim topology CSV (conv rows: name, IfH, IfW, "
                    "FH, FW, C, NumFilt, Stride,; GEMM rows: name, M, N, K,) on one array, "
                    "with this array's cycle count and SCALE-Sim's next to it.")
    run.add_argument("layers", type=Path, help="the topology CSV")
    _add_array_options(run)
    run.add_argument("--csv", type=Path, dest="csv_out", metavar="OUT.csv",
                     help="also write the per-layer report as CSV")
    run.add_argument("--json", type=Path, dest="json_out", metavar="OUT.json",
                     help="also write the per-layer report and the totals as JSON")
    run.set_defaults(handler=_run)

    hdl = commands.add_parser(
        "hdl", help="generate the array's Verilog",
        description="Generate the Verilog of an array (systolic_array) and its JSON sidecar.")
    hdl.add_argument("--rows", type=int, required=True, help="PE rows R")
    hdl.add_argument("--cols", type=int, required=True, help="PE columns C")
    hdl.add_argument("--dataflow", choices=("ws", "os", "is"), default="ws",
                     help="ws (default), os, or is (the ws hardware)")
    hdl.add_argument("--x-unsigned", dest="x_signed", action="store_false",
                     help="x lane is uint8 (default int8)")
    hdl.add_argument("--w-unsigned", dest="w_signed", action="store_false",
                     help="w lane is uint8 (default int8)")
    hdl.add_argument("--acc-bits", type=int, default=32, help="sum width, 16..32 (default 32)")
    hdl.add_argument("--out", required=True, type=Path, help="output directory")
    hdl.set_defaults(handler=_hdl)

    sim = commands.add_parser(
        "sim", help="run the cocotb RTL regression for one array size",
        description="Run the cocotb regression of a source checkout (pytest tests/rtl on Icarus "
                    "Verilog) with SIM_ROWS and SIM_COLS set to the array size.")
    sim.add_argument("--rows", type=int, required=True, help="PE rows R")
    sim.add_argument("--cols", type=int, required=True, help="PE columns C")
    sim.add_argument("--tests", type=Path, default=None,
                     help="the RTL test folder (default: tests/rtl of this checkout)")
    sim.set_defaults(handler=_sim)

    from .scalesim._cli import add_parser as add_scalesim_parser
    add_scalesim_parser(commands)
    return parser


def _positive(command: str, name: str, value: int) -> None:
    if value < 1:
        raise _UsageError(f"systolic {command}: error: {name} must be a positive integer, "
                          f"got {value}")


# --------------------------------------------------------------------------------------------
# matmul
# --------------------------------------------------------------------------------------------

def _matmul(args) -> int:
    from .array import SystolicArray

    rows, cols = args.dims
    m, k, n = args.shape
    try:
        array = SystolicArray(rows, cols, args.dataflow, double_buffer=args.double_buffer,
                              acc_bits=args.acc_bits)
    except (TypeError, ValueError) as error:
        raise _UsageError(f"systolic matmul: error: {error}") from None
    rng = np.random.default_rng(args.seed)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    # A bar on long cycle-engine runs (the model decides when it is worth one), none for JSON.
    result = array.run(a, b, engine=args.engine, timing=args.timing,
                       progress=False if args.json else None)
    expected = _wrapped_product(a, b, args.acc_bits)
    matches = bool(np.array_equal(result.output, expected))
    breakdown = result.breakdown
    report = {
        "array": f"{rows}x{cols}", "dataflow": args.dataflow,
        "double_buffer": args.double_buffer, "shape": f"{m}x{k}x{n}",
        "engine": args.engine, "timing": args.timing, "seed": args.seed,
        "cycles": int(result.cycles), "utilization": float(result.utilization),
        "macs": int(result.macs), "tiles": int(result.tiles), "vectors": int(result.vectors),
        "breakdown": {name: int(getattr(breakdown, name))
                      for name in ("total", "weight_load", "streaming", "stall", "drain",
                                   "fill")},
        "overflow_count": int(result.overflow_count), "matches_numpy": matches,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_matmul_table(report))
    return 0 if matches else 1


def _wrapped_product(a: np.ndarray, b: np.ndarray, acc_bits: int) -> np.ndarray:
    # float64 BLAS is exact while every partial sum stays below 2**53, which int8 operands
    # guarantee up to K = 2**53 / 128**2; it checks 1024^3 in 0.05 s, an int64 matmul in 10 s.
    if a.shape[1] * 128 * 128 < 2**53:
        exact = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    else:
        exact = a.astype(np.int64) @ b.astype(np.int64)
    half = 1 << (acc_bits - 1)
    return (exact + half) % (1 << acc_bits) - half


def _matmul_table(report: dict) -> str:
    total = report["breakdown"]["total"]
    lines = [
        f"{report['shape']} matmul on a {report['array']} {report['dataflow']} array "
        f"({'double' if report['double_buffer'] else 'single'}-buffered weights, "
        f"{report['engine']} engine, {report['timing']} timing)",
        "",
        f"  {'cycles':<14}{report['cycles']:>16,}",
        f"  {'utilisation':<14}{report['utilization']:>16.2%}",
        f"  {'MACs':<14}{report['macs']:>16,}",
        f"  {'tiles':<14}{report['tiles']:>16,}",
        f"  {'x vectors':<14}{report['vectors']:>16,}",
        "",
        "  breakdown             cycles    share",
    ]
    for name in ("weight_load", "streaming", "stall", "drain"):
        value = report["breakdown"][name]
        lines.append(f"  {name.replace('_', ' '):<14}{value:>16,}{value / total:>9.1%}")
    lines.append(f"  {'total':<14}{total:>16,}")
    lines.append(f"  {'fill':<14}{report['breakdown']['fill']:>16,}  (overlaps streaming)")
    lines.append("")
    verdict = "matches numpy" if report["matches_numpy"] else "DIFFERS from numpy"
    lines.append(f"result {verdict} (seed {report['seed']}, "
                 f"{report['overflow_count']} overflowed elements)")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------

_LAYER_FIELDS = ("layer", "kind", "m", "k", "n", "macs", "cycles", "utilization",
                 "weight_load", "streaming", "stall", "drain", "scalesim_cycles")


def _run(args) -> int:
    from .array import SystolicArray
    from .timing import scalesim_breakdown
    from .tpu import TopologyError, read_topology

    try:
        text = args.layers.read_text()
    except OSError as error:
        raise _UsageError(f"systolic run: error: cannot read {args.layers}: "
                          f"{error.strerror or error}") from None
    try:
        layers = read_topology(text)
    except TopologyError as error:
        raise _UsageError(f"systolic run: error: {args.layers} {error}") from None
    rows, cols = args.dims
    try:
        array = SystolicArray(rows, cols, args.dataflow, double_buffer=args.double_buffer,
                              acc_bits=args.acc_bits)
    except (TypeError, ValueError) as error:
        raise _UsageError(f"systolic run: error: {error}") from None
    records = []
    # The closed-form timing (equal to what both engines count) makes a layer list instant.
    for layer in layers:
        timing = array.timing(layer.m, layer.k, layer.n)
        macs = layer.m * layer.k * layer.n
        records.append({
            "layer": layer.name, "kind": layer.kind, "m": layer.m, "k": layer.k, "n": layer.n,
            "macs": macs, "cycles": timing.total,
            "utilization": macs / (timing.total * rows * cols),
            "weight_load": timing.weight_load, "streaming": timing.streaming,
            "stall": timing.stall, "drain": timing.drain,
            "scalesim_cycles": scalesim_breakdown(layer.scalesim_m, layer.k, layer.n, rows,
                                                  cols, args.dataflow).total,
        })
    cycles = sum(r["cycles"] for r in records)
    macs = sum(r["macs"] for r in records)
    totals = {"layers": len(records), "cycles": cycles, "macs": macs,
              "utilization": macs / (cycles * rows * cols),
              "scalesim_cycles": sum(r["scalesim_cycles"] for r in records)}
    print(_layer_table(records, totals, args))
    if args.csv_out is not None:
        with open(args.csv_out, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=_LAYER_FIELDS)
            writer.writeheader()
            writer.writerows(records)
    if args.json_out is not None:
        report = {"array": f"{rows}x{cols}", "dataflow": args.dataflow,
                  "double_buffer": args.double_buffer, "topology": str(args.layers),
                  "layers": records, "totals": totals}
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _layer_table(records: list[dict], totals: dict, args) -> str:
    width = max(5, *(len(r["layer"]) for r in records))
    rows, cols = args.dims
    lines = [f"{args.layers.name}: {totals['layers']} layers on a {rows}x{cols} "
             f"{args.dataflow} array", "",
             f"{'layer':<{width}}  {'M':>7} {'K':>7} {'N':>7} {'cycles':>12} {'util':>7} "
             f"{'stall':>10} {'SCALE-Sim':>12}"]
    for r in records:
        lines.append(f"{r['layer']:<{width}}  {r['m']:>7} {r['k']:>7} {r['n']:>7} "
                     f"{r['cycles']:>12,} {r['utilization']:>7.1%} {r['stall']:>10,} "
                     f"{r['scalesim_cycles']:>12,}")
    lines.append(f"{'total':<{width}}  {'':>7} {'':>7} {'':>7} {totals['cycles']:>12,} "
                 f"{totals['utilization']:>7.1%} {'':>10} {totals['scalesim_cycles']:>12,}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# hdl and sim
# --------------------------------------------------------------------------------------------

def _hdl(args) -> int:
    from .hdl import write

    _positive("hdl", "--rows", args.rows)
    _positive("hdl", "--cols", args.cols)
    try:
        paths = write(args.out, args.rows, args.cols, args.dataflow, x_signed=args.x_signed,
                      w_signed=args.w_signed, acc_bits=args.acc_bits)
    except (TypeError, ValueError) as error:
        raise _UsageError(f"systolic hdl: error: {error}") from None
    for path in paths:
        print(path)
    return 0


def _sim(args) -> int:
    _positive("sim", "--rows", args.rows)
    _positive("sim", "--cols", args.cols)
    tests = args.tests or Path(__file__).resolve().parents[2] / "tests" / "rtl"
    if not tests.is_dir():
        raise _UsageError(f"systolic sim: error: RTL tests not found at {tests}; "
                          f"run from a source checkout or pass --tests")
    env = dict(os.environ, SIM_ROWS=str(args.rows), SIM_COLS=str(args.cols))
    command = [sys.executable, "-m", "pytest", "-q", str(tests)]
    print(" ".join(command), f"(SIM_ROWS={args.rows} SIM_COLS={args.cols})", flush=True)
    return subprocess.call(command, env=env, cwd=tests.parents[1])


# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Run the ``systolic`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 1 when a check failed, 2 on bad arguments or files.
    """
    try:
        args = _parser().parse_args(argv)
        return args.handler(args)
    except _UsageError as error:
        print(error, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
