"""``python -m systolic.tpu TOPOLOGY.csv``: per-layer cycles of a SCALE-Sim topology."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._cli_io import CliError, read_text
from ._scalesim import TopologyError, format_timings, read_topology, time_topology


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m systolic.tpu",
        description="Time every layer of a SCALE-Sim topology CSV on the weight-stationary "
                    "array (fast path, random int8 data).")
    parser.add_argument("topology", type=Path)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--cols", type=int, default=256)
    parser.add_argument("--engine", choices=("fast", "cycle"), default="fast")
    args = parser.parse_args(argv)
    try:
        layers = read_topology(read_text(args.topology))
        timings = time_topology(layers, args.rows, args.cols, engine=args.engine)
    except (CliError, TypeError, ValueError) as error:
        where = f"{args.topology} " if isinstance(error, TopologyError) else ""
        print(f"{parser.prog}: error: {where}{error}", file=sys.stderr)
        sys.exit(2)
    print(format_timings(timings, args.rows, args.cols))


if __name__ == "__main__":
    main()
