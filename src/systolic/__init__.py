"""Cycle-accurate, bit-exact model of a TPU-style systolic array.

The array follows the hardware contract in ``docs/contract.md``; the generated RTL
(:mod:`systolic.hdl`) follows the same contract and is verified against this model.
"""

from ._dataflow import Dataflow
from .array import CycleBreakdown, RunResult, SystolicArray, matmul

__all__ = [
    "CycleBreakdown",
    "Dataflow",
    "RunResult",
    "SystolicArray",
    "matmul",
]
