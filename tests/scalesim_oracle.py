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


CONFIG = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {ifmap_kb}
FilterSramSzkB: {filter_kb}
OfmapSramSzkB: {ofmap_kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Dataflow: {dataflow}
Bandwidth: {bandwidth}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {ifmap_bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {filter_bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""

REPORTS = ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv")

# Runs SCALE-Sim once per case through its Python API (no traces). argv: a JSON list of
# [config, topology, layout, outdir, gemm] cases.
DRIVER = """
import contextlib, io, json, sys
from scalesim.scale_sim import scalesim
for config, topology, layout, outdir, gemm in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False, config=config, topology=topology,
                       layout=layout, input_type_gemm=gemm)
        sim.run_scale(top_path=outdir)
"""


def config_text(rows, cols, dataflow, ifmap_kb=64, filter_kb=64, ofmap_kb=64, mode="CALC",
                bandwidth=10, ifmap_bw=10, filter_bw=10, run_name="run"):
    """A SCALE-Sim config (custom layouts, sparsity and Ramulator off)."""
    return CONFIG.format(run_name=run_name, rows=rows, cols=cols, dataflow=dataflow,
                         ifmap_kb=ifmap_kb, filter_kb=filter_kb, ofmap_kb=ofmap_kb, mode=mode,
                         bandwidth=bandwidth, ifmap_bw=ifmap_bw, filter_bw=filter_bw)


def run_cases(folder: Path, cases) -> list[dict]:
    """Run SCALE-Sim on ``cases`` (``(config_text, topology_text, gemm)``) in one process.

    Returns, per case, the text of each report by file name.
    """
    jobs = []
    for index, (config, topology, gemm) in enumerate(cases):
        case = folder / f"case{index}"
        case.mkdir(parents=True)
        (case / "a.cfg").write_text(config)
        (case / "topo.csv").write_text(topology)
        (case / "layout.csv").write_text("Layer name, unused,\n")
        jobs.append([str(case / "a.cfg"), str(case / "topo.csv"), str(case / "layout.csv"),
                     str(case / "out"), gemm])
    run_python(DRIVER, json.dumps(jobs), cwd=folder)
    results = []
    for _, _, _, outdir, _ in jobs:
        run_dir = next(Path(outdir).iterdir())
        results.append({name: (run_dir / name).read_text() for name in REPORTS})
    return results
