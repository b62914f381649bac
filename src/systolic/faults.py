"""Faults in the array's registers and bypassed PEs (``docs/contract.md``, section 6).

A :class:`Fault` names a PE register, a PE, a bit and a kind: ``stuck_at_0`` and ``stuck_at_1``
force a bit for the whole run; ``flip`` inverts a bit of the register's value during one cycle.
A bypassed PE adds nothing (its product is 0). The model and the generated RTL apply both the
same way, so the RTL with faults built in is verified against the model with the same faults.

This module imports only the contract's facts, so that :mod:`systolic.hdl` can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._checks import check_choice, check_int, is_int
from ._dataflow import Dataflow, register_widths

__all__ = ["FAULT_KINDS", "Fault", "check_bypass", "check_faults"]

#: The kinds of fault (section 6): two permanent, one transient.
FAULT_KINDS = ("stuck_at_0", "stuck_at_1", "flip")


def _check_pe(name: str, pe) -> tuple[int, int]:
    what = "a pair (row, col) of non-negative integers"
    if not isinstance(pe, (tuple, list)) or len(pe) != 2 or not all(is_int(i) for i in pe):
        raise TypeError(f"{name} must be {what}, got {pe!r}")
    if pe[0] < 0 or pe[1] < 0:
        raise ValueError(f"{name} must be {what}, got {pe!r}")
    return int(pe[0]), int(pe[1])


def _check_inside(name: str, pe: tuple[int, int], rows: int, cols: int) -> None:
    if pe[0] >= rows or pe[1] >= cols:
        raise ValueError(f"{name} {pe!r} is outside the {rows}x{cols} array "
                         f"(rows 0..{rows - 1}, columns 0..{cols - 1})")


@dataclass(frozen=True)
class Fault:
    """A fault in one bit of one PE register.

    Parameters
    ----------
    register : str
        A register of the contract's PE table (section 3), for example ``"psum"``,
        ``"w_shadow"``, ``"x_valid"`` or ``"acc"``. Which ones exist depends on the dataflow;
        :meth:`check` refuses the others.
    pe : tuple of int
        ``(row, col)`` of the PE.
    bit : int
        The bit, ``0`` for the least significant; below the register's width.
    kind : {"stuck_at_0", "stuck_at_1", "flip"}
        ``stuck_at_0``/``stuck_at_1`` force the bit during every cycle; ``flip`` inverts it in
        the register's value during ``cycle`` only.
    cycle : int, optional
        The cycle of a ``flip`` (required for it, refused for the stuck-at kinds).

    Raises
    ------
    TypeError, ValueError
        For a field of the wrong type or value, naming the field.

    Examples
    --------
    >>> Fault("psum", (3, 5), 30, "flip", cycle=412)
    Fault(register='psum', pe=(3, 5), bit=30, kind='flip', cycle=412)
    >>> Fault("w_shadow", (0, 0), 7, "stuck_at_1").mask
    128
    >>> Fault("psum", (0, 0), 3, "flip")
    Traceback (most recent call last):
    ...
    ValueError: a 'flip' fault needs the cycle it happens in: cycle must be a non-negative \
integer, got None
    """

    register: str
    pe: tuple[int, int]
    bit: int
    kind: str
    cycle: int | None = None

    def __post_init__(self):
        if not isinstance(self.register, str):
            raise TypeError(f"register must be a register name (a string), got {self.register!r}")
        object.__setattr__(self, "pe", _check_pe("pe", self.pe))
        object.__setattr__(self, "bit", check_int("bit", self.bit, 0))
        check_choice("kind", self.kind, FAULT_KINDS)
        if self.kind == "flip":
            if self.cycle is None:
                raise ValueError("a 'flip' fault needs the cycle it happens in: cycle must be a "
                                 "non-negative integer, got None")
            object.__setattr__(self, "cycle", check_int("cycle", self.cycle, 0))
        elif self.cycle is not None:
            raise ValueError(f"a {self.kind!r} fault is permanent and takes no cycle, "
                             f"got cycle={self.cycle!r}")

    @property
    def mask(self) -> int:
        """``1 << bit``: the bit as a mask."""
        return 1 << self.bit

    def check(self, dataflow, rows: int, cols: int, acc_bits: int = 32) -> None:
        """Raise ``ValueError`` unless the fault exists on this array (section 6).

        Parameters
        ----------
        dataflow : Dataflow or {"ws", "os", "is"}
            Which PE kind the array uses.
        rows, cols : int
            The array's size.
        acc_bits : int
            The width of the sums.

        Examples
        --------
        >>> Fault("acc", (0, 0), 0, "stuck_at_0").check("ws", 4, 4)
        Traceback (most recent call last):
        ...
        ValueError: the ws PE has no register 'acc': expected one of 'x', 'x_valid', 'x_flag', \
'w', 'w_valid', 'w_tag', 'psum', 'psum_valid', 'w_active', 'w_shadow'
        """
        dataflow = Dataflow(dataflow)
        widths = register_widths(dataflow, rows, acc_bits)
        if self.register not in widths:
            names = ", ".join(repr(name) for name in dataflow.registers)
            raise ValueError(f"the {dataflow.value} PE has no register {self.register!r}: "
                             f"expected one of {names}")
        _check_inside("fault PE", self.pe, rows, cols)
        width = widths[self.register]
        if self.bit >= width:
            raise ValueError(f"bit {self.bit} is outside register {self.register!r} "
                             f"({width} bits: 0..{width - 1})")


def check_faults(faults, dataflow, rows: int, cols: int, acc_bits: int = 32
                 ) -> tuple[Fault, ...]:
    """The faults as a tuple, each checked against the array, with conflicts refused.

    ``None`` means no faults. Refused: an item that is not a :class:`Fault`, a fault the array
    does not have (:meth:`Fault.check`), the same fault twice and a bit stuck at both 0 and 1.
    The cycle of a flip is checked against the run's length by the engine, which knows it.

    Examples
    --------
    >>> check_faults([Fault("psum", (0, 0), 1, "stuck_at_0"),
    ...               Fault("psum", (0, 0), 1, "stuck_at_1")], "ws", 2, 2)
    Traceback (most recent call last):
    ...
    ValueError: bit 1 of register 'psum' of PE (0, 0) is stuck at both 0 and 1
    """
    if faults is None:
        return ()
    if isinstance(faults, Fault) or not hasattr(faults, "__iter__"):
        raise TypeError(f"faults must be a list of systolic.Fault, got {faults!r}")
    faults = tuple(faults)
    stuck = {}
    for fault in faults:
        if not isinstance(fault, Fault):
            raise TypeError(f"faults must be a list of systolic.Fault, got an item {fault!r}")
        fault.check(dataflow, rows, cols, acc_bits)
        if faults.count(fault) > 1:
            raise ValueError(f"fault listed twice: {fault!r}")
        if fault.kind != "flip":
            where = (fault.register, fault.pe, fault.bit)
            if stuck.setdefault(where, fault.kind) != fault.kind:
                raise ValueError(f"bit {fault.bit} of register {fault.register!r} of PE "
                                 f"{fault.pe} is stuck at both 0 and 1")
    return faults


def check_bypass(bypass, rows: int, cols: int) -> tuple[tuple[int, int], ...]:
    """The bypassed PEs as a sorted tuple of ``(row, col)``, each inside the array.

    ``None`` means none. A PE listed twice is refused.

    Examples
    --------
    >>> check_bypass([(1, 0), (0, 1)], 2, 2)
    ((0, 1), (1, 0))
    >>> check_bypass([(2, 0)], 2, 2)
    Traceback (most recent call last):
    ...
    ValueError: bypassed PE (2, 0) is outside the 2x2 array (rows 0..1, columns 0..1)
    """
    if bypass is None:
        return ()
    if not hasattr(bypass, "__iter__") or isinstance(bypass, str):
        raise TypeError(f"bypass must be a list of (row, col) pairs, got {bypass!r}")
    pes = [_check_pe("bypassed PE", pe) for pe in bypass]
    for pe in pes:
        _check_inside("bypassed PE", pe, rows, cols)
    if len(set(pes)) != len(pes):
        twice = next(pe for pe in pes if pes.count(pe) > 1)
        raise ValueError(f"bypassed PE {twice} is listed twice")
    return tuple(sorted(pes))
