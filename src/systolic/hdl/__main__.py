"""``python -m systolic.hdl``: the same command as ``systolic hdl`` (see ``_cli.main``)."""

import sys

from ._cli import main

sys.exit(main())
