"""``python -m systolic.tpu TOPOLOGY.csv``: the same command as ``systolic tpu``.

Per-layer cycles of a SCALE-Sim topology; parsing, messages and table are those of
:func:`systolic.cli.main`.
"""

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["tpu", *sys.argv[1:]]))
