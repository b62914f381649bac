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

from typing import TYPE_CHECKING

# Public names and the modules that define them, imported on first use (PEP 562), so that
# reading a topology does not load the compiler, the machine or numba.
_LAZY = {
    "CompiledNetwork": "_compiler", "Conv2D": "_compiler", "Dense": "_compiler",
    "Network": "_compiler", "Pool2D": "_compiler", "compile_network": "_compiler",
    "TPUConfig": "_config", "DigitsModel": "_digits", "digits_mlp": "_digits",
    "matrix_cycles": "_faults", "prune_network": "_faults", "CompiledGraph": "_graph",
    "Graph": "_graph", "compile_graph": "_graph", "MNEMONICS": "_isa", "Instruction": "_isa",
    "Program": "_isa", "ProgramError": "_isa", "assemble": "_isa", "disassemble": "_isa",
    "BREAKDOWN_CATEGORIES": "_machine", "TPU": "_machine", "RunReport": "_machine",
    "TimelineEntry": "_machine", "check_program": "_machine", "LayerReport": "_onnx",
    "OnnxReport": "_onnx", "OnnxSession": "_onnx", "plot_run_timeline": "_plot",
    "plot_timeline": "_plot", "FUNCTIONS": "_quant", "POOLS": "_quant", "ROUNDINGS": "_quant",
    "Requant": "_quant", "activate": "_quant", "pool": "_quant", "requantize_float32": "_quant",
    "round_div": "_quant", "LayerTiming": "_scalesim", "TopologyError": "_scalesim",
    "TopologyLayer": "_scalesim", "TopologyWarning": "_scalesim", "format_timings": "_scalesim",
    "read_topology": "_scalesim", "time_topology": "_scalesim",
}

if TYPE_CHECKING:  # the names for type checkers and the API docs, which read the source
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


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


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
