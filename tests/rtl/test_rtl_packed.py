"""The packed-bus wrapper: lint-clean, and the same outputs as the array it wraps."""

from __future__ import annotations

import re
import subprocess

import pytest

import systolic.hdl as hdl
from systolic.hdl import ArrayConfig
from systolic.hdl._packed import packed_wrapper, write_packed_wrapper
from test_rtl_tools import RTL, _verilator, _verilator_warnings

CONFIG = ArrayConfig(3, 4, "os", x_signed=False, w_signed=True, acc_bits=20)


def _testbench(config: ArrayConfig) -> str:
    """Random inputs into the wrapper and the bare array; counts differing output cycles."""
    ports = hdl.generate(config.rows, config.cols, config.dataflow, x_signed=config.x_signed,
                         w_signed=config.w_signed, acc_bits=config.acc_bits)[1]["ports"]
    inputs = [p for p in ports if p["direction"] == "in"]
    lines = ["module tb;", "  reg clk = 0, rst = 1;",
             "  integer t, mismatches = 0;"]
    lines += [f"  reg [{p['width'] - 1}:0] {p['name']};" for p in inputs]
    lines += [f"  wire [{p['width'] - 1}:0] bare_{p['name']};" for p in ports
              if p["direction"] == "out"]
    lines += [f"  wire [{config.cols * config.acc_bits - 1}:0] out_data;", "  wire out_valid;"]
    bare = [".clk(clk)", ".rst(rst)"] + [f".{p['name']}({p['name']})" for p in inputs]
    bare += [f".{p['name']}(bare_{p['name']})" for p in ports if p["direction"] == "out"]
    lines.append(f"  systolic_array bare ({', '.join(bare)});")
    x = "{" + ", ".join(f"x_data_{r}" for r in reversed(range(config.rows))) + "}"
    w = "{" + ", ".join(f"w_data_{c}" for c in reversed(range(config.cols))) + "}"
    out = "{" + ", ".join(f"bare_out_data_{c}" for c in reversed(range(config.cols))) + "}"
    lines.append(f"  systolic_array_packed packed (.clk(clk), .rst(rst), .x_data({x}), "
                 ".x_valid(x_valid), .x_flag(x_flag), "
                 f".w_data({w}), .w_valid(w_valid), .w_tag(w_tag), .out_data(out_data), "
                 ".out_valid(out_valid));")
    lines += ["  always #5 clk = ~clk;", "  initial begin",
              "    for (t = 0; t < 200; t = t + 1) begin", "      @(negedge clk);",
              f"      if ({{out_valid, out_data}} !== {{bare_out_valid, {out[1:-1]}}})",
              "        mismatches = mismatches + 1;",
              "      if (t == 2) rst = 0;"]
    lines += [f"      {p['name']} = $random;" for p in inputs]
    lines += ["    end", '    $display("mismatches %0d", mismatches);', "    $finish;",
              "  end", "endmodule"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("packed")
    array = hdl.write(out, CONFIG.rows, CONFIG.cols, CONFIG.dataflow, x_signed=CONFIG.x_signed,
                      w_signed=CONFIG.w_signed, acc_bits=CONFIG.acc_bits)[0]
    return array, write_packed_wrapper(out, CONFIG)


def _mismatches(tmp_path, array, wrapper) -> int:
    bench = tmp_path / "tb.v"
    bench.write_text(_testbench(CONFIG))
    compiled = subprocess.run(["iverilog", "-Wall", "-o", str(tmp_path / "tb.vvp"), str(bench),
                               str(array), str(wrapper)], capture_output=True, text=True,
                              check=False)
    assert compiled.returncode == 0 and compiled.stderr == "", compiled.stderr
    result = subprocess.run(["vvp", "-n", str(tmp_path / "tb.vvp")], capture_output=True,
                            text=True, check=True)
    return int(re.search(r"mismatches (\d+)", result.stdout).group(1))


def test_packed_wrapper_rejects_a_non_config():
    with pytest.raises(TypeError, match=r"^config must be an ArrayConfig, got \(3, 4\)$"):
        packed_wrapper((3, 4))


def test_packed_wrapper_is_verilator_clean(files):
    array, wrapper = files
    result = _verilator("-Wall", str(RTL / "systolic_array.vlt"), str(array), str(wrapper))
    assert result.returncode == 0 and _verilator_warnings(result) == [], result.stderr


@pytest.mark.rtl
def test_packed_wrapper_is_icarus_clean(files, tmp_path):
    result = subprocess.run(["iverilog", "-Wall", "-o", str(tmp_path / "a.vvp"), *map(str, files)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


@pytest.mark.rtl
def test_packed_wrapper_matches_the_array(files, tmp_path):
    assert _mismatches(tmp_path, *files) == 0


@pytest.mark.rtl
def test_swapped_lanes_are_noticed(files, tmp_path):
    array, wrapper = files
    broken = tmp_path / "broken.v"
    broken.write_text(wrapper.read_text().replace(".w_data_0(w_data[7:0])",
                                                  ".w_data_0(w_data[15:8])"))
    assert _mismatches(tmp_path, array, broken) > 0
