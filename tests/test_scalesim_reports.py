"""systolic.scalesim against the real SCALE-Sim 3.0.0: every cell of its three reports.

One SCALE-Sim process runs the whole matrix (configs x topologies x ws/os/is, strides 1-4,
non-square filters and arrays, SRAMs large and small enough to force refetches, CALC and USER
bandwidth modes); each case's three report files must equal ours byte for byte.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import scalesim_oracle
from systolic import energy
from systolic.scalesim import HEADERS, ConfigError, read_config, run, write_reports
from systolic.timing import breakdown

# One worker runs the whole module (make test uses --dist loadgroup), so SCALE-Sim's matrix
# runs once rather than once per worker.
pytestmark = pytest.mark.xdist_group("scalesim_reports")

CONV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
        "Num Filter, Strides,\n"
        "a, 10, 9, 3, 2, 3, 12, 2,\n"
        "b, 17, 17, 5, 5, 4, 9, 3,\n"
        "c, 12, 12, 1, 1, 30, 40, 4,\n"
        "d, 20, 20, 3, 3, 8, 20, 1,\n")
GEMM = "Layer, M, N, K,\ng0, 40, 33, 70,\ng1, 7, 3, 5,\n"
# (rows, cols, SRAM kB, OFMAP Bandwidth, IFMAP bank bandwidth): the 1-2 kB SRAMs force
# refetches and OFMAP drains mid-layer, with stalls in USER mode.
ARRAYS = ((8, 8, 64, 10, 10), (5, 7, 1, 3, 4), (16, 4, 2, 2, 8))
CASES = [(mode, dataflow, array, kind)
         for mode in ("CALC", "USER") for dataflow in ("ws", "os", "is")
         for array in ARRAYS for kind in ("conv", "gemm")]


def _config(mode, dataflow, array):
    rows, cols, kb, bandwidth, ifmap_bw = array
    return scalesim_oracle.config_text(rows, cols, dataflow, kb, kb, kb, mode=mode,
                                       bandwidth=bandwidth, ifmap_bw=ifmap_bw,
                                       filter_bw=ifmap_bw + 1)


@pytest.fixture(scope="module")
def scalesim_reports(tmp_path_factory):
    """SCALE-Sim's reports for every case, from one process."""
    folder = tmp_path_factory.mktemp("scalesim")
    return scalesim_oracle.run_cases(folder, [
        (_config(mode, dataflow, array), CONV if kind == "conv" else GEMM, kind == "gemm")
        for mode, dataflow, array, kind in CASES])


@pytest.mark.parametrize("index", range(len(CASES)),
                         ids=["-".join(map(str, (c[0], c[1], *c[2][:3], c[3]))) for c in CASES])
def test_reports_equal_scalesim(scalesim_reports, tmp_path, index):
    mode, dataflow, array, kind = CASES[index]
    report = run(_config(mode, dataflow, array), CONV if kind == "conv" else GEMM,
                 gemm=kind == "gemm")
    folder = write_reports(report, tmp_path)
    for name, text in scalesim_reports[index].items():
        assert (folder / name).read_text() == text, name


def test_cli_writes_the_reports(scalesim_reports, tmp_path):
    index = CASES.index(("USER", "ws", ARRAYS[1], "conv"))
    (tmp_path / "a.cfg").write_text(_config("USER", "ws", ARRAYS[1]))
    (tmp_path / "t.csv").write_text(CONV)
    done = subprocess.run([sys.executable, "-m", "systolic.cli", "scalesim", "-c",
                           str(tmp_path / "a.cfg"), "-t", str(tmp_path / "t.csv"), "-p",
                           str(tmp_path / "out"), "-s", "N"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "out" / "run"
    for name, text in scalesim_reports[index].items():
        assert (folder / name).read_text() == text
    assert sorted(p.name for p in folder.iterdir()) == [
        "BANDWIDTH_REPORT.csv", "COMPUTE_REPORT.csv", "DETAILED_ACCESS_REPORT.csv",
        "ENERGY_REPORT.csv", "SYSTOLIC_REPORT.csv"]
    assert "4 layers on a 5x7 ws array" in done.stdout
    # our energy report: each layer priced at the exact cycles, the three SRAMs as one buffer
    config = read_config(tmp_path / "a.cfg")
    sram_kib = config.ifmap_kb + config.filter_kb + config.ofmap_kb
    lines = (folder / "ENERGY_REPORT.csv").read_text().splitlines()
    assert lines[0].startswith("LayerID, Layer, Energy J, MAC J,")
    assert len(lines) == 1 + len(run(config, CONV).layers)
    for line, layer in zip(lines[1:], run(config, CONV).layers, strict=True):
        fields = [f.strip() for f in line.split(",")[:-1]]
        counts = energy.matmul_counts(layer.m, layer.k, layer.n, config.rows, config.cols, "ws",
                                      cycles=breakdown(layer.m, layer.k, layer.n, config.rows,
                                                       config.cols, "ws").total,
                                      sram_kib=sram_kib)
        assert fields[1] == layer.name
        assert float(fields[2]) == pytest.approx(energy.energy_j(counts), rel=1e-12)
        assert float(fields[-1]) == pytest.approx(energy.area_mm2(
            (config.rows, config.cols), sram_kib=sram_kib), rel=1e-12)


def test_report_records_follow_the_headers(tmp_path):
    report = run(_config("CALC", "ws", ARRAYS[0]), GEMM, gemm=True)
    (tmp_path / "a.cfg").write_text(_config("CALC", "ws", ARRAYS[0]))
    (tmp_path / "gemm.txt").write_text(GEMM)
    assert run(str(tmp_path / "a.cfg"), str(tmp_path / "gemm.txt"), gemm=True) == report
    for name, records in report.tables().items():
        columns = [c.strip() for c in HEADERS[name].split(",")[1:-1]]
        assert all(list(record) == columns for record in records)
    # g1 (M, N, K = 7, 3, 5) is one fold of 2R + C + T - 2 cycles, the last one being index L-1.
    assert report.compute[1]["Total Cycles"] == (2 * 8 + 8 + 7 - 2) - 1


def _cfg(**changes):
    text = _config("USER", "ws", ARRAYS[0])
    for old, new in changes.items():
        text = text.replace(old.replace("_", " "), new)
    return text


@pytest.mark.parametrize("old, new, message", [
    ("Dataflow: ws", "Dataflow: xs", r"^\[architecture_presets\] Dataflow: must be ws, os or is, "
                                     r"got 'xs'$"),
    ("ArrayHeight: 8", "ArrayHeight: 0", r"^\[architecture_presets\] ArrayHeight: must be >= 1, "
                                         r"got 0$"),
    ("ArrayWidth: 8", "ArrayWidth: eight", r"^\[architecture_presets\] ArrayWidth: 'eight' is "
                                           r"not an integer$"),
    ("OfmapSramSzkB: 64\n", "", r"^\[architecture_presets\] OfmapSramSzkB: missing \(SCALE-Sim "
                                r"requires it\)$"),
    ("InterfaceBandwidth: USER", "InterfaceBandwidth: user",
     r"^\[run_presets\] InterfaceBandwidth: must be USER or CALC, got 'user'$"),
    ("IfmapCustomLayout: False", "IfmapCustomLayout: True",
     r"^\[layout\] IfmapCustomLayout: custom layouts are not supported; set it to False$"),
    ("SparsitySupport: false", "SparsitySupport: true",
     r"^\[sparsity\] SparsitySupport: sparsity is not supported; set it to false$"),
    ("UseRamulatorTrace: False", "UseRamulatorTrace: True",
     r"^\[run_presets\] UseRamulatorTrace: Ramulator traces are not supported; set it to False$"),
    ("IfmapSRAMBankNum: 1", "IfmapSRAMBankNum: 3",
     r"^\[layout\] IfmapSRAMBankBandwidth: 10 is not a multiple of IfmapSRAMBankNum \(3\)$"),
    ("Bandwidth: 10\n", "Bandwidth: x,10\n",
     r"^\[architecture_presets\] Bandwidth: 'x,10' does not start with a positive integer$"),
    ("[sparsity]", "[network_presets]\nTopologyCsvLoc: \"a.csv\"\n\n[sparsity]",
     r"^\[network_presets\]: not supported \(SCALE-Sim 3.0 crashes on it\); give the topology "
     r"with -t$"),
    ("[general]", "[nothing]", r"^missing section \[general\] \(SCALE-Sim requires it\)$"),
])
def test_config_refusals_name_the_key(old, new, message):
    text = _config("USER", "ws", ARRAYS[0])
    assert old in text
    with pytest.raises(ConfigError, match=message):
        read_config(text.replace(old, new, 1))


def test_config_values():
    config = read_config(_config("USER", "is", ARRAYS[1]))
    assert (config.rows, config.cols, config.dataflow, config.ifmap_kb, config.bandwidth_mode,
            config.ofmap_bandwidth, config.ifmap_bandwidth, config.filter_bandwidth) == (
        5, 7, "is", 1, "USER", 3, 4, 5)
    with pytest.raises(TypeError, match=r"^source must be a path or the file's text, not int$"):
        read_config(3)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "systolic.cli", "scalesim", *args],
                          capture_output=True, text=True, cwd=cwd)


def test_cli_errors_are_one_line(tmp_path):
    (tmp_path / "a.cfg").write_text(_config("CALC", "ws", ARRAYS[0]).replace(
        "Dataflow: ws", "Dataflow: xs"))
    (tmp_path / "t.csv").write_text(CONV)
    (tmp_path / "first.csv").write_text("a, 4, 4, 1, 1, 1, 1, 1,\n")
    good = tmp_path / "good.cfg"
    good.write_text(_config("CALC", "ws", ARRAYS[0]))
    for args, message in [
        (("-c", str(tmp_path / "missing.cfg"), "-t", str(tmp_path / "t.csv")),
         f"-c {tmp_path / 'missing.cfg'}: no such file"),
        (("-c", str(tmp_path / "a.cfg"), "-t", str(tmp_path / "t.csv")),
         f"{tmp_path / 'a.cfg'}: [architecture_presets] Dataflow: must be ws, os or is, got "
         "'xs'"),
        (("-c", str(good), "-t", str(tmp_path / "t.csv"), "-i", "gemm"),
         f"{tmp_path / 't.csv'} line 2: the field after K must be an N:M sparsity ratio, not "
         "'2' (a conv row?)"),
        (("-c", str(good), "-t", str(tmp_path / "first.csv")),
         f"{tmp_path / 'first.csv'} line 1: SCALE-Sim always skips the first line as a "
         "header, and this one is a layer: add a header line"),
        (("-c", str(good), "-t", str(tmp_path / "t.csv"), "-l", str(tmp_path / "no.csv")),
         f"-l {tmp_path / 'no.csv'}: no such file"),
    ]:
        done = _cli(*args, "-p", str(tmp_path / "out"))
        assert done.returncode == 2
        assert done.stderr == f"systolic scalesim: error: {message}\n"


def test_cli_notes_what_the_topology_reader_ignored(tmp_path):
    (tmp_path / "a.cfg").write_text(_config("CALC", "ws", ARRAYS[0]))
    (tmp_path / "t.csv").write_text(CONV + ",,,,,,,,\ne, 6, 6, 2, 2, 1, 2, 1, 5\n")
    done = _cli("-c", str(tmp_path / "a.cfg"), "-t", str(tmp_path / "t.csv"), "-p",
                str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"systolic scalesim: note: {tmp_path / 't.csv'} line 6: ignored a row of empty fields",
        f"systolic scalesim: note: {tmp_path / 't.csv'} line 7: ignored the columns after the "
        "stride: 5"]


def test_help_says_traces_are_not_written():
    done = _cli("--help")
    assert done.returncode == 0
    assert "traces (layer<i>/*_TRACE.csv) are not written" in " ".join(done.stdout.split())
