"""The ``systolic`` command line, run through its installed entry point."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

import systolic
from systolic.timing import breakdown, scalesim_breakdown

# The console script installed next to this interpreter; fall back to the module.
_SCRIPT = Path(sys.executable).with_name("systolic")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "systolic.cli"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(COMMAND + list(args), capture_output=True, text=True, timeout=300)


def test_help_everywhere():
    top = run("--help")
    assert top.returncode == 0
    for command in ("matmul", "run", "hdl", "sim"):
        assert command in top.stdout
        sub = run(command, "--help")
        assert sub.returncode == 0, command
        assert sub.stdout.startswith(f"usage: systolic {command}")


def test_matmul_json_matches_formula():
    out = run("matmul", "--dims", "8x8", "--shape", "20x30x40", "--dataflow", "os", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    expected = breakdown(20, 30, 40, 8, 8, systolic.Dataflow.OS)
    assert report["cycles"] == expected.total
    assert report["breakdown"]["drain"] == expected.drain
    assert report["matches_numpy"] is True
    assert report["utilization"] == pytest.approx(20 * 30 * 40 / (expected.total * 64))


def test_matmul_table_cycle_engine_single_buffered():
    out = run("matmul", "--dims", "4x4", "--shape", "9x10x11", "--engine", "cycle",
              "--no-double-buffer", "--seed", "3")
    assert out.returncode == 0, out.stderr
    expected = systolic.SystolicArray(4, 4, "ws", double_buffer=False).timing(9, 10, 11)
    assert "9x10x11 matmul on a 4x4 ws array (single-buffered weights, cycle engine" in out.stdout
    assert f"cycles{expected.total:>24,}" in out.stdout
    assert "result matches numpy (seed 3" in out.stdout


def test_matmul_scalesim_timing():
    out = run("matmul", "--dims", "4x4", "--shape", "8x8x8", "--timing", "scalesim", "--json")
    # ws: folds = ceil(8/4) * ceil(8/4) = 4, total = 4 * (2*4 + 4 + 8 - 2) - 1
    assert json.loads(out.stdout)["cycles"] == 4 * 18 - 1


TOPOLOGY = """Layer name, IfH, IfW, FH, FW, Channels, Num Filter, Strides,
Conv1, 10, 10, 3, 3, 4, 16, 1,
FC1, 1, 1, 1, 1, 300, 40, 1,
GEMM1, 20, 30, 50,
"""


def test_run_topology_table_csv_and_json(tmp_path):
    layers = tmp_path / "layers.csv"
    layers.write_text(TOPOLOGY)
    out = run("run", str(layers), "--dims", "16x8", "--dataflow", "os",
              "--csv", str(tmp_path / "out.csv"), "--json", str(tmp_path / "out.json"))
    assert out.returncode == 0, out.stderr
    # conv: M = 8 * 8 output pixels, K = 3 * 3 * 4, N = 16; GEMM rows are M, N, K.
    shapes = {"Conv1": (64, 36, 16), "FC1": (1, 300, 40), "GEMM1": (20, 50, 30)}
    array = systolic.SystolicArray(16, 8, "os")
    report = json.loads((tmp_path / "out.json").read_text())
    assert [r["layer"] for r in report["layers"]] == list(shapes)
    for record in report["layers"]:
        m, k, n = shapes[record["layer"]]
        assert (record["m"], record["k"], record["n"]) == (m, k, n)
        assert record["cycles"] == array.timing(m, k, n).total
        assert record["scalesim_cycles"] == scalesim_breakdown(m, k, n, 16, 8, "os").total
        assert f"{record['layer']:<7}{m:>7} {k:>7} {n:>7} {record['cycles']:>12,}" in out.stdout
    assert report["totals"]["cycles"] == sum(r["cycles"] for r in report["layers"])
    with open(tmp_path / "out.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["cycles"]) for r in rows] == [r["cycles"] for r in report["layers"]]


@pytest.mark.parametrize("text, message", [
    ("a, 1, 2, 3,\nb, 1, 2\n", "line 2: expected 3 numbers (GEMM: M, N, K) or 7 (conv: IfH, "
                             "IfW, FH, FW, C, NumFilt, Stride), got 2"),
    ("a, 1, 2, x,\n", "line 1: field 'x' is not an integer"),
])
def test_run_malformed_topology_names_the_line(tmp_path, text, message):
    layers = tmp_path / "bad.csv"
    layers.write_text(text)
    out = run("run", str(layers))
    assert out.returncode == 2
    assert out.stderr.strip() == f"systolic run: error: {layers} {message}"


def test_run_missing_file(tmp_path):
    out = run("run", str(tmp_path / "missing.csv"))
    assert out.returncode == 2
    assert out.stderr.strip() == (f"systolic run: error: cannot read {tmp_path / 'missing.csv'}: "
                                  "No such file or directory")


# Messages written by argparse itself are matched by their start (its wording of the choices
# differs between Python versions); the project's own messages exactly.
@pytest.mark.parametrize("args, message, exact", [
    (["matmul", "--dims", "8by8"],
     "systolic matmul: error: argument --dims: expected RxC (for example 256x256) with positive "
     "integers, got '8by8'", True),
    (["matmul", "--shape", "0x3x3"],
     "systolic matmul: error: argument --shape: expected MxKxN (for example 1024x1024x1024) "
     "with positive integers, got '0x3x3'", True),
    (["matmul", "--acc-bits", "40"],
     "systolic matmul: error: acc_bits must be an integer from 16 to 32, got 40", True),
    (["matmul", "--dataflow", "xs"],
     "systolic matmul: error: argument --dataflow: invalid choice: 'xs'", False),
    (["frobnicate"], "systolic: error: argument COMMAND: invalid choice: 'frobnicate'", False),
    (["hdl", "--rows", "0", "--cols", "2", "--out", "x"],
     "systolic hdl: error: --rows must be a positive integer, got 0", True),
    (["sim", "--rows", "2", "--cols", "2", "--tests", "no/such/folder"],
     "systolic sim: error: RTL tests not found at no/such/folder; run from a source checkout or "
     "pass --tests", True),
])
def test_bad_arguments_give_one_line_and_status_2(args, message, exact):
    out = run(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    if exact:
        assert lines[0] == message
    else:
        assert lines[0].startswith(message), lines[0]
    assert out.stdout == ""


def test_hdl_writes_verilog_and_sidecar(tmp_path):
    out = run("hdl", "--rows", "2", "--cols", "3", "--out", str(tmp_path / "rtl"))
    assert out.returncode == 0, out.stderr
    verilog, sidecar = [Path(line) for line in out.stdout.split()]
    assert verilog.suffix == ".v" and sidecar.suffix == ".json"
    text = verilog.read_text()
    assert "module systolic_array(" in text.replace(" (", "(")
    assert "x_data_1" in text and "w_data_2" in text and "pe_r1_c2" in text
    assert json.loads(sidecar.read_text())["rows"] == 2


def test_sim_forwards_size_to_pytest(tmp_path):
    # A stand-in test folder that only records the size it was given.
    tests = tmp_path / "tests" / "rtl"
    tests.mkdir(parents=True)
    (tests / "test_size.py").write_text(
        "import os\n\ndef test_size():\n"
        "    assert (os.environ['SIM_ROWS'], os.environ['SIM_COLS']) == ('3', '5')\n")
    out = run("sim", "--rows", "3", "--cols", "5", "--tests", str(tests))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout
