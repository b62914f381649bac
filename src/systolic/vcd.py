"""Waveforms of the model: VCD export with the generated RTL's names, and a small VCD reader.

:func:`export_vcd` runs the cycle engine on one matmul and writes the per-cycle state of a window
of cycles as a Value Change Dump. Ports, hierarchy and register names are those of the generated
RTL (``docs/rtl.md``): top scope ``systolic_array`` with the ports ``x_data_<r>``, ``x_valid``,
``x_flag``, ``w_data_<c>``, ``w_valid``, ``w_tag``, ``out_data_<c>``, ``out_valid`` and one scope
``pe_r<r>_c<c>`` per PE holding its registers, so that a model waveform and an RTL waveform can be
opened side by side and compared signal by signal. :func:`read_vcd` reads any VCD (also one
written by Icarus Verilog) back into per-signal value changes.

Timing follows the RTL testbench: a 10 ns clock ``clk`` rises at the start of every cycle
(``10 * t`` ns for cycle ``t``), registers take their cycle-``t`` value at that rising edge and the
input ports take their cycle-``t`` value at the falling edge (``10 * t + 5`` ns).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

import numpy as np

from ._checks import check_bool, check_int, is_int
from ._dataflow import dataflow_named, register_widths

__all__ = ["PORTS", "VcdWindow", "export_vcd", "read_vcd", "register_names", "value_at",
           "value_at_cycle"]

#: Clock period of the written waveform in nanoseconds.
_PERIOD_NS = 10
_TOP = "systolic_array"
#: Port groups of the top module; a group names all of its indexed ports (``x_data`` is every
#: ``x_data_<r>``).
PORTS = ("x_data", "x_valid", "x_flag", "w_data", "w_valid", "w_tag", "out_data", "out_valid")


def register_names(dataflow: str) -> tuple[str, ...]:
    """Names of the registers inside one PE for ``dataflow`` ("ws", "os" or "is").

    Raises
    ------
    ValueError
        If ``dataflow`` is not one of the three dataflows.
    """
    return dataflow_named(dataflow).registers


@dataclass(frozen=True)
class VcdWindow:
    """What :func:`export_vcd` wrote.

    Attributes
    ----------
    first_cycle, stop_cycle : int
        The cycles ``first_cycle <= t < stop_cycle`` of the run that are in the file.
    signals : tuple of str
        Full hierarchical name of every variable written (``systolic_array.pe_r0_c0.psum`` ...).
    """

    first_cycle: int
    stop_cycle: int
    signals: tuple[str, ...]

    def __repr__(self) -> str:
        return (f"VcdWindow(first_cycle={self.first_cycle}, stop_cycle={self.stop_cycle}, "
                f"signals=<{len(self.signals)} names>)")


def _check_selection(signals, pes, dataflow, rows, cols):
    known = register_names(dataflow)
    if signals is None:
        # x_valid, x_flag, w_valid and w_tag name a port and a PE register alike.
        chosen = tuple(dict.fromkeys(PORTS + known))
    else:
        if isinstance(signals, str):
            raise TypeError(f"signals must be a collection of names, got {signals!r}")
        chosen = tuple(dict.fromkeys(signals))
        for name in chosen:
            if name not in PORTS and name not in known:
                raise ValueError(f"unknown signal {name!r} for dataflow {dataflow!r}; "
                                 f"choose from {', '.join(PORTS + known)}")
    if pes is None:
        cells = [(r, c) for r in range(rows) for c in range(cols)]
    else:
        cells = []
        for cell in pes:
            if (not isinstance(cell, tuple) or len(cell) != 2
                    or not all(is_int(i) for i in cell)
                    or not (0 <= cell[0] < rows and 0 <= cell[1] < cols)):
                raise ValueError(f"PE {cell!r} is not a (row, col) of a {rows}x{cols} array")
            cells.append((int(cell[0]), int(cell[1])))
    return chosen, cells


def export_vcd(array, a, b, file: str | os.PathLike | IO[str], *,
               window: tuple[int, int] | None = None, signals: Iterable[str] | None = None,
               pes: Iterable[tuple[int, int]] | None = None, gaps=None,
               max_cycles: int = 1000, max_pes: int = 64 * 64) -> VcdWindow:
    """Run ``a @ b`` on ``array`` with the cycle engine and write a window of it as a VCD.

    Parameters
    ----------
    array : systolic.SystolicArray
        The array (size, dataflow, double buffering, accumulator width).
    a, b : array_like of int
        The operands, as for :meth:`systolic.SystolicArray.run`.
    file : path or text file
        Where to write the VCD.
    window : (first, stop), optional
        The cycles ``first <= t < stop`` to write; by default the whole run. ``stop`` is clipped
        to the run's length.
    signals : iterable of str, optional
        Port groups (:data:`PORTS`) and PE register names (:func:`register_names`) to write;
        by default all of them.
    pes : iterable of (row, col), optional
        The PEs whose registers are written; by default all of them.
    gaps : array_like of int, optional
        Idle cycles before each x vector, as for :meth:`systolic.SystolicArray.run`.
    max_cycles, max_pes : int
        Safety bounds on the size of the file (at most 1,000 cycles and 64 x 64 PEs unless
        raised): a full-size run would otherwise produce gigabytes.

    Returns
    -------
    VcdWindow
        The cycles and the names written.

    Raises
    ------
    ValueError
        On an empty or negative window, an unknown signal or PE, or a window or PE selection
        larger than the bounds.
    """
    from .array import SystolicArray

    if not isinstance(array, SystolicArray):
        raise TypeError(f"array must be a SystolicArray, got {array!r}")
    rows, cols = array.rows, array.cols
    dataflow = array.dataflow.value
    max_cycles = check_int("max_cycles", max_cycles, 1)
    max_pes = check_int("max_pes", max_pes, 1)
    chosen, cells = _check_selection(signals, pes, dataflow, rows, cols)
    if len(cells) > max_pes:
        raise ValueError(f"{len(cells)} PEs selected, more than max_pes={max_pes}; "
                         f"choose pes or raise max_pes")
    stepper = array.stepper(a, b, gaps=gaps)
    total = stepper._run.total
    message = f"window must be (first, stop) with 0 <= first < stop, got {window!r}"
    if window is None:
        first, stop = 0, total
    elif (not isinstance(window, (tuple, list)) or len(window) != 2
          or not all(is_int(t) for t in window)):
        raise TypeError(message)
    else:
        first, stop = int(window[0]), int(window[1])
        if not 0 <= first < stop:
            raise ValueError(message)
    stop = min(stop, total)
    if first >= total:
        raise ValueError(f"window {window!r} starts after the run's last cycle {total - 1}")
    if stop - first > max_cycles:
        raise ValueError(f"window of {stop - first} cycles is longer than "
                         f"max_cycles={max_cycles}; choose a window or raise max_cycles")
    # out_data_<c> is the bottom psum of column c delayed by C - 1 - c de-skew registers, so the
    # bottom row has to be read from C - 1 cycles before the window on. Only what is written is
    # kept: the selected registers of the selected PEs, and the bottom row for the outputs.
    lead = min(first, cols - 1)
    wanted = [name for name in chosen if name in register_names(dataflow)]
    rows_of, cols_of = np.array([r for r, _ in cells], np.intp), np.array([c for _, c in cells],
                                                                          np.intp)
    span = stop - first + lead
    registers = {name: np.zeros((span, len(cells)), np.int64) for name in wanted}
    bottom = np.zeros((span, cols), np.int64)
    corner_valid = np.zeros(span, np.int64)
    stepper.run_to(first - lead)
    for i in range(span):
        state = stepper.state
        for name in wanted:
            registers[name][i] = state[name][rows_of, cols_of]
        bottom[i] = state["psum"][rows - 1]
        corner_valid[i] = state["psum_valid"][rows - 1, cols - 1]
        stepper.step()
    edges = array.edge_stream(a, b, gaps=gaps)
    widths = register_widths(array.dataflow, rows, array.acc_bits)

    def window_of(values: np.ndarray) -> np.ndarray:
        """Per-cycle edge values of the window (an edge stream may end before the run does)."""
        values = np.asarray(values)
        out = np.zeros((stop - first,) + values.shape[1:], dtype=np.int64)
        part = values[first:stop]
        out[:len(part)] = part
        return out

    columns: list[tuple[str, str, int, np.ndarray, bool]] = []   # scope, name, width, values, port

    def port(name: str, width: int, values: np.ndarray) -> None:
        columns.append((_TOP, name, width, values, True))

    for group in chosen:
        if group == "x_data":
            data = window_of(edges.x_data)
            for r in range(rows):
                port(f"x_data_{r}", 8, data[:, r])
        elif group == "w_data":
            data = window_of(edges.w_data)
            for c in range(cols):
                port(f"w_data_{c}", 8, data[:, c])
        elif group in ("x_valid", "x_flag", "w_valid", "w_tag"):
            port(group, widths[group] if group == "w_tag" else 1, window_of(getattr(edges, group)))
        elif group == "out_data":
            for c in range(cols):
                delay = cols - 1 - c
                values = np.zeros(stop - first, dtype=np.int64)
                for i in range(stop - first):
                    source = lead + i - delay     # index into the trace; before it: reset value 0
                    if source >= 0:
                        values[i] = bottom[source, c]
                port(f"out_data_{c}", array.acc_bits, values)
        elif group == "out_valid":
            port("out_valid", 1, corner_valid[lead:])
    for index, (r, c) in enumerate(cells):
        for name in wanted:
            columns.append((f"{_TOP}.pe_r{r}_c{c}", name, widths[name],
                            registers[name][lead:, index], False))
    _write(file, columns, first, stop)
    return VcdWindow(first, stop, tuple(f"{scope}.{name}" for scope, name, *_ in columns))


def _write(file, columns, first: int, stop: int) -> None:
    from vcd import VCDWriter

    if isinstance(file, (str, os.PathLike)):
        with open(file, "w") as stream:
            _write(stream, columns, first, stop)
        return
    half = _PERIOD_NS // 2
    events: list[tuple[int, int, object, int]] = []
    with VCDWriter(file, timescale="1 ns", date="", version="systolic model",
                   init_timestamp=first * _PERIOD_NS) as writer:
        clk = writer.register_var(_TOP, "clk", "wire", size=1, init=0)
        for order, (scope, name, width, values, is_port) in enumerate(columns):
            patterns = np.asarray(values, dtype=np.int64) & ((1 << width) - 1)
            var = writer.register_var(scope, name, "wire" if is_port else "reg", size=width,
                                      init=int(patterns[0]))
            # Registers change at the rising edge, ports at the falling edge (module docstring).
            offset = half if is_port else 0
            changed = np.flatnonzero(np.diff(patterns)) + 1
            events.extend(((first + int(i)) * _PERIOD_NS + offset, order, var, int(patterns[i]))
                          for i in changed)
        for t in range(first, stop):
            events.append((t * _PERIOD_NS, -1, clk, 1))
            events.append((t * _PERIOD_NS + half, -1, clk, 0))
        events.sort(key=lambda event: (event[0], event[1]))
        for time, _, var, value in events:
            writer.change(var, time, value)
        writer.close(stop * _PERIOD_NS)


def read_vcd(file: str | os.PathLike | IO[bytes], *,
             signed: bool = False) -> dict[str, list[tuple[int, int | None]]]:
    """Read a VCD into the value changes of every variable.

    Parameters
    ----------
    file : path or binary file
        The VCD, written by :func:`export_vcd` or by a simulator.
    signed : bool
        Read every variable wider than one bit as a two's-complement number of its declared
        width (``psum`` of ``-98`` reads as ``-98``, not ``4294967198``).

    Returns
    -------
    dict
        Full hierarchical name (scopes joined by ``.``, e.g. ``systolic_array.pe_r0_c1.psum``) to
        the list of ``(time, value)`` changes in time order. Values are integers (unsigned
        unless ``signed``), or ``None`` where a bit is ``x`` or ``z``. Times are in the file's
        timescale units: for :func:`export_vcd` files, ns, 10 per cycle (see
        :func:`value_at_cycle`).
    """
    from vcd.reader import TokenKind, tokenize

    signed = check_bool("signed", signed)
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as stream:
            return read_vcd(stream, signed=signed)
    scopes: list[str] = []
    names: dict[str, list[str]] = {}
    widths: dict[str, int] = {}
    changes: dict[str, list[tuple[int, int | None]]] = {}
    time = 0
    for token in tokenize(file):
        kind = token.kind
        if kind is TokenKind.SCOPE:
            scopes.append(token.data.ident)
        elif kind is TokenKind.UPSCOPE:
            scopes.pop()
        elif kind is TokenKind.VAR:
            path = ".".join(scopes + [token.data.reference])
            names.setdefault(token.data.id_code, []).append(path)
            widths[token.data.id_code] = token.data.size
            changes[path] = []
        elif kind is TokenKind.CHANGE_TIME:
            time = token.data
        elif kind in (TokenKind.CHANGE_SCALAR, TokenKind.CHANGE_VECTOR):
            value = _parse_value(token.data.value)
            width = widths[token.data.id_code]
            if signed and value is not None and width > 1 and value >> (width - 1):
                value -= 1 << width
            for path in names[token.data.id_code]:
                changes[path].append((time, value))
    return changes


def _parse_value(value) -> int | None:
    if isinstance(value, int):
        return value
    text = str(value).lower()
    if any(bit in "xz" for bit in text):
        return None
    return int(text, 2)


def value_at(changes: list[tuple[int, int | None]], time: int) -> int | None:
    """The value of one signal at ``time``, from its changes as returned by :func:`read_vcd`.

    A change at exactly ``time`` counts. Before the first change the value is ``None``.
    """
    value = None
    for when, new in changes:
        if when > time:
            break
        value = new
    return value


def value_at_cycle(changes: list[tuple[int, int | None]], cycle: int) -> int | None:
    """The value of one signal during ``cycle`` of a waveform with :func:`export_vcd`'s timing.

    Registers change at ``10 * cycle`` ns and input ports at ``10 * cycle + 5`` ns; the value
    is sampled at ``10 * cycle + 7`` ns, after both (the same instant for an Icarus Verilog
    waveform of the RTL testbench).
    """
    cycle = check_int("cycle", cycle, 0)
    return value_at(changes, cycle * _PERIOD_NS + _PERIOD_NS // 2 + 2)
