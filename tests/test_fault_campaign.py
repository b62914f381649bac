"""Fault campaigns: the same table whatever the process count, cross-checked with direct runs.

The oracle of every row is a direct ``SystolicArray.run`` (or compiled network run) with that
row's faults, compared with numpy's product or the network's numpy reference.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from systolic import Fault, SystolicArray
from systolic.faults import FaultModel, MatmulWorkload, NetworkWorkload, campaign
from systolic.tpu import Dense, Network, Requant, TPUConfig, compile_network, prune_network


@pytest.fixture(scope="module")
def matmul():
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (12, 6))
    b = rng.integers(-128, 128, (6, 3))
    return MatmulWorkload(SystolicArray(6, 5, "ws"), a, b)


@pytest.fixture(scope="module")
def network():
    rng = np.random.default_rng(4)
    net = Network([
        Dense(rng.integers(-128, 128, (10, 7)), rng.integers(-900, 900, 7),
              Requant.from_scale(1 / 200), "relu"),
        Dense(rng.integers(-128, 128, (7, 4)), None, Requant.from_scale(1 / 100)),
    ], (10,))
    x = rng.integers(-128, 128, (16, 10))
    labels = np.argmax(net.reference(x), axis=1)
    config = TPUConfig(rows=4, cols=4, ub_bytes=1 << 12, acc_rows=64)
    return NetworkWorkload(net, x, labels, config)


def _records(table):
    return table.to_dict("records") if hasattr(table, "to_dict") else table


def _direct(work: MatmulWorkload, faults, bypass=()):
    out = work.array.run(work.a, work.b, engine="cycle", faults=list(faults),
                         bypass=list(bypass)).output.astype(np.int64)
    diff = np.abs(out - work.a.astype(np.int64) @ work.b)
    return int(np.count_nonzero(diff)), int(diff.max())


# -- determinism ------------------------------------------------------------------------------

def test_the_table_does_not_depend_on_the_process_count(matmul):
    model = FaultModel(("stuck_at_0", "stuck_at_1", "flip"), ("psum", "x", "w_shadow"),
                       count=2)
    one = _records(campaign(matmul, model, 24, seed=7, processes=1, progress=False))
    two = _records(campaign(matmul, model, 24, seed=7, processes=2, progress=False))
    assert one == two
    assert [row["run"] for row in one] == list(range(24))
    other = _records(campaign(matmul, model, 24, seed=8, processes=1, progress=False))
    assert [r["faults"] for r in other] != [r["faults"] for r in one]
    # run i draws from default_rng([seed, i]): a shorter campaign is a prefix
    assert _records(campaign(matmul, model, 5, seed=7, processes=1, progress=False)) == one[:5]


def test_every_row_matches_a_direct_run(matmul):
    model = FaultModel(("stuck_at_1", "flip"), "psum", bits=range(20, 32), count=1)
    for row in _records(campaign(matmul, model, 12, seed=1, processes=1, progress=False)):
        assert (row["outputs_corrupted"], row["max_error"]) == _direct(matmul, row["faults"])
    assert any(row["outputs_corrupted"] for row in _records(
        campaign(matmul, model, 12, seed=1, processes=1, progress=False)))


# -- faults that cannot matter ----------------------------------------------------------------

def test_faults_in_idle_columns_corrupt_nothing(matmul):
    # b has 3 columns on a 5-column array: columns 3 and 4 add to no output, and nothing a
    # PE there holds moves left or into another column's sum
    idle = [(r, c) for r in range(6) for c in (3, 4)]
    model = FaultModel(FaultModel().kinds + ("stuck_at_0", "stuck_at_1"),
                       ("psum", "psum_valid", "x", "x_valid", "x_flag", "w_active", "w_shadow"),
                       count=4, pes=idle)
    table = _records(campaign(matmul, model, 30, seed=2, processes=2, progress=False))
    assert all(row["outputs_corrupted"] == 0 and row["max_error"] == 0 for row in table)
    for row in table[:6]:
        assert _direct(matmul, row["faults"]) == (0, 0)


def test_bypassing_the_faulty_pes_leaves_the_pruned_product(matmul):
    model = FaultModel("stuck_at_1", ("w_active", "w_shadow"), bits=[6], count=2,
                       pes=[(r, c) for r in range(6) for c in range(3)])
    plain = _records(campaign(matmul, model, 10, seed=3, processes=1, progress=False))
    bypassed = _records(campaign(matmul, model, 10, seed=3, bypass_faulty=True, processes=1,
                                 progress=False))
    assert [r["faults"] for r in plain] == [r["faults"] for r in bypassed]
    for row in bypassed:
        # what is left is the pruned product: a @ b with the weights on those PEs zeroed
        b = matmul.b.copy()
        for fault in row["faults"]:
            b[fault.pe] = 0
        diff = np.abs(matmul.a.astype(np.int64) @ b - matmul.a.astype(np.int64) @ matmul.b)
        assert (row["outputs_corrupted"], row["max_error"]) == \
            (int(np.count_nonzero(diff)), int(diff.max()))
    assert any(row["outputs_corrupted"] for row in plain)


# -- networks ---------------------------------------------------------------------------------

def test_network_rows_match_direct_runs_of_the_compiled_program(network):
    model = FaultModel(("stuck_at_1", "flip"), "psum", bits=range(8, 16), count=2)
    table = _records(campaign(network, model, 8, seed=4, processes=2, progress=False))
    compiled = compile_network(network.network, 16, network.config)
    clean = network.network.reference(network.x)
    for row in table:
        from dataclasses import replace

        config = replace(network.config, faults=row["faults"])
        out, _ = replace(compiled, config=config).run(network.x, engine="cycle")
        diff = np.abs(out - clean)
        assert row["outputs_corrupted"] == np.count_nonzero(diff)
        assert row["max_error"] == diff.max()
        assert row["accuracy"] == np.mean(np.argmax(out, axis=1) == network.labels)
    assert min(row["accuracy"] for row in table) < 1.0


def test_network_with_bypassed_faulty_pes_computes_the_pruned_network(network):
    model = FaultModel("stuck_at_0", "w_active", bits=[7], count=3)
    table = _records(campaign(network, model, 4, seed=5, bypass_faulty=True, engine="fast",
                              processes=1, progress=False))
    clean = network.network.reference(network.x)
    for row in table:
        pes = [f.pe for f in row["faults"]]
        out = prune_network(network.network, network.config, bypass=pes).reference(network.x)
        assert row["outputs_corrupted"] == np.count_nonzero(out != clean)


def test_a_network_without_labels_has_no_accuracy_column(network):
    work = NetworkWorkload(network.network, network.x, config=network.config)
    table = _records(campaign(work, FaultModel("stuck_at_1", "psum", count=1), 2,
                              processes=1, progress=False))
    assert set(table[0]) == {"run", "faults", "outputs_corrupted", "max_error"}


def test_records_without_pandas(matmul, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    table = campaign(matmul, FaultModel("stuck_at_1", "psum", count=1), 3, processes=1,
                     progress=False)
    assert isinstance(table, list) and [row["run"] for row in table] == [0, 1, 2]


# -- the fault model and bad input ------------------------------------------------------------

def test_fault_model_draws_what_it_says():
    model = FaultModel(("flip", "stuck_at_0"), ("psum", "x_valid"), bits=range(40),
                       count=5, pes=[(0, 0), (1, 2), (2, 2), (3, 1), (1, 1), (0, 3)],
                       cycles=range(10, 20))
    for seed in range(20):
        faults = model.sample(np.random.default_rng(seed), "ws", 4, 4, total=15)
        assert len({f.pe for f in faults}) == 5
        for f in faults:
            assert f.pe in model.pes and f.kind in model.kinds
            assert f.register in model.registers
            assert f.bit < (32 if f.register == "psum" else 1)
            assert f.cycle is None or 10 <= f.cycle < 15


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(kinds="stuck"), ValueError, r"^unknown kind 'stuck': expected one of 'stuck_at_0', "),
    (dict(kinds=()), ValueError, r"^kinds must not be empty$"),
    (dict(registers=3), TypeError, r"^registers must be a string or a sequence of strings"),
    (dict(bits=[1, -1]), ValueError, r"^bit must be"),
    (dict(bits=[]), ValueError, r"^bits must not be empty$"),
    (dict(count=0), ValueError, r"^count must be"),
    (dict(pes=[(1, 2, 3)]), TypeError, r"^pe must be a pair \(row, col\)"),
    (dict(cycles=(0, 5)), TypeError, r"^cycles must be a range, got \(0, 5\)$"),
])
def test_fault_model_refuses_bad_fields(kwargs, error, message):
    with pytest.raises(error, match=message):
        FaultModel(**kwargs)


@pytest.mark.parametrize("model, message", [
    (FaultModel("flip", "acc"), r"^the ws PE has no register 'acc'"),
    (FaultModel("flip", "x_valid", bits=[3]),
     r"^none of the bits \[3\] is in register 'x_valid' \(1 bits\)$"),
    (FaultModel("flip", pes=[(6, 0)]), r"^fault PE \(6, 0\) is outside the 6x5 array"),
    (FaultModel("flip", count=31), r"^count=31 faults on different PEs, but only 30 PEs"),
    (FaultModel("flip", cycles=range(500, 600)),
     r"^no cycle of range\(500, 600\) is in the run \(cycles 0\.\.27\)$"),
])
def test_campaign_refuses_a_model_the_array_cannot_have(matmul, model, message):
    with pytest.raises(ValueError, match=message):
        campaign(matmul, model, 1, processes=1, progress=False)


def test_campaign_refuses_bad_arguments(matmul, network):
    model = FaultModel()
    with pytest.raises(TypeError, match=r"^workload must be a MatmulWorkload or a "
                                        r"NetworkWorkload, not 3$"):
        campaign(3, model, 1)
    with pytest.raises(TypeError, match=r"^model must be a FaultModel, not 'flip'$"):
        campaign(matmul, "flip", 1)
    with pytest.raises(ValueError, match=r"^runs must be"):
        campaign(matmul, model, 0)
    with pytest.raises(ValueError, match=r"^processes must be"):
        campaign(matmul, model, 1, processes=0)
    with pytest.raises(ValueError, match=r"^unknown engine 'rtl': expected 'cycle' or 'fast'$"):
        campaign(matmul, model, 1, engine="rtl")
    with pytest.raises(TypeError, match=r"^array must be a systolic\.SystolicArray"):
        MatmulWorkload("array", np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(TypeError, match=r"^network must be a systolic\.tpu\.Network"):
        NetworkWorkload("net", np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"^labels must have shape \(16,\), one per input"):
        NetworkWorkload(network.network, network.x, np.zeros(3, np.int64), network.config)


def test_fast_engine_refuses_flips_clearly(matmul, network):
    for work in (matmul, network):
        with pytest.raises(ValueError, match=r"^the fast engine cannot compute Fault\(register="
                                             r"'psum', .*kind='flip'.*: use engine='cycle'$"):
            campaign(work, FaultModel("flip"), 2, engine="fast", processes=1, progress=False)


def test_a_fault_on_the_config_is_in_every_run(network):
    from dataclasses import replace

    stuck = Fault("psum", (0, 0), 12, "stuck_at_1")
    work = replace(network, config=replace(network.config, faults=(stuck,)))
    table = _records(campaign(work, FaultModel("stuck_at_0", "psum", bits=[0], count=1,
                                               pes=[(3, 3)]), 2, processes=1, progress=False))
    assert all(row["outputs_corrupted"] > 0 for row in table)
