"""``python -m systolic.tpu TOPOLOGY.csv``: per-layer cycles of a SCALE-Sim topology."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._cli_io import CliError, read_text
from ..cli import _pair
from ._scalesim import TopologyError, format_timings, read_topology, time_topology


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m systolic.tpu",
        description="Time every layer of a SCALE-Sim topology CSV on the weight-stationary "
                    "array (fast path, random int8 data).")
    parser.add_argument("topology", type=Path)
    parser.add_argument("--dims", type=_pair, metavar="RxC",
                        help="array rows x columns (default 256x256)")
    parser.add_argument("--rows", type=int, help="array rows (the R of --dims)")
    parser.add_argument("--cols", type=int, help="array columns (the C of --dims)")
    parser.add_argument("--engine", choices=("fast", "cycle"), default="fast")
    args = parser.parse_args(argv)
    if args.dims is not None and (args.rows is not None or args.cols is not None):
        parser.error("give --dims or --rows/--cols, not both")
    rows, cols = args.dims or (256 if args.rows is None else args.rows,
                               256 if args.cols is None else args.cols)
    try:
        layers = read_topology(read_text(args.topology))
        timings = time_topology(layers, rows, cols, engine=args.engine)
    except (CliError, TypeError, ValueError) as error:
        where = f"{args.topology} " if isinstance(error, TopologyError) else ""
        print(f"{parser.prog}: error: {where}{error}", file=sys.stderr)
        sys.exit(2)
    print(format_timings(timings, rows, cols))


if __name__ == "__main__":
    main()
