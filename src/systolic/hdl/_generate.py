"""Verilog generation, the JSON sidecar and the reference configurations."""

from __future__ import annotations

import errno
import json
import os
import re
from collections import Counter
from pathlib import Path

import amaranth
from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil

from .._checks import check_memory
from ..faults import Fault
from ._array import CycleCounter, DelayStage
from ._config import ArrayConfig
from ._netlist import (
    COUNTER_MODULE,
    PE_MODULE,
    TOP_MODULE,
    Mutation,
    array_netlist,
    delay_module,
    top_ports,
    top_verilog,
)
from ._pe import ProcessingElement, pe_registers, register_widths
from ._waivers import VERILATOR_WAIVERS, WAIVERS_FILE

__all__ = ["GENERATOR_VERSION", "REFERENCE_CONFIGS", "config_from_sidecar",
           "faults_from_sidecar", "generate", "load_sidecar", "module_verilog", "write",
           "write_reference_configs"]

#: Bumped whenever the generated hardware or the sidecar layout changes.
GENERATOR_VERSION = "2"

#: The configurations committed in ``rtl/`` (``python -m systolic.hdl --reference-configs``).
REFERENCE_CONFIGS = (
    ArrayConfig(4, 4, "ws"),
    ArrayConfig(8, 8, "ws", x_signed=False, w_signed=True),
    ArrayConfig(3, 5, "ws"),
    ArrayConfig(4, 4, "os"),
    ArrayConfig(8, 6, "os", x_signed=True, w_signed=False),
    ArrayConfig(16, 16, "ws", acc_bits=24),
)


def _sidecar(config: ArrayConfig, fault: Mutation | None, netlist) -> dict:
    widths = register_widths(config)
    sidecar = {
        "generator": "systolic.hdl",
        "generator_version": GENERATOR_VERSION,
        "amaranth_version": amaranth.__version__,
        "top_module": TOP_MODULE,
        "pe_module": PE_MODULE,
        **config.as_dict(),
        "tag_bits": config.tag_bits,
        "ports": [{"name": n, "direction": d, "width": w} for n, d, w in top_ports(config)],
        "pe_instance": "pe_r{row}_c{col}",
        "pe_registers": [{"name": n, "width": widths[n]} for n in pe_registers(config)],
    }
    if fault is not None:
        sidecar["fault"] = {"kind": fault.kind, "row": fault.row, "col": fault.col,
                            "bit": fault.bit}
    # Contract faults and bypassed PEs, so that the model can be built with the same ones.
    if netlist.faults:
        sidecar["faults"] = [{"register": f.register, "pe": list(f.pe), "bit": f.bit,
                              "kind": f.kind, "cycle": f.cycle} for f in netlist.faults]
    if netlist.bypass:
        sidecar["bypass"] = [list(pe) for pe in netlist.bypass]
    return sidecar


def faults_from_sidecar(sidecar: dict) -> tuple[list, list]:
    """``(faults, bypass)`` recorded in a sidecar: :class:`systolic.Fault` and ``(row, col)``.

    Both are empty for an array generated without them.
    """
    faults = [Fault(f["register"], tuple(f["pe"]), f["bit"], f["kind"], f["cycle"])
              for f in sidecar.get("faults", ())]
    return faults, [tuple(pe) for pe in sidecar.get("bypass", ())]


def generate(rows: int, cols: int, dataflow: str = "ws", *, x_signed: bool = True,
             w_signed: bool = True, acc_bits: int = 32, fault: Mutation | None = None,
             faults=None, bypass=None) -> tuple[str, dict]:
    """Generate the Verilog of an array and its sidecar.

    Parameters
    ----------
    rows, cols : int
        Array size ``R x C``.
    dataflow : {"ws", "os", "is"}
        ``is`` generates the ``ws`` hardware.
    x_signed, w_signed : bool
        Lane signedness: int8 if true, uint8 if false.
    acc_bits : int
        Width of the wrapping sums, 16..32.
    fault : Mutation, optional
        A verification mutation (``systolic.hdl.Fault``): a wiring defect that no model
        follows, for showing that the verification catches wrong hardware.
    faults : list of systolic.Fault, optional
        Faults of the contract (``docs/contract.md``, section 6), built into the hardware: a
        faulty PE is an instance of a module of its own, ``systolic_array_pe_faulty_<k>``,
        in which a stuck bit is a constant on the register's output and a flip compares a
        cycle counter (module ``systolic_array_cycle_counter``, only present with a flip
        after cycle 0) with the cycle before the flip.
    bypass : list of (int, int), optional
        Bypassed PEs (section 6): their module adds a product of 0.

    Returns
    -------
    verilog_text : str
        Modules ``systolic_array_pe`` and ``systolic_array`` (and the variants above). The
        text depends only on the parameters (and the Amaranth/Yosys versions): no
        source-location attributes. Without faults and bypass it is the same text as before
        they existed.
    sidecar : dict
        All parameters, the top-level port list, the PE register names and widths, and the
        generator version, plus ``faults`` and ``bypass`` when given; JSON-ready.

    Raises
    ------
    TypeError, ValueError
        If a parameter is invalid (see :class:`ArrayConfig`).

    Examples
    --------
    >>> text, sidecar = generate(2, 3)
    >>> "module systolic_array(" in text, sidecar["tag_bits"]
    (True, 1)
    """
    config = ArrayConfig(rows, cols, dataflow, x_signed, w_signed, acc_bits)
    return _generate(config, fault, faults, bypass)


def _to_verilog(elaboratable, name: str) -> str:
    """Amaranth -> RTLIL -> Verilog in the form Icarus compiles and simulates fastest.

    ``amaranth.back.verilog.convert`` keeps every register's synchronous reset as an
    ``always @*`` process and gives every register an initial value; Icarus's compile time
    grows with the square of the number of such processes (two minutes for one 128 x 128 array
    instead of seconds). Here Yosys folds reset and enable into the flip-flops (``opt_dff``)
    and the initial values are dropped (the synchronous reset defines the state); then the
    module's clocked blocks are merged into one (:func:`_one_clocked_block`). ``find_yosys``
    is Amaranth's own Yosys (Amaranth is pinned to 0.5.x).
    """
    text = rtlil.convert(elaboratable, name=name, emit_src=False)
    yosys = find_yosys(lambda version: version >= (0, 40))
    script = "\n".join([f"read_rtlil <<rtlil\n{text}\nrtlil", "proc", "opt_clean", "opt_dff",
                        "opt_clean", "attrmap -remove init",
                        "attrmap -modattr -remove top", "write_verilog -norename"])
    return _one_clocked_block(yosys.run(["-q", "-"], script, ignore_warnings=True), name)


_CLOCKED = "  always @(posedge clk)"
_BLOCKING = re.compile(r"\s=\s")


def _one_clocked_block(text: str, name: str) -> str:
    """Merge the ``always @(posedge clk)`` blocks of one Yosys module into one block.

    Yosys writes one block per flip-flop; Icarus schedules every block as a thread of its
    own, so the ten blocks of a PE, instantiated 65,536 times, cost more than the logic (one
    block per PE simulates a 64 x 64 array twice as fast). Every statement is a
    non-blocking assignment on the same edge, so running them in one block is the same
    hardware. Anything else (a combinational ``always``, a blocking assignment) is refused
    rather than rewritten.
    """
    lines = text.split("\n")
    kept, body, at = [], [], None
    i = 0
    while i < len(lines):
        if lines[i] != _CLOCKED:
            kept.append(lines[i])
            i += 1
            continue
        at = len(kept) if at is None else at
        i += 1
        while i < len(lines) and lines[i].startswith("    "):
            body.append(lines[i])
            i += 1
    if any("always" in line for line in kept) or any(_BLOCKING.search(line) for line in body):
        raise RuntimeError(f"unexpected Yosys output for module {name}: only non-blocking "
                           f"assignments in '{_CLOCKED.strip()}' blocks can be merged")
    if at is None:
        return text
    return "\n".join(kept[:at] + [_CLOCKED + " begin", *body, "  end"] + kept[at:])


#: Peak memory of generating one PE (measured: 660 MB for 256 x 256 with Python 3.11).
_BYTES_PER_PE = 12 << 10


_FAULTY_RULES = ("UNUSEDSIGNAL", "WIDTHEXPAND", "DECLFILENAME")
#: Wrapped around a faulty PE module, whose stuck bits leave Verilator's lint things to
#: report that are the fault, not a defect of the generator: the input bits a stuck register
#: would have stored are unread and its flip-flop has fewer bits (UNUSEDSIGNAL), a sum whose
#: top bits are stuck at 0 is added as a narrower operand (WIDTHEXPAND), and in an array with
#: no fault-free PE the file's first module is a faulty one (DECLFILENAME).
_FAULTY_LINT = ("".join(f"/* verilator lint_off {rule} */\n" for rule in _FAULTY_RULES),
                "".join(f"/* verilator lint_on {rule} */\n" for rule in _FAULTY_RULES))


def _leaf_modules(config: ArrayConfig, netlist) -> dict[str, str]:
    """The Verilog of every module ``netlist``'s cells instantiate, by name, in file order."""
    widths = sorted({cell.outputs["q"].width for cell in netlist.cells
                     if cell.module not in netlist.pe_modules and cell.module != COUNTER_MODULE})
    modules = {}
    for module, kwargs in netlist.pe_modules.items():
        text = _to_verilog(ProcessingElement(config, **kwargs), module)
        modules[module] = _FAULTY_LINT[0] + text + _FAULTY_LINT[1] if kwargs else text
    for cell in netlist.cells:
        if cell.module == COUNTER_MODULE:
            modules[COUNTER_MODULE] = _to_verilog(CycleCounter(cell.outputs["count"].width),
                                                  COUNTER_MODULE)
    for width in widths:
        modules[delay_module(width)] = _to_verilog(DelayStage(width), delay_module(width))
    return modules


def module_verilog(rows: int, cols: int, dataflow: str = "ws", *, x_signed: bool = True,
                   w_signed: bool = True, acc_bits: int = 32) -> dict[str, tuple[str, int]]:
    """The Verilog of each module below the top, and how many instances the top has of it.

    The same module texts as in :func:`generate`'s file, without writing the top module,
    which at 256 x 256 is 69 MB of instances and wires: a tool can process each module once
    and count it per instance (``systolic synth`` does).

    Parameters
    ----------
    rows, cols, dataflow, x_signed, w_signed, acc_bits
        As for :func:`generate`.

    Returns
    -------
    dict
        ``{module name: (Verilog text, instance count)}`` for the PE module and every delay
        (skew and de-skew register) module, in the order of the generated file.

    Raises
    ------
    TypeError, ValueError
        If a parameter is invalid (see :class:`ArrayConfig`).

    Examples
    --------
    >>> modules = module_verilog(2, 3)
    >>> [(name, count) for name, (_, count) in modules.items()][:3]
    [('systolic_array_pe', 6), ('systolic_array_delay_1', 6), ('systolic_array_delay_8', 4)]
    """
    config = ArrayConfig(rows, cols, dataflow, x_signed, w_signed, acc_bits)
    netlist = array_netlist(config)
    counts = Counter(cell.module for cell in netlist.cells)
    return {name: (text, counts[name]) for name, text in _leaf_modules(config, netlist).items()}


def _generate(config: ArrayConfig, fault: Mutation | None = None, faults=None,
              bypass=None) -> tuple[str, dict]:
    check_memory(f"generating a {config.rows}x{config.cols} array",
                 config.rows * config.cols * _BYTES_PER_PE, "generate a smaller array")
    # The logic (the PE modules and the one-register delay modules, one per width the skew
    # and de-skew lines use) goes through Amaranth and Yosys; the top module only wires
    # instances together and is written from the netlist directly.
    netlist = array_netlist(config, fault, faults=faults, bypass=bypass)
    modules = _leaf_modules(config, netlist)
    header = (f"// {TOP_MODULE}: {config.rows} x {config.cols} systolic array, "
              f"dataflow {config.dataflow}, acc_bits {config.acc_bits}\n"
              f"// Generated by systolic.hdl {GENERATOR_VERSION}; do not edit.\n"
              # A misnamed connection must not compile into an implicit one-bit wire.
              "`default_nettype none\n")
    footer = "`default_nettype wire\n"
    return (header + "".join(modules.values()) + top_verilog(netlist) + footer,
            _sidecar(config, fault, netlist))


def write(out_dir, rows: int, cols: int, dataflow: str = "ws", *, x_signed: bool = True,
          w_signed: bool = True, acc_bits: int = 32, name: str | None = None,
          fault: Mutation | None = None, faults=None, bypass=None) -> tuple[Path, Path]:
    """Generate an array and write ``<name>.v`` and ``<name>.json`` into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Output directory, created if missing.
    rows, cols, dataflow, x_signed, w_signed, acc_bits, fault, faults, bypass
        As for :func:`generate`.
    name : str, optional
        File name stem; default :attr:`ArrayConfig.name`, e.g. ``ws_4x4_i8_i8_acc32``. A plain
        name: nothing is ever written outside ``out_dir``.

    Returns
    -------
    verilog_path, sidecar_path : Path

    Raises
    ------
    TypeError, ValueError
        An invalid parameter or name, an ``out_dir`` that is a file, or an array whose
        generation would need more memory than the limit (``SYSTOLIC_MEMORY_LIMIT``).
    OSError
        ``out_dir`` cannot be created or written (checked before generating).
    """
    config = ArrayConfig(rows, cols, dataflow, x_signed, w_signed, acc_bits)
    if name is not None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, got {name!r}")
        if (not name or name in (".", "..") or "/" in name or "\\" in name
                or "\0" in name):
            raise ValueError(f"name must be a plain file name stem (no path separators), "
                             f"got {name!r}")
    return _write(Path(out_dir), config, name or config.name, fault, faults, bypass)


def _prepare_dir(out_dir: Path) -> None:
    """Create ``out_dir`` and make sure files can be written there, before any work."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"output directory {str(out_dir)!r} is a file")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "cannot write into the directory", str(out_dir))


def _write(out_dir: Path, config: ArrayConfig, name: str, fault: Mutation | None = None,
           faults=None, bypass=None) -> tuple[Path, Path]:
    _prepare_dir(out_dir)
    text, sidecar = _generate(config, fault, faults, bypass)
    verilog_path = out_dir / f"{name}.v"
    sidecar_path = out_dir / f"{name}.json"
    verilog_path.write_text(text)
    sidecar["verilog"] = verilog_path.name
    sidecar_path.write_text(json.dumps(sidecar, indent=2) + "\n")
    return verilog_path, sidecar_path


def write_reference_configs(out_dir) -> list[Path]:
    """Write every configuration of :data:`REFERENCE_CONFIGS` into ``out_dir``.

    The Verilator lint waivers (:data:`VERILATOR_WAIVERS`) are written next to them as
    ``systolic_array.vlt``.

    Returns
    -------
    list of Path
        The written Verilog files and the waivers file.
    """
    paths = [_write(Path(out_dir), config, config.name)[0] for config in REFERENCE_CONFIGS]
    waivers = Path(out_dir) / WAIVERS_FILE
    waivers.write_text(VERILATOR_WAIVERS)
    return [*paths, waivers]


def load_sidecar(path) -> dict:
    """Read a sidecar written by :func:`write` and check that it comes from this generator.

    Raises
    ------
    ValueError
        If the file is not a ``systolic.hdl`` sidecar.
    """
    path = Path(path)
    sidecar = json.loads(path.read_text())
    if not isinstance(sidecar, dict) or sidecar.get("generator") != "systolic.hdl":
        raise ValueError(f"{str(path)!r} is not a systolic.hdl sidecar")
    return sidecar


def config_from_sidecar(sidecar: dict) -> ArrayConfig:
    """The :class:`ArrayConfig` recorded in a sidecar."""
    return ArrayConfig(sidecar["rows"], sidecar["cols"], sidecar["dataflow"],
                       sidecar["x_signed"], sidecar["w_signed"], sidecar["acc_bits"])
