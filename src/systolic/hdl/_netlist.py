"""The array's wiring as plain data (contract section 2).

One description of what connects to what serves both back ends: :class:`ArrayTop` builds it
out of Amaranth signals for Amaranth's simulator, and :func:`top_verilog` writes it as the
structural top module of the generated Verilog. The top module holds nothing but instances and
wires, so writing it directly takes seconds at 256 x 256, where converting the same structure
through Amaranth's netlist and Yosys takes minutes and more memory than WebAssembly Yosys has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..faults import Fault as ContractFault
from ..faults import check_bypass, check_faults
from ._config import ArrayConfig
from ._pe import pe_registers, register_widths

__all__ = ["COUNTER_MODULE", "PE_MODULE", "ROW_MODULE", "TOP_MODULE", "Cell", "Constant",
           "Fault", "Flipped", "Mutation", "Netlist", "Wire", "array_netlist", "delay_module",
           "faulty_pe_module", "row_blocks_verilog", "top_ports", "top_verilog"]

#: Verilog name of the top-level module.
TOP_MODULE = "systolic_array"
#: Verilog name of the processing-element module, instantiated R * C times.
PE_MODULE = "systolic_array_pe"
#: Verilog name of one row of PEs in :func:`row_blocks_verilog`.
ROW_MODULE = "systolic_array_row"
#: Verilog name of the cycle counter that flip faults compare with (only when there are any).
COUNTER_MODULE = "systolic_array_cycle_counter"

_FAULT_KINDS = ("out_delay", "out_flip", "psum_flip")


def delay_module(width: int) -> str:
    """Verilog name of the skew/de-skew register module of ``width`` bits."""
    return f"systolic_array_delay_{width}"


def faulty_pe_module(index: int) -> str:
    """Verilog name of the ``index``-th PE variant with faults built in (or bypassed)."""
    return f"{PE_MODULE}_faulty_{index}"


@dataclass(frozen=True)
class Mutation:
    """A deliberate wiring defect, used to show that the verification catches wrong hardware.

    A verification mutation, not a fault of the contract: it breaks the array's wiring (an
    output late, an input bit inverted) where no model would follow, so that the testbench,
    the formal proofs and their reports can be seen to fail. Faults in the PE registers that
    the model reproduces are :class:`systolic.Fault` (``docs/contract.md``, section 6), given
    to the generator as ``faults=[...]``. Also available as ``systolic.hdl.Fault``, its first
    name.

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


#: The verification mutation under its first name (``fault=`` of the generator takes it).
Fault = Mutation


def top_ports(config: ArrayConfig) -> list[tuple[str, str, int]]:
    """The top-level ports as ``(name, direction, width)``, in declaration order."""
    ports = [(f"x_data_{r}", "in", 8) for r in range(config.rows)]
    ports += [("x_valid", "in", 1), ("x_flag", "in", 1)]
    ports += [(f"w_data_{c}", "in", 8) for c in range(config.cols)]
    ports += [("w_valid", "in", 1), ("w_tag", "in", config.tag_bits)]
    ports += [(f"out_data_{c}", "out", config.acc_bits) for c in range(config.cols)]
    ports += [("out_valid", "out", 1)]
    return ports


@dataclass(frozen=True, eq=False)
class Wire:
    """A named net of the top module: a port, or a register output of a cell."""

    name: str
    width: int


@dataclass(frozen=True)
class Constant:
    """A constant driven into a cell input."""

    value: int
    width: int


@dataclass(frozen=True)
class Flipped:
    """``wire`` with bit ``bit`` inverted (a :class:`Fault`)."""

    wire: Wire
    bit: int


@dataclass(frozen=True, eq=False)
class Cell:
    """One instance: a PE, a delay register or the cycle counter.

    ``inputs`` maps input ports to a :class:`Wire`, :class:`Constant` or :class:`Flipped`;
    ``outputs`` maps every output port (every register) to the wire it drives.
    """

    name: str
    module: str
    inputs: dict
    outputs: dict


@dataclass(frozen=True, eq=False)
class Netlist:
    """The top module: its ports, its cells in order and ``(wire, source)`` assigns.

    ``pe_wires[r][c][name]`` is the wire that register ``name`` of ``PE(r, c)`` drives.
    ``pe_modules`` maps every PE module the cells use to the keyword arguments of its
    :class:`ProcessingElement` (empty for the fault-free ``PE_MODULE``); ``faults`` and
    ``bypass`` are the checked faults and bypassed PEs built into them.
    """

    config: ArrayConfig
    ports: dict
    cells: list
    assigns: list
    pe_wires: list
    pe_modules: dict = field(default_factory=lambda: {PE_MODULE: {}})
    faults: tuple = ()
    bypass: tuple = ()


def _pe_variants(config: ArrayConfig, faults, bypass):
    """``(module of every PE as a grid, keyword arguments of every module used, counter
    width, checked faults, checked bypass)``.

    PEs with the same faults (up to their position) and bypass share one module; the
    variants are numbered in the order their first PE appears, row by row.
    """
    faults = check_faults(faults, config.kind, config.rows, config.cols, config.acc_bits)
    bypass = check_bypass(bypass, config.rows, config.cols)
    bypassed = set(bypass)
    late = [fault.cycle for fault in faults if fault.kind == "flip" and fault.cycle]
    cycle_bits = max(late).bit_length() if late else 0
    by_pe = {}
    for fault in faults:
        by_pe.setdefault(fault.pe, []).append(fault)
    grid, modules, variants = [], {}, {}
    for r in range(config.rows):
        grid.append([])
        for c in range(config.cols):
            here = tuple(by_pe.get((r, c), ()))
            if not here and (r, c) not in bypassed:
                modules.setdefault(PE_MODULE, {})
                grid[r].append(PE_MODULE)
                continue
            key = (frozenset((f.register, f.bit, f.kind, f.cycle) for f in here),
                   (r, c) in bypassed)
            if key not in variants:
                variants[key] = faulty_pe_module(len(variants))
                modules[variants[key]] = {
                    "faults": here, "bypass": (r, c) in bypassed,
                    "cycle_bits": cycle_bits if any(f.kind == "flip" and f.cycle
                                                    for f in here) else 0}
            grid[r].append(variants[key])
    # The fault-free module first, where the reference configurations have their only one.
    modules = dict(sorted(modules.items(), key=lambda item: item[0] != PE_MODULE))
    return grid, modules, cycle_bits, faults, bypass


def array_netlist(config: ArrayConfig, fault: Mutation | None = None, *, faults=None,
                  bypass=None) -> Netlist:
    """The wiring of ``config``'s array: skew, PEs, de-skew (``docs/rtl.md`` names them all).

    Cells come in a fixed order (the cycle counter if a flip needs it, x and w skew, PEs row
    by row, de-skew), so the generated Verilog is the same byte for byte on every run.
    ``faults`` (:class:`systolic.Fault`) and ``bypass`` (``(row, col)`` pairs) are built into
    PE variants (:func:`faulty_pe_module`); ``fault`` is a verification :class:`Mutation`.

    Raises
    ------
    TypeError
        If ``fault`` is neither a :class:`Mutation` nor None, or ``faults``/``bypass`` are
        not lists of faults and PEs.
    ValueError
        If a fault or bypassed PE is not in the array (:func:`systolic.faults.check_faults`).
    """
    if fault is not None:
        if isinstance(fault, ContractFault):
            raise TypeError(f"fault takes a verification mutation (systolic.hdl.Mutation); "
                            f"give faults of the contract as faults=[...], got {fault!r}")
        if not isinstance(fault, Mutation):
            raise TypeError(f"fault must be a Fault or None, got {fault!r}")
        fault.check(config)
    pe_module, pe_modules, cycle_bits, faults, bypass = _pe_variants(config, faults, bypass)
    rows, cols = config.rows, config.cols
    ports = {name: Wire(name, width) for name, _, width in top_ports(config)}
    cells, assigns = [], []
    cycle = None
    if cycle_bits:
        # Counts the cycles since reset and stops at its largest value, so that a flip's
        # comparison (at most the last flip's cycle - 1, below it) holds on one cycle only.
        cycle = Wire("cycle", cycle_bits)
        cells.append(Cell("cycle_counter", COUNTER_MODULE, {}, {"count": cycle}))

    def delay_line(prefix, source, length):
        """``source`` and the registers ``<prefix>_1 .. <prefix>_<length>`` behind it."""
        stages = [source]
        for k in range(1, length + 1):
            stage = Wire(f"{prefix}_{k}", source.width)
            cells.append(Cell(f"{stage.name}_reg", delay_module(source.width),
                              {"d": stages[-1]}, {"q": stage}))
            stages.append(stage)
        return stages

    # Skew: row r of the x lane passes through r registers, column c of the w lane through
    # c. The valid, flag and tag bits are the same for every row (column), so each lane has
    # one chain of them, tapped at depth r (c); only the data has a chain per row.
    x_valid = delay_line("x_valid_skew", ports["x_valid"], rows - 1)
    x_flag = delay_line("x_flag_skew", ports["x_flag"], rows - 1)
    x_edge = [(delay_line(f"x_skew_{r}", ports[f"x_data_{r}"], r)[r], x_valid[r], x_flag[r])
              for r in range(rows)]
    w_valid = delay_line("w_valid_skew", ports["w_valid"], cols - 1)
    w_tag = delay_line("w_tag_skew", ports["w_tag"], cols - 1)
    w_edge = [(delay_line(f"w_skew_{c}", ports[f"w_data_{c}"], c)[c], w_valid[c], w_tag[c])
              for c in range(cols)]

    widths = register_widths(config)
    names = pe_registers(config)
    grid = [[{name: Wire(f"pe_r{r}_c{c}_{name}", widths[name]) for name in names}
             for c in range(cols)] for r in range(rows)]
    loads = []
    if not config.kind.stationary_weights:
        for c in range(cols):
            load = Wire(f"load_{c}", 1)
            assigns.append((load, grid[rows - 1][c]["x_flag"]))
            loads.append(load)
    for r in range(rows):
        for c in range(cols):
            if c == 0:
                x_in = x_edge[r]
            else:
                left = grid[r][c - 1]
                x_in = (left["x"], left["x_valid"], left["x_flag"])
            if r == 0:
                w_in = w_edge[c]
                psum_in = (Constant(0, config.acc_bits), Constant(0, 1))
            else:
                up = grid[r - 1][c]
                w_in = (up["w"], up["w_valid"], up["w_tag"])
                psum_in = (up["psum"], up["psum_valid"])
            if fault is not None and fault.kind == "psum_flip" and (r, c) == (fault.row,
                                                                               fault.col):
                psum_in = (Flipped(psum_in[0], fault.bit), psum_in[1])
            inputs = dict(zip(("x_in", "x_valid_in", "x_flag_in"), x_in, strict=True))
            inputs.update(zip(("w_in", "w_valid_in", "w_tag_in"), w_in, strict=True))
            inputs.update(zip(("psum_in", "psum_valid_in"), psum_in, strict=True))
            if config.kind.stationary_weights:
                inputs["row"] = Constant(r, config.tag_bits)
            else:
                inputs["load"] = loads[c]
            module = pe_module[r][c]
            if pe_modules[module].get("cycle_bits"):
                inputs["cycle"] = cycle
            cells.append(Cell(f"pe_r{r}_c{c}", module, inputs, grid[r][c]))

    # De-skew: column c's bottom psum passes through C - 1 - c registers, so a result vector
    # leaves the array on one cycle, marked by column C - 1's valid bit.
    for c in range(cols):
        value = delay_line(f"out_skew_{c}", grid[rows - 1][c]["psum"], cols - 1 - c)[-1]
        if fault is not None and fault.col == c:
            if fault.kind == "out_delay":
                value = delay_line(f"out_fault_{c}", value, 1)[-1]
            elif fault.kind == "out_flip":
                value = Flipped(value, fault.bit)
        assigns.append((ports[f"out_data_{c}"], value))
    assigns.append((ports["out_valid"], grid[rows - 1][cols - 1]["psum_valid"]))
    return Netlist(config, ports, cells, assigns, grid, pe_modules, faults, bypass)


def _range(width: int) -> str:
    return f"[{width - 1}:0] " if width > 1 else ""


def _expression(source) -> str:
    if isinstance(source, Wire):
        return source.name
    if isinstance(source, Constant):
        return f"{source.width}'d{source.value}"
    wire = source.wire
    return f"({wire.name} ^ {wire.width}'d{1 << source.bit})"


def top_verilog(netlist: Netlist) -> str:
    """The top module of ``netlist`` as structural Verilog: declarations, instances, assigns.

    A cell output that nothing reads is connected to nothing (``.w_active()``, so that lint
    tools see it was left open on purpose): the register stays visible inside its instance
    (``pe_r0_c0.w_active``) without a wire in the top module, which keeps the Verilog of large
    arrays small.
    """
    sources = [source for cell in netlist.cells for source in cell.inputs.values()]
    sources += [source for _, source in netlist.assigns]
    read = {source.wire if isinstance(source, Flipped) else source for source in sources}
    port_names = ["clk", "rst", *netlist.ports]
    lines = [f"module {TOP_MODULE}({', '.join(port_names)});", "  input clk;", "  input rst;"]
    for name, direction, width in top_ports(netlist.config):
        lines.append(f"  {'input' if direction == 'in' else 'output'} {_range(width)}{name};")
    for target, _ in netlist.assigns:
        if target.name not in netlist.ports:
            lines.append(f"  wire {_range(target.width)}{target.name};")
    for cell in netlist.cells:
        for wire in cell.outputs.values():
            if wire in read:
                lines.append(f"  wire {_range(wire.width)}{wire.name};")
    for cell in netlist.cells:
        connections = [".clk(clk)", ".rst(rst)"]
        connections += [f".{port}({_expression(source)})" for port, source in cell.inputs.items()]
        connections += [f".{port}({wire.name if wire in read else ''})"
                        for port, wire in cell.outputs.items()]
        if cell.module in netlist.pe_modules:
            lines.append(f"  {cell.module} {cell.name} (")
            lines.append(",\n".join(f"    {c}" for c in connections))
            lines.append("  );")
        else:  # a delay register: one line, as there are O(R^2 + C^2) of them
            lines.append(f"  {cell.module} {cell.name} ({', '.join(connections)});")
    for target, source in netlist.assigns:
        lines.append(f"  assign {target.name} = {_expression(source)};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


#: PE inputs fed by the left neighbour's register of the same name without ``_in``.
_X_CHAIN = {"x_in": "x", "x_valid_in": "x_valid", "x_flag_in": "x_flag"}


def row_blocks_verilog(netlist: Netlist) -> str:
    """The top module of ``netlist`` with each row of PEs in an instance of :data:`ROW_MODULE`.

    The same PEs, registers and connections as :func:`top_verilog`, grouped differently: a
    row module holds the ``C`` PEs of a row and their left-to-right chain, and takes and gives
    the signals that cross rows as packed buses (``psum_in[C*acc_bits-1:0]``, ...; column
    ``c`` in bits ``c*width`` up). Every row is the same module, so Verilator can build it
    once as a hierarchical block (``--hierarchical``) instead of flattening ``R * C`` PEs:
    at 256 x 256 that takes Verilator 99 s and 2.1 GB instead of 13 minutes and 11.3 GB
    (``benchmarks/results/rtl.md``).
    Returns the row module followed by the top module.

    Raises
    ------
    ValueError
        If the rows differ: faults or bypassed PEs (PE variants), or a mutation on a PE input.
    """
    config = netlist.config
    rows, cols = config.rows, config.cols
    if set(netlist.pe_modules) != {PE_MODULE}:
        raise ValueError("row blocks need every PE to be the same module: "
                         "faults and bypassed PEs are not supported")
    pes = {cell.name: cell for cell in netlist.cells if cell.module == PE_MODULE}
    if any(isinstance(source, Flipped) for cell in pes.values()
           for source in cell.inputs.values()):
        raise ValueError("row blocks need every row wired the same: a psum_flip mutation "
                         "is not supported")
    owner = {wire: (r, c, name) for r in range(rows) for c in range(cols)
             for name, wire in netlist.pe_wires[r][c].items()}
    # The PE registers read anywhere but by the right-hand neighbour's x inputs leave the row.
    exported = set()
    for cell in netlist.cells:
        for port, source in cell.inputs.items():
            if source in owner:
                r, c, name = owner[source]
                if not (port in _X_CHAIN and cell.name == f"pe_r{r}_c{c + 1}"):
                    exported.add(name)
    exported.update(owner[source][2] for _, source in netlist.assigns if source in owner)
    first = pes["pe_r0_c0"]
    widths = {name: wire.width for name, wire in netlist.pe_wires[0][0].items()}
    outputs = [name for name in widths if name in exported]
    shared = [port for port in first.inputs if port == "row"]
    packed = [port for port in first.inputs if port not in _X_CHAIN and port not in shared]
    in_width = {port: source.width for port, source in first.inputs.items()}

    def bits(name, c, width):
        return f"{name}[{c * width + width - 1}:{c * width}]" if cols * width > 1 else name

    ports = [*_X_CHAIN, *shared, *packed, *(f"{name}_out" for name in outputs)]
    lines = [f"module {ROW_MODULE}(clk, rst, {', '.join(ports)});", "  input clk;",
             "  input rst;"]
    lines += [f"  input {_range(in_width[port])}{port};" for port in [*_X_CHAIN, *shared]]
    lines += [f"  input {_range(cols * in_width[port])}{port};" for port in packed]
    lines += [f"  output {_range(cols * widths[name])}{name}_out;" for name in outputs]
    lines += [f"  wire {_range(widths[name])}c{c}_{name};"
              for c in range(cols - 1) for name in _X_CHAIN.values()]
    for c in range(cols):
        connections = [".clk(clk)", ".rst(rst)"]
        for port in first.inputs:
            if port in _X_CHAIN:
                connections.append(f".{port}({port if c == 0 else f'c{c - 1}_{_X_CHAIN[port]}'})")
            elif port in shared:
                connections.append(f".{port}({port})")
            else:
                connections.append(f".{port}({bits(port, c, in_width[port])})")
        for name in widths:
            target = bits(f"{name}_out", c, widths[name]) if name in exported else ""
            if name in _X_CHAIN.values() and c < cols - 1:
                if name in exported:
                    lines.append(f"  assign {target} = c{c}_{name};")
                target = f"c{c}_{name}"
            connections.append(f".{name}({target})")
        lines.append(f"  {PE_MODULE} pe_c{c} ({', '.join(connections)});")
    lines.append("endmodule")

    def expression(source):
        if source in owner:
            r, c, name = owner[source]
            return bits(f"row_{r}_{name}", c, widths[name])
        return _expression(source)

    read = {source for cell in netlist.cells for source in cell.inputs.values()}
    read |= {source for _, source in netlist.assigns}
    lines += [f"module {TOP_MODULE}({', '.join(['clk', 'rst', *netlist.ports])});",
              "  input clk;", "  input rst;"]
    for name, direction, width in top_ports(config):
        lines.append(f"  {'input' if direction == 'in' else 'output'} {_range(width)}{name};")
    for target, _ in netlist.assigns:
        if target.name not in netlist.ports:
            lines.append(f"  wire {_range(target.width)}{target.name};")
    others = [cell for cell in netlist.cells if cell.module != PE_MODULE]
    lines += [f"  wire {_range(wire.width)}{wire.name};"
              for cell in others for wire in cell.outputs.values() if wire in read]
    lines += [f"  wire {_range(cols * widths[name])}row_{r}_{name};"
              for r in range(rows) for name in outputs]
    for cell in others:
        connections = [".clk(clk)", ".rst(rst)"]
        connections += [f".{port}({expression(source)})" for port, source in cell.inputs.items()]
        connections += [f".{port}({wire.name if wire in read else ''})"
                        for port, wire in cell.outputs.items()]
        lines.append(f"  {cell.module} {cell.name} ({', '.join(connections)});")
    for r in range(rows):
        left = pes[f"pe_r{r}_c0"]
        connections = [".clk(clk)", ".rst(rst)"]
        connections += [f".{port}({expression(left.inputs[port])})"
                        for port in [*_X_CHAIN, *shared]]
        for port in packed:
            lanes = ", ".join(expression(pes[f"pe_r{r}_c{c}"].inputs[port])
                              for c in reversed(range(cols)))
            connections.append(f".{port}({{{lanes}}})")
        connections += [f".{name}_out(row_{r}_{name})" for name in outputs]
        lines.append(f"  {ROW_MODULE} row_{r} ({', '.join(connections)});")
    for target, source in netlist.assigns:
        lines.append(f"  assign {target.name} = {expression(source)};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"
