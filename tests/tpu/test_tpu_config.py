"""The machine description: TPU v1 defaults, derived numbers and parameter errors."""

from __future__ import annotations

import numpy as np
import pytest

from systolic.tpu import TPUConfig


def test_tpu_v1_defaults():
    cfg = TPUConfig()
    assert (cfg.rows, cfg.cols, cfg.clock_hz) == (256, 256, 700e6)
    assert cfg.row_bytes == 256
    assert cfg.ub_rows == 98_304                  # 24 MiB of 256-byte rows
    assert cfg.acc_rows == 4096
    assert cfg.tile_bytes == 65_536
    assert cfg.weight_tiles == 131_072            # 8 GiB of 64 KiB tiles
    assert cfg.weight_fetch_cycles == 1350        # 64 KiB at 34 GB/s, 700 MHz
    assert cfg.weight_fifo_tiles == 4
    assert cfg.peak_tops == pytest.approx(91.75, abs=0.01)
    assert cfg.ridge_point == pytest.approx(1349.3, abs=0.1)


def test_host_transfer_cycles():
    cfg = TPUConfig(host_latency_cycles=0)
    # 12.5 GB/s at 700 MHz: 256 bytes take 14.336 cycles
    assert cfg.host_transfer_cycles(1) == 15
    assert cfg.host_transfer_cycles(1000) == 14_336
    assert TPUConfig().host_transfer_cycles(1000) == 14_336 + 700


def test_small_machine_rows_follow_the_wider_edge():
    cfg = TPUConfig(rows=8, cols=16, ub_bytes=1 << 12)
    assert cfg.row_bytes == 16
    assert cfg.ub_rows == 256
    assert cfg.tile_bytes == 128


@pytest.mark.parametrize("mode", ["8x16", "16x8", "16x16"])
def test_half_and_quarter_speed_modes_are_rejected(mode):
    with pytest.raises(ValueError, match=rf"^precision '{mode}' is not supported: only 8x8 "
                                         r"operands are modelled"):
        TPUConfig(precision=mode)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"rows": 0}, ValueError, r"^rows must be an integer from 1 to 4096, got 0$"),
    ({"cols": 2.0}, TypeError, r"^cols must be an integer from 1 to 4096, got 2\.0$"),
    ({"rows": np.uint64(2**64 - 1)}, ValueError,
     r"^rows must be an integer from 1 to 4096, got np\.uint64\(18446744073709551615\)$"),
    ({"clock_hz": 0}, ValueError, r"^clock_hz must be a positive finite number, got 0$"),
    ({"clock_hz": float("nan")}, ValueError,
     r"^clock_hz must be a positive finite number, got nan$"),
    ({"clock_hz": "7e8"}, TypeError, r"^clock_hz must be a positive finite number, got '7e8'$"),
    ({"acc_rows": 1 << 17}, ValueError, r"^acc_rows must be an integer from 2 to 65536, "
                                        r"got 131072$"),
    ({"weight_fifo_tiles": 0}, ValueError, r"^weight_fifo_tiles must be a positive integer, "
                                           r"got 0$"),
    ({"double_buffer": 1}, TypeError, r"^double_buffer must be True or False, got 1$"),
    ({"precision": "4x4"}, ValueError, r"^unknown precision '4x4': expected one of '8x8', "),
    ({"ub_bytes": 1 << 33}, ValueError, r"^ub_bytes=8589934592 gives 33554432 rows, more "
                                        r"than the 24-bit UB address reaches$"),
    ({"host_memory_bytes": 1 << 49}, ValueError, r"^host_memory_bytes must be an integer "
                                                 r"from 256 to 281474976710656, got "),
])
def test_bad_parameters(kwargs, error, message):
    with pytest.raises(error, match=message):
        TPUConfig(**kwargs)
