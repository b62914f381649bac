"""A TPU v1-level accelerator built around the systolic array.

The machine (:class:`TPU`, configured by :class:`TPUConfig`, TPU v1 by default) has host
memory and a host link, a Unified Buffer, a Weight Memory and Weight FIFO, the matrix unit
(:class:`systolic.SystolicArray`), accumulators and an activation unit with requantization and
pooling. It runs programs of a CISC instruction set (:class:`Program`, with an assembler and
disassembler) with a timing model of TPU v1's overlapped execution. The compiler
(:func:`compile_network`) turns dense, convolution, activation and pooling layers into
programs. See docs/tpu.md.
"""

from ._compiler import CompiledNetwork, Conv2D, Dense, Network, Pool2D, compile_network
from ._config import TPUConfig
from ._digits import DigitsModel, digits_mlp
from ._isa import MNEMONICS, Instruction, Program, ProgramError, assemble, disassemble
from ._machine import BREAKDOWN_CATEGORIES, TPU, RunReport, TimelineEntry, check_program
from ._scalesim import LayerTiming, TopologyError, TopologyLayer, read_topology, time_topology
from ._quant import FUNCTIONS, POOLS, ROUNDINGS, Requant, activate, pool, round_div

__all__ = [
    "BREAKDOWN_CATEGORIES",
    "CompiledNetwork",
    "Conv2D",
    "Dense",
    "DigitsModel",
    "LayerTiming",
    "FUNCTIONS",
    "MNEMONICS",
    "Network",
    "Pool2D",
    "POOLS",
    "ROUNDINGS",
    "TPU",
    "Instruction",
    "Program",
    "ProgramError",
    "Requant",
    "RunReport",
    "TPUConfig",
    "TimelineEntry",
    "TopologyError",
    "TopologyLayer",
    "activate",
    "assemble",
    "check_program",
    "compile_network",
    "digits_mlp",
    "disassemble",
    "pool",
    "read_topology",
    "round_div",
    "time_topology",
]
