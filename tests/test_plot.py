"""Pictures: per-PE utilisation against hand counts and the trace, and what each figure draws."""

from __future__ import annotations


import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import exact
import systolic  # noqa: E402
from systolic.plot import (  # noqa: E402
    animate_trace,
    pe_utilization,
    plot_breakdown,
    plot_roofline,
    plot_snapshot,
    plot_timeline,
    plot_utilization,
    plot_waveforms,
)



@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_pe_utilization_hand_case_ws():
    # K = 7 over 3 rows: row 0 sees k = 0, 3, 6 (3 folds), rows 1 and 2 two folds each.
    # N = 9 over 4 columns: column 0 sees n = 0, 4, 8 (3 folds), the others two.
    # Every mapped (row, column) fold pair streams M = 5 vectors.
    util = pe_utilization(5, 7, 9, 3, 4, "ws", cycles=40)
    expected = np.array([[45, 30, 30, 30], [30, 20, 20, 20], [30, 20, 20, 20]]) / 40
    np.testing.assert_allclose(util, expected)


def test_pe_utilization_hand_cases_os_and_is():
    # os: rows over M = 5 (folds 2, 2, 1 on 3 rows), columns over N = 3 on 2 columns (2, 1);
    # each mapped pair accumulates K = 4 products.
    np.testing.assert_allclose(pe_utilization(5, 4, 3, 3, 2, "os", cycles=10),
                               np.array([[16, 8], [16, 8], [8, 4]]) / 10)
    # is: rows over K = 2 on 3 rows (1, 1, 0), columns over M = 3 on 2 columns (2, 1);
    # each mapped pair sees N = 6 vectors.
    np.testing.assert_allclose(pe_utilization(3, 2, 6, 3, 2, "is", cycles=12),
                               np.array([[12, 6], [12, 6], [0, 0]]) / 12)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_pe_utilization_mean_is_run_utilization(dataflow):
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (11, 13), dtype=np.int8)
    b = rng.integers(-128, 128, (13, 7), dtype=np.int8)
    res = systolic.SystolicArray(4, 3, dataflow).run(a, b)
    util = pe_utilization(11, 13, 7, 4, 3, dataflow, cycles=res.cycles)
    assert util.mean() == pytest.approx(res.utilization, rel=1e-12)


def test_pe_utilization_equals_valid_macs_of_the_trace_without_padding():
    # K and N are multiples of the array size, so every valid MAC is a mapped one: counting
    # the cycles in which each PE's x_valid register is set gives the same numbers.
    rng = np.random.default_rng(4)
    a = rng.integers(-128, 128, (6, 8), dtype=np.int8)
    b = rng.integers(-128, 128, (8, 6), dtype=np.int8)
    arr = systolic.SystolicArray(4, 3, "ws")
    total = arr.run(a, b).cycles
    trace = arr.run(a, b, engine="cycle", trace=(0, total)).trace
    from_trace = trace.registers["x_valid"].sum(axis=0) / total
    np.testing.assert_allclose(pe_utilization(6, 8, 6, 4, 3, "ws", cycles=total), from_trace)


def test_pe_utilization_bad_arguments():
    with pytest.raises(ValueError, match=exact(f"m must be an integer from 1 to {2**53}, "
                                                f"got 0")):
        pe_utilization(0, 2, 2, 2, 2, cycles=10)
    with pytest.raises(TypeError, match=exact(f"cycles must be an integer from 1 to {2**53}, "
                                               f"got 2.5")):
        pe_utilization(2, 2, 2, 2, 2, cycles=2.5)
    with pytest.raises(ValueError, match=exact("unknown dataflow 'xs': expected one of 'ws', "
                                                "'os', 'is'")):
        pe_utilization(2, 2, 2, 2, 2, "xs", cycles=10)


def test_plot_utilization_draws_the_values():
    util = pe_utilization(5, 7, 9, 3, 4, "ws", cycles=40)
    fig = plot_utilization(util)
    image = fig.axes[0].images[0]
    np.testing.assert_allclose(image.get_array(), util)
    assert fig.axes[0].get_title() == f"PE utilisation (mean {util.mean():.1%})"
    assert len(fig.axes[0].texts) == 12
    with pytest.raises(ValueError, match=exact("utilization must be 2-D (rows x cols), "
                                                "got shape (3,)")):
        plot_utilization(np.ones(3))


def test_plot_breakdown_stacks_the_parts():
    runs = {df: systolic.SystolicArray(8, 8, df).timing(20, 30, 40) for df in ("ws", "os", "is")}
    fig = plot_breakdown(runs)
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == 4 * 3
    # Bars come part by part (weight_load, streaming, stall, drain), run by run.
    for i, b in enumerate(runs.values()):
        heights = [bars[part * 3 + i].get_height() for part in range(4)]
        assert heights == [b.weight_load, b.streaming, b.stall, b.drain]
        assert sum(heights) == b.total
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ws", "os", "is"]
    with pytest.raises(ValueError, match=exact("runs must name at least one run")):
        plot_breakdown({})


def test_plot_roofline():
    fig = plot_roofline([("fc", 2.0, 100.0), ("conv", 400.0, 60000.0)], peak=65536.0,
                        bandwidth=256.0)
    ax = fig.axes[0]
    roof = ax.lines[0]
    xs, ys = roof.get_data()
    np.testing.assert_allclose(ys, np.minimum(65536.0, 256.0 * xs))
    assert [t.get_text() for t in ax.texts][-2:] == ["fc", "conv"]
    with pytest.raises(ValueError, match=exact(
            "point must be (label, intensity > 0, throughput > 0), got ('x', 0.0, 1.0)")):
        plot_roofline([("x", 0.0, 1.0)], peak=1.0, bandwidth=1.0)
    with pytest.raises(ValueError, match=exact("peak and bandwidth must be positive, "
                                                "got 0 and 1")):
        plot_roofline([], peak=0, bandwidth=1)


def test_plot_timeline_one_lane_per_name():
    rows = [("RHM", 0, 10), ("RW", 2, 6), ("MMC", 10, 50), ("RW", 12, 16), ("WHM", 50, 50)]
    fig = plot_timeline(rows)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["RHM", "RW", "MMC", "WHM"]
    assert len(ax.collections) == 4
    with pytest.raises(ValueError, match=exact(
            "row must be (name, start, end) with end >= start, got ('RW', 5, 2)")):
        plot_timeline([("RW", 5, 2)])
    with pytest.raises(ValueError, match=exact("rows must hold at least one (name, start, end) "
                                                "interval")):
        plot_timeline([])


@pytest.fixture(scope="module")
def small_trace():
    a = np.arange(1, 9, dtype=np.int8).reshape(2, 4)
    b = np.arange(-6, 6, dtype=np.int8).reshape(4, 3)
    arr = systolic.SystolicArray(4, 3, "ws")
    total = arr.run(a, b).cycles
    return arr.run(a, b, engine="cycle", trace=(0, total)).trace


def test_plot_snapshot_shows_every_pe(small_trace):
    t = 6
    state = {name: values[t] for name, values in small_trace.registers.items()}
    fig = plot_snapshot(state, cycle=t)
    ax = fig.axes[0]
    assert ax.get_title() == "array state during cycle 6"
    texts = [text.get_text() for text in ax.texts]
    assert len(texts) == 12
    r, c = np.argwhere(state["x_valid"] == 1)[0]
    assert texts[r * 3 + c].startswith(f"x {state['x'][r, c]}\nw {state['w_active'][r, c]}")
    with pytest.raises(ValueError, match=exact(
            "state must hold the PE registers x, x_valid, psum, psum_valid and w_active (ws/is) "
            "or acc (os); missing ['psum']")):
        plot_snapshot({k: v for k, v in state.items() if k != "psum"})


def test_animate_trace_renders_every_cycle(small_trace):
    anim = animate_trace(small_trace, interval=100)
    html = anim.to_jshtml(fps=10)
    assert html.count("data:image/png;base64") == small_trace.registers["x"].shape[0]


def test_plot_waveforms_lanes_and_bus_values():
    fig = plot_waveforms({"clk_en": [0, 1, 1, 0], "out_data_0": [0, 0, 17, None]},
                         first_cycle=10)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["clk_en", "out_data_0"]
    # The bus is labelled where its value changes: 0 at cycle 10, 17 at 12, unknown at 13.
    assert [(t.get_text(), t.get_position()[0]) for t in ax.texts] == [
        ("0", 10.1), ("17", 12.1), ("x", 13.1)]
    step = ax.lines[0]
    np.testing.assert_allclose(step.get_xdata(), [10, 11, 12, 13, 14])
    with pytest.raises(ValueError, match=exact(
            "every signal needs the same, non-zero number of cycles, got {'a': 2, 'b': 3}")):
        plot_waveforms({"a": [0, 1], "b": [0, 1, 0]})
    with pytest.raises(ValueError, match=exact("signals must name at least one signal")):
        plot_waveforms({})
