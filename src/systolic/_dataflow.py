"""The three dataflows of the array."""

from __future__ import annotations

import enum

__all__ = ["Dataflow"]


class Dataflow(enum.Enum):
    """How a matmul is mapped onto the array (``docs/contract.md``, section 4).

    Attributes
    ----------
    WS
        Weight-stationary (TPU v1): tiles of ``B`` stay in the PEs, rows of ``A`` stream.
    OS
        Output-stationary: every PE keeps one element of the result.
    IS
        Input-stationary: tiles of ``A`` stay in the PEs, columns of ``B`` stream; the same
        hardware as ``WS`` on the transposed problem.

    Examples
    --------
    >>> Dataflow("ws")
    <Dataflow.WS: 'ws'>
    >>> Dataflow("xs")
    Traceback (most recent call last):
    ...
    ValueError: unknown dataflow 'xs': expected one of 'ws', 'os', 'is'
    """

    WS = "ws"
    OS = "os"
    IS = "is"

    @classmethod
    def _missing_(cls, value):
        names = ", ".join(repr(member.value) for member in cls)
        raise ValueError(f"unknown dataflow {value!r}: expected one of {names}")

    @property
    def stationary_weights(self) -> bool:
        """True for the dataflows that use the weight-stationary PE (``ws`` and ``is``)."""
        return self is not Dataflow.OS
