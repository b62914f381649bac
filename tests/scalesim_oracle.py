"""Run the real SCALE-Sim 3.0.0 in its own environment, for the tests that compare with it.

The environment is ``.venv-scalesim`` at the repository root (``make scalesim-venv`` creates
it, and ``make test`` depends on it), or the interpreter named by ``SYSTOLIC_SCALESIM_PYTHON``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = Path(os.environ.get("SYSTOLIC_SCALESIM_PYTHON",
                             ROOT / ".venv-scalesim" / "bin" / "python"))


def require_scalesim() -> None:
    """Skip the calling test, saying how to install SCALE-Sim, when its environment is absent."""
    if not PYTHON.exists():
        pytest.skip(f"SCALE-Sim's environment {PYTHON} is missing: run `make scalesim-venv`")


def run_python(code: str, *args: str, cwd: Path | None = None) -> str:
    """Run ``code`` in SCALE-Sim's environment and return its standard output."""
    require_scalesim()
    done = subprocess.run([str(PYTHON), "-c", code, *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)
    if done.returncode != 0:
        raise AssertionError(f"SCALE-Sim failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


# Loads each topology file with SCALE-Sim's own loader and prints, per file, either the error
# or the per-layer [name, M, N, K] list that SCALE-Sim simulates.
LOADER = """
import json, sys
from scalesim.topology_utils import topologies
out = {}
for path in sys.argv[2:]:
    t = topologies()
    try:
        t.load_arrays(path, mnk_inputs=sys.argv[1] == "gemm")
        t.topo_calc_hyperparams()
        mnk = t.get_transformed_mnk_dimensions()
        out[path] = [[a[0], m // n, n, k] for a, (m, n, k) in zip(t.topo_arrays, mnk)]
    except Exception as error:
        out[path] = type(error).__name__
print(json.dumps(out))
"""


def load_topologies(kind: str, paths) -> dict:
    """SCALE-Sim's reading of each topology file: a list of ``[name, M, N, K]`` or an error."""
    return json.loads(run_python(LOADER, kind, *paths))
