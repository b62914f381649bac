"""``systolic sim --sim``: the simulator choice reaches the RTL tests."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _sim(tmp_path, *args):
    # A stand-in test folder that only records the simulator it was given.
    tests = tmp_path / "tests" / "rtl"
    tests.mkdir(parents=True)
    (tests / "test_simulator.py").write_text(
        "import os\nfrom pathlib import Path\n\ndef test_simulator():\n"
        f"    Path({str(tmp_path / 'sim.txt')!r}).write_text(os.environ['SIM'])\n")
    return subprocess.run([sys.executable, "-m", "systolic.cli", "sim", "--rows", "2",
                           "--cols", "2", "--tests", str(tests), *args],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("args", "simulator"), [((), "icarus"), (("--sim", "verilator"),
                                                                   "verilator")])
def test_sim_forwards_the_simulator(tmp_path, monkeypatch, args, simulator):
    monkeypatch.setenv("SIM", "something else")  # the flag (or its default) wins
    out = _sim(tmp_path, *args)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "sim.txt").read_text() == simulator
    assert f"(SIM={simulator} SIM_ROWS=2 SIM_COLS=2)" in out.stdout


def test_sim_rejects_an_unknown_simulator(tmp_path):
    out = _sim(tmp_path, "--sim", "xcelium")
    assert out.returncode == 2
    assert "invalid choice: 'xcelium'" in out.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "sim.txt").exists()
