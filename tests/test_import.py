"""Public names load on first use (PEP 562), and ``systolic scalesim`` loads no engine."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from scalesim_oracle import config_text

PACKAGES = ("systolic", "systolic.tpu", "systolic.scalesim")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    assert set(module.__all__) <= set(dir(module))


@pytest.mark.parametrize("package", ("systolic", "systolic.tpu"))
def test_unknown_names_raise_attribute_error(package):
    with pytest.raises(AttributeError, match="has no attribute 'nonexistent'"):
        _ = importlib.import_module(package).nonexistent


def test_lazy_names_are_the_defining_modules_objects():
    import systolic
    import systolic.array
    import systolic.tpu._scalesim

    assert systolic.SystolicArray is systolic.array.SystolicArray
    from systolic.tpu import read_topology
    assert read_topology is systolic.tpu._scalesim.read_topology


def test_scalesim_command_loads_no_engine(tmp_path):
    # The reports of a network whose layers all have closed forms need neither the array's
    # engines (numba), nor the RTL generator (amaranth), nor the plots (matplotlib).
    config = tmp_path / "a.cfg"
    config.write_text(config_text(8, 8, "ws"))
    topology = tmp_path / "t.csv"
    topology.write_text("Layer, M, N, K,\ng, 20, 30, 40,\n")
    script = (
        "import runpy, sys\n"
        f"sys.argv = ['systolic', 'scalesim', '-c', {str(config)!r}, '-t', {str(topology)!r},"
        f" '-p', {str(tmp_path / 'out')!r}, '-i', 'gemm', '--no-progress']\n"
        "try:\n    runpy.run_module('systolic.cli', run_name='__main__')\n"
        "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'numba', 'amaranth', 'matplotlib'}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    assert (tmp_path / "out" / "run" / "COMPUTE_REPORT.csv").exists()


@pytest.mark.parametrize("package", ("systolic", "systolic.tpu"))
def test_lazy_table_matches_the_imports_for_type_checkers(package):
    # The API docs read the `if TYPE_CHECKING:` imports from the source; they must name the
    # same modules for the same names as the table that loads them.
    module = importlib.import_module(package)
    tree = ast.parse(Path(module.__file__).read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and getattr(node.test, "id", None) == "TYPE_CHECKING")
    imported = {alias.name: node.module for node in block.body
                for alias in node.names}
    assert imported == module._LAZY
