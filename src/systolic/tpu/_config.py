"""The machine description: one frozen dataclass whose defaults are TPU v1."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._checks import check_bool, check_choice, check_int, check_number
from ..faults import check_bypass, check_faults

__all__ = ["TPUConfig"]

MIB = 1 << 20
GIB = 1 << 30

# Widths of the address fields of the instruction encoding (docs/tpu.md, "Encoding").
UB_ADDRESS_BITS = 24
ACC_ADDRESS_BITS = 16
HOST_ADDRESS_BITS = 48
WEIGHT_ADDRESS_BITS = 40

_PRECISIONS = ("8x8", "8x16", "16x8", "16x16")


@dataclass(frozen=True)
class TPUConfig:
    """Parameters of the simulated accelerator; the defaults describe TPU v1.

    Parameters
    ----------
    rows, cols : int
        Size of the matrix unit (systolic array), ``rows`` inputs by ``cols`` outputs.
    clock_hz : float
        Clock frequency (700 MHz).
    ub_bytes : int
        Unified Buffer capacity (24 MiB). It is organised in rows of :attr:`row_bytes` bytes.
    acc_rows : int
        Accumulator rows (4096), each ``cols`` int32 values.
    weight_memory_bytes : int
        Weight Memory (off-chip DRAM) capacity (8 GiB); stored sparsely.
    dram_bytes_per_s : float
        Weight Memory bandwidth (34 GB/s).
    weight_fifo_tiles : int
        Depth of the Weight FIFO in tiles (4).
    host_memory_bytes : int
        Host memory capacity reachable by the host-transfer instructions (4 GiB; at most
        2**48, the reach of their 6-byte address field); stored sparsely.
    host_bytes_per_s : float
        Effective host-link bandwidth (PCIe Gen3 x16, 12.5 GB/s).
    host_latency_cycles : int
        Fixed cost of one host transfer on top of its bytes (700 cycles, 1 us; ours).
    activate_latency : int
        Pipeline depth of the activation unit (8 cycles; ours, not published).
    double_buffer : bool
        Whether the array holds a second (shadow) weight tile.
    precision : str
        Operand widths ``"8x8"`` (weights x activations). TPU v1's half and quarter speed modes
        (``"8x16"``, ``"16x8"``, ``"16x16"``) are not modelled and are rejected.
    faults : sequence of systolic.Fault
        Faults in the matrix unit's PE registers (``docs/contract.md``, section 6; the array
        is weight-stationary with 32-bit sums). A stuck bit is stuck in every matrix
        instruction; the cycle of a flip counts the matrix unit's cycles (docs/tpu.md,
        "Faults in the matrix unit"). Stored as a tuple.
    bypass : sequence of (int, int)
        Bypassed PEs of the matrix unit (their products are 0); :func:`compile_network`
        zeroes the weights that land on them (fault-aware pruning). Stored as a sorted tuple.

    Raises
    ------
    TypeError, ValueError
        On a parameter of the wrong type or out of range.
    """

    rows: int = 256
    cols: int = 256
    clock_hz: float = 700e6
    ub_bytes: int = 24 * MIB
    acc_rows: int = 4096
    weight_memory_bytes: int = 8 * GIB
    dram_bytes_per_s: float = 34e9
    weight_fifo_tiles: int = 4
    host_memory_bytes: int = 1 << 32
    host_bytes_per_s: float = 12.5e9
    host_latency_cycles: int = 700
    activate_latency: int = 8
    double_buffer: bool = True
    precision: str = "8x8"
    faults: tuple = ()
    bypass: tuple = ()

    def __post_init__(self):
        self._set_int("rows", 1, 4096)
        self._set_int("cols", 1, 4096)
        self._set_number("clock_hz")
        self._set_int("ub_bytes", self.row_bytes)
        self._set_int("acc_rows", 2, 1 << ACC_ADDRESS_BITS)
        self._set_int("weight_memory_bytes", self.tile_bytes, 1 << WEIGHT_ADDRESS_BITS)
        self._set_number("dram_bytes_per_s")
        self._set_int("weight_fifo_tiles", 1)
        self._set_int("host_memory_bytes", self.row_bytes, 1 << HOST_ADDRESS_BITS)
        self._set_number("host_bytes_per_s")
        self._set_int("host_latency_cycles", 0)
        self._set_int("activate_latency", 0)
        check_bool("double_buffer", self.double_buffer)
        check_choice("precision", self.precision, _PRECISIONS)
        if self.precision != "8x8":
            raise ValueError(
                f"precision {self.precision!r} is not supported: only 8x8 operands are modelled "
                "(TPU v1's half- and quarter-speed 16-bit modes are not)")
        if self.ub_rows > 1 << UB_ADDRESS_BITS:
            raise ValueError(f"ub_bytes={self.ub_bytes!r} gives {self.ub_rows} rows, more than "
                             f"the {UB_ADDRESS_BITS}-bit UB address reaches")
        object.__setattr__(self, "faults", check_faults(self.faults, "ws", self.rows,
                                                        self.cols, 32))
        object.__setattr__(self, "bypass", check_bypass(self.bypass, self.rows, self.cols))

    def _set_int(self, name: str, low: int, high: int | None = None) -> None:
        # Stored as a Python int: sizes multiply into addresses beyond any fixed-width int.
        object.__setattr__(self, name, check_int(name, getattr(self, name), low, high))

    def _set_number(self, name: str) -> None:
        object.__setattr__(self, name, check_number(name, getattr(self, name), positive=True))

    @property
    def row_bytes(self) -> int:
        """Bytes per Unified Buffer row: one vector of the wider array edge (256 for TPU v1)."""
        return max(self.rows, self.cols)

    @property
    def ub_rows(self) -> int:
        """Number of Unified Buffer rows (98,304 for TPU v1)."""
        return self.ub_bytes // self.row_bytes

    @property
    def tile_bytes(self) -> int:
        """Bytes of one weight tile, ``rows x cols`` int8 (64 KiB for TPU v1)."""
        return self.rows * self.cols

    @property
    def weight_tiles(self) -> int:
        """Whole weight tiles the Weight Memory holds."""
        return self.weight_memory_bytes // self.tile_bytes

    @property
    def host_rows(self) -> int:
        """Host memory size in Unified Buffer rows."""
        return self.host_memory_bytes // self.row_bytes

    @property
    def weight_fetch_cycles(self) -> int:
        """Cycles to stream one tile from the Weight Memory (1,350 for TPU v1)."""
        return math.ceil(self.tile_bytes * self.clock_hz / self.dram_bytes_per_s)

    def host_transfer_cycles(self, n_rows: int) -> int:
        """Cycles to move ``n_rows`` Unified Buffer rows over the host link, latency included."""
        return self.host_latency_cycles + math.ceil(
            n_rows * self.row_bytes * self.clock_hz / self.host_bytes_per_s)

    @property
    def peak_tops(self) -> float:
        """Peak throughput in tera-operations per second, one MAC counted as 2 operations."""
        return 2 * self.rows * self.cols * self.clock_hz / 1e12

    @property
    def ridge_point(self) -> float:
        """MACs per weight byte at which weight fetch and computation take equally long."""
        return self.rows * self.cols * self.clock_hz / self.dram_bytes_per_s
