"""The processing element (contract section 3)."""

from __future__ import annotations

from functools import reduce
from operator import xor

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .._checks import check_bool, check_int
from .._dataflow import LANE_REGISTERS
from .._dataflow import register_widths as _contract_widths
from ..faults import check_faults
from ._config import ArrayConfig

__all__ = ["ProcessingElement", "pe_registers", "register_widths"]


def pe_registers(config: ArrayConfig) -> tuple[str, ...]:
    """Names of the registers of one PE of ``config``, in the order of the contract table."""
    return config.kind.registers


def register_widths(config: ArrayConfig) -> dict[str, int]:
    """Width in bits of every PE register of ``config``."""
    return _contract_widths(config.kind, config.rows, config.acc_bits)


class ProcessingElement(wiring.Component):
    """One processing element ``PE(r, c)``.

    Every register of contract section 3 is an output port of the same name, so the
    registers keep their names in the generated Verilog; the inputs are the neighbours'
    registers (``<name>_in``).

    Parameters
    ----------
    config : ArrayConfig
        Array parameters; ``config.stationary`` selects the weight-stationary (ws, is) or
        the output-stationary (os) element.
    faults : list of systolic.Fault, optional
        Faults built into this element (``docs/contract.md``, section 6; their ``pe`` is where
        the array places the element). A register with a stuck bit is a flip-flop for its
        other bits only, and its output port carries the constant bit, so the element and its
        neighbours read the forced bit from reset on. A flip at cycle ``t > 0`` inverts the
        bit of the value written at the edge that starts cycle ``t``, when ``cycle`` reads
        ``t - 1``; a flip at cycle 0 is in the register's reset value.
    bypass : bool
        The element adds nothing: its product is 0 (section 6).
    cycle_bits : int
        Width of the ``cycle`` input (the array's saturating cycle counter); needed, and only
        allowed, when a fault is a flip after cycle 0.

    Attributes
    ----------
    x_in, w_in : Signal(8), in
        Operands from the left and the upper neighbour.
    x_valid_in, x_flag_in, w_valid_in, psum_valid_in : Signal(1), in
        Lane flags from the neighbours.
    w_tag_in : Signal(tag_bits), in
        Weight-load row index from the upper neighbour.
    psum_in : Signal(acc_bits), in
        Partial sum (ws) or drain value (os) from the upper neighbour.
    row : Signal(tag_bits), in
        ws/is only: this element's row; ``w_shadow`` latches rows tagged with it.
    load : Signal(1), in
        os only: the column's drain strobe (``x_flag`` of the column's bottom element).
    x, w, w_active, w_shadow : Signal(8), out
        The operand registers.
    x_valid, x_flag, w_valid, psum_valid : Signal(1), out
        The flag registers.
    w_tag : Signal(tag_bits), out
    psum, acc, hold : Signal(acc_bits), out
        Sum registers (``acc`` and ``hold`` for os only).
    cycle : Signal(cycle_bits), in
        Only with a flip after cycle 0: the number of cycles since reset, saturating.

    Raises
    ------
    TypeError, ValueError
        A wrong config, fault list, bypass flag or cycle width.
    """

    def __init__(self, config: ArrayConfig, *, faults=(), bypass: bool = False,
                 cycle_bits: int = 0):
        if not isinstance(config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, got {config!r}")
        self.config = config
        self.faults = check_faults(faults, config.kind, config.rows, config.cols,
                                   config.acc_bits)
        self.bypass = check_bool("bypass", bypass)
        late = [fault.cycle for fault in self.faults if fault.kind == "flip" and fault.cycle]
        cycle_bits = check_int("cycle_bits", cycle_bits, 0)
        if late and (1 << cycle_bits) - 1 <= max(late) - 1:
            raise ValueError(f"cycle_bits must be at least {max(late).bit_length()} for a flip "
                             f"at cycle {max(late)}, got {cycle_bits}")
        widths = register_widths(config)
        members = {f"{name}_in": In(widths[name]) for name in LANE_REGISTERS}
        if config.kind.stationary_weights:
            members["row"] = In(config.tag_bits)
        else:
            members["load"] = In(1)
        members.update({name: Out(widths[name]) for name in pe_registers(config)})
        if late:
            members["cycle"] = In(cycle_bits)
        super().__init__(members)
        self._writes = {}  # register -> where _set writes it (filled by elaborate)

    def _build_faults(self, m: Module):
        """Build each faulty register; remember where the equations' value goes (``_set``).

        The flip-flop holds only the bits that are not stuck; the output port is those bits
        and the stuck constants. A register with a later flip is written through ``<name>_next``
        (the equations' value, holding by default), inverted on the edge the flip names.
        """
        widths = register_widths(self.config)
        for name in pe_registers(self.config):
            faults = [fault for fault in self.faults if fault.register == name]
            if not faults:
                continue
            stuck = {kind: reduce(int.__or__, (f.mask for f in faults if f.kind == kind), 0)
                     for kind in ("stuck_at_0", "stuck_at_1")}
            forced = stuck["stuck_at_0"] | stuck["stuck_at_1"]
            free = [i for i in range(widths[name]) if not forced >> i & 1]

            def packed(mask, free=free):
                """``mask`` restricted to the free bits, as bits of the flip-flop."""
                return sum(1 << j for j, i in enumerate(free) if mask >> i & 1)

            port = getattr(self, name)
            if not free:
                m.d.comb += port.eq(stuck["stuck_at_1"])
                self._writes[name] = None
                continue
            at_reset = reduce(xor, (f.mask for f in faults if f.kind == "flip" and not f.cycle), 0)
            flop = Signal(len(free), name=f"{name}_flop", init=packed(at_reset))
            bits, j = [], 0
            for i in range(widths[name]):
                if forced >> i & 1:
                    bits.append(Const(stuck["stuck_at_1"] >> i & 1, 1))
                else:
                    bits.append(flop[j])
                    j += 1
            m.d.comb += port.eq(Cat(*bits))
            flips = [(f.cycle, packed(f.mask)) for f in faults if f.kind == "flip" and f.cycle]
            flips = [(cycle, mask) for cycle, mask in flips if mask]
            if not flips:
                self._writes[name] = (flop, "sync", free)
                continue
            after = Signal(len(free), name=f"{name}_next")
            m.d.comb += after.eq(flop)
            # "every bit of ``cycle`` equals ``t - 1``'s" rather than ``cycle == t - 1``: Yosys
            # writes the latter with the constant cut to its significant bits, which
            # Verilator's lint flags as a width mismatch.
            inverted = reduce(xor, (Mux((~(self.cycle ^ Const(cycle - 1, len(self.cycle)))).all(),
                                        Const(mask, len(free)), Const(0, len(free)))
                                    for cycle, mask in flips))
            m.d.sync += flop.eq(after ^ inverted)
            self._writes[name] = (after, "comb", free)

    def _set(self, m: Module, name: str, value):
        """The register ``name`` takes ``value`` at the next edge (under the current ``If``)."""
        if name not in self._writes:
            m.d.sync += getattr(self, name).eq(value)
            return
        write = self._writes[name]
        if write is None:  # every bit is stuck
            return
        target, domain, free = write
        value = Value.cast(value)

        def bit(i):
            if i < len(value):
                return value[i]
            return value[-1] if value.shape().signed else Const(0, 1)

        m.d[domain] += target.eq(Cat(*(bit(i) for i in free)))

    def _product(self, m: Module, weight, x):
        """``weight * x`` (0 unless ``x_valid_in``), sign-extended to ``acc_bits``.

        The extension is explicit so that the adder's operands have the width of the sums in
        the generated Verilog instead of being widened by Verilog's sizing rules (which
        Verilator's lint flags as WIDTHEXPAND). The product is a signal of its own, so that
        its sign bit is one wire and not a copy of the multiplier per extension bit. With two
        unsigned lanes, ``x`` gets a zero sign bit: an unsigned product would be zero-extended,
        and Amaranth writes a zero extension as a narrower adder operand.
        A bypassed element's product is the constant 0 (no multiplier).
        """
        if self.bypass:
            return Const(0, self.config.acc_bits)
        if not x.shape().signed and not weight.shape().signed:
            x = Cat(x, Const(0, 1)).as_signed()
        value = Mux(self.x_valid_in, weight * x, 0)
        # The sums wrap at acc_bits: product bits above them do not matter.
        product = Signal(signed(min(len(value), self.config.acc_bits)))
        m.d.comb += product.eq(value)
        pad = self.config.acc_bits - len(product)
        return Cat(product, product[-1].replicate(pad)) if pad else product.as_unsigned()

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        self._writes = {}
        self._build_faults(m)

        def operand(value, signed):
            return value.as_signed() if signed else value.as_unsigned()

        for name, value in (("x", self.x_in), ("x_valid", self.x_valid_in),
                            ("x_flag", self.x_flag_in), ("w", self.w_in),
                            ("w_valid", self.w_valid_in), ("w_tag", self.w_tag_in)):
            self._set(m, name, value)
        x = operand(self.x_in, cfg.x_signed)
        if cfg.kind.stationary_weights:
            # The switch flag travels with the first vector of a tile: that vector already
            # uses the shadow weight, so no PE mixes two tiles within one vector.
            weight = Mux(self.x_flag_in, self.w_shadow, self.w_active)
            product = self._product(m, operand(weight, cfg.w_signed), x)
            self._set(m, "psum", self.psum_in + product)
            self._set(m, "psum_valid", self.x_valid_in)
            self._set(m, "w_active", weight)
            with m.If(self.w_valid_in & (self.w_tag_in == self.row)):
                self._set(m, "w_shadow", self.w_in)
        else:
            product = self._product(m, operand(self.w_in, cfg.w_signed), x)
            # One adder for both branches below (an expression used twice is built twice).
            total = Signal(cfg.acc_bits)
            m.d.comb += total.eq(self.acc + product)
            with m.If(self.x_flag_in):
                self._set(m, "acc", 0)
                self._set(m, "hold", total)
            with m.Else():
                self._set(m, "acc", total)
            # The drain is a shift register down the column, loaded from every hold at once.
            self._set(m, "psum", Mux(self.load, self.hold, self.psum_in))
            self._set(m, "psum_valid", self.load | self.psum_valid_in)
        return m
