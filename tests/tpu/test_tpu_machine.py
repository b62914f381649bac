"""The machine: static checks, values, and the timing model on hand-worked programs."""

from __future__ import annotations

import numpy as np
import pytest

from systolic.tpu import BREAKDOWN_CATEGORIES, TPU, Program, ProgramError, TPUConfig

# A tiny machine with round numbers: a 16-byte tile takes 16 cycles from DRAM, a 4-byte row
# one cycle over the host link, no host latency, a 2-stage activation pipeline.
SMALL = TPUConfig(rows=4, cols=4, clock_hz=1e9, dram_bytes_per_s=1e9, host_bytes_per_s=4e9,
                  host_latency_cycles=0, activate_latency=2, ub_bytes=4096, acc_rows=64,
                  weight_memory_bytes=1 << 12, host_memory_bytes=1 << 16)


def _machine(rng, config=SMALL):
    tpu = TPU(config)
    w = rng.integers(-128, 128, (2, 4, 4), dtype=np.int8)
    x = rng.integers(-128, 128, (8, 4), dtype=np.int8)
    tpu.weight_memory.write(0, w)
    tpu.host.write(0, x)
    return tpu, w.astype(np.int64), x.astype(np.int64)


WORKED = """
Read_Weights 0, 2
Read_Host_Memory 0, 0, 8
MatrixMultiply.switch 0, 0, 8
MatrixMultiply.switch 0, 8, 8
Activate 0, 16, 16
Write_Host_Memory 16, 1000, 16
Halt
"""


def test_worked_example_values_and_cycles(rng):
    tpu, w, x = _machine(rng)
    report = tpu.run(Program.parse(WORKED))
    np.testing.assert_array_equal(tpu.acc[:8], x @ w[0])
    np.testing.assert_array_equal(tpu.acc[8:16], x @ w[1])
    # identity requantization (multiplier 1, shift 0) saturates to int8
    out = tpu.host.read(1000, 16 * 4).view(np.int8).reshape(16, 4)
    np.testing.assert_array_equal(out, np.clip(np.vstack([x @ w[0], x @ w[1]]), -128, 127))
    # Tile 0 arrives at 16 and shifts in 4 cycles: vectors 20..27, results land by 35.
    # Tile 1 arrives at 32 (DRAM is serial): shift 32..35, vectors 36..43, results by 51.
    # Activate reads 16 rows from 51 (+2 pipeline) to 69; the write-back takes 16 cycles.
    spans = [(e.text.split()[0], e.start, e.end) for e in report.timeline]
    assert spans == [("Read_Weights", 0, 32), ("Read_Host_Memory", 1, 9),
                     ("MatrixMultiply.switch", 20, 35), ("MatrixMultiply.switch", 36, 51),
                     ("Activate", 51, 69), ("Write_Host_Memory", 69, 85), ("Halt", 85, 85)]
    assert report.cycles == 85
    assert report.breakdown == {"computing": 16, "weight_stall": 20, "weight_shift": 8,
                                "host": 16, "activation": 18, "fill_drain": 7, "other": 0}
    assert report.weight_wait == 28
    assert report.macs == 16 * 16 and report.useful_macs == 256
    assert report.utilization == pytest.approx(256 / (85 * 16))
    assert report.tops == pytest.approx(2 * 256 / 85e-9 / 1e12)
    assert report.host_bytes == 24 * 4 and report.weight_tiles == 2


def test_double_buffering_hides_the_shift(rng):
    fast_dram = TPUConfig(**{**SMALL.__dict__, "dram_bytes_per_s": 1e12})
    tpu, w, x = _machine(rng, fast_dram)
    report = tpu.run(Program.parse(WORKED))
    first, second = (e for e in report.timeline if e.unit == "matrix")
    assert first.start == 9                           # the input arrives at 9
    assert second.start == first.start + 8            # back to back: 8 vectors >= R = 4
    assert report.breakdown["weight_shift"] == 0      # the first shift hid under the input
    assert report.breakdown["host"] == 9 + 16


def test_single_buffer_waits_for_the_last_vector(rng):
    single = TPUConfig(**{**SMALL.__dict__, "dram_bytes_per_s": 1e12, "double_buffer": False})
    tpu, w, x = _machine(rng, single)
    report = tpu.run(Program.parse(WORKED))
    first, second = (e for e in report.timeline if e.unit == "matrix")
    assert second.start == first.start + 8 + 4         # shift starts after the last vector
    np.testing.assert_array_equal(tpu.acc[8:16], x @ w[1])


def test_weight_fifo_depth_throttles_fetches(rng):
    shallow = TPUConfig(**{**SMALL.__dict__, "weight_fifo_tiles": 1})
    tpu, _, _ = _machine(rng, shallow)
    report = tpu.run(Program.parse(WORKED))
    # tile 1 can only be fetched once tile 0 left the FIFO (its shift started at 16)
    assert report.timeline[0].end == 16 + 16
    tpu, _, _ = _machine(rng)
    deep = tpu.run(Program.parse(WORKED))
    assert deep.timeline[0].end == 32


def test_accumulate_and_unsigned_operands(rng):
    tpu, w, x = _machine(rng)
    tpu.host.write(0, x.astype(np.uint8))
    tpu.run(Program.parse("""
        Read_Weights 0, 2
        Read_Host_Memory 0, 0, 8
        MatrixMultiply.switch.xu 0, 0, 8
        MatrixMultiply.acc.switch.xu 0, 0, 8
        Convolve.acc.xu 1, 0, 3, 2
        Halt"""))
    ux = x % 256
    expected = ux @ w[0] + ux @ w[1]
    expected[:3] += ux[[1, 3, 5]] @ w[1]
    wrapped = (expected + (1 << 31)) % (1 << 32) - (1 << 31)
    np.testing.assert_array_equal(tpu.acc[:8], wrapped)


def test_activate_pipeline_with_bias_quant_and_pool(rng):
    tpu = TPU(SMALL)
    w = np.eye(4, dtype=np.int8) * 2
    img = np.arange(16 * 4).reshape(16, 4) % 50 - 10              # a 4x4 image, 4 channels
    bias = np.array([1000, -7, 0, 3], dtype=np.int32)
    tpu.weight_memory.write(0, w)
    tpu.host.write(0, img.astype(np.int8))
    tpu.host.write(64 * 4, bias.view(np.uint8).reshape(4, 4).T.copy())   # byte planes
    tpu.run(Program.parse("""
        Read_Weights 0, 1
        Read_Host_Memory 0, 0, 16
        Read_Host_Memory 256, 20, 4
        MatrixMultiply.switch 0, 0, 16
        SetQuant.half_away 1, 1, -1, 0
        SetPool.avg 2, 4
        SetBias 20
        Activate.relu.pool 0, 30, 16
        Halt"""))
    from systolic.tpu import Requant, activate, pool
    values = activate(img * 2, bias, Requant(1, 1, -1, True, "half_away", 0), "relu")
    expected = pool(values, "avg", 2, 4, "half_away")
    np.testing.assert_array_equal(tpu.ub[30:34, :4].view(np.int8), expected)


def test_breakdown_adds_up_and_timeline_is_in_order(rng):
    tpu, _, _ = _machine(rng)
    report = tpu.run(Program.parse(WORKED.replace("Activate", "Sync\nNop\nActivate")))
    assert tuple(report.breakdown) == BREAKDOWN_CATEGORIES
    assert sum(report.breakdown.values()) == report.cycles
    issues = [e.issue for e in report.timeline]
    assert issues == sorted(issues)
    assert all(e.start <= e.end for e in report.timeline)
    sync = next(i for i, e in enumerate(report.timeline) if e.text == "Sync")
    finished = max(e.end for e in report.timeline[:sync])
    assert report.timeline[sync].end == finished            # a full barrier
    assert report.timeline[sync + 1].issue >= finished
    assert "TOPS (1 MAC = 2 ops)" in report.summary()


@pytest.mark.parametrize("text, message", [
    ("Read_Weights 0, 1\nMatrixMultiply.switch 0, 0, 1", r"^line 3: program does not end "
                                                         r"with Halt$"),
    ("Halt\nNop", r"^line 2: instruction after Halt$"),
    ("MatrixMultiply.switch 0, 0, 4\nHalt", r"^line 1: MatrixMultiply: weight tile used "
                                            r"before loaded \(no Read_Weights tile left for "
                                            r"\.switch\)$"),
    ("Read_Weights 0, 1\nMatrixMultiply 0, 0, 4\nHalt", r"^line 2: MatrixMultiply: weight "
                                                        r"tile used before loaded \(no tile "
                                                        r"switched in yet; use \.switch\)$"),
    ("Read_Weights 0, 2\nMatrixMultiply.switch 0, 0, 4\nHalt", r"^line 3: 1 weight tile read "
                                                               r"but never used$"),
    ("Read_Host_Memory 0, 1020, 8\nHalt", r"^line 1: Read_Host_Memory: UB rows 1020\.\.1027 "
                                          r"outside the Unified Buffer \(0\.\.1023\)$"),
    ("Write_Host_Memory 0, 65530, 2\nHalt", r"^line 1: Write_Host_Memory: host bytes "
                                            r"65530\.\.65537 outside the host memory "
                                            r"\(0\.\.65535\)$"),
    ("Read_Weights 4096, 1\nHalt", r"^line 1: Read_Weights: weight bytes 4096\.\.4111 outside "
                                   r"the Weight Memory \(0\.\.4095\)$"),
    ("Read_Weights 8, 1\nHalt", r"^line 1: Read_Weights: address 8 is not a multiple of the "
                                r"tile size 16$"),
    ("Read_Weights 0, 0\nHalt", r"^line 1: Read_Weights: tiles must be >= 1, got 0$"),
    ("Read_Weights 0, 1\nMatrixMultiply.switch 0, 60, 5\nHalt", r"^line 2: MatrixMultiply: "
                                                                r"accumulator rows 60\.\.64 "
                                                                r"outside the accumulators"),
    ("Read_Weights 0, 1\nConvolve.switch 0, 0, 5, 300\nHalt", r"^line 2: Convolve: UB rows "
                                                              r"0\.\.1200 outside the Unified "
                                                              r"Buffer"),
    ("Read_Weights 0, 1\nConvolve.switch 0, 0, 5, 0\nHalt", r"^line 2: Convolve: stride must "
                                                            r"be >= 1, got 0$"),
    ("Activate.pool 0, 0, 16\nHalt", r"^line 1: Activate\.pool: no SetPool\.max or "
                                     r"SetPool\.avg before it$"),
    ("SetPool.max 2, 4\nActivate.pool 0, 0, 12\nHalt", r"^line 2: Activate\.pool: 12 rows are "
                                                       r"not whole 2-row bands of width 4$"),
    ("SetPool.max 2, 3\nHalt", r"^line 1: SetPool: width 3 must be a positive multiple of "
                               r"size 2$"),
    ("SetQuant 1, 63, 0, 0\nHalt", r"^line 1: SetQuant: shift must be <= 62, got 63$"),
    ("SetBias 1022\nHalt", r"^line 1: SetBias: UB rows 1022\.\.1025 outside the Unified "
                           r"Buffer"),
])
def test_malformed_programs_are_rejected_before_running(rng, text, message):
    tpu, _, _ = _machine(rng)
    tpu.ub[:] = 7
    with pytest.raises(ProgramError, match=message):
        tpu.run(Program.parse(text))
    assert (tpu.ub == 7).all()                      # nothing executed


def test_run_argument_errors():
    tpu = TPU(SMALL)
    with pytest.raises(TypeError, match=r"^program must be a Program, not 'Halt'$"):
        tpu.run("Halt")
    with pytest.raises(ValueError, match=r"^unknown engine 'gpu': expected 'cycle' or 'fast'$"):
        tpu.run(Program.parse("Halt"), engine="gpu")
    with pytest.raises(TypeError, match=r"^config must be a TPUConfig, not 3$"):
        TPU(3)


def test_sparse_memories():
    tpu = TPU()                                     # TPU v1: 8 GiB Weight Memory, 4 GiB host
    tpu.weight_memory.write((8 << 30) - 4, b"\x01\x02\x03\x04")
    assert tpu.weight_memory.read((8 << 30) - 6, 6).tolist() == [0, 0, 1, 2, 3, 4]
    assert tpu.weight_memory.bytes_stored == 1 << 16
    with pytest.raises(ValueError, match=r"^host memory: bytes 4294967295\.\.4294967296 "
                                         r"outside 0\.\.4294967295$"):
        tpu.host.read((1 << 32) - 1, 2)


def test_tpu_v1_weight_fetch_and_shift_timing(rng):
    """On the default machine a 64 KiB tile takes 1,350 cycles from DRAM, then 256 to shift."""
    tpu = TPU()
    tpu.weight_memory.write(0, rng.integers(-128, 128, (256, 256), dtype=np.int8))
    report = tpu.run(Program.parse("Read_Weights 0, 1\nMatrixMultiply.switch 0, 0, 1\nHalt"))
    fetch, matmul, _ = report.timeline
    assert (fetch.start, fetch.end) == (0, 1350)
    assert matmul.start == 1350 + 256
    assert matmul.end == matmul.start + 1 + 256 + 256 - 1     # one vector, R + C - 1 latency
    assert report.breakdown["weight_stall"] == 1350
    assert report.breakdown["weight_shift"] == 256
    assert report.breakdown["fill_drain"] == 511


def test_timeline_plot(rng):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from systolic.tpu import plot_timeline
    tpu, _, _ = _machine(rng)
    report = tpu.run(Program.parse(WORKED))
    fig = plot_timeline(report)
    ax = fig.axes[0]
    # one lane per unit (Halt in "control"); every instruction is a bar or, when it takes no
    # cycle, a diamond
    assert len(ax.collections) == len({e.unit for e in report.timeline}) == 5
    bars = sum(len(c.get_paths()) for c in ax.collections)
    diamonds = sum(len(line.get_xdata()) for line in ax.lines)
    assert diamonds == sum(e.end == e.start for e in report.timeline) >= 1
    assert bars + diamonds == len(report.timeline)
    # the legend names where the matrix unit's cycles went
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        f"{name.replace('_', ' ')}: {n:,}" for name, n in report.breakdown.items() if n]
    with pytest.raises(TypeError, match=r"^report must be a RunReport, not None$"):
        plot_timeline(None)
