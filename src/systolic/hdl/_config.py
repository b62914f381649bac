"""Validated parameters of the generated array."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .._checks import check_bool, check_choice, check_int
from .._dataflow import Dataflow, tag_bits

__all__ = ["DATAFLOWS", "ArrayConfig"]

#: Dataflows the generator accepts; ``is`` is built from the ``ws`` hardware.
DATAFLOWS = tuple(dataflow.value for dataflow in Dataflow)

ACC_BITS_MIN = 16
ACC_BITS_MAX = 32


def _check_dataflow(value) -> str:
    # Accept an enum member whose value is the dataflow string (e.g. ``systolic.Dataflow.WS``).
    return check_choice("dataflow", getattr(value, "value", value), DATAFLOWS)


@dataclass(frozen=True)
class ArrayConfig:
    """Parameters of one generated array (contract sections 1 and 3).

    Parameters
    ----------
    rows, cols : int
        Array size ``R x C``, each at least 1.
    dataflow : {"ws", "os", "is"}
        ``ws`` and ``is`` share the weight-stationary processing element, ``os`` uses the
        output-stationary one.
    x_signed, w_signed : bool
        Signedness of the x and w lanes: int8 if true, uint8 if false.
    acc_bits : int
        Width of the wrapping sums, 16..32.

    Raises
    ------
    TypeError
        If a parameter has the wrong type.
    ValueError
        If a parameter is out of range or ``dataflow`` is unknown.
    """

    rows: int
    cols: int
    dataflow: str = "ws"
    x_signed: bool = True
    w_signed: bool = True
    acc_bits: int = 32

    def __post_init__(self):
        # Stored as plain Python values: the names and the sidecar are built from them.
        object.__setattr__(self, "rows", check_int("rows", self.rows, 1))
        object.__setattr__(self, "cols", check_int("cols", self.cols, 1))
        object.__setattr__(self, "dataflow", _check_dataflow(self.dataflow))
        object.__setattr__(self, "x_signed", check_bool("x_signed", self.x_signed))
        object.__setattr__(self, "w_signed", check_bool("w_signed", self.w_signed))
        object.__setattr__(self, "acc_bits",
                           check_int("acc_bits", self.acc_bits, ACC_BITS_MIN, ACC_BITS_MAX))

    @property
    def tag_bits(self) -> int:
        """Width of ``w_tag``: ``max(1, ceil(log2 R))``."""
        return tag_bits(self.rows)

    @property
    def stationary(self) -> str:
        """``"ws"`` for the weight-stationary PE (dataflows ws and is), ``"os"`` otherwise."""
        return self.kind.pe_kind.value

    @property
    def kind(self) -> Dataflow:
        """The dataflow as a :class:`systolic.Dataflow`, which knows its registers and PE."""
        return Dataflow(self.dataflow)

    @property
    def name(self) -> str:
        """A file name stem that identifies the configuration, e.g. ``ws_4x4_i8_i8_acc32``."""
        x = "i8" if self.x_signed else "u8"
        w = "i8" if self.w_signed else "u8"
        return f"{self.dataflow}_{self.rows}x{self.cols}_{x}_{w}_acc{self.acc_bits}"

    def as_dict(self) -> dict:
        """The parameters as a plain dictionary (JSON-ready)."""
        return asdict(self)
