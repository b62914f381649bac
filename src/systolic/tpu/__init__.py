"""A TPU v1-level accelerator built around the systolic array.

The machine (:class:`TPU`, configured by :class:`TPUConfig`, TPU v1 by default) has host
memory and a host link, a Unified Buffer, a Weight Memory and Weight FIFO, the matrix unit
(:class:`systolic.SystolicArray`), accumulators and an activation unit with requantization and
pooling. It runs programs of a CISC instruction set (:class:`Program`, with an assembler and a
disassembler) under a timing model of TPU v1's overlapped execution. The compiler
(:func:`compile_network`) turns dense, convolution, activation and pooling layers into
programs, and :func:`compile_graph` whole graphs (:class:`Graph`) with branches, residual adds
and concatenations; :class:`OnnxSession` runs int8 ONNX models through it, bit for bit as
onnxruntime does. SCALE-Sim topology files can be read and timed on the array. See docs/tpu.md.
"""

from ._compiler import CompiledNetwork, Conv2D, Dense, Network, Pool2D, compile_network
from ._config import TPUConfig
from ._digits import DigitsModel, digits_mlp
from ._faults import matrix_cycles, prune_network
from ._graph import CompiledGraph, Graph, compile_graph
from ._isa import MNEMONICS, Instruction, Program, ProgramError, assemble, disassemble
from ._machine import BREAKDOWN_CATEGORIES, TPU, RunReport, TimelineEntry, check_program
from ._onnx import LayerReport, OnnxReport, OnnxSession
from ._plot import plot_run_timeline, plot_timeline
from ._quant import (
    FUNCTIONS,
    POOLS,
    ROUNDINGS,
    Requant,
    activate,
    pool,
    requantize_float32,
    round_div,
)
from ._scalesim import (
    LayerTiming,
    TopologyError,
    TopologyLayer,
    TopologyWarning,
    format_timings,
    read_topology,
    time_topology,
)

__all__ = [
    # machine
    "TPU", "TPUConfig", "RunReport", "TimelineEntry", "BREAKDOWN_CATEGORIES", "check_program",
    "plot_run_timeline", "plot_timeline",
    # instruction set
    "MNEMONICS", "Instruction", "Program", "ProgramError", "assemble", "disassemble",
    # activation unit arithmetic
    "FUNCTIONS", "POOLS", "ROUNDINGS", "Requant", "activate", "pool", "requantize_float32",
    "round_div",
    # compiler
    "CompiledNetwork", "Conv2D", "Dense", "Network", "Pool2D", "compile_network",
    # graphs
    "CompiledGraph", "Graph", "compile_graph",
    # faults in the matrix unit
    "matrix_cycles", "prune_network",
    # ONNX models
    "LayerReport", "OnnxReport", "OnnxSession",
    # workloads
    "DigitsModel", "digits_mlp",
    "LayerTiming", "TopologyError", "TopologyLayer", "TopologyWarning", "format_timings",
    "read_topology",
    "time_topology",
]
