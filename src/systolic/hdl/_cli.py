"""Command line: ``python -m systolic.hdl``, the ``systolic hdl`` command under its older name."""

from __future__ import annotations

import sys

from .. import cli

__all__ = ["main"]


def main(argv=None) -> int:
    """Run ``systolic hdl`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    return cli.main(["hdl", *(sys.argv[1:] if argv is None else argv)])
