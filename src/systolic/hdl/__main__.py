"""``python -m systolic.hdl``: see :func:`systolic.hdl._cli.main`."""

import sys

from ._cli import main

sys.exit(main())
