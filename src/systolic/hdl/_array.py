"""The array: R x C processing elements with skew and de-skew (contract section 2)."""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Const, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ._config import ArrayConfig
from ._pe import ProcessingElement, pe_registers, register_widths

__all__ = ["PE_MODULE", "TOP_MODULE", "ArrayTop", "Fault"]

#: Verilog name of the top-level module.
TOP_MODULE = "systolic_array"
#: Verilog name of the processing-element module, instantiated R * C times.
PE_MODULE = "systolic_array_pe"

_FAULT_KINDS = ("out_delay", "out_flip", "psum_flip")


@dataclass(frozen=True)
class Fault:
    """A deliberate defect, used to show that the verification catches wrong hardware.

    Parameters
    ----------
    kind : {"out_delay", "out_flip", "psum_flip"}
        ``out_delay``: ``out_data_<col>`` arrives one cycle late (``out_valid`` does not).
        ``out_flip``: bit ``bit`` of ``out_data_<col>`` is inverted.
        ``psum_flip``: bit ``bit`` of the ``psum_in`` input of ``PE(row, col)`` is inverted.
    col : int
        The output column or PE column.
    row : int
        The PE row (``psum_flip`` only).
    bit : int
        The inverted bit (``out_flip`` and ``psum_flip``).
    """

    kind: str
    col: int
    row: int = 0
    bit: int = 0

    def __post_init__(self):
        if self.kind not in _FAULT_KINDS:
            expected = ", ".join(repr(k) for k in _FAULT_KINDS)
            raise ValueError(f"unknown fault kind {self.kind!r}: expected one of {expected}")

    def check(self, config: ArrayConfig):
        """Raise ``ValueError`` unless the fault's position exists in ``config``."""
        if not 0 <= self.col < config.cols:
            raise ValueError(f"fault column {self.col!r} is outside 0..{config.cols - 1}")
        if not 0 <= self.row < config.rows:
            raise ValueError(f"fault row {self.row!r} is outside 0..{config.rows - 1}")
        if not 0 <= self.bit < config.acc_bits:
            raise ValueError(f"fault bit {self.bit!r} is outside 0..{config.acc_bits - 1}")


def top_ports(config: ArrayConfig) -> list[tuple[str, str, int]]:
    """The top-level ports as ``(name, direction, width)``, in declaration order."""
    ports = [(f"x_data_{r}", "in", 8) for r in range(config.rows)]
    ports += [("x_valid", "in", 1), ("x_flag", "in", 1)]
    ports += [(f"w_data_{c}", "in", 8) for c in range(config.cols)]
    ports += [("w_valid", "in", 1), ("w_tag", "in", config.tag_bits)]
    ports += [(f"out_data_{c}", "out", config.acc_bits) for c in range(config.cols)]
    ports += [("out_valid", "out", 1)]
    return ports


class ArrayTop(wiring.Component):
    """The systolic array with its edge skew and output de-skew.

    Ports are per row and per column (``x_data_<r>``, ``w_data_<c>``, ``out_data_<c>``), never
    wide packed buses, and every PE is a separate instance ``pe_r<r>_c<c>``: both keep large
    arrays quick to compile and simulate in Icarus. ``docs/rtl.md`` lists every name.

    Parameters
    ----------
    config : ArrayConfig
        Array parameters.
    pe_instances : bool
        If true, the PEs are ``Instance``s of the Verilog module ``systolic_array_pe`` (for
        Verilog generation: one PE module instead of R * C copies). If false, they are
        :class:`ProcessingElement` submodules, which Amaranth's simulator can run.
    fault : Fault, optional
        A deliberate defect (for testing the testbench).

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

    def __init__(self, config: ArrayConfig, *, pe_instances: bool = False,
                 fault: Fault | None = None):
        if not isinstance(config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, got {config!r}")
        if fault is not None:
            if not isinstance(fault, Fault):
                raise TypeError(f"fault must be a Fault or None, got {fault!r}")
            fault.check(config)
        self.config = config
        self.pe_instances = bool(pe_instances)
        self.fault = fault
        members = {}
        for name, direction, width in top_ports(config):
            members[name] = In(width) if direction == "in" else Out(width)
        super().__init__(members)
        widths = register_widths(config)
        self.pe_signals = [[{name: Signal(widths[name], name=f"pe_r{r}_c{c}_{name}")
                             for name in pe_registers(config)}
                            for c in range(config.cols)] for r in range(config.rows)]

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        rows, cols = cfg.rows, cfg.cols
        fault = self.fault

        def delay_line(prefix, source, length):
            """``source`` and the registers ``<prefix>_1 .. <prefix>_<length>`` behind it."""
            stages = [source]
            for k in range(1, length + 1):
                stage = Signal(len(source), name=f"{prefix}_{k}")
                m.d.sync += stage.eq(stages[-1])
                stages.append(stage)
            return stages

        # Skew: row r of the x lane passes through r registers, column c of the w lane through
        # c. The valid, flag and tag bits are the same for every row (column), so each lane
        # has one chain of them, tapped at depth r (c); only the data has a chain per row.
        x_valid = delay_line("x_valid_skew", self.x_valid, rows - 1)
        x_flag = delay_line("x_flag_skew", self.x_flag, rows - 1)
        x_edge = [(delay_line(f"x_skew_{r}", getattr(self, f"x_data_{r}"), r)[r],
                   x_valid[r], x_flag[r]) for r in range(rows)]
        w_valid = delay_line("w_valid_skew", self.w_valid, cols - 1)
        w_tag = delay_line("w_tag_skew", self.w_tag, cols - 1)
        w_edge = [(delay_line(f"w_skew_{c}", getattr(self, f"w_data_{c}"), c)[c],
                   w_valid[c], w_tag[c]) for c in range(cols)]

        wires = self.pe_signals
        loads = []
        if cfg.stationary == "os":
            for c in range(cols):
                load = Signal(name=f"load_{c}")
                m.d.comb += load.eq(wires[rows - 1][c]["x_flag"])
                loads.append(load)

        for r in range(rows):
            for c in range(cols):
                if c == 0:
                    x_in = x_edge[r]
                else:
                    left = wires[r][c - 1]
                    x_in = (left["x"], left["x_valid"], left["x_flag"])
                if r == 0:
                    w_in = w_edge[c]
                    psum_in = (Const(0, cfg.acc_bits), Const(0, 1))
                else:
                    up = wires[r - 1][c]
                    w_in = (up["w"], up["w_valid"], up["w_tag"])
                    psum_in = (up["psum"], up["psum_valid"])
                if fault is not None and fault.kind == "psum_flip" and (r, c) == (
                        fault.row, fault.col):
                    psum_in = ((psum_in[0] ^ (1 << fault.bit))[:cfg.acc_bits], psum_in[1])
                inputs = dict(zip(("x_in", "x_valid_in", "x_flag_in"), x_in))
                inputs.update(zip(("w_in", "w_valid_in", "w_tag_in"), w_in))
                inputs.update(zip(("psum_in", "psum_valid_in"), psum_in))
                if cfg.stationary == "ws":
                    inputs["row"] = Const(r, cfg.tag_bits)
                else:
                    inputs["load"] = loads[c]
                # Registers nobody reads are left unconnected on the instances: this keeps
                # the Verilog of large arrays small (they stay visible inside the instance).
                used = {"psum"}
                if c < cols - 1:
                    used |= {"x", "x_valid", "x_flag"}
                if r < rows - 1:
                    used |= {"w", "w_valid", "w_tag", "psum_valid"}
                if r == rows - 1 and cfg.stationary == "os":
                    used.add("x_flag")
                if r == rows - 1 and c == cols - 1:
                    used.add("psum_valid")
                self._add_pe(m, f"pe_r{r}_c{c}", inputs, wires[r][c], used)

        # De-skew: column c's bottom psum passes through C - 1 - c registers, so a result
        # vector leaves the array on one cycle, marked by column C - 1's valid bit.
        for c in range(cols):
            value = delay_line(f"out_skew_{c}", wires[rows - 1][c]["psum"], cols - 1 - c)[-1]
            if fault is not None and fault.col == c:
                if fault.kind == "out_delay":
                    value = delay_line(f"out_fault_{c}", value, 1)[-1]
                elif fault.kind == "out_flip":
                    value = (value ^ (1 << fault.bit))[:cfg.acc_bits]
            m.d.comb += getattr(self, f"out_data_{c}").eq(value)
        m.d.comb += self.out_valid.eq(wires[rows - 1][cols - 1]["psum_valid"])
        return m

    def _add_pe(self, m, name, inputs, outputs, used):
        if self.pe_instances:
            ports = {f"i_{port}": value for port, value in inputs.items()}
            ports.update({f"o_{port}": signal for port, signal in outputs.items()
                          if port in used})
            m.submodules[name] = Instance(PE_MODULE, i_clk=ClockSignal(), i_rst=ResetSignal(),
                                          **ports)
        else:
            pe = ProcessingElement(self.config)
            m.submodules[name] = pe
            m.d.comb += [getattr(pe, port).eq(value) for port, value in inputs.items()]
            m.d.comb += [signal.eq(getattr(pe, port)) for port, signal in outputs.items()]
