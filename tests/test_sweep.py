"""Design-space sweeps: the table against the model, local pool, Dask cluster, resuming,
summaries, the TOML space and the command line."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from systolic import cli, sweep
from systolic.energy import EnergyTable, area_mm2, energy_j, matmul_counts
from systolic.timing import breakdown, scalesim_breakdown

TOPOLOGY = Path(__file__).parents[1] / "examples" / "data" / "small_topology.csv"
MLP = [(64, 256, 128), (64, 128, 10), (3, 5, 7)]


def small_space(**kwargs) -> sweep.Space:
    params = dict(dims=[(8, 8), "16x4"], dataflow=["ws", "os", "is"],
                  workloads=[TOPOLOGY, MLP], sram_kib=[16, 1024],
                  dram_bytes_per_cycle=[8, math.inf])
    params.update(kwargs)
    return sweep.Space(**params)


def test_rows_are_the_model_figures():
    table = sweep.run(small_space(timing=["exact", "scalesim"]), progress=False, workers=1)
    assert len(table) == 2 * 3 * 2 * 2 * 2 * (6 + 3)
    assert set(sweep.PARAMETERS) <= set(table.columns)
    for row in table.sample(40, random_state=0).itertuples():
        count = scalesim_breakdown if row.timing == "scalesim" else breakdown
        parts = count(row.m, row.k, row.n, row.rows, row.cols, row.dataflow)
        assert row.compute_cycles == parts.total and row.stall == parts.stall
        counts = matmul_counts(row.m, row.k, row.n, row.rows, row.cols, row.dataflow,
                               cycles=row.cycles, sram_kib=row.sram_kib)
        assert row.dram_bytes == counts.dram_bytes
        assert row.energy_j == pytest.approx(energy_j(counts))
        assert row.area_mm2 == area_mm2((row.rows, row.cols), dataflow=row.dataflow,
                                        sram_kib=row.sram_kib)
        assert row.utilization == row.macs / (row.cycles * row.rows * row.cols)
    # the workloads are named by file and by position
    assert list(table.workload.unique()) == ["small_topology", "workload1"]


def test_memory_stall_by_hand():
    # ws 64x256x128 on 8x8 with a 1 KiB buffer: the layer does not fit, so every SRAM byte
    # (K*N + M*K*ceil(N/C) + M*N = 32768 + 262144 + 8192) comes from DRAM at 8 bytes a cycle.
    table = sweep.run(sweep.Space(dims=[(8, 8)], workloads=[[(64, 256, 128)]], sram_kib=[1],
                                  dram_bytes_per_cycle=[8]), progress=False, workers=1)
    row = table.iloc[0]
    compute = breakdown(64, 256, 128, 8, 8).total
    assert row.dram_bytes == 32768 + 262144 + 8192
    assert row.memory_stall == math.ceil(303104 / 8) - compute
    assert row.cycles == math.ceil(303104 / 8)


def test_engines_agree_with_the_formula():
    space = dict(dims=[(4, 3)], dataflow=["ws", "os", "is"], workloads=[MLP[1:]],
                 double_buffer=[True, False], timing=["exact", "scalesim"])
    formula = sweep.run(sweep.Space(**space), progress=False, workers=1)
    for engine in ("fast", "cycle"):
        ran = sweep.run(sweep.Space(**space, engine=engine), progress=False, workers=1)
        pd.testing.assert_frame_equal(ran.drop(columns="engine"),
                                      formula.drop(columns="engine"))


@pytest.mark.parametrize("threads", [1, 2])
def test_process_pool_equals_one_process(tmp_path, monkeypatch, threads):
    # one thread: the workers are forked; more: they fork from a server process
    monkeypatch.setattr("threading.active_count", lambda: threads)
    space = small_space()
    serial = sweep.run(space, progress=False, workers=1)
    pool = sweep.run(space, progress=False, workers=2, out=tmp_path / "t.csv")
    pd.testing.assert_frame_equal(pool, serial)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), serial,
                                  check_dtype=False)


def test_dask_cluster_equals_local(tmp_path):
    distributed = pytest.importorskip("distributed")
    space = small_space()
    local = sweep.run(space, progress=False, workers=1)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        remote = sweep.run(space, scheduler=cluster.scheduler_address, progress=False,
                           out=tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(remote, local)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), local)
    assert not (tmp_path / "t.parquet.partial.csv").exists()


def _count_points(monkeypatch) -> list:
    seen = []
    evaluate = sweep._evaluate

    def counting(point, *args):
        seen.append((point["rows"], point["cols"], point["dataflow"], point["workload"]))
        return evaluate(point, *args)

    monkeypatch.setattr(sweep, "_evaluate", counting)
    return seen


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_interrupted_sweep_resumes(tmp_path, monkeypatch, suffix):
    space = small_space(dataflow=["ws", "os"], sram_kib=[16])
    full = sweep.run(space, progress=False, workers=1)
    out = tmp_path / f"t{suffix}"
    journal = out if suffix == ".csv" else tmp_path / "t.parquet.partial.csv"
    # What an interrupted run leaves: the rows of the first points, the last one incomplete
    # and its last line cut in the middle.
    full.iloc[:40].to_csv(journal, index=False)
    text = journal.read_text()
    journal.write_text(text[:len(text) - 25])
    seen = _count_points(monkeypatch)
    resumed = sweep.run(space, out=out, progress=False, workers=1)
    pd.testing.assert_frame_equal(resumed, full)
    # points alternate between 6 and 3 layers: rows 0-35 are 8 whole points, rows 36-38
    # half of the ninth and row 39 is cut, so 8 points are skipped
    assert len(seen) == len(space.points()) - 8
    # a finished file: nothing runs again
    seen.clear()
    again = sweep.run(space, out=out, progress=False, workers=1)
    assert seen == []
    pd.testing.assert_frame_equal(again, full)


def test_other_points_in_the_file_are_kept(tmp_path, monkeypatch):
    out = tmp_path / "t.csv"
    first = sweep.Space(dims=[(8, 8)], workloads=[MLP])
    second = sweep.Space(dims=[(8, 8), (4, 4)], workloads=[MLP])
    sweep.run(first, out=out, progress=False, workers=1)
    seen = _count_points(monkeypatch)
    table = sweep.run(second, out=out, progress=False, workers=1)
    assert seen == [(4, 4, "ws", "workload0")]
    pd.testing.assert_frame_equal(table, sweep.run(second, progress=False, workers=1))
    seen.clear()
    narrow = sweep.run(sweep.Space(dims=[(4, 4)], workloads=[MLP]), out=out, progress=False,
                       workers=1)
    assert seen == [] and set(narrow.rows) == {4}
    assert sorted(set(pd.read_csv(out).rows)) == [4, 8]


def test_totals_and_pareto():
    table = sweep.run(small_space(), progress=False, workers=1)
    t = sweep.totals(table)
    assert len(t) == len(small_space().points())
    first = table[(table.rows == 8) & (table.cols == 8) & (table.dataflow == "ws")
                  & (table.sram_kib == 16) & (table.dram_bytes_per_cycle == 8)
                  & (table.workload == "workload1")]
    row = t[(t.rows == 8) & (t.cols == 8) & (t.dataflow == "ws") & (t.sram_kib == 16)
            & (t.dram_bytes_per_cycle == 8) & (t.workload == "workload1")].iloc[0]
    assert row.layers == 3
    assert row.cycles == first.cycles.sum() and row.energy_j == first.energy_j.sum()
    assert row.utilization == first.macs.sum() / (first.cycles.sum() * 64)
    fig = sweep.pareto(table, x="energy_j", y="cycles")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("energy_j", "cycles")
    front_line = next(line for line in ax.get_lines()
                      if line.get_label().startswith("Pareto front"))
    xs, ys = front_line.get_data()
    designs = sweep._aggregate(table, [p for p in sweep.PARAMETERS if p != "workload"])
    # the front: no design is at least as good on both axes and better on one
    for fx, fy in zip(xs, ys, strict=True):
        beaten = (designs.energy_j <= fx) & (designs.cycles <= fy) & \
            ((designs.energy_j < fx) | (designs.cycles < fy))
        assert not beaten.any()
    assert front_line.get_label() == f"Pareto front ({len(xs)})"


def test_front_by_hand():
    x = np.array([1.0, 2.0, 3.0, 2.0, 4.0])
    y = np.array([5.0, 3.0, 1.0, 4.0, 1.0])
    assert sweep._front(x, y).tolist() == [True, True, True, False, False]


def test_space_from_toml(tmp_path):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "small.csv").write_text(TOPOLOGY.read_text())
    path = tmp_path / "space.toml"
    path.write_text('dims = [[8, 8], "16x4"]\ndataflow = ["ws", "is"]\n'
                    'workloads = ["nets/small.csv", {name = "mlp", layers = [[64, 256, 128]]}]\n'
                    'sram_kib = [16]\ndram_bytes_per_cycle = [8, inf]\n'
                    '[energy]\ndram_pj_per_byte = 100.0\n')
    space = sweep.load_space(path)
    assert [w[0] for w in space.workloads] == ["small", "mlp"]
    python = sweep.Space(dims=[(8, 8), (16, 4)], dataflow=["ws", "is"],
                         workloads=[tmp_path / "nets" / "small.csv", {"mlp": [(64, 256, 128)]}],
                         sram_kib=16, dram_bytes_per_cycle=[8, math.inf],
                         energy=EnergyTable(dram_pj_per_byte=100.0))
    assert python == space
    assert space.energy == EnergyTable(dram_pj_per_byte=100.0)
    assert len(space.points()) == 2 * 2 * 2 * 2
    out = tmp_path / "r.csv"
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1",
                     "--no-progress"]) == 0
    table = pd.read_csv(out)
    assert len(table) == 2 * 2 * 2 * (6 + 1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(dims=[]), r"^dims must not be empty$"),
    (dict(dims=[(8, 0)]), r"^dims\[0\] must be \(rows, cols\) or 'RxC' with positive "
                          r"integers, not \(8, 0\)$"),
    (dict(dims=["8by8"]), r"^dims\[0\] must be \(rows, cols\) or 'RxC' with positive "
                          r"integers, not '8by8'$"),
    (dict(dataflow=["rs"]), r"^dataflow values must be in \('ws', 'os', 'is'\), not 'rs'$"),
    (dict(workloads=[]), r"^workloads must not be empty$"),
    (dict(workloads=["net.onnx"]), r"^workloads\[0\]: ONNX models are not supported yet "
                                   r"\(net.onnx\); give a SCALE-Sim topology CSV or a list "
                                   r"of \(M, K, N\) layers$"),
    (dict(workloads=["missing.csv"]), r"^workloads\[0\]: cannot read missing.csv: No such "
                                      r"file or directory$"),
    (dict(workloads=[[(1, 2)]]), r"^workloads\[0\] layer 0 must be \(M, K, N\) with "
                                 r"positive integers or a tpu.TopologyLayer, not \(1, 2\)$"),
    (dict(workloads=[MLP, MLP], dims=[(8, 8)]), None),
    (dict(workloads=[TOPOLOGY, TOPOLOGY]), r"^workload name 'small_topology' appears twice; "
                                           r"give the workloads as a dict to name them$"),
    (dict(sram_kib=[0]), r"^sram_kib values must be numbers > 0, not 0$"),
    (dict(dram_bytes_per_cycle=[-1]), r"^dram_bytes_per_cycle values must be numbers > 0 "
                                      r"\(inf: unlimited\), not -1$"),
    (dict(double_buffer=[1]), r"^double_buffer values must be true or false, not 1$"),
    (dict(timing=["fast"]), r"^timing values must be in \('exact', 'scalesim'\), not 'fast'$"),
    (dict(engine="rtl"), r"^engine must be one of \('formula', 'fast', 'cycle'\), not 'rtl'$"),
])
def test_bad_spaces(kwargs, message):
    params = dict(dims=[(8, 8)], workloads=[MLP])
    params.update(kwargs)
    if message is None:       # two unnamed lists are fine: they are numbered
        assert [w[0] for w in sweep.Space(**params).workloads] == ["workload0", "workload1"]
        return
    with pytest.raises(ValueError, match=message):
        sweep.Space(**params)


def test_bad_topology_names_the_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Layer, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                   "Num Filter, Strides,\nconv1, 8, 8, 3, 3, 1, x4, 1,\n")
    with pytest.raises(ValueError, match=rf"^workloads\[0\]: {bad} line 2: field 'x4' is not "
                                         r"an integer$"):
        sweep.Space(dims=[(8, 8)], workloads=[bad])


def test_bad_runs(tmp_path):
    space = sweep.Space(dims=[(8, 8)], workloads=[MLP])
    with pytest.raises(ValueError, match=r"^out must end with .csv or .parquet, not 'r.txt'$"):
        sweep.run(space, out=tmp_path / "r.txt")
    with pytest.raises(ValueError, match=r"^workers must be an int >= 1, not 0$"):
        sweep.run(space, workers=0)
    with pytest.raises(TypeError, match=r"^space must be a Space, not \[\]$"):
        sweep.run([])
    with pytest.raises(ValueError, match=r"^cannot plot 'layer': choose a column"):
        sweep.pareto(sweep.run(space, progress=False, workers=1), x="layer")


@pytest.mark.parametrize("text, message", [
    ('dims = [[8, 8]]\nworkloads = [[[1, 2, 3]]]\ncolour = "red"\n',
     "unknown key 'colour' (known: dims, dataflow, workloads, sram_kib, "
     "dram_bytes_per_cycle, double_buffer, timing, engine, energy, area)"),
    ('dims = [[8, 8]]\n', "'dims' and 'workloads' are required"),
    ('dims = [[8, 8]\n', None),
    ('dims = [[8, 8]]\nworkloads = [{name = "a"}]\n',
     "workloads[0] must have the keys 'name' and 'layers', got ['name']"),
    ('dims = [[8, 8]]\nworkloads = [[[1, 2, 3]]]\n[energy]\nmac = 1\n',
     "unknown key energy.mac (known: acc_add_pj, dram_pj_per_byte, idle_pe_cycle_pj, "
     "mac_pj, register_hop_pj, sram_pj_per_byte)"),
    ('dims = [[8, 8]]\nworkloads = [[[1, 2, 3]]]\n[energy]\nmac_pj = -1\n',
     "energy: mac_pj must be a finite number >= 0, not -1"),
    ('dims = [[8, 8]]\nworkloads = [[[1, 2, 3]]]\ndataflow = ["xs"]\n',
     "dataflow values must be in ('ws', 'os', 'is'), not 'xs'"),
])
def test_bad_toml_files_on_the_command_line(tmp_path, capsys, text, message):
    path = tmp_path / "space.toml"
    path.write_text(text)
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"systolic sweep: error: {path}: ")
    if message is not None:
        assert err == f"systolic sweep: error: {path}: {message}\n"
    assert cli.main(["sweep", str(tmp_path / "none.toml"), "--out", "r.csv"]) == 2
    assert capsys.readouterr().err == (f"systolic sweep: error: cannot read "
                                       f"{tmp_path / 'none.toml'}: No such file or directory\n")
