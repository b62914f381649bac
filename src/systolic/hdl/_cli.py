"""Command line: ``python -m systolic.hdl``, the flags of ``systolic hdl`` under the older name."""

from __future__ import annotations

import argparse

from ..cli import add_hdl_options
from ._generate import write, write_reference_configs

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m systolic.hdl",
        description="Generate the Verilog of a systolic array and its JSON sidecar "
                    "(the same as `systolic hdl`).")
    add_hdl_options(parser)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    sized = args.rows is not None or args.cols is not None
    if args.reference_configs:
        if sized or args.dims is not None:
            parser.error("--reference-configs takes no --rows/--cols")
        for path in write_reference_configs(args.out):
            print(path)
        return 0
    if args.dims is not None:
        if sized:
            parser.error("give --dims or --rows/--cols, not both")
        rows, cols = args.dims
    elif args.rows is None or args.cols is None:
        parser.error("--rows and --cols are required")
    else:
        rows, cols = args.rows, args.cols
    try:
        paths = write(args.out, rows, cols, args.dataflow, x_signed=args.x_signed,
                      w_signed=args.w_signed, acc_bits=args.acc_bits, name=args.name)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    except OSError as error:
        parser.error(f"cannot write {error.filename}: {error.strerror or error}")
    for path in paths:
        print(path)
    return 0
