"""Pictures: per-PE utilisation against hand counts and the trace, and what each figure draws."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import systolic  # noqa: E402
from helpers import exact
from systolic._plot_array import ACTIVITIES, activity  # noqa: E402
from systolic.plot import (  # noqa: E402
    animate_array,
    animate_trace,
    array_widget,
    pe_utilization,
    plot_array,
    plot_breakdown,
    plot_roofline,
    plot_snapshot,
    plot_timeline,
    plot_utilization,
    plot_waveforms,
    save_animation,
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


# -- the array view ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_tiles():
    """A 4x3 weight-stationary run of two weight tiles, traced, with its output stream."""
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (5, 8), dtype=np.int8)
    b = rng.integers(-128, 128, (8, 3), dtype=np.int8)
    return systolic.SystolicArray(4, 3, "ws").run(a, b, engine="cycle", trace=True,
                                                  record_outputs=True)


def _drawn(ax) -> dict[str, int]:
    """Every number the view writes, by its artist id (``"x r c"``, ``"out c"`` ...)."""
    return {text.get_gid(): int(text.get_text().split()[-1]) for text in ax.texts
            if text.get_gid() and text.get_gid() != "pe registers"}


def _expected(run, cycle: int, queue: int) -> dict[str, int]:
    """What the view must write during ``cycle``, straight from the trace and output stream."""
    regs, rows, cols = run.trace.registers, *run.trace.registers["x"].shape[1:]
    i = cycle - run.trace.first_cycle
    stationary = ("w_active", "w_shadow") if "w_active" in regs else ("acc", "hold")
    want = {}
    for r in range(rows):
        for c in range(cols):
            if regs["x_valid"][i, r, c]:
                want[f"x {r} {c}"] = regs["x"][i, r, c]
            if regs["psum_valid"][i, r, c]:
                want[f"psum {r} {c}"] = regs["psum"][i, r, c]
            for name in stationary:
                want[f"{name} {r} {c}"] = regs[name][i, r, c]
    for k in range(queue):
        for r in range(rows):
            if i + k + 1 < len(regs["x"]) and regs["x_valid"][i + k + 1, r, 0]:
                want[f"queue x {r} {k}"] = regs["x"][i + k + 1, r, 0]
        for c in range(cols):
            valid = "w_valid" if "w_active" in regs else "x_valid"
            if i + k + 1 < len(regs["w"]) and regs[valid][i + k + 1, 0, c]:
                want[f"queue w {c} {k}"] = regs["w"][i + k + 1, 0, c]
    # the output port: what the model's output stream shows during this cycle
    seen = np.flatnonzero(run.outputs.cycles == cycle)
    for c in range(cols):
        if seen.size:
            want[f"out {c}"] = run.outputs.data[seen[0], c]
        for j in range(1, cols - 1 - c):
            if i - j >= 0 and regs["psum_valid"][i - j, rows - 1, c]:
                want[f"deskew {c} {j}"] = regs["psum"][i - j, rows - 1, c]
    return {key: int(value) for key, value in want.items()}


def test_plot_array_writes_the_models_registers(two_tiles):
    _, ax = plt.subplots()
    for cycle in range(two_tiles.cycles):
        plot_array(two_tiles, cycle, queue=3, ax=ax)
        assert _drawn(ax) == _expected(two_tiles, cycle, 3), cycle


def test_plot_array_output_stationary(small_os_run):
    _, ax = plt.subplots()
    for cycle in range(0, small_os_run.cycles, 3):
        plot_array(small_os_run, cycle, queue=2, ax=ax)
        assert _drawn(ax) == _expected(small_os_run, cycle, 2), cycle
        assert ax.get_title() == f"4x4 output-stationary array, cycle {cycle}"


@pytest.fixture(scope="module")
def small_os_run():
    rng = np.random.default_rng(6)
    a = rng.integers(-128, 128, (6, 5), dtype=np.int8)
    b = rng.integers(-128, 128, (5, 4), dtype=np.int8)
    return systolic.SystolicArray(4, 4, "os").run(a, b, engine="cycle", trace=True,
                                                  record_outputs=True)


def _outlined(ax, color) -> set[tuple[int, int]]:
    from matplotlib.colors import to_rgba

    return {tuple(int(v) for v in patch.get_gid().split()[1:]) for patch in ax.patches
            if (patch.get_gid() or "").startswith("pe ")
            and patch.get_edgecolor() == to_rgba(color)}


def test_the_tile_switch_is_a_travelling_wavefront(two_tiles):
    # Two tiles: switches presented at s0 = R = 4 and s1 = s0 + max(M, R) = 9 (contract
    # section 5) are in the x_flag register of PE(r, c) during s + r + c + 1, so the red
    # outlines are the anti-diagonals r + c = t - 1 - s.
    rows, cols = 4, 3
    _, ax = plt.subplots()
    for cycle in range(two_tiles.cycles):
        plot_array(two_tiles, cycle, ax=ax, numbers=False)
        want = {(r, c) for r in range(rows) for c in range(cols)
                for s in (4, 9) if r + c == cycle - 1 - s}
        assert _outlined(ax, "#d7191c") == want, cycle


def test_activity_colours_follow_the_registers(two_tiles):
    regs = two_tiles.trace.registers
    for cycle in (2, 6, 12):
        kinds = activity(two_tiles, cycle)
        assert [ACTIVITIES[k] for k in np.unique(kinds)] == sorted(
            {ACTIVITIES[k] for k in kinds.ravel()}, key=ACTIVITIES.index)
        np.testing.assert_array_equal(kinds == 0, regs["x_valid"][cycle] == 1)
        loading = (regs["w_valid"][cycle] == 1) & (regs["x_valid"][cycle] == 0)
        np.testing.assert_array_equal(kinds == 2, loading)
    # at cycle 0 every register holds its reset value: all PEs idle
    assert (activity(two_tiles, 0) == ACTIVITIES.index("idle")).all()


def test_plot_array_selected_pe_and_dense_mode(two_tiles):
    fig = plot_array(two_tiles, 7, pe=(2, 1))
    box = next(t for t in fig.axes[0].texts if t.get_gid() == "pe registers")
    lines = box.get_text().splitlines()
    assert lines[0] == "PE(2, 1) in cycle 7"
    regs = two_tiles.trace.registers
    assert {line.split()[0]: int(line.split()[1]) for line in lines[1:]} == {
        name: int(values[7, 2, 1]) for name, values in regs.items()}
    dense = plot_array(two_tiles, 7, numbers=False)
    assert _drawn(dense.axes[0]) == {}
    psum = plot_array(two_tiles, 7, color="psum")
    assert psum.axes[-1].get_ylabel() == "|psum|"


def test_plot_array_bad_arguments(two_tiles):
    plain = systolic.SystolicArray(2, 2).run(np.ones((2, 2), np.int8), np.ones((2, 2), np.int8))
    with pytest.raises(ValueError, match=exact(
            "the run has no trace: run it with engine='cycle', trace=True")):
        plot_array(plain, 0)
    with pytest.raises(TypeError, match=exact(
            "trace must be a RunResult with a trace or an ArrayTrace, got dict")):
        plot_array({}, 0)
    last = two_tiles.cycles - 1
    with pytest.raises(ValueError, match=exact(
            f"cycle must be an integer from 0 to {last}, got {last + 1}")):
        plot_array(two_tiles, last + 1)
    with pytest.raises(ValueError, match=exact(
            "unknown color 'heat': expected 'activity' or 'psum'")):
        plot_array(two_tiles, 0, color="heat")
    with pytest.raises(TypeError, match=exact("pe must be a (row, column) pair, got 3")):
        plot_array(two_tiles, 0, pe=3)
    with pytest.raises(ValueError, match=exact("pe row must be an integer from 0 to 3, got 4")):
        plot_array(two_tiles, 0, pe=(4, 0))
    with pytest.raises(TypeError, match=exact("numbers must be True or False, got 1")):
        plot_array(two_tiles, 0, numbers=1)


def test_animate_array_and_save_animation(two_tiles, tmp_path):
    anim = animate_array(two_tiles, cycles=range(4, 6), interval=100, numbers=False)
    assert anim.to_jshtml().count("data:image/png;base64") == 2
    gif = save_animation(anim, tmp_path / "run.gif", fps=4, dpi=40)
    from PIL import Image

    with Image.open(gif) as image:
        assert image.n_frames == 2
    assert "data:image/png;base64" in save_animation(anim, tmp_path / "run.html").read_text()
    with pytest.raises(ValueError, match=exact(
            f"path must end in .gif, .mp4 or .html, got {str(tmp_path / 'run.png')!r}")):
        save_animation(anim, tmp_path / "run.png")
    with pytest.raises(ValueError, match=exact("dpi must be an integer from 10 to 600, got 5")):
        save_animation(anim, tmp_path / "run.gif", dpi=5)
    with pytest.raises(TypeError, match=exact(
            "animation must be a matplotlib Animation, got Figure")):
        save_animation(plt.figure(), tmp_path / "run.gif")
    last = two_tiles.cycles - 1
    with pytest.raises(ValueError, match=exact(
            f"cycles must be a non-empty range within the trace's cycles 0..{last}, "
            f"got range(5, {last + 5})")):
        animate_array(two_tiles, cycles=range(5, last + 5))
    with pytest.raises(TypeError, match=exact("cycles must be a range of cycles, got [1, 2]")):
        animate_array(two_tiles, cycles=[1, 2])
    with pytest.raises(TypeError, match=exact("animate_array got unknown options ['size']")):
        animate_array(two_tiles, size=3)


def test_array_widget_slider_redraws_with_the_chosen_pe(two_tiles):
    pytest.importorskip("ipywidgets")
    widget = array_widget(two_tiles, cycle=5)
    slider, (row, col), _ = widget.children[0], widget.children[1].children, widget.children[2]
    assert (slider.min, slider.max, slider.value) == (0, two_tiles.cycles - 1, 5)
    slider.value, row.value, col.value = 9, 3, 2
    regs = two_tiles.trace.registers
    figure = widget.figure
    box = next(t for t in figure.axes[0].texts if t.get_gid() == "pe registers")
    assert box.get_text().splitlines()[0] == "PE(3, 2) in cycle 9"
    assert f"psum {int(regs['psum'][9, 3, 2])}" in " ".join(box.get_text().split())


def test_array_widget_without_ipywidgets_is_an_html_animation(two_tiles, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    shown = array_widget(two_tiles, cycle=two_tiles.cycles - 2)
    assert shown.data.count("data:image/png;base64") == 2


def test_plot_waveforms_signed_buses():
    fig = plot_waveforms({"out_data_0": [0, 2**32 - 3, 7, -2]}, signed={"out_data_0": 32})
    assert [t.get_text() for t in fig.axes[0].texts] == ["0", "-3", "7", "-2"]
    with pytest.raises(ValueError, match=exact(
            "signed names 'psum', which is not one of the signals")):
        plot_waveforms({"a": [0, 1]}, signed={"psum": 32})
    with pytest.raises(ValueError, match=exact(
            "signed['a'] must be an integer from 2 to 64, got 1")):
        plot_waveforms({"a": [0, 5]}, signed={"a": 1})


def test_plot_intervals_outlines_and_zero_length_diamonds():
    rows = [("MMC", 0, 10), ("MMC", 10, 20), ("Halt", 20, 20)]
    ax = plot_timeline(rows).axes[0]
    mmc = ax.collections[0]
    assert len(mmc.get_paths()) == 2          # back to back, two bars
    assert (mmc.get_edgecolor()[:, :3] == 0).all()   # outlined in black
    diamond = ax.lines[0]
    assert (list(diamond.get_xdata()), list(diamond.get_ydata()), diamond.get_marker()) == (
        [20], [1], "D")


def test_plot_array_of_a_trace_window(two_tiles):
    # a window starting at cycle 6: the same PEs and queues as the full trace's cycle 9
    arr = systolic.SystolicArray(4, 3, "ws")
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (5, 8), dtype=np.int8)
    b = rng.integers(-128, 128, (8, 3), dtype=np.int8)
    window = arr.run(a, b, engine="cycle", trace=(6, 14)).trace
    assert window.first_cycle == 6
    full = plot_array(two_tiles, 9).axes[0]
    part = plot_array(window, 9).axes[0]
    # the de-skew registers read cycles 7 and 8 and the queues cycles 10 to 13: all inside
    # the window, so every number is the same
    assert _drawn(part) == _drawn(full)
    with pytest.raises(ValueError, match=exact("cycle must be an integer from 6 to 13, got 5")):
        plot_array(window, 5)
