"""RTL test set-up: Icarus availability and the choice between regression and full size.

``make sim`` runs this folder. With ``SIM_ROWS`` (and ``SIM_COLS``) set, only the full-size
test runs, on an array of that size; without them the full-size test is skipped and the
default regression runs.
"""

from __future__ import annotations

import os
import shutil

import pytest

ICARUS_MISSING = shutil.which("iverilog") is None


def full_size() -> tuple[int, int] | None:
    """``(rows, cols)`` from ``SIM_ROWS``/``SIM_COLS``, or None for the default regression."""
    rows = os.environ.get("SIM_ROWS", "").strip()
    cols = os.environ.get("SIM_COLS", "").strip()
    if not rows:
        return None
    try:
        size = (int(rows), int(cols or rows))
    except ValueError:
        raise pytest.UsageError(f"SIM_ROWS/SIM_COLS must be integers, got {rows!r}/{cols!r}")
    if min(size) < 1:
        raise pytest.UsageError(f"SIM_ROWS/SIM_COLS must be positive, got {rows!r}/{cols!r}")
    return size


def pytest_collection_modifyitems(config, items):
    size = full_size()
    skip_icarus = pytest.mark.skip(reason="Icarus Verilog (iverilog) is not installed")
    selected, deselected = [], []
    for item in items:
        in_folder = os.path.dirname(str(item.path)) == os.path.dirname(__file__)
        if not in_folder:
            selected.append(item)
            continue
        if size is not None and "full_size" not in item.keywords:
            deselected.append(item)
            continue
        if ICARUS_MISSING and "rtl" in item.keywords:
            item.add_marker(skip_icarus)
        selected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "full_size: the SIM_ROWS x SIM_COLS run of `make sim ROWS=.. COLS=..`")
