"""The contract's shared facts: dataflows, PE kinds, registers and their widths.

Every module that needs one of these facts (the model, the schedule, timing, plots, VCD export and
the HDL generator) takes it from here, so that a new dataflow or register is one edit. This module
imports nothing heavier than :mod:`enum`, so that :mod:`systolic.hdl` can use it too.
``docs/contract.md`` stays the specification; each fact cites its section.
``tests/reference.py`` does not import this module on purpose: it is the second opinion.
"""

from __future__ import annotations

import enum

__all__ = ["LANE_REGISTERS", "OPERAND_BITS", "Dataflow", "dataflow_named", "register_widths",
           "tag_bits"]

#: Registers that every PE passes on, in the order of the contract's table (section 3).
LANE_REGISTERS = ("x", "x_valid", "x_flag", "w", "w_valid", "w_tag", "psum", "psum_valid")
#: Operand width in bits (section 1).
OPERAND_BITS = 8


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

    @property
    def pe_kind(self) -> Dataflow:
        """The dataflow whose processing element this one uses (section 3).

        There are two kinds of PE: ``WS`` (section 3.1, also used by ``IS``) and ``OS``
        (section 3.2).

        Examples
        --------
        >>> Dataflow.IS.pe_kind
        <Dataflow.WS: 'ws'>
        """
        return Dataflow.WS if self.stationary_weights else Dataflow.OS

    @property
    def transposed(self) -> bool:
        """True when the array computes ``Y^T = B^T A^T`` (``is``, section 4)."""
        return self is Dataflow.IS

    def extents(self, m: int, k: int, n: int) -> tuple[int, int, int]:
        """The matmul ``(m x k) @ (k x n)`` as the array sees it (section 4).

        Returns
        -------
        row_extent, col_extent, vectors : int
            The extent folded onto the ``R`` rows, the extent folded onto the ``C`` columns,
            and the number of x vectors (os: operand pairs) that one tile streams.

        Examples
        --------
        >>> Dataflow.IS.extents(2, 3, 4)
        (3, 2, 4)
        """
        mkn = (m, k, n)
        return tuple(mkn[i] for i in _EXTENT_OF[self])

    def matmul_of(self, row_extent: int, col_extent: int, vectors: int) -> tuple[int, int, int]:
        """The ``(m, k, n)`` whose :meth:`extents` are these (the inverse mapping).

        Examples
        --------
        >>> Dataflow.IS.matmul_of(*Dataflow.IS.extents(2, 3, 4))
        (2, 3, 4)
        """
        mkn = [0, 0, 0]
        for extent, i in zip((row_extent, col_extent, vectors), _EXTENT_OF[self], strict=True):
            mkn[i] = extent
        return tuple(mkn)

    @property
    def registers(self) -> tuple[str, ...]:
        """Names of the registers of one PE, in the order of the contract's table (section 3).

        Examples
        --------
        >>> Dataflow.OS.registers[-2:]
        ('acc', 'hold')
        """
        return LANE_REGISTERS + _STATIONARY_REGISTERS[self.pe_kind]


#: Which of ``(m, k, n)`` each dataflow folds onto the rows, folds onto the columns and
#: streams as vectors (section 4).
_EXTENT_OF = {Dataflow.WS: (1, 2, 0), Dataflow.IS: (1, 0, 2), Dataflow.OS: (0, 2, 1)}

#: The registers that do not move, per PE kind (sections 3.1 and 3.2).
_STATIONARY_REGISTERS = {Dataflow.WS: ("w_active", "w_shadow"), Dataflow.OS: ("acc", "hold")}


def dataflow_named(dataflow) -> Dataflow:
    """The :class:`Dataflow` of a member or its value, for the plotting and waveform functions.

    Raises
    ------
    TypeError
        If ``dataflow`` is neither a :class:`Dataflow` nor a string.
    ValueError
        If ``dataflow`` names none of the three dataflows.
    """
    if isinstance(dataflow, Dataflow):
        return dataflow
    from ._checks import check_choice  # here, so that importing this module stays light

    return Dataflow(check_choice("dataflow", dataflow, [member.value for member in Dataflow]))


def tag_bits(rows: int) -> int:
    """Width of ``w_tag`` on an array of ``rows`` rows: ``max(1, ceil(log2 R))`` (section 2).

    Examples
    --------
    >>> tag_bits(1), tag_bits(4), tag_bits(5)
    (1, 2, 3)
    """
    # (R - 1).bit_length() is ceil(log2 R) for R >= 1.
    return max(1, (rows - 1).bit_length())


def register_widths(dataflow: Dataflow, rows: int, acc_bits: int) -> dict[str, int]:
    """Width in bits of every PE register of ``dataflow`` (the table of section 3).

    Examples
    --------
    >>> register_widths(Dataflow.WS, 4, 32)["w_tag"]
    2
    """
    widths = {"x": OPERAND_BITS, "x_valid": 1, "x_flag": 1, "w": OPERAND_BITS, "w_valid": 1,
              "w_tag": tag_bits(rows), "psum": acc_bits, "psum_valid": 1}
    if dataflow.pe_kind is Dataflow.WS:
        widths.update(w_active=OPERAND_BITS, w_shadow=OPERAND_BITS)
    else:
        widths.update(acc=acc_bits, hold=acc_bits)
    return widths
