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

from typing import TYPE_CHECKING

from ._dataflow import Dataflow

# Public names and the modules that define them, imported on first use (PEP 562): the array
# engines load numba, and ``systolic scalesim`` or ``import systolic.timing`` need none of it.
_LAZY = {
    "ArrayTrace": "array", "CycleBreakdown": "array", "EdgeStream": "array",
    "FaultReport": "array", "OutputStream": "array", "RunResult": "array", "Stepper": "array",
    "SystolicArray": "array", "matmul": "array", "Fault": "faults",
}

if TYPE_CHECKING:  # the names for type checkers and the API docs, which read the source
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


def __getattr__(name):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("systolic")
        except PackageNotFoundError:  # imported from a source tree that was never installed
            value = "0+unknown"
    elif name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


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
