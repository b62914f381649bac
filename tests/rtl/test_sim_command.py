"""``systolic sim`` runs from the installed package: no source checkout, no ``tests/rtl``."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.rtl


def test_sim_runs_outside_a_checkout(tmp_path):
    # An empty working directory: the harness comes from the package, not from tests/rtl.
    out = subprocess.run([sys.executable, "-m", "systolic.cli", "sim", "--dims", "2x3"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    assert "seed 256: 1 cases, " in out.stdout
    assert ", 2 outputs;" in out.stdout   # (R x R) @ (R x C): one result vector per row of A
    assert list(tmp_path.iterdir()) == []  # everything was built in a temporary directory
