"""The Verilator lint waivers that go with the generated Verilog."""

from __future__ import annotations

__all__ = ["VERILATOR_WAIVERS", "WAIVERS_FILE"]

#: File name of the waivers, written next to the reference configurations in ``rtl/``.
WAIVERS_FILE = "systolic_array.vlt"

#: Verilator configuration that waives the style warnings ``verilator --lint-only -Wall``
#: cannot avoid in generated code; pass it before the Verilog:
#: ``verilator --lint-only -Wall systolic_array.vlt ws_4x4_i8_i8_acc32.v``.
VERILATOR_WAIVERS = """\
`verilator_config
// Waivers for the Verilog written by systolic.hdl: style warnings of `verilator -Wall` that
// generated code cannot avoid, each limited to the construct it is about.

// Each generated file holds all modules of one configuration (systolic_array_pe, the delay
// registers and systolic_array) and is named after the configuration, not after a module.
lint_off -rule DECLFILENAME -file "*" -match "*does not match MODULE name: 'systolic_array_pe'"

// In systolic_array, registers that nothing outside their instance reads (a PE's stationary
// registers, the lanes leaving the array's edges) are connected by name to nothing: they stay
// visible inside the instance without one wire per PE in the top module.
lint_off -rule PINCONNECTEMPTY -file "*" -match "*pin connected by name with empty reference: *"

// The sums wrap at acc_bits (contract section 3): the carry out of systolic_array_pe's adder,
// an internal net that Yosys names $<n>, is not used.
lint_off -rule UNUSEDSIGNAL -file "*" -match "Bits of signal are not used: '$*'*"
lint_off -rule UNUSEDSIGNAL -file "*" -match "Signal is not used: '$*'"

// The weight-stationary systolic_array_pe has the same inputs as the output-stationary one;
// its psum_valid follows x_valid (contract section 3.1), so psum_valid_in is not read.
lint_off -rule UNUSEDSIGNAL -file "*" -match "Signal is not used: 'psum_valid_in'"
"""
