"""Cycle-accurate, bit-exact model of a TPU-style systolic array.

The array follows the hardware contract in ``docs/contract.md``; the generated RTL
(:mod:`systolic.hdl`) follows the same contract and is verified against this model.

Subpackages and modules loaded on demand: :mod:`systolic.timing` (closed-form cycle
formulas), :mod:`systolic.tpu` (the TPU v1-level accelerator), :mod:`systolic.hdl` (the
Amaranth RTL generator), :mod:`systolic.plot` and :mod:`systolic.vcd` (pictures and waveforms),
:mod:`systolic.energy` (energy and area) and :mod:`systolic.sweep` (design-space sweeps).
"""

from ._dataflow import Dataflow
from .array import (
    ArrayTrace,
    CycleBreakdown,
    EdgeStream,
    OutputStream,
    RunResult,
    Stepper,
    SystolicArray,
    matmul,
)

__all__ = [
    # the array and its one-call form
    "SystolicArray",
    "matmul",
    "Dataflow",
    # what a run returns
    "RunResult",
    "CycleBreakdown",
    "OutputStream",
    "ArrayTrace",
    "EdgeStream",
    "Stepper",
]
