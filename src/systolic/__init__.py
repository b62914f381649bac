"""Cycle-accurate, bit-exact model of a TPU-style systolic array.

The array follows the hardware contract in ``docs/contract.md``; the generated RTL
(:mod:`systolic.hdl`) follows the same contract and is verified against this model.

Subpackages and modules loaded on demand: :mod:`systolic.timing` (closed-form cycle
formulas), :mod:`systolic.tpu` (the TPU v1-level accelerator), :mod:`systolic.hdl` (the
Amaranth RTL generator), :mod:`systolic.plot` and :mod:`systolic.vcd` (pictures and waveforms),
:mod:`systolic.energy` (energy and area) and :mod:`systolic.sweep` (design-space sweeps).

Memory: before allocating, the engines, the VCD exporter and the RTL generator estimate what a
call needs and refuse it with a ``ValueError`` past 4 GiB; the environment variable
``SYSTOLIC_MEMORY_LIMIT`` sets another limit (bytes, or with a ``K``, ``M``, ``G`` or ``T``
suffix).
"""

from importlib.metadata import PackageNotFoundError, version

from ._dataflow import Dataflow
from .array import (
    ArrayTrace,
    CycleBreakdown,
    EdgeStream,
    FaultReport,
    OutputStream,
    RunResult,
    Stepper,
    SystolicArray,
    matmul,
)
from .faults import Fault

try:
    __version__ = version("systolic")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    # the array and its one-call form
    "SystolicArray",
    "matmul",
    "Dataflow",
    # faults in the registers (docs/contract.md, section 6)
    "Fault",
    "FaultReport",
    # what a run returns
    "RunResult",
    "CycleBreakdown",
    "OutputStream",
    "ArrayTrace",
    "EdgeStream",
    "Stepper",
]
