"""Cycle counts and speed against SCALE-Sim 3.0, both measured in the same run.

Run ``python benchmarks/bench_scalesim.py``. SCALE-Sim 3.0.0 crashes under numpy 2.4, so it
runs in its own virtual environment, ``.venv-scalesim`` at the repository root (the one
``make scalesim-venv`` makes for the tests; created on the first run with ``scalesim==3.0.0``
and ``numpy==2.3.5`` from PyPI, then reused). For every case the
script

* writes SCALE-Sim's config, GEMM topology and layout files to a temporary folder, runs
  SCALE-Sim once through its Python API in a subprocess (no traces written) and reads the total
  cycles from its ``COMPUTE_REPORT.csv``;
* runs our model on the same problem (random int8 operands, fixed seed) with the cycle engine
  and the fast path, both with ``timing="scalesim"``, best of several repeats, and checks the
  values against numpy;
* checks that our SCALE-Sim compatible total equals SCALE-Sim's, and shows our contract count
  (TPU-style weight double buffering) next to it.

The markdown table is printed and written to ``benchmarks/results/scalesim.md``. The script
exits with status 1, naming the case and both numbers, if any total differs or SCALE-Sim
fails, and with status 2 if SCALE-Sim's environment cannot be installed.

``--networks TOPOLOGIES`` runs whole networks instead (ResNet-18/50, MobileNet, YOLO-tiny,
ViT-S GEMMs from the ``topologies/`` folder of a SCALE-Sim checkout) on SCALE-Sim's
``google.cfg`` settings (256 x 256, USER bandwidth) and on the same at 32 x 32: SCALE-Sim's
API and ``systolic.scalesim.run`` each run in a subprocess, timed with their peak memory, and
all three report files must be equal byte for byte. ``--with-values`` also runs every layer
(its true GEMM) through ``SystolicArray.run`` on random int8 operands, checked against numpy.
Results go to ``benchmarks/results/scalesim_networks.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numba
import numpy as np

import systolic
from machine import cpu_model
from systolic._table import markdown_table

HERE = Path(__file__).parent
# The environment the tests use too (``make scalesim-venv``).
VENV = HERE.parent / ".venv-scalesim"
VENV_PYTHON = VENV / "bin" / "python"
RESULTS = HERE / "results" / "scalesim.md"
SCALESIM_PINS = ("scalesim==3.0.0", "numpy==2.3.5")
REPEATS = 5
# SCALE-Sim's slowest cases here take 10-17 s (1024^3 on 256 x 256, 256^3 on 8 x 8; 2048^3
# would take about 5 minutes). A case still running after this many seconds, on a busy
# machine, is reported as skipped instead of being waited for.
SCALESIM_TIMEOUT = 60
RUN_NAME = "bench"

# Runs in SCALE-Sim's environment: argv is config, topology, layout, output folder. Prints the
# seconds of the import and of the API call (object set-up and simulation) as JSON.
DRIVER = """
import json, sys, time
start = time.perf_counter()
from scalesim.scale_sim import scalesim
imported = time.perf_counter()
config, topology, layout, top_path = sys.argv[1:5]
sim = scalesim(save_disk_space=True, verbose=False, config=config, topology=topology,
               layout=layout, input_type_gemm=True)
sim.run_scale(top_path=top_path)
done = time.perf_counter()
print(json.dumps({"import_seconds": imported - start, "seconds": done - imported}))
"""

# Reports the versions in SCALE-Sim's environment (also proves that the pins import).
VERSIONS = """
import json, importlib.metadata as md
import numpy, scalesim.scale_sim
print(json.dumps({"scalesim": md.version("scalesim"), "numpy": numpy.__version__}))
"""

# CALC bandwidth mode never stalls on DRAM; the SRAMs are the sizes of SCALE-Sim's TPU-like
# example. The [layout] section is required even with custom layouts off.
CONFIG = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 6144
FilterSramSzkB: 6144
OfmapSramSzkB: 2048
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Dataflow: {dataflow}
Bandwidth: 10
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


@dataclass(frozen=True)
class Case:
    """One matmul ``(m x k) @ (k x n)`` on a ``rows x cols`` array."""

    rows: int
    cols: int
    dataflow: str
    m: int
    k: int
    n: int

    @property
    def name(self) -> str:
        """How the case is shown in the table, e.g. ``256x256 ws, 256^3``."""
        if self.m == self.k == self.n:
            problem = f"{self.m}^3"
        else:
            problem = f"M,K,N = {self.m},{self.k},{self.n}"
        return f"{self.rows}x{self.cols} {self.dataflow}, {problem}"


CASES = (
    Case(256, 256, "ws", 256, 256, 256),
    Case(256, 256, "os", 256, 256, 256),
    Case(256, 256, "is", 256, 256, 256),
    Case(256, 256, "ws", 512, 512, 512),
    Case(256, 256, "ws", 1024, 1024, 1024),
    Case(256, 256, "os", 1024, 1024, 1024),
    Case(256, 256, "is", 1024, 1024, 1024),
    Case(256, 256, "ws", 300, 700, 500),
    Case(128, 128, "os", 512, 512, 512),
    Case(32, 32, "ws", 256, 256, 256),
    Case(8, 8, "ws", 256, 256, 256),
    Case(17, 5, "ws", 100, 37, 61),
    Case(17, 5, "os", 100, 37, 61),
    Case(17, 5, "is", 100, 37, 61),
    Case(7, 12, "ws", 3, 40, 29),
    Case(12, 7, "os", 5, 3, 30),
    Case(1, 1, "is", 4, 3, 2),
)


@dataclass(frozen=True)
class ScaleSimRun:
    """What SCALE-Sim reported for one case (``cycles`` is None when it was skipped)."""

    cycles: int | None
    stall: int | None
    seconds: float | None
    import_seconds: float | None


@dataclass(frozen=True)
class OurRun:
    """Our model on one case: cycle counts and best times."""

    scalesim_cycles: int
    exact_cycles: int
    cycle_seconds: float
    fast_seconds: float


class BenchmarkError(Exception):
    """A SCALE-Sim run failed or its count disagrees with ours."""


def best_time(function, repeats: int = REPEATS) -> tuple[float, object]:
    """Shortest wall time of ``repeats`` calls after one untimed warm-up, and the last result."""
    result = function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def scalesim_versions() -> dict | None:
    """Versions in SCALE-Sim's environment, or None when it is missing or does not import."""
    if not VENV_PYTHON.exists():
        return None
    done = subprocess.run([str(VENV_PYTHON), "-c", VERSIONS], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    versions = json.loads(done.stdout)
    pins = dict(pin.split("==") for pin in SCALESIM_PINS)
    return versions if versions == pins else None


def ignore_venv() -> None:
    """Keep the environment out of version control, as ``venv`` does from Python 3.13 on."""
    (VENV / ".gitignore").write_text("*\n")


def install_failed(message: str) -> NoReturn:
    """Explain why SCALE-Sim's environment could not be installed and exit with status 2."""
    print(f"Could not install SCALE-Sim's environment ({' '.join(SCALESIM_PINS)} from PyPI "
          f"into {VENV}): {message}", file=sys.stderr)
    sys.exit(2)


def ensure_scalesim() -> tuple[dict, float]:
    """Create SCALE-Sim's environment unless it is there; return its versions and the seconds.

    Exits with status 2 and the installer's output when the installation fails.
    """
    start = time.perf_counter()
    versions = scalesim_versions()
    if versions is not None:
        ignore_venv()
        return versions, 0.0
    print(f"Installing {' '.join(SCALESIM_PINS)} into {VENV} ...", flush=True)
    if not VENV_PYTHON.exists():
        done = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            install_failed(f"`python -m venv` exited with status {done.returncode}.\n"
                           f"{done.stdout}{done.stderr}")
    ignore_venv()
    # SCALE-Sim imports only numpy and tqdm of its declared dependencies.
    done = subprocess.run([str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "numpy==2.3.5",
                           "tqdm"], capture_output=True, text=True)
    if done.returncode == 0:
        done = subprocess.run([str(VENV_PYTHON), "-m", "pip", "install", "--quiet",
                               "--no-deps", "scalesim==3.0.0"], capture_output=True, text=True)
    if done.returncode != 0:
        install_failed(f"pip exited with status {done.returncode}.\n{done.stdout}{done.stderr}")
    versions = scalesim_versions()
    if versions is None:
        install_failed("pip finished, but the environment does not import those versions.")
    return versions, time.perf_counter() - start


def write_inputs(case: Case, folder: Path) -> tuple[Path, Path, Path]:
    """Write SCALE-Sim's config, GEMM topology and (empty) layout files for ``case``."""
    config = folder / "array.cfg"
    config.write_text(CONFIG.format(run_name=RUN_NAME, rows=case.rows, cols=case.cols,
                                    dataflow=case.dataflow))
    # SCALE-Sim's GEMM rows are "name, M, N, K," and must end with a comma, or it drops the
    # last field.
    topology = folder / "gemm.csv"
    topology.write_text(f"Layer, M, N, K,\ngemm, {case.m}, {case.n}, {case.k},\n")
    layout = folder / "layout.csv"
    layout.write_text("Layer name, unused,\n")
    return config, topology, layout


def read_compute_report(report: Path) -> tuple[int, int]:
    """``Total Cycles`` and ``Stall Cycles`` of the only layer in ``COMPUTE_REPORT.csv``."""
    with report.open(newline="") as handle:
        rows = [[field.strip() for field in row] for row in csv.reader(handle)]
    header, layer = rows[0], rows[1]
    return (int(float(layer[header.index("Total Cycles")])),
            int(float(layer[header.index("Stall Cycles")])))


def run_scalesim(case: Case) -> ScaleSimRun:
    """Run SCALE-Sim once on ``case``; raise BenchmarkError if it fails."""
    with tempfile.TemporaryDirectory(prefix="scalesim-") as tmp:
        folder = Path(tmp)
        config, topology, layout = write_inputs(case, folder)
        out = folder / "out"
        try:
            done = subprocess.run([str(VENV_PYTHON), "-c", DRIVER, str(config), str(topology),
                                   str(layout), str(out)], capture_output=True, text=True,
                                  timeout=SCALESIM_TIMEOUT, cwd=folder)
        except subprocess.TimeoutExpired:
            return ScaleSimRun(None, None, None, None)
        report = out / RUN_NAME / "COMPUTE_REPORT.csv"
        if done.returncode != 0 or not report.exists():
            raise BenchmarkError(f"SCALE-Sim failed on {case.name} (status {done.returncode}):"
                                 f"\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        times = json.loads(done.stdout.strip().splitlines()[-1])
        cycles, stall = read_compute_report(report)
    return ScaleSimRun(cycles, stall, times["seconds"], times["import_seconds"])


def run_ours(case: Case) -> OurRun:
    """Time our model on ``case`` and check its values against numpy."""
    rng = np.random.default_rng(case.m * 1_000_003 + case.k * 1009 + case.n)
    a = rng.integers(-128, 128, (case.m, case.k), dtype=np.int8)
    b = rng.integers(-128, 128, (case.k, case.n), dtype=np.int8)
    array = systolic.SystolicArray(case.rows, case.cols, case.dataflow)
    cycle_seconds, cycle = best_time(
        lambda: array.run(a, b, engine="cycle", timing="scalesim", progress=False))
    fast_seconds, fast = best_time(lambda: array.run(a, b, engine="fast", timing="scalesim"))
    exact = array.run(a, b, engine="fast", timing="exact")
    # float64 BLAS is exact here: every sum is far below 2**53.
    expected = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    for engine, result in (("cycle", cycle), ("fast", fast)):
        if not np.array_equal(result.output, expected):
            raise BenchmarkError(f"the {engine} engine's output differs from numpy on "
                                 f"{case.name}")
    if cycle.cycles != fast.cycles:
        raise BenchmarkError(f"scalesim-timing cycles differ between engines on {case.name}: "
                             f"cycle {cycle.cycles}, fast {fast.cycles}")
    return OurRun(cycle.cycles, exact.cycles, cycle_seconds, fast_seconds)


def table_row(case: Case, theirs: ScaleSimRun, ours: OurRun) -> list[str]:
    """One markdown table row's cells for ``case``."""
    if theirs.cycles is None:
        return [case.name, f"skipped (over {SCALESIM_TIMEOUT} s)", f"{ours.scalesim_cycles:,}",
                "-", f"{ours.exact_cycles:,}", "-", f"{ours.cycle_seconds * 1e3:.2f} ms",
                f"{ours.fast_seconds * 1e3:.2f} ms", "-", "-"]
    equal = "yes" if theirs.cycles == ours.scalesim_cycles else "**NO**"
    return [case.name, f"{theirs.cycles:,}", f"{ours.scalesim_cycles:,}", equal,
            f"{ours.exact_cycles:,}", f"{theirs.seconds:.2f} s",
            f"{ours.cycle_seconds * 1e3:.2f} ms", f"{ours.fast_seconds * 1e3:.2f} ms",
            f"{theirs.seconds / ours.cycle_seconds:,.0f}x",
            f"{theirs.seconds / ours.fast_seconds:,.0f}x"]


def main() -> int:
    """Run every case, print and save the table; return the exit status."""
    start = time.perf_counter()
    versions, install_seconds = ensure_scalesim()
    load = os.getloadavg()[0]
    rows, failures, import_seconds = [], [], []
    for case in CASES:
        print(f"{case.name} ...", flush=True)
        try:
            theirs = run_scalesim(case)
            ours = run_ours(case)
        except BenchmarkError as error:
            failures.append(str(error))
            continue
        if theirs.cycles is not None:
            import_seconds.append(theirs.import_seconds)
            if theirs.stall:
                failures.append(f"SCALE-Sim reported {theirs.stall} stall cycles on "
                                f"{case.name}; this benchmark's configuration must not stall")
            if theirs.cycles != ours.scalesim_cycles:
                failures.append(f"{case.name}: SCALE-Sim reports {theirs.cycles} cycles, our "
                                f"timing=\"scalesim\" reports {ours.scalesim_cycles}")
        rows.append(table_row(case, theirs, ours))
    total_seconds = time.perf_counter() - start - install_seconds
    lines = [
        "# SCALE-Sim cross-check",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, load average {load:.2f} at the start "
        f"(shared with other jobs); Python {platform.python_version()}, numpy {np.__version__}, "
        f"numba {numba.__version__}; SCALE-Sim {versions['scalesim']} with numpy "
        f"{versions['numpy']} in its own environment.",
        "",
        "SCALE-Sim runs once per case through its Python API (CALC bandwidth, no traces); its "
        "time is the API call without the import"
        + (f" (the import takes another {min(import_seconds):.2f} s)" if import_seconds else "")
        + f". Our times are the best of {REPEATS} runs of `SystolicArray.run` on random int8 "
        "operands with `timing=\"scalesim\"`, values checked against numpy. \"exact\" is our "
        "contract count with TPU-style weight double buffering. Speed-up is SCALE-Sim's time "
        "over ours.",
        "",
        *markdown_table(["case", "SCALE-Sim cycles", "our scalesim cycles", "equal?",
                         "our exact cycles", "SCALE-Sim time", "our cycle engine",
                         "our fast path", "speed-up (cycle)", "speed-up (fast)"],
                        rows, align="<>><>>>>>>"),
        "",
        f"The whole run took {total_seconds:.0f} s (without installing SCALE-Sim's "
        "environment).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if failures:
        print("FAILED:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return 0


# --------------------------------------------------------------------------------------------
# whole networks: every report cell of both tools
# --------------------------------------------------------------------------------------------

NETWORKS_RESULTS = HERE / "results" / "scalesim_networks.md"
# (name, path under topologies/, GEMM rows?)
NETWORKS = (
    ("ViT-S GEMMs", "GEMM_mnk/vit_s.csv", True),
    ("YOLO-tiny", "conv_nets/yolo_tiny.csv", False),
    ("ResNet-18", "conv_nets/Resnet18.csv", False),
    ("MobileNet", "conv_nets/mobilenet.csv", False),
    ("ResNet-50", "mlperf/Resnet50.csv", False),
)
# SCALE-Sim's configs/google.cfg ("GoogleTPU_v1_os"), with the array size as a parameter.
GOOGLE = CONFIG.replace("InterfaceBandwidth: CALC", "InterfaceBandwidth: USER")

# argv: config, topology, layout, output folder, gemm (0/1). Prints seconds and peak RSS.
SCALESIM_NETWORK = """
import json, resource, sys, time
start = time.perf_counter()
from scalesim.scale_sim import scalesim
config, topology, layout, top_path, gemm = sys.argv[1:6]
sim = scalesim(save_disk_space=True, verbose=False, config=config, topology=topology,
               layout=layout, input_type_gemm=gemm == "1")
sim.run_scale(top_path=top_path)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
# The same in our environment: the reports (and with "values" every layer's product on the
# array model, checked against numpy). Prints the whole run's seconds, those of the report
# computation alone and of the array model, and the peak RSS.
OURS_NETWORK = """
import json, sys, time, warnings
start = time.perf_counter()
from systolic.scalesim import check_values, run, write_reports
config, topology, top_path, gemm, values = sys.argv[1:6]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    begin = time.perf_counter()
    report = run(config, topology, gemm=gemm == "1")
    reports = time.perf_counter() - begin
write_reports(report, top_path)
model = check_values(report) if values == "1" else None
# VmHWM is this program's own peak; ru_maxrss would also count the benchmark's RSS at the fork.
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
print(json.dumps({"seconds": time.perf_counter() - start, "report_seconds": reports,
                  "model_seconds": model, "peak_mb": peak / 1024}))
"""


def _timed(command, cwd, timeout):
    # The subprocess's JSON line, with "wall": its whole wall time, interpreter start included.
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=cwd,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchmarkError(f"{command[2][:40]!r}... failed:\n{done.stderr[-2000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall": wall}


def _scalesim_network(cache: Path | None, key: str, command, folder: Path,
                      timeout: float) -> dict | None:
    """SCALE-Sim's run of one network: from ``cache/key`` if it is there, else run it.

    Returns its seconds and peak memory (``None`` when it ran over ``timeout``), with its
    reports under ``folder/theirs``; a finished or timed-out run is kept in ``cache/key``.
    """
    reports = ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv")
    stored = cache / key if cache is not None else None
    if stored is not None and (stored / "result.json").exists():
        result = json.loads((stored / "result.json").read_text())
        if result.get("timeout") is None or result["timeout"] >= timeout:
            (folder / "theirs" / RUN_NAME).mkdir(parents=True, exist_ok=True)
            for report in reports:
                if (stored / report).exists():
                    (folder / "theirs" / RUN_NAME / report).write_text(
                        (stored / report).read_text())
            return None if "timeout" in result else result
    result = _timed(command, folder, timeout)
    if stored is not None:
        stored.mkdir(parents=True, exist_ok=True)
        if result is None:
            (stored / "result.json").write_text(json.dumps({"timeout": timeout}))
        else:
            for report in reports:
                (stored / report).write_text(
                    (folder / "theirs" / RUN_NAME / report).read_text())
            (stored / "result.json").write_text(
                json.dumps({**result, "load": os.getloadavg()[0]}))
    return result


def run_networks(topologies: Path, with_values: bool, only: list[str] | None,
                 timeout: float, sizes: list[int], cache: Path | None = None,
                 scalesim_only: bool = False) -> int:
    """Whole networks on both tools; print and save the table; return the exit status.

    With ``cache``, SCALE-Sim's runs (reports, time, memory) are kept there and reused, so
    that ours can be measured again without running SCALE-Sim again; ``scalesim_only`` only
    fills the cache.
    """
    versions, _ = ensure_scalesim()
    load = os.getloadavg()[0]
    rows, failures, scalesim_loads = [], [], []
    for size in sizes:
        for name, relative, gemm in NETWORKS:
            if only and name not in only:
                continue
            print(f"{name} on {size}x{size} ...", flush=True)
            key = f"{size}-{Path(relative).stem}"
            with tempfile.TemporaryDirectory(prefix="scalesim-net-") as tmp:
                folder = Path(tmp)
                config = folder / "google.cfg"
                config.write_text(GOOGLE.format(run_name=RUN_NAME, rows=size, cols=size,
                                                dataflow="os"))
                layout = folder / "layout.csv"
                layout.write_text("Layer name, unused,\n")
                topology = topologies / relative
                flag = "1" if gemm else "0"
                theirs = _scalesim_network(
                    cache, key, [str(VENV_PYTHON), "-c", SCALESIM_NETWORK, str(config),
                                 str(topology), str(layout), str(folder / "theirs"), flag],
                    folder, timeout)
                print(f"  SCALE-Sim: {theirs}", flush=True)
                if theirs is not None and "load" in theirs:
                    scalesim_loads.append(theirs["load"])
                if scalesim_only:
                    continue
                ours = _timed([sys.executable, "-c", OURS_NETWORK, str(config), str(topology),
                               str(folder / "ours"), flag, "1" if with_values else "0"],
                              folder, timeout)
                ours_cells = [f"{ours['report_seconds']:.3f} s", f"{ours['wall']:.2f} s",
                              f"{ours['peak_mb']:,.0f} MB"]
                if with_values:
                    ours_cells.insert(1, f"{ours['model_seconds']:.2f} s")
                if theirs is None:
                    rows.append([name, f"{size}x{size}", f"over {timeout:.0f} s, not compared",
                                 "-", *ours_cells, "-", "-", "-"])
                    continue
                equal = all((folder / "ours" / RUN_NAME / report).read_bytes()
                            == (folder / "theirs" / RUN_NAME / report).read_bytes()
                            for report in ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv",
                                           "DETAILED_ACCESS_REPORT.csv"))
                if not equal:
                    failures.append(f"{name} on {size}x{size}: the reports differ")
                rows.append([name, f"{size}x{size}", f"{theirs['seconds']:.1f} s",
                             f"{theirs['peak_mb']:,.0f} MB", *ours_cells,
                             f"{theirs['seconds'] / ours['report_seconds']:,.0f}x",
                             f"{theirs['seconds'] / ours['wall']:,.0f}x",
                             "yes" if equal else "**NO**"])
    if scalesim_only:
        return 0
    end_load = os.getloadavg()[0]
    what = "reports and values" if with_values else "reports only"
    lines = [
        f"# Whole networks: SCALE-Sim 3.0 against `systolic scalesim` ({what})",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, load average {load:.2f} at the start "
        f"and {end_load:.2f} at the end of our runs"
        + (f", {min(scalesim_loads):.2f}-{max(scalesim_loads):.2f} at the end of SCALE-Sim's"
           if scalesim_loads else "")
        + f"; Python {platform.python_version()}, numpy {np.__version__}; SCALE-Sim "
        f"{versions['scalesim']} with numpy {versions['numpy']}.",
        "",
        "Config: SCALE-Sim's `google.cfg` (os, 6 MB / 6 MB / 2 MB SRAMs, USER bandwidth 10) at "
        "256x256 and at 32x32. Each tool runs once per network in a fresh subprocess. "
        "SCALE-Sim's time is its import and run (`scalesim.run_scale`, no traces written); "
        "\"our reports\" is `systolic.scalesim.run` alone, \"our process\" the whole "
        "subprocess's wall time (interpreter start, imports, reports written"
        + (", values" if with_values else "") + "). Peak memory is each subprocess's maximum "
        "RSS. \"equal\" means the three report files are identical byte for byte"
        + (". \"our model\" is the time of `check_values`: every layer's true GEMM on the "
           "array model's fast path with seeded int8 operands, checked against numpy."
           if with_values else "."),
        "",
        *markdown_table(["network", "array", "SCALE-Sim time", "SCALE-Sim peak", "our reports",
                         *(["our model"] if with_values else []), "our process", "our peak",
                         "speed-up (reports)", "speed-up (process)", "equal"], rows,
                        align="<<>>>>>>>><" if with_values else "<<>>>>>>><"),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if failures:
        print("FAILED:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    target = NETWORKS_RESULTS if not with_values else NETWORKS_RESULTS.with_name(
        "scalesim_networks_values.md")
    target.write_text(text)
    return 0


def cli() -> int:
    """Parse the command line and run the chosen benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=Path, metavar="TOPOLOGIES",
                        help="run whole networks from this SCALE-Sim topologies/ folder")
    parser.add_argument("--with-values", action="store_true",
                        help="with --networks: also compute every layer's values")
    parser.add_argument("--only", action="append", metavar="NETWORK",
                        help="with --networks: run only this network (repeatable)")
    parser.add_argument("--timeout", type=float, default=900, metavar="SECONDS",
                        help="with --networks: skip a SCALE-Sim run still going after this "
                             "(default 900)")
    parser.add_argument("--size", action="append", type=int, metavar="N",
                        help="with --networks: the N x N array (repeatable; default 256, 32)")
    parser.add_argument("--cache", type=Path, metavar="DIR",
                        help="with --networks: keep SCALE-Sim's runs in DIR and reuse them")
    parser.add_argument("--scalesim-only", action="store_true",
                        help="with --networks --cache: only run SCALE-Sim, filling the cache")
    args = parser.parse_args()
    if args.networks is None:
        return main()
    return run_networks(args.networks, args.with_values, args.only, args.timeout,
                        args.size or [256, 32], args.cache, args.scalesim_only)


if __name__ == "__main__":
    sys.exit(cli())
