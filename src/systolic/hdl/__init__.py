"""Amaranth generator of the systolic array's RTL.

The generated Verilog (top module ``systolic_array``, one ``systolic_array_pe`` module
instantiated per PE) follows ``docs/contract.md``; ``docs/rtl.md`` lists every port and register
name. Each ``.v`` file comes with a JSON sidecar holding all parameters, which is the single
source of truth for testbenches and for building the matching Python model.

Faults of the contract (:class:`systolic.Fault`, ``docs/contract.md`` section 6) and bypassed
PEs are built into the hardware with ``generate(..., faults=[...], bypass=[...])``; the
verification mutations that show the testbench and the proofs catch wrong wiring are
:class:`Mutation` (``fault=``), also known by its first name ``Fault``.
"""

from ._array import ArrayTop
from ._config import DATAFLOWS, ArrayConfig
from ._generate import (
    GENERATOR_VERSION,
    REFERENCE_CONFIGS,
    config_from_sidecar,
    faults_from_sidecar,
    generate,
    load_sidecar,
    module_verilog,
    write,
    write_reference_configs,
)
from ._netlist import PE_MODULE, TOP_MODULE, Fault, Mutation
from ._packed import packed_wrapper, write_packed_wrapper
from ._pe import ProcessingElement, pe_registers, register_widths
from ._waivers import VERILATOR_WAIVERS

__all__ = [
    # _config
    "DATAFLOWS",
    "ArrayConfig",
    # _pe
    "ProcessingElement",
    "pe_registers",
    "register_widths",
    # _array, _netlist
    "PE_MODULE",
    "TOP_MODULE",
    "ArrayTop",
    "Fault",
    "Mutation",
    # _generate
    "GENERATOR_VERSION",
    "REFERENCE_CONFIGS",
    "config_from_sidecar",
    "faults_from_sidecar",
    "generate",
    "load_sidecar",
    "module_verilog",
    "write",
    "write_reference_configs",
    # _packed
    "packed_wrapper",
    "write_packed_wrapper",
    # _waivers
    "VERILATOR_WAIVERS",
]
