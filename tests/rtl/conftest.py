"""RTL test set-up: Icarus availability and the choice between regression and full size.

``make sim`` runs this folder. With ``SIM_ROWS`` (and ``SIM_COLS``) set, only the full-size
test runs, on an array of that size; without them the full-size test is skipped and the
default regression runs.
"""

from __future__ import annotations

import os
import shutil

import pytest

from systolic.hdl.sim.stimulus import full_size

# On Verilator (SIM=verilator) the cocotb tests need no Icarus.
ICARUS_MISSING = shutil.which("iverilog") is None and os.environ.get("SIM", "icarus") == "icarus"


def pytest_collection_modifyitems(config, items):
    try:
        size = full_size()
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
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
