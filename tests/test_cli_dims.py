"""One size flag: ``--dims RxC`` on every command, the older ``--rows``/``--cols`` still taken."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("amaranth")

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGY = ROOT / "examples" / "data" / "small_topology.csv"


def _python(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False,
                          cwd=ROOT)


@pytest.mark.parametrize("command", [("-m", "systolic.cli", "hdl"), ("-m", "systolic.hdl")])
def test_hdl_dims_equals_rows_and_cols(tmp_path, command):
    flags = ("--dataflow", "os", "--x-unsigned", "--acc-bits", "18")
    by_dims = _python(*command, "--dims", "2x3", *flags, "--out", str(tmp_path / "dims"))
    by_rows = _python(*command, "--rows", "2", "--cols", "3", *flags,
                      "--out", str(tmp_path / "rows"))
    assert by_dims.returncode == 0 and by_rows.returncode == 0, by_dims.stderr + by_rows.stderr
    for suffix in (".v", ".json"):
        name = "os_2x3_u8_i8_acc18" + suffix
        assert ((tmp_path / "dims" / name).read_bytes()
                == (tmp_path / "rows" / name).read_bytes())


def test_systolic_hdl_takes_the_flags_of_python_m_systolic_hdl(tmp_path):
    done = _python("-m", "systolic.cli", "hdl", "--dims", "2x2", "--w-unsigned", "--x-signed",
                   "--name", "tiny", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / "tiny.v"), str(tmp_path / "tiny.json")]
    assert '"w_signed": false' in (tmp_path / "tiny.json").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (("hdl", "--dims", "2x2", "--rows", "2", "--out", "x"),
     "systolic hdl: error: give --dims or --rows/--cols, not both"),
    (("hdl", "--cols", "2", "--out", "x"),
     "systolic hdl: error: the array size is required: --dims RxC (or --rows and --cols)"),
    (("hdl", "--reference-configs", "--dims", "2x2", "--out", "x"),
     "systolic hdl: error: --reference-configs takes no array size"),
    (("sim", "--dims", "2x2", "--tests", "no/such/folder"),
     "systolic sim: error: RTL tests not found at no/such/folder; run from a source checkout "
     "or pass --tests"),
])
def test_size_errors_are_one_line(args, message):
    done = _python("-m", "systolic.cli", *args)
    assert done.returncode == 2
    assert done.stderr.strip() == message
    assert done.stdout == ""


def test_python_m_systolic_hdl_rejects_both_size_flags(tmp_path):
    done = _python("-m", "systolic.hdl", "--dims", "2x2", "--cols", "2", "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().endswith("error: give --dims or --rows/--cols, not both")


def test_python_m_systolic_tpu_takes_dims():
    by_dims = _python("-m", "systolic.tpu", str(TOPOLOGY), "--dims", "16x16")
    by_rows = _python("-m", "systolic.tpu", str(TOPOLOGY), "--rows", "16", "--cols", "16")
    assert by_dims.returncode == 0, by_dims.stderr
    assert by_dims.stdout == by_rows.stdout
    default = _python("-m", "systolic.tpu", str(TOPOLOGY))
    assert default.returncode == 0, default.stderr
    assert by_dims.stdout != default.stdout          # 16x16, not the default 256x256


@pytest.mark.parametrize("args", [("--dims", "16x16"), ("--dims", "16x16", "--rows", "4"),
                                  ("--rows", "0")])
def test_python_m_systolic_tpu_is_systolic_tpu(args):
    alias = _python("-m", "systolic.tpu", str(TOPOLOGY), *args)
    command = _python("-m", "systolic.cli", "tpu", str(TOPOLOGY), *args)
    assert (alias.returncode, alias.stdout, alias.stderr) == (
        command.returncode, command.stdout, command.stderr)
    assert alias.returncode == 0 or alias.stderr.count("\n") == 1


def test_python_m_systolic_hdl_is_systolic_hdl(tmp_path):
    args = ("--dims", "2x2", "--acc-bits", "40", "--out", str(tmp_path))
    alias = _python("-m", "systolic.hdl", *args)
    command = _python("-m", "systolic.cli", "hdl", *args)
    assert alias.returncode == command.returncode == 2
    assert alias.stderr == command.stderr == (
        "systolic hdl: error: acc_bits must be an integer from 16 to 32, got 40\n")
