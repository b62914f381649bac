"""Command line: ``python -m systolic.hdl``."""

from __future__ import annotations

import argparse

from ._config import DATAFLOWS
from ._generate import write, write_reference_configs

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m systolic.hdl",
        description="Generate the Verilog of a systolic array and its JSON sidecar.")
    parser.add_argument("--rows", type=int, help="number of PE rows R")
    parser.add_argument("--cols", type=int, help="number of PE columns C")
    parser.add_argument("--dataflow", default="ws", choices=DATAFLOWS,
                        help="ws (default), os, or is (built from the ws hardware)")
    for lane in ("x", "w"):
        group = parser.add_mutually_exclusive_group()
        group.add_argument(f"--{lane}-signed", dest=f"{lane}_signed", action="store_true",
                           default=True, help=f"{lane} lane is int8 (default)")
        group.add_argument(f"--{lane}-unsigned", dest=f"{lane}_signed", action="store_false",
                           help=f"{lane} lane is uint8")
    parser.add_argument("--acc-bits", type=int, default=32, help="sum width, 16..32 (32)")
    parser.add_argument("--name", help="file name stem (default: derived from the parameters)")
    parser.add_argument("--reference-configs", action="store_true",
                        help="write the reference set committed in rtl/ instead of one array")
    parser.add_argument("--out", required=True, help="output directory")
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.reference_configs:
        if args.rows is not None or args.cols is not None:
            parser.error("--reference-configs takes no --rows/--cols")
        for path in write_reference_configs(args.out):
            print(path)
        return 0
    if args.rows is None or args.cols is None:
        parser.error("--rows and --cols are required")
    try:
        paths = write(args.out, args.rows, args.cols, args.dataflow, x_signed=args.x_signed,
                      w_signed=args.w_signed, acc_bits=args.acc_bits, name=args.name)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    except OSError as error:
        parser.error(f"cannot write {error.filename}: {error.strerror or error}")
    for path in paths:
        print(path)
    return 0
