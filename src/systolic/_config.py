"""Engine-wide settings: JIT flags and limits, kept in one place."""

from __future__ import annotations

__all__ = ["BLOCK_COLS", "BLOCK_CYCLES", "BLOCK_ROWS", "CYCLES_PER_SECOND", "PROGRESS_SECONDS",
           "PE_CYCLES_PER_SECOND", "TRACE_CELL_LIMIT", "jit"]

#: Options of every compiled function. ``cache=True`` keeps the compiled code across
#: processes; no ``fastmath`` because the model is integer-exact and must stay so.
JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False,
               "error_model": "numpy", "boundscheck": False}


def jit(*args, **options):
    """``numba.njit`` with :data:`JIT_OPTIONS` (``options`` override them).

    Used as ``@jit`` or ``@jit(parallel=True)``. numba is imported here, at the first
    decoration, so that modules reading only this file's constants do not load it.
    """
    import numba

    return numba.njit(*args, **{**JIT_OPTIONS, **options})

#: A trace window may hold at most this many register values (cycles x R x C x registers).
TRACE_CELL_LIMIT = 10**8

#: ``progress=None`` shows a bar when a run is estimated to take longer than this.
PROGRESS_SECONDS = 2.0

#: Engine speed used only for that estimate (about half of what a 256 x 256 array reaches).
PE_CYCLES_PER_SECOND = 5.0e9

#: ... plus a cost per cycle whatever the array size, which dominates on tiny arrays (a 1 x 1
#: array steps about 1.75 million cycles per second).
CYCLES_PER_SECOND = 1.5e6

#: Cache blocking of the kernels: cycles per chunk, and the block of PE rows (ws: and strip of
#: columns) stepped through a whole chunk before the next one, so that it stays in a 32-48 KiB
#: L1 data cache. Measured on a 256 x 256 array; the results do not depend on these.
BLOCK_CYCLES = 32
BLOCK_ROWS = 8
BLOCK_COLS = 256
