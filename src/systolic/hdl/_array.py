"""The array for Amaranth's simulator, built from the wiring of :mod:`._netlist`."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ._config import ArrayConfig
from ._netlist import (
    COUNTER_MODULE,
    Constant,
    Flipped,
    Mutation,
    Wire,
    array_netlist,
    top_ports,
)
from ._pe import ProcessingElement

__all__ = ["ArrayTop", "CycleCounter", "DelayStage"]


class DelayStage(wiring.Component):
    """One skew or de-skew register: ``q`` is ``d`` one cycle later (reset to 0).

    Parameters
    ----------
    width : int
        Register width.

    Attributes
    ----------
    d : Signal(width), in
    q : Signal(width), out
    """

    def __init__(self, width: int):
        super().__init__({"d": In(width), "q": Out(width)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.q.eq(self.d)
        return m


class CycleCounter(wiring.Component):
    """The cycles since reset, stopping at ``2**width - 1`` (never wrapping back).

    Parameters
    ----------
    width : int
        Counter width.

    Attributes
    ----------
    count : Signal(width), out
    """

    def __init__(self, width: int):
        super().__init__({"count": Out(width)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.count != (1 << len(self.count)) - 1):
            m.d.sync += self.count.eq(self.count + 1)
        return m


class ArrayTop(wiring.Component):
    """The systolic array with its edge skew and output de-skew.

    The Amaranth form of the wiring that the generated Verilog's top module holds
    (:func:`array_netlist`): the same ports (per row and per column, never wide packed
    buses), a :class:`ProcessingElement` submodule ``pe_r<r>_c<c>`` per PE and a plain
    register per skew or de-skew stage, for Amaranth's simulator. ``docs/rtl.md`` lists every
    name.

    Parameters
    ----------
    config : ArrayConfig
        Array parameters.
    fault : Mutation, optional
        A deliberate wiring defect (for testing the testbench): ``systolic.hdl.Fault``.
    faults : list of systolic.Fault, optional
        Faults built into the PE registers (``docs/contract.md``, section 6).
    bypass : list of (int, int), optional
        Bypassed PEs: their product is 0.

    Attributes
    ----------
    x_data_<r> : Signal(8), in
        Row ``r`` of the x vector.
    x_valid, x_flag : Signal(1), in
        x vector valid; switch flag (ws/is) or last flag (os).
    w_data_<c> : Signal(8), in
        Column ``c`` of the w vector.
    w_valid : Signal(1), in
    w_tag : Signal(tag_bits), in
        Weight-load row valid and row index (ws/is; held at 0 for os).
    out_data_<c> : Signal(acc_bits), out
        Column ``c`` of the result vector.
    out_valid : Signal(1), out
        Result vector valid.
    pe_signals : list of list of dict
        ``pe_signals[r][c][name]``: the register ``name`` of ``PE(r, c)`` as seen from the top
        module (for simulation and waveforms).
    """

    def __init__(self, config: ArrayConfig, *, fault: Mutation | None = None, faults=None,
                 bypass=None):
        if not isinstance(config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, got {config!r}")
        self.config = config
        self._netlist = array_netlist(config, fault, faults=faults,
                                      bypass=bypass)  # checks the faults
        members = {}
        for name, direction, width in top_ports(config):
            members[name] = In(width) if direction == "in" else Out(width)
        super().__init__(members)
        self.pe_signals = [[{name: Signal(wire.width, name=wire.name)
                             for name, wire in pe.items()} for pe in row]
                           for row in self._netlist.pe_wires]

    def elaborate(self, platform):
        m = Module()
        netlist = self._netlist
        signals = {wire: getattr(self, name) for name, wire in netlist.ports.items()}
        for wires, pe_signals in zip(netlist.pe_wires, self.pe_signals, strict=True):
            for pe, named in zip(wires, pe_signals, strict=True):
                signals.update((wire, named[name]) for name, wire in pe.items())

        def signal(wire: Wire) -> Signal:
            if wire not in signals:
                signals[wire] = Signal(wire.width, name=wire.name)
            return signals[wire]

        def value(source):
            if isinstance(source, Constant):
                return Const(source.value, source.width)
            if isinstance(source, Flipped):
                return (signal(source.wire) ^ (1 << source.bit))[:source.wire.width]
            return signal(source)

        for cell in netlist.cells:
            if cell.module in netlist.pe_modules or cell.module == COUNTER_MODULE:
                if cell.module == COUNTER_MODULE:
                    unit = CycleCounter(cell.outputs["count"].width)
                else:
                    unit = ProcessingElement(self.config, **netlist.pe_modules[cell.module])
                m.submodules[cell.name] = unit
                m.d.comb += [getattr(unit, port).eq(value(source))
                             for port, source in cell.inputs.items()]
                m.d.comb += [signal(wire).eq(getattr(unit, port))
                             for port, wire in cell.outputs.items()]
            else:  # a delay register
                m.d.sync += signal(cell.outputs["q"]).eq(value(cell.inputs["d"]))
        for target, source in netlist.assigns:
            m.d.comb += signal(target).eq(value(source))
        return m
