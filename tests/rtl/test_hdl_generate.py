# amaranth: UnusedElaboratable=no
"""The generator: parameter checks, Verilog structure, determinism, sidecar and CLI.

The comment above keeps Amaranth from warning about the components whose constructors
reject their parameters here (they exist, unused, before the constructor raises).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import systolic.hdl as hdl
from helpers import exact
from systolic.faults import Fault as ContractFault
from systolic.hdl import ArrayConfig, ArrayTop, Fault, ProcessingElement
from systolic.hdl._generate import _one_clocked_block
from systolic.hdl._netlist import ROW_MODULE, array_netlist, row_blocks_verilog, top_verilog

REPO = Path(__file__).resolve().parents[2]



@pytest.fixture(scope="module")
def small():
    """Verilog and sidecar of a 3 x 2 ws array (generated once for the module)."""
    return hdl.generate(3, 2, "ws", x_signed=False, w_signed=True, acc_bits=20)


# --------------------------------------------------------------------------------------------
# Parameter checks
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"rows": 0}, ValueError, "rows must be a positive integer, got 0"),
    ({"cols": -3}, ValueError, "cols must be a positive integer, got -3"),
    ({"rows": 2.0}, TypeError, "rows must be a positive integer, got 2.0"),
    ({"cols": True}, TypeError, "cols must be a positive integer, got True"),
    ({"dataflow": "xs"}, ValueError, "unknown dataflow 'xs': expected one of 'ws', 'os', 'is'"),
    ({"dataflow": 3}, TypeError, "dataflow must be one of 'ws', 'os', 'is', got 3"),
    ({"acc_bits": 15}, ValueError, "acc_bits must be an integer from 16 to 32, got 15"),
    ({"acc_bits": 33}, ValueError, "acc_bits must be an integer from 16 to 32, got 33"),
    ({"acc_bits": "32"}, TypeError, "acc_bits must be an integer from 16 to 32, got '32'"),
    ({"x_signed": 1}, TypeError, "x_signed must be True or False, got 1"),
    ({"w_signed": None}, TypeError, "w_signed must be True or False, got None"),
])
def test_bad_parameters(kwargs, error, message):
    params = {"rows": 2, "cols": 2, **kwargs}
    with pytest.raises(error, match=exact(message)):
        ArrayConfig(**params)
    # generate() checks before doing any work, with the same messages.
    with pytest.raises(error, match=exact(message)):
        hdl.generate(**params)


def test_component_constructors_check_their_config():
    with pytest.raises(TypeError, match=exact("config must be an ArrayConfig, got (2, 2)")):
        ProcessingElement((2, 2))
    with pytest.raises(TypeError, match=exact("config must be an ArrayConfig, got 'ws'")):
        ArrayTop("ws")


@pytest.mark.parametrize(("fault", "message"), [
    (Fault("out_flip", col=4), "fault column 4 is outside 0..3"),
    (Fault("psum_flip", row=2, col=0), "fault row 2 is outside 0..1"),
    (Fault("out_flip", col=0, bit=32), "fault bit 32 is outside 0..31"),
])
def test_bad_fault_position(fault, message):
    with pytest.raises(ValueError, match=exact(message)):
        ArrayTop(ArrayConfig(2, 4), fault=fault)
    with pytest.raises(ValueError, match=exact(message)):
        hdl.generate(2, 4, fault=fault)


def test_bad_fault_kind():
    with pytest.raises(ValueError, match=exact(
            "unknown fault kind 'stuck': expected one of 'out_delay', 'out_flip', 'psum_flip'")):
        Fault("stuck", col=0)
    with pytest.raises(TypeError, match=exact("fault must be a Fault or None, got 'out_flip'")):
        ArrayTop(ArrayConfig(2, 2), fault="out_flip")
    with pytest.raises(TypeError, match=exact("fault must be a Fault or None, got 'out_flip'")):
        hdl.generate(2, 2, fault="out_flip")


@pytest.mark.parametrize(("rows", "tag_bits"), [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3),
                                                (128, 7), (129, 8), (256, 8)])
def test_tag_width(rows, tag_bits):
    assert ArrayConfig(rows, 1).tag_bits == tag_bits


def test_dataflow_enum_like_value_is_accepted():
    class Flow:
        value = "os"

    assert ArrayConfig(2, 2, Flow()).dataflow == "os"


# --------------------------------------------------------------------------------------------
# Verilog structure
# --------------------------------------------------------------------------------------------

def _module_ports(text: str, module: str) -> list[str]:
    header = re.search(rf"^module {module}\((.*?)\);", text, re.S | re.M)
    return [port.strip() for port in header.group(1).split(",")]


def test_top_ports_and_widths(small):
    text, sidecar = small
    ports = {p["name"]: p for p in sidecar["ports"]}
    assert sorted(_module_ports(text, "systolic_array")) == sorted(["clk", "rst", *ports])
    assert list(ports) == ["x_data_0", "x_data_1", "x_data_2", "x_valid", "x_flag", "w_data_0",
                           "w_data_1", "w_valid", "w_tag", "out_data_0", "out_data_1",
                           "out_valid"]
    assert re.search(r"^\s*input \[1:0\] w_tag;$", text, re.M)
    assert re.search(r"^\s*output \[19:0\] out_data_1;$", text, re.M)
    assert re.search(r"^\s*input \[7:0\] x_data_2;$", text, re.M)


def test_one_pe_module_instantiated_per_pe(small):
    text, _ = small
    assert re.findall(r"^module (\w+)\(", text, re.M) == [
        "systolic_array_pe", "systolic_array_delay_1", "systolic_array_delay_2",
        "systolic_array_delay_8", "systolic_array_delay_20", "systolic_array"]
    # The top module holds no registers of its own: skew registers are instances too.
    top = text[text.index("module systolic_array("):]
    assert "always" not in top
    assert re.findall(r"^\s*systolic_array_delay_8 (\w+) \(", top, re.M) == [
        "x_skew_1_1_reg", "x_skew_2_1_reg", "x_skew_2_2_reg", "w_skew_1_1_reg"]
    instances = re.findall(r"^\s*systolic_array_pe (\w+) \($", text, re.M)
    assert instances == [f"pe_r{r}_c{c}" for r in range(3) for c in range(2)]
    # The tag comparison gets each PE's row as a constant.
    assert re.findall(r"\.row\((2'd\d)\)", text) == ["2'd0", "2'd0", "2'd1", "2'd1", "2'd2",
                                                      "2'd2"]
    # Only registers that a neighbour or the de-skew reads become top-level wires.
    wires = re.findall(r"^\s*wire (?:\[\d+:0\] )?(\w+);$", top, re.M)
    assert "pe_r0_c0_x" in wires and "pe_r0_c1_x" not in wires  # nothing right of column 1
    assert "pe_r2_c1_psum_valid" in wires and "pe_r2_c0_psum_valid" not in wires
    assert len(wires) == len(set(wires))
    # Implicit nets are errors, so a misnamed connection cannot compile into a stray wire.
    assert text.count("`default_nettype none") == 1


def test_top_module_reads_only_driven_wires():
    """Every identifier the top module connects is a port or a wire driven exactly once."""
    for dataflow in ("ws", "os"):
        text, _ = hdl.generate(4, 3, dataflow, acc_bits=16, fault=Fault("out_delay", col=1))
        top = text[text.index("module systolic_array("):]
        declared = set(re.findall(r"^\s*(?:input|output|wire) (?:\[\d+:0\] )?(\w+);$", top,
                                  re.M))
        connected = re.findall(r"\.\w+\((\w+)\)", top)
        assert set(connected) - {"clk", "rst"} <= declared
        outputs = re.findall(r"\.(?:q|x|x_valid|x_flag|w|w_valid|w_tag|psum|psum_valid)\((\w+)\)",
                             top)
        assigned = re.findall(r"^\s*assign (\w+) = ", top, re.M)
        drivers = outputs + assigned
        assert len(drivers) == len(set(drivers))
        assert "out_fault_1_1" in outputs  # the faulty column's extra register


@pytest.mark.parametrize(("dataflow", "stationary"), [("ws", ("w_active", "w_shadow")),
                                                      ("os", ("acc", "hold"))])
def test_pe_registers_keep_contract_names(dataflow, stationary):
    config = ArrayConfig(2, 2, dataflow, acc_bits=24)
    full, _ = hdl.generate(2, 2, dataflow, acc_bits=24)
    text = full[:full.index("endmodule")]  # the PE module
    names = ("x", "x_valid", "x_flag", "w", "w_valid", "w_tag", "psum", "psum_valid",
             *stationary)
    assert hdl.pe_registers(config) == names
    widths = hdl.register_widths(config)
    for name in names:
        width = widths[name]
        decl = f"[{width - 1}:0] {name}" if width > 1 else name
        assert re.search(rf"^\s*reg {re.escape(decl)};$", text, re.M), name
        assert re.search(rf"^\s*output {re.escape(decl)};$", text, re.M), name


def test_no_source_attributes_and_deterministic(small):
    text, sidecar = small
    assert "src =" not in text
    # Every register has its reset folded in and no initial value, and each module's
    # registers share one clocked block: Icarus compiles always @* processes and
    # initialisers slowly, and runs every block as a thread of its own.
    assert "always @*" not in text
    assert re.search(r"^\s*if \(rst\) psum <= 20'h00000;$", text, re.M)
    assert not re.search(r"^\s*reg .* = ", text, re.M)
    for match in re.finditer(r"^module (\w+)\(.*?^endmodule$", text, re.M | re.S):
        module, body = match.group(1), match.group(0)
        expected = 0 if module == "systolic_array" else 1
        assert body.count("always") == expected, module
        assert body.count("always @(posedge clk) begin") == expected, module
    again = hdl.generate(3, 2, "ws", x_signed=False, w_signed=True, acc_bits=20)
    assert again[0] == text
    assert again[1] == sidecar


def test_clocked_blocks_merge_only_non_blocking_assignments():
    yosys_like = ("module m(clk, a, b);\n  always @(posedge clk)\n    if (rst) a <= 1'h0;\n"
                  "    else a <= b;\n  always @(posedge clk)\n    b <= a;\nendmodule\n")
    assert _one_clocked_block(yosys_like, "m") == (
        "module m(clk, a, b);\n  always @(posedge clk) begin\n    if (rst) a <= 1'h0;\n"
        "    else a <= b;\n    b <= a;\n  end\nendmodule\n")
    message = ("unexpected Yosys output for module m: only non-blocking assignments in "
               "'always @(posedge clk)' blocks can be merged")
    with pytest.raises(RuntimeError, match=exact(message)):
        _one_clocked_block(yosys_like.replace("b <= a", "b = a"), "m")
    with pytest.raises(RuntimeError, match=exact(message)):
        _one_clocked_block(yosys_like + "  always @*\n    c = a;\n", "m")


def test_is_uses_ws_hardware():
    ws_text, _ = hdl.generate(2, 3, "ws")
    is_text, is_sidecar = hdl.generate(2, 3, "is")
    assert is_sidecar["dataflow"] == "is"
    # Only the header comment, which names the dataflow, differs.
    assert is_text.split("\n", 2)[2] == ws_text.split("\n", 2)[2]


# --------------------------------------------------------------------------------------------
# Sidecar and files
# --------------------------------------------------------------------------------------------

def test_sidecar_contents(small):
    _, sidecar = small
    assert {key: sidecar[key] for key in ("rows", "cols", "dataflow", "x_signed", "w_signed",
                                          "acc_bits", "tag_bits")} == {
        "rows": 3, "cols": 2, "dataflow": "ws", "x_signed": False, "w_signed": True,
        "acc_bits": 20, "tag_bits": 1 + 1}
    assert sidecar["generator"] == "systolic.hdl"
    assert sidecar["generator_version"] == hdl.GENERATOR_VERSION
    assert sidecar["top_module"] == "systolic_array"
    assert sidecar["pe_module"] == "systolic_array_pe"
    assert [reg["name"] for reg in sidecar["pe_registers"]] == list(
        hdl.pe_registers(hdl.config_from_sidecar(sidecar)))
    assert {"name": "out_data_0", "direction": "out", "width": 20} in sidecar["ports"]


def test_write_and_load(tmp_path):
    verilog_path, sidecar_path = hdl.write(tmp_path / "out", 2, 2, "os", acc_bits=16)
    assert verilog_path.name == "os_2x2_i8_i8_acc16.v"
    sidecar = hdl.load_sidecar(sidecar_path)
    assert sidecar["verilog"] == verilog_path.name
    assert hdl.config_from_sidecar(sidecar) == ArrayConfig(2, 2, "os", acc_bits=16)
    (tmp_path / "other.json").write_text(json.dumps({"rows": 2}))
    with pytest.raises(ValueError, match=r"^'.*other\.json' is not a systolic\.hdl sidecar$"):
        hdl.load_sidecar(tmp_path / "other.json")


def test_reference_configs_match_committed_files(tmp_path):
    """The committed rtl/ files are what the generator produces today (byte for byte)."""
    config = hdl.REFERENCE_CONFIGS[0]
    verilog_path, sidecar_path = hdl.write(tmp_path, config.rows, config.cols, config.dataflow,
                                           x_signed=config.x_signed, w_signed=config.w_signed,
                                           acc_bits=config.acc_bits)
    committed = REPO / "rtl"
    assert verilog_path.read_bytes() == (committed / verilog_path.name).read_bytes()
    assert sidecar_path.read_bytes() == (committed / sidecar_path.name).read_bytes()
    names = sorted(path.name for path in committed.glob("*.v"))
    assert names == sorted(f"{config.name}.v" for config in hdl.REFERENCE_CONFIGS)
    assert all((committed / name).stat().st_size < 1_000_000 for name in names)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "systolic.hdl", *args], capture_output=True,
                          text=True, check=False)


def test_cli_writes_verilog_and_sidecar(tmp_path):
    done = _cli("--rows", "2", "--cols", "3", "--dataflow", "os", "--x-unsigned",
                "--acc-bits", "18", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    sidecar = hdl.load_sidecar(tmp_path / "os_2x3_u8_i8_acc18.json")
    assert (sidecar["x_signed"], sidecar["w_signed"], sidecar["acc_bits"]) == (False, True, 18)
    assert (tmp_path / "os_2x3_u8_i8_acc18.v").read_text().startswith("// systolic_array: 2 x 3")
    assert done.stdout.split() == [str(tmp_path / "os_2x3_u8_i8_acc18.v"),
                                   str(tmp_path / "os_2x3_u8_i8_acc18.json")]


@pytest.mark.parametrize(("args", "message"), [
    (("--rows", "0", "--cols", "2"), "--rows must be a positive integer, got 0"),
    (("--rows", "2", "--cols", "2", "--acc-bits", "40"),
     "acc_bits must be an integer from 16 to 32, got 40"),
    (("--cols", "2"), "the array size is required: --dims RxC (or --rows and --cols)"),
    (("--reference-configs", "--rows", "2"), "--reference-configs takes no array size"),
])
def test_cli_errors(tmp_path, args, message):
    done = _cli(*args, "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().endswith(f"error: {message}")
    assert not list(tmp_path.iterdir())


def test_row_blocks_group_the_same_pes_and_registers():
    for dataflow in ("ws", "os"):
        netlist = array_netlist(ArrayConfig(3, 5, dataflow, True, True, 32))
        flat, rows = top_verilog(netlist), row_blocks_verilog(netlist)
        row_module, top = rows.split(f"endmodule\nmodule {hdl.TOP_MODULE}(")
        assert row_module.startswith(f"module {ROW_MODULE}(")
        # one PE per column in the row module, one row module per row in the top
        assert len(re.findall(r"^  systolic_array_pe pe_c\d+ ", row_module, re.M)) == 5
        assert len(re.findall(rf"^  {ROW_MODULE} row_\d+ ", top, re.M)) == 3
        # the delay registers and the ports are those of the flat top
        delays = re.compile(r"^  (systolic_array_delay_\d+ \w+) \(", re.M)
        assert delays.findall(top) == delays.findall(flat)
        ports = re.compile(r"^  (?:input|output) .*;$", re.M)
        assert ports.findall(top) == ports.findall(flat)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"faults": [ContractFault("psum", (1, 2), 3, "stuck_at_1")]}, "faults and bypassed PEs"),
    ({"bypass": [(0, 0)]}, "faults and bypassed PEs"),
    ({"fault": Fault("psum_flip", col=1, row=1, bit=2)}, "psum_flip mutation"),
])
def test_row_blocks_refuse_rows_that_differ(kwargs, message):
    netlist = array_netlist(ArrayConfig(3, 3, "ws", True, True, 32), **kwargs)
    with pytest.raises(ValueError, match=message):
        row_blocks_verilog(netlist)
