"""Energy and area: hand-computed cases, agreement with the runs, and the errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import systolic
from systolic import energy, tpu
from systolic.energy import (
    AreaTable,
    Counts,
    EnergyTable,
    area_mm2,
    energy_breakdown,
    energy_j,
    matmul_counts,
    report_counts,
    run_counts,
)
from systolic.timing import breakdown

# Prices of 1, 2, 3, ... pJ make every term of a hand-computed sum visible.
UNIT = EnergyTable(mac_pj=1, acc_add_pj=2, register_hop_pj=3, sram_pj_per_byte=((1, 4),),
                   dram_pj_per_byte=5, idle_pe_cycle_pj=6)


def test_ws_counts_by_hand():
    # 4x4 @ 4x4 on 2x2: tiles = 2 K-folds x 2 N-folds = 4, 4 vectors each = 16 streamed.
    c = matmul_counts(4, 4, 4, 2, 2, "ws", cycles=30, sram_kib=1)
    assert c.macs == 64
    assert c.pe_cycles == 30 * 4
    assert c.acc_adds == 4 * 4 * 2                    # M*N outputs per K-fold
    assert c.register_hops == 16 * 5 * 4 + 4 * 2 * 2 * 2   # x + 4-byte psum; R*R*C per tile
    assert c.sram_bytes == 16 + 16 * 2 + 16           # weights once, x once per N-fold, outputs
    assert c.dram_bytes == 16 + 16 + 16               # 48 bytes fit 1 KiB: compulsory only
    assert c.idle_pe_cycles == 120 - 64


def test_os_and_is_counts_by_hand():
    # os: tiles = ceil(3/2) x ceil(2/2) = 2 of K = 5 vectors; both lanes stream.
    c = matmul_counts(3, 5, 2, 2, 2, "os", cycles=20)
    assert (c.acc_adds, c.register_hops) == (0, 10 * 2 * 4 + 2 * 4 * 2 * (2 * 3 // 2))
    assert c.sram_bytes == 15 * 1 + 10 * 2 + 6        # A per N-fold, B per M-fold, outputs
    # is: tiles = ceil(5/2) x ceil(3/2) = 6 of N = 2 vectors; a^T stationary, b streamed.
    c = matmul_counts(3, 5, 2, 2, 2, "is", cycles=20)
    assert (c.acc_adds, c.register_hops) == (6 * 3, 12 * 5 * 4 + 6 * 2 * 2 * 2)
    assert c.sram_bytes == 15 + 10 * 2 + 6


def test_dram_spills_when_the_layer_does_not_fit():
    fits = matmul_counts(4, 4, 4, 2, 2, "ws", sram_kib=48 / 1024)
    spills = matmul_counts(4, 4, 4, 2, 2, "ws", sram_kib=47 / 1024)
    assert fits.dram_bytes == 48
    assert spills.dram_bytes == spills.sram_bytes == 64


def test_energy_is_the_priced_sum():
    c = Counts(macs=10, pe_cycles=100, acc_adds=7, register_hops=11, sram_bytes=13,
               dram_bytes=17, sram_kib=64)
    parts = energy_breakdown(c, table=UNIT)
    expected = {"mac": 10, "acc_add": 14, "register_hop": 33, "sram": 52, "dram": 85,
                "idle": 540}
    assert parts == pytest.approx({k: v * 1e-12 for k, v in expected.items()})
    assert energy_j(c, table=UNIT) == pytest.approx(sum(expected.values()) * 1e-12)


def test_default_prices_by_hand():
    # 1x1 array, 1x1x1 product, closed-form cycles R + 1 + R + C - 1 = 3 (ws).
    c = matmul_counts(1, 1, 1, 1, 1, "ws")
    assert c.pe_cycles == breakdown(1, 1, 1, 1, 1).total == 3
    hops = 1 * 5 + 1                                   # x + psum bytes, one weight byte
    sram_pj = 12.5 * 24 ** (math.log(5) / math.log(32))   # 24 MiB, slope of 32 KiB..1 MiB
    expected = 0.3 + 0.1 + 0.3 * hops + 3 * sram_pj + 3 * 243.75 + 2 * 0.235
    assert energy_j(c) == pytest.approx(expected * 1e-12)


def test_sram_price_interpolates_log_log():
    table = EnergyTable()
    assert table.sram_pj(8) == pytest.approx(1.25)
    assert table.sram_pj(1024) == pytest.approx(12.5)
    assert table.sram_pj(16) == pytest.approx(math.sqrt(1.25 * 2.5))
    assert table.sram_pj(2) == pytest.approx(1.25 / 2)        # 4x smaller, slope 1/2
    assert table.sram_pj(4096) == pytest.approx(12.5 * 4 ** (math.log(5) / math.log(32)))


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("engine", ["cycle", "fast"])
def test_run_counts_follow_the_run(dataflow, engine):
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, (7, 9), dtype=np.int8)
    b = rng.integers(-128, 128, (9, 5), dtype=np.int8)
    res = systolic.SystolicArray(3, 4, dataflow).run(a, b, engine=engine)
    assert run_counts(res, sram_kib=2) == matmul_counts(7, 9, 5, 3, 4, dataflow,
                                                        cycles=res.cycles, sram_kib=2)
    assert energy_j(res, sram_kib=2) == energy_j(run_counts(res, sram_kib=2))
    assert area_mm2(res) == area_mm2((3, 4), dataflow=dataflow)
    # the run reports them itself, at the defaults (24 MiB buffer, no buffer in the area)
    assert res.energy_j == energy_j(res) == energy_j(run_counts(res))
    assert res.area_mm2 == area_mm2((3, 4), dataflow=dataflow)


def test_tpu_report_counts_by_hand():
    config = tpu.TPUConfig(rows=4, cols=4)
    machine = tpu.TPU(config)
    machine.host.write(0, np.arange(8, dtype=np.int8))
    machine.weight_memory.write(0, np.eye(4, dtype=np.int8))
    report = machine.run(tpu.Program.parse("""
        Read_Weights 0, 1
        Read_Host_Memory 0, 0, 2
        MatrixMultiply.switch 0, 0, 2
        Activate 0, 2, 2
        Write_Host_Memory 2, 64, 2
        Halt"""))
    c = report_counts(report, config)
    # 2 vectors of 4 bytes; one 16-byte tile; 2 x 2 rows of 4 bytes over the host link.
    assert (report.macs, report.weight_tiles, report.host_bytes) == (32, 1, 16)
    assert c.acc_adds == 2 * 4
    assert c.register_hops == 2 * 5 * 16 + 1 * 4 * 4 * 4
    assert c.sram_bytes == 2 * 4 + 16 + 16
    assert c.dram_bytes == 16 + 16
    assert c.sram_kib == config.ub_bytes / 1024
    assert energy_j(report, config=config) == energy_j(c)
    # the report knows its machine
    assert report.config == config
    assert report.energy_j == energy_j(c)
    assert report.area_mm2 == area_mm2(config)
    anonymous = dataclasses.replace(report, config=None)
    with pytest.raises(ValueError, match=r"^this report does not name its machine \(config=None\)"):
        _ = anonymous.energy_j


def test_area_by_hand():
    table = AreaTable()
    # ws PE at R = 2: x 8+1+1, w 8+1+tag 1, psum 32+1, w_active + w_shadow 16 = 69 bits.
    assert table.pe_um2(2, "ws") == pytest.approx(282 + 137 + 69 * 4.522)
    # os PE: acc and hold (64 bits) instead of the two weight registers.
    assert table.pe_um2(2, "os") == pytest.approx(282 + 137 + 117 * 4.522)
    assert area_mm2((2, 3), sram_kib=10) == pytest.approx(
        (6 * table.pe_um2(2) + 10 * 8192 * 0.346 / 0.7) * 1e-6)
    v1 = tpu.TPUConfig()
    buffers_kib = 24 * 1024 + 4096 * 256 * 4 / 1024 + 4 * 64
    assert area_mm2(v1) == pytest.approx(area_mm2((256, 256), sram_kib=buffers_kib))


def test_errors():
    with pytest.raises(ValueError, match=r"^mac_pj must be a finite number >= 0, not -1$"):
        EnergyTable(mac_pj=-1)
    with pytest.raises(TypeError, match=r"^dram_pj_per_byte must be a number, not '1'$"):
        EnergyTable(dram_pj_per_byte="1")
    with pytest.raises(ValueError, match=r"^sram_pj_per_byte sizes must increase, got "
                                         r"\[8\.0, 8\.0\]$"):
        EnergyTable(sram_pj_per_byte=((8, 1), (8, 2)))
    with pytest.raises(TypeError, match=r"^sram_pj_per_byte must be a sequence of"):
        EnergyTable(sram_pj_per_byte=(8, 1))
    with pytest.raises(ValueError, match=r"^sram_kib must be a finite number > 0, not 0$"):
        matmul_counts(1, 1, 1, 1, 1, sram_kib=0)
    with pytest.raises(TypeError, match=r"^expected Counts, a RunResult, or a tpu.RunReport "
                                        r"with config=, not 3$"):
        energy_j(3)
    with pytest.raises(TypeError, match=r"^design must be \(rows, cols\), a RunResult or a "
                                        r"tpu.TPUConfig, not 'x'$"):
        area_mm2("x")
    with pytest.raises(TypeError, match=r"^table must be an EnergyTable, not 1$"):
        energy_j(matmul_counts(1, 1, 1, 1, 1), table=1)
    assert energy.DEFAULT_SRAM_KIB == 24 * 1024
