"""The processing element (contract section 3)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .._dataflow import LANE_REGISTERS
from .._dataflow import register_widths as _contract_widths
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
    """

    def __init__(self, config: ArrayConfig):
        if not isinstance(config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, got {config!r}")
        self.config = config
        widths = register_widths(config)
        members = {f"{name}_in": In(widths[name]) for name in LANE_REGISTERS}
        if config.kind.stationary_weights:
            members["row"] = In(config.tag_bits)
        else:
            members["load"] = In(1)
        members.update({name: Out(widths[name]) for name in pe_registers(config)})
        super().__init__(members)

    def _product(self, m: Module, weight, x):
        """``weight * x`` (0 unless ``x_valid_in``), sign-extended to ``acc_bits``.

        The extension is explicit so that the adder's operands have the width of the sums in
        the generated Verilog instead of being widened by Verilog's sizing rules (which
        Verilator's lint flags as WIDTHEXPAND). The product is a signal of its own, so that
        its sign bit is one wire and not a copy of the multiplier per extension bit. With two
        unsigned lanes, ``x`` gets a zero sign bit: an unsigned product would be zero-extended,
        and Amaranth writes a zero extension as a narrower adder operand.
        """
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

        def operand(value, signed):
            return value.as_signed() if signed else value.as_unsigned()

        m.d.sync += [
            self.x.eq(self.x_in),
            self.x_valid.eq(self.x_valid_in),
            self.x_flag.eq(self.x_flag_in),
            self.w.eq(self.w_in),
            self.w_valid.eq(self.w_valid_in),
            self.w_tag.eq(self.w_tag_in),
        ]
        x = operand(self.x_in, cfg.x_signed)
        if cfg.kind.stationary_weights:
            # The switch flag travels with the first vector of a tile: that vector already
            # uses the shadow weight, so no PE mixes two tiles within one vector.
            weight = Mux(self.x_flag_in, self.w_shadow, self.w_active)
            product = self._product(m, operand(weight, cfg.w_signed), x)
            m.d.sync += [
                self.psum.eq(self.psum_in + product),
                self.psum_valid.eq(self.x_valid_in),
                self.w_active.eq(weight),
            ]
            with m.If(self.w_valid_in & (self.w_tag_in == self.row)):
                m.d.sync += self.w_shadow.eq(self.w_in)
        else:
            product = self._product(m, operand(self.w_in, cfg.w_signed), x)
            # One adder for both branches below (an expression used twice is built twice).
            total = Signal(cfg.acc_bits)
            m.d.comb += total.eq(self.acc + product)
            with m.If(self.x_flag_in):
                m.d.sync += [self.acc.eq(0), self.hold.eq(total)]
            with m.Else():
                m.d.sync += self.acc.eq(total)
            # The drain is a shift register down the column, loaded from every hold at once.
            m.d.sync += [
                self.psum.eq(Mux(self.load, self.hold, self.psum_in)),
                self.psum_valid.eq(self.load | self.psum_valid_in),
            ]
        return m
