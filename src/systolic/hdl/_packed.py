"""A wrapper of ``systolic_array`` with packed buses, for integration into a larger design."""

from __future__ import annotations

from pathlib import Path

from ._config import ArrayConfig
from ._netlist import TOP_MODULE, top_ports

__all__ = ["PACKED_MODULE", "packed_wrapper", "write_packed_wrapper"]

#: Verilog name of the wrapper module.
PACKED_MODULE = "systolic_array_packed"

_BUSES = ("x_data", "w_data", "out_data")


def packed_wrapper(config: ArrayConfig) -> str:
    """Verilog of ``systolic_array_packed``: ``systolic_array`` with its lanes as packed buses.

    ``x_data[8*R-1:0]`` holds ``x_data_<r>`` in bits ``8*r+7 .. 8*r``, likewise ``w_data`` (C
    lanes of 8 bits) and ``out_data`` (C lanes of ``acc_bits``); the one-bit and tag ports keep
    their names. The ports come from the same list as the array's (:func:`top_ports`), so the
    two cannot disagree. The wrapper instantiates ``systolic_array`` (instance ``array``), which
    is compiled from its own file; the array itself keeps one port per lane, because Icarus
    simulates wide packed buses between modules several times slower.
    """
    if not isinstance(config, ArrayConfig):
        raise TypeError(f"config must be an ArrayConfig, got {config!r}")
    lanes = {bus: [] for bus in _BUSES}
    scalars = []
    for name, direction, width in top_ports(config):
        bus = name.rsplit("_", 1)[0]
        if bus in lanes:
            lanes[bus].append((name, direction, width))
        else:
            scalars.append((name, direction, width))
    names = ["clk", "rst", "x_data", "x_valid", "x_flag", "w_data", "w_valid", "w_tag",
             "out_data", "out_valid"]
    lines = [f"// {PACKED_MODULE}: {TOP_MODULE} ({config.rows} x {config.cols}, dataflow "
             f"{config.dataflow}) with packed lane buses",
             "`default_nettype none",
             f"module {PACKED_MODULE}({', '.join(names)});",
             "  input clk;", "  input rst;"]
    for bus, ports in lanes.items():
        direction = "input" if ports[0][1] == "in" else "output"
        lines.append(f"  {direction} [{sum(w for _, _, w in ports) - 1}:0] {bus};")
    for name, direction, width in scalars:
        size = f"[{width - 1}:0] " if width > 1 else ""
        lines.append(f"  {'input' if direction == 'in' else 'output'} {size}{name};")
    connections = [".clk(clk)", ".rst(rst)"]
    for bus, ports in lanes.items():
        low = 0
        for name, _, width in ports:
            connections.append(f".{name}({bus}[{low + width - 1}:{low}])")
            low += width
    connections += [f".{name}({name})" for name, _, _ in scalars]
    lines.append(f"  {TOP_MODULE} array (")
    lines.append(",\n".join(f"    {c}" for c in connections))
    lines += ["  );", "endmodule", "`default_nettype wire"]
    return "\n".join(lines) + "\n"


def write_packed_wrapper(out_dir, config: ArrayConfig) -> Path:
    """Write :func:`packed_wrapper` to ``out_dir/systolic_array_packed.v``; returns the path."""
    text = packed_wrapper(config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{PACKED_MODULE}.v"
    path.write_text(text)
    return path
