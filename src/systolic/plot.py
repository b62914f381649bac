"""Pictures of runs: the array in motion, PE utilisation, cycle breakdowns, rooflines, timelines,
snapshots, waveforms.

Every plotting function returns a :class:`matplotlib.figure.Figure` (or draws into a given
``ax`` and returns its figure) and never calls ``plt.show()``, so the same calls work in scripts,
tests (Agg backend) and notebooks. :func:`pe_utilization` is the only computation here: the
per-PE share of cycles spent on useful multiply-accumulates, from the tiling of contract
section 4.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from . import _plot_array
from ._checks import check_int
from ._dataflow import dataflow_named

__all__ = [
    "animate_array",
    "animate_trace",
    "array_widget",
    "pe_utilization",
    "plot_array",
    "plot_breakdown",
    "plot_intervals",
    "plot_roofline",
    "plot_snapshot",
    "plot_timeline",
    "plot_utilization",
    "plot_waveforms",
    "save_animation",
]

_BREAKDOWN_PARTS = ("weight_load", "streaming", "stall", "drain")
_BREAKDOWN_COLORS = ("#8da0cb", "#66c2a5", "#fc8d62", "#e78ac3")


def _figure(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return ax.figure, ax


def _mapped(extent: int, size: int) -> np.ndarray:
    """For every lane ``i < size``: how many folds of ``extent`` map a real element onto it.

    Fold ``f`` maps element ``f * size + i`` onto lane ``i``; it is real when below ``extent``,
    which holds for ``ceil((extent - i) / size)`` folds.
    """
    lanes = np.arange(size)
    return np.maximum(0, -((lanes - extent) // size))


def pe_utilization(m: int, k: int, n: int, rows: int, cols: int, dataflow: str = "ws", *,
                   cycles: int) -> np.ndarray:
    """Fraction of ``cycles`` in which each PE does a useful multiply-accumulate.

    A PE's multiply-accumulate is useful when its operands are real matrix elements rather than
    the zero padding of a partial tile (contract section 4). The mean over all PEs equals the
    run's utilisation ``M*K*N / (cycles * R * C)``.

    Parameters
    ----------
    m, k, n : int
        The matmul ``(M x K) @ (K x N)``.
    rows, cols : int
        Array size ``R x C``.
    dataflow : {"ws", "os", "is"}
    cycles : int
        The run's total cycles (``RunResult.cycles``), the denominator.

    Returns
    -------
    numpy.ndarray
        ``R x C`` float array of fractions in ``[0, 1]``.
    """
    # up to 2**53: the counts go through float64 exactly
    m, k, n = (check_int(name, v, 1, 2**53) for name, v in (("m", m), ("k", k), ("n", n)))
    rows, cols = check_int("rows", rows, 1, 2**53), check_int("cols", cols, 1, 2**53)
    cycles = check_int("cycles", cycles, 1, 2**53)
    row_extent, col_extent, vectors = dataflow_named(dataflow).extents(m, k, n)
    macs = vectors * np.outer(_mapped(row_extent, rows), _mapped(col_extent, cols))
    return macs / cycles


def plot_utilization(utilization: np.ndarray, *, title: str | None = None, ax=None):
    """Heat map of per-PE utilisation (for example from :func:`pe_utilization`).

    Parameters
    ----------
    utilization : array_like
        ``R x C`` fractions in ``[0, 1]``.
    title : str, optional
    ax : matplotlib.axes.Axes, optional
        Draw into this axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = np.asarray(utilization, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"utilization must be 2-D (rows x cols), got shape {values.shape}")
    rows, cols = values.shape
    fig, ax = _figure(ax, (min(2 + 0.4 * cols, 9), min(1.5 + 0.4 * rows, 8)))
    image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap="viridis", interpolation="nearest",
                      aspect="auto")
    fig.colorbar(image, ax=ax, label="useful MAC cycles / all cycles")
    ax.set_xlabel("PE column")
    ax.set_ylabel("PE row")
    ax.set_title(title or f"PE utilisation (mean {values.mean():.1%})")
    if rows * cols <= 64:
        for (r, c), value in np.ndenumerate(values):
            ax.text(c, r, f"{value:.2f}", ha="center", va="center",
                    color="white" if value < 0.6 else "black", fontsize=8)
    return fig


def plot_breakdown(runs: Mapping[str, object], *, ax=None, title: str = "Cycle breakdown"):
    """Stacked bars of the cycle breakdown of several runs, side by side.

    Parameters
    ----------
    runs : mapping of str to breakdown
        Label to a ``CycleBreakdown`` (anything with ``weight_load``, ``streaming``, ``stall``,
        ``drain`` and ``total`` attributes) or to a ``RunResult`` (its ``breakdown`` is used).
    ax : matplotlib.axes.Axes, optional
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not runs:
        raise ValueError("runs must name at least one run")
    labels = list(runs)
    breakdowns = [getattr(run, "breakdown", run) for run in runs.values()]
    for label, b in zip(labels, breakdowns, strict=True):
        if not all(hasattr(b, part) for part in _BREAKDOWN_PARTS):
            raise TypeError(f"run {label!r} must be a CycleBreakdown or a RunResult, got {b!r}")
    fig, ax = _figure(ax, (max(4.0, 1.2 * len(labels) + 2), 4))
    bottom = np.zeros(len(labels))
    for part, color in zip(_BREAKDOWN_PARTS, _BREAKDOWN_COLORS, strict=True):
        heights = np.array([getattr(b, part) for b in breakdowns], dtype=float)
        ax.bar(labels, heights, bottom=bottom, color=color, label=part.replace("_", " "))
        bottom += heights
    for i, b in enumerate(breakdowns):
        ax.annotate(f"{b.total:,}", (i, bottom[i]), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("cycles")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.08), frameon=False)
    ax.margins(y=0.1)
    return fig


def plot_roofline(points: Sequence[tuple[str, float, float]], *, peak: float, bandwidth: float,
                  ax=None, units: str = "ops/cycle", title: str = "Roofline"):
    """Roofline: attainable throughput against operational intensity, with measured points.

    Parameters
    ----------
    points : sequence of (label, intensity, throughput)
        Operational intensity (operations per byte moved) and achieved throughput (in
        ``units``) of each workload.
    peak : float
        Compute roof, in ``units``.
    bandwidth : float
        Memory bandwidth in bytes per unit of time of ``units``: the slope of the memory roof.
    ax : matplotlib.axes.Axes, optional
    units : str
        Throughput unit for the axis label.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not peak > 0 or not bandwidth > 0:
        raise ValueError(f"peak and bandwidth must be positive, got {peak!r} and {bandwidth!r}")
    for point in points:
        if len(point) != 3 or not point[1] > 0 or not point[2] > 0:
            raise ValueError(f"point must be (label, intensity > 0, throughput > 0), "
                             f"got {point!r}")
    fig, ax = _figure(ax, (6, 4))
    ridge = peak / bandwidth
    intensities = [p[1] for p in points] + [ridge]
    low, high = min(intensities) / 4, max(intensities) * 4
    xs = np.geomspace(low, high, 200)
    ax.loglog(xs, np.minimum(peak, bandwidth * xs), color="black", lw=2, label="roofline")
    ax.axvline(ridge, color="grey", ls=":", lw=1)
    ax.annotate(f"ridge {ridge:.4g} ops/byte", (ridge, peak), textcoords="offset points",
                xytext=(4, -12), fontsize=8, color="grey")
    for label, intensity, throughput in points:
        ax.plot(intensity, throughput, "o")
        ax.annotate(label, (intensity, throughput), textcoords="offset points", xytext=(5, 3),
                    fontsize=8)
    lowest = min([bandwidth * low] + [p[2] for p in points])
    ax.set_ylim(lowest / 2, peak * 2)
    ax.set_xlabel("operational intensity (ops/byte)")
    ax.set_ylabel(f"throughput ({units})")
    ax.set_title(title)
    return fig


def plot_intervals(rows: Sequence[tuple[str, float, float]], *, ax=None,
                   title: str = "Instruction timeline", unit: str = "cycle"):
    """Gantt chart of named intervals, one lane per distinct name, in order of first appearance.

    Also available as ``plot_timeline`` (its first name). For the timeline of a TPU run use
    :func:`systolic.tpu.plot_run_timeline`.

    Parameters
    ----------
    rows : sequence of (name, start, end)
        Intervals ``start <= t < end``, for example one per executed instruction. Each is a
        bar with a black outline, so intervals that follow each other without a gap stay
        apart; an interval with ``end == start`` is drawn as a diamond on its cycle.
    ax : matplotlib.axes.Axes, optional
    title : str
    unit : str
        Label of the time axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    if type(rows).__name__ == "RunReport":
        raise TypeError("rows must be (name, start, end) intervals, got a RunReport; plot a "
                        "TPU run with systolic.tpu.plot_run_timeline(report)")
    if not rows:
        raise ValueError("rows must hold at least one (name, start, end) interval")
    lanes: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        if (not isinstance(row, (tuple, list)) or len(row) != 3
                or not all(isinstance(t, numbers.Real) and not isinstance(t, (bool, np.bool_))
                           for t in row[1:])):
            raise TypeError(f"row must be (name, start, end) with numbers start and end, "
                            f"got {row!r}")
        if not row[2] >= row[1]:
            raise ValueError(f"row must be (name, start, end) with end >= start, got {row!r}")
        name, start, end = row
        lanes.setdefault(str(name), []).append((start, end - start))
    colors = matplotlib.colormaps["tab10"]
    fig, ax = _figure(ax, (8, 0.5 * len(lanes) + 1.5))
    for i, spans in enumerate(lanes.values()):
        # Outlines keep back-to-back intervals of one lane apart; a zero-length interval
        # (an instruction that took no cycle) is a diamond on its cycle.
        ax.broken_barh([(start, width) for start, width in spans if width > 0],
                       (i - 0.4, 0.8), facecolors=colors(i % 10), edgecolors="black",
                       linewidth=0.6)
        instants = [start for start, width in spans if width == 0]
        if instants:
            ax.plot(instants, [i] * len(instants), "D", color=colors(i % 10), markersize=6,
                    markeredgecolor="black", markeredgewidth=0.6, linestyle="none")
    ax.set_yticks(range(len(lanes)), list(lanes))
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return fig



#: The first name of :func:`plot_intervals`, kept working.
plot_timeline = plot_intervals

def _snapshot_text(state: Mapping[str, np.ndarray], r: int, c: int, stationary: str) -> str:
    x = f"x {int(state['x'][r, c])}" if state["x_valid"][r, c] else "x -"
    if stationary == "w_active":
        middle = f"w {int(state['w_active'][r, c])}"
    else:
        middle = f"acc {int(state['acc'][r, c])}"
    psum = f"p {int(state['psum'][r, c])}" if state["psum_valid"][r, c] else "p -"
    return f"{x}\n{middle}\n{psum}"


def _draw_snapshot(ax, state: Mapping[str, np.ndarray], cycle: int | None) -> None:
    from matplotlib.patches import Rectangle

    ax.clear()
    stationary = "w_active" if "w_active" in state else "acc"
    rows, cols = np.asarray(state["x"]).shape
    for r in range(rows):
        for c in range(cols):
            busy = bool(state["x_valid"][r, c])
            ax.add_patch(Rectangle((c + 0.05, r + 0.05), 0.9, 0.9,
                                   facecolor="#a6d96a" if busy else "#eeeeee",
                                   edgecolor="#333333"))
            ax.text(c + 0.5, r + 0.5, _snapshot_text(state, r, c, stationary), ha="center",
                    va="center", fontsize=max(5, 12 - max(rows, cols) // 2), family="monospace")
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal")
    ax.set_xticks([c + 0.5 for c in range(cols)], [str(c) for c in range(cols)])
    ax.set_yticks([r + 0.5 for r in range(rows)], [str(r) for r in range(rows)])
    ax.set_xlabel("column (x moves right)")
    ax.set_ylabel("row (w and psum move down)")
    ax.set_title("array state" if cycle is None else f"array state during cycle {cycle}")


def _check_state(state) -> None:
    missing = [name for name in ("x", "x_valid", "psum", "psum_valid") if name not in state]
    if missing or ("w_active" not in state and "acc" not in state):
        raise ValueError(f"state must hold the PE registers x, x_valid, psum, psum_valid and "
                         f"w_active (ws/is) or acc (os); missing {missing or ['w_active/acc']}")


def plot_snapshot(state: Mapping[str, np.ndarray], *, cycle: int | None = None, ax=None):
    """The array during one cycle: every PE with its x register, weight (or sum) and psum.

    Parameters
    ----------
    state : mapping of str to array
        PE register name to its ``R x C`` values during one cycle, such as
        ``SystolicArray.stepper(...).state`` or one cycle of ``RunResult.trace.registers``.
        PEs holding a valid x are shaded; invalid values are shown as ``-``.
    cycle : int, optional
        The cycle, for the title.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_state(state)
    rows, cols = np.asarray(state["x"]).shape
    fig, ax = _figure(ax, (1.3 * cols + 1.2, 1.1 * rows + 1))
    _draw_snapshot(ax, state, cycle)
    return fig


def animate_trace(trace, *, interval: int = 500):
    """Animation of the array state over the cycles of a trace, one frame per cycle.

    Each frame is a :func:`plot_snapshot`; :func:`animate_array` animates the fuller view of
    :func:`plot_array` (edge queues, de-skew, shadow weights, the switch wavefront).

    Parameters
    ----------
    trace
        ``RunResult.trace`` (``first_cycle`` and ``registers``: name to ``(n, R, C)`` arrays).
    interval : int
        Milliseconds per frame.

    Returns
    -------
    matplotlib.animation.FuncAnimation
        Show it in a notebook with ``IPython.display.HTML(anim.to_jshtml())``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    registers = trace.registers
    _check_state(registers)
    n, rows, cols = np.asarray(registers["x"]).shape
    fig, ax = plt.subplots(figsize=(1.3 * cols + 1.2, 1.1 * rows + 1))

    def frame(i: int):
        _draw_snapshot(ax, {name: values[i] for name, values in registers.items()},
                       trace.first_cycle + i)
        return []

    anim = FuncAnimation(fig, frame, frames=n, interval=interval, blit=False)
    plt.close(fig)
    return anim


#: Font size of bus values, and the width of one of their characters in inches (about 0.6 em).
_LABEL_POINTS = 7
_LABEL_CHAR_INCHES = 0.6 * _LABEL_POINTS / 72


def _fit_label(text: str, inches: float) -> str:
    """``text``, or its start and an ellipsis when it is wider than ``inches``.

    Labels of neighbouring segments used to run into each other (a 32-bit bus changing every
    cycle); read buses as signed (``read_vcd(signed=True)``) to keep them short.
    """
    room = int(inches / _LABEL_CHAR_INCHES)
    if len(text) <= room:
        return text
    return text[:max(room - 1, 0)] + "\u2026"


def plot_waveforms(signals: Mapping[str, Sequence[int | None]], *, first_cycle: int = 0,
                   ax=None, title: str = "Waveforms", signed: Mapping[str, int] | None = None):
    """Digital waveforms of per-cycle values, one lane per signal, like a waveform viewer.

    Signals whose values are all 0 or 1 are drawn as a line; other signals as a bus with its
    value (``x`` for unknown) written in every segment where it changes.

    Parameters
    ----------
    signals : mapping of str to sequence of int or None
        Signal name to its value during each cycle (``None`` for unknown), for example
        sampled from :func:`systolic.vcd.read_vcd` with :func:`systolic.vcd.value_at`. All
        sequences have the same length.
    first_cycle : int
        Cycle of the first value, for the time axis.
    ax : matplotlib.axes.Axes, optional
    title : str
    signed : mapping of str to int, optional
        Signal name to its width in bits, for buses whose values are unsigned bit patterns
        (as a VCD file stores them) of a signed register: they are shown as two's-complement
        numbers, so a 32-bit sum of -3 reads ``-3`` and not ``4294967293``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from systolic.plot import plot_waveforms
    >>> fig = plot_waveforms({"out_valid": [0, 1, 1], "out_data_0": [0, 4294967293, 7]},
    ...                      signed={"out_data_0": 32})
    >>> [t.get_text() for t in fig.axes[0].texts]
    ['0', '-3', '7']
    """
    from matplotlib.ticker import MaxNLocator

    if not signals:
        raise ValueError("signals must name at least one signal")
    signed = dict(signed or {})
    for name, bits in signed.items():
        if name not in signals:
            raise ValueError(f"signed names {name!r}, which is not one of the signals")
        check_int(f"signed[{name!r}]", bits, 2, 64)
    # a pattern with its top bit set is negative; values already negative are kept
    signals = {name: [v - (1 << signed[name]) if v is not None and name in signed
                      and v >= 1 << (signed[name] - 1) else v for v in values]
               for name, values in signals.items()}
    lengths = {name: len(values) for name, values in signals.items()}
    n = next(iter(lengths.values()))
    if any(length != n for length in lengths.values()) or n == 0:
        raise ValueError(f"every signal needs the same, non-zero number of cycles, got {lengths}")
    fig, ax = _figure(ax, (min(2 + 0.45 * n, 16), 0.45 * len(signals) + 1))
    # Inches per cycle on the time axis: a bus label is shortened to what its segment holds.
    per_cycle = ax.get_position().width * fig.get_figwidth() / n
    for lane, values in enumerate(signals.values()):
        base = -lane
        bits = all(v in (0, 1) for v in values)
        cycles = np.arange(first_cycle, first_cycle + n + 1)
        if bits:
            levels = [base - 0.35 + 0.7 * v for v in values]
            ax.step(cycles, levels + levels[-1:], where="post", color="tab:green", lw=1.2)
            continue
        previous = object()
        for i, value in enumerate(values):
            ax.plot([cycles[i], cycles[i + 1]], [base + 0.35] * 2, color="tab:blue", lw=1)
            ax.plot([cycles[i], cycles[i + 1]], [base - 0.35] * 2, color="tab:blue", lw=1)
            if value != previous:
                ax.plot([cycles[i]] * 2, [base - 0.35, base + 0.35], color="tab:blue", lw=1)
                held = next((j for j in range(i + 1, n) if values[j] != value), n) - i
                ax.text(cycles[i] + 0.1, base,
                        _fit_label("x" if value is None else str(value), held * per_cycle),
                        va="center", fontsize=_LABEL_POINTS, clip_on=True)
            previous = value
    ax.set_yticks([-lane for lane in range(len(signals))], list(signals))
    ax.set_xlim(first_cycle, first_cycle + n)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("cycle")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_array(trace, cycle: int, *, numbers: bool | None = None, color: str = "activity",
               queue: int = 4, pe: tuple[int, int] | None = None, ax=None):
    """The array during one cycle, with what waits at its edges and what leaves it.

    Drawn from the traced registers (contract sections 2 and 3): every PE coloured by what it
    does (multiplying, draining, loading a weight, holding a stationary value, idle), its
    ``x``, stationary weight ``w_active`` (bold) with the shadow weight ``w_shadow`` of the next
    tile beside it in grey (for output-stationary ``acc``, with ``hold`` in grey and an orange
    stripe while a finished sum drains through) and ``psum``; arrows for the values
    that move one PE on at the end of the cycle; at the left the x values waiting to enter each
    row (row ``r`` waits ``r`` cycles longer: the skew), at the top the weights waiting to enter
    each column; below, the de-skew registers and the output port. PEs whose ``x_flag`` is set
    are outlined in red: on weight-stationary arrays that is the tile switch, which travels as a
    diagonal wavefront.

    Parameters
    ----------
    trace : RunResult or ArrayTrace
        A run with ``trace=True`` (``engine="cycle"``), or its ``trace``. The edge queues and
        de-skew registers are read from the neighbouring cycles of the same trace, so they are
        empty where the trace window ends.
    cycle : int
        A cycle of the trace.
    numbers : bool, optional
        Write register values. By default only up to 8x8; larger arrays show colours alone.
    color : {"activity", "psum"}
        Colour PEs by activity (with a legend) or by ``|psum|`` (with a colour bar).
    queue : int
        How many cycles of the edge queues to show (0 to 64).
    pe : (int, int), optional
        Outline ``PE(row, column)`` and list all its registers beside the array.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        ``trace`` is not a run or a trace, or an argument has the wrong type.
    ValueError
        The run has no trace, or ``cycle``, ``color``, ``queue`` or ``pe`` is out of range.

    Examples
    --------
    >>> import numpy as np, systolic
    >>> from systolic.plot import plot_array
    >>> a = np.arange(1, 9, dtype=np.int8).reshape(2, 4)
    >>> b = np.ones((4, 3), np.int8)
    >>> run = systolic.SystolicArray(4, 3, "ws").run(a, b, engine="cycle", trace=True)
    >>> fig = plot_array(run, 6, pe=(1, 1))
    >>> fig.axes[0].get_title()
    '4x3 weight-stationary array, cycle 6'
    """
    size = _plot_array.figsize(trace, queue if isinstance(queue, int) else 4, pe)
    fig, ax = _figure(ax, size)
    _plot_array.draw_array(ax, trace, cycle, numbers=numbers, color=color, queue=queue, pe=pe)
    return fig


def animate_array(trace, *, cycles: range | None = None, interval: int = 500, **options):
    """Animation of :func:`plot_array` over the cycles of a trace, one frame per cycle.

    Parameters
    ----------
    trace : RunResult or ArrayTrace
        A run with ``trace=True`` (``engine="cycle"``), or its ``trace``.
    cycles : range, optional
        The cycles to show (within the trace); all by default.
    interval : int
        Milliseconds per frame.
    **options
        ``numbers``, ``color``, ``queue`` and ``pe`` of :func:`plot_array`.

    Returns
    -------
    matplotlib.animation.FuncAnimation
        Show it in a notebook with ``IPython.display.HTML(anim.to_jshtml())``; write it for
        slides with :func:`save_animation`.

    Examples
    --------
    >>> import numpy as np, systolic
    >>> from systolic.plot import animate_array
    >>> run = systolic.SystolicArray(2, 2, "ws").run(np.ones((2, 2), np.int8),
    ...                                              np.ones((2, 2), np.int8),
    ...                                              engine="cycle", trace=True)
    >>> html = animate_array(run, cycles=range(2, 5)).to_jshtml()
    >>> html.count("data:image/png;base64")
    3
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    frames = _plot_array.cycle_frames(trace, cycles)
    interval = check_int("interval", interval, 1, 60_000)
    unknown = set(options) - {"numbers", "color", "queue", "pe"}
    if unknown:
        raise TypeError(f"animate_array got unknown options {sorted(unknown)}")
    # draw the first frame now: bad options fail here, not inside the animation
    fig, ax = plt.subplots(layout="constrained",
                           figsize=_plot_array.figsize(trace, options.get("queue", 4),
                                                      options.get("pe")))
    _plot_array.draw_array(ax, trace, frames[0], **options)
    # Every frame has the same limits and legend: lay the figure out once, not per frame
    # (that halves the time of to_jshtml).
    fig.canvas.draw()
    fig.set_layout_engine("none")

    def frame(cycle: int):
        _plot_array.draw_array(ax, trace, cycle, next_frame=True, **options)
        return []

    anim = FuncAnimation(fig, frame, frames=frames, interval=interval, blit=False)
    plt.close(fig)
    return anim


def save_animation(animation, path, *, fps: int = 2, dpi: int | None = None):
    """Write an animation for slides or a web page, chosen by the file's suffix.

    Parameters
    ----------
    animation : matplotlib.animation.Animation
        For example from :func:`animate_array`.
    path : str or os.PathLike
        ``.gif`` (written with pillow), ``.mp4`` (needs ffmpeg) or ``.html`` (the
        self-contained player of ``to_jshtml``).
    fps : int
        Frames per second (1 to 60).
    dpi : int, optional
        Resolution of the frames (10 to 600); the figure's own by default. A lower one makes
        a smaller GIF.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, systolic
    >>> from systolic.plot import animate_array, save_animation
    >>> run = systolic.SystolicArray(2, 2, "ws").run(np.ones((2, 2), np.int8),
    ...                                              np.ones((2, 2), np.int8),
    ...                                              engine="cycle", trace=True)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = save_animation(animate_array(run, cycles=range(2, 4)),
    ...                          pathlib.Path(tmp) / "run.gif")
    ...     out.stat().st_size > 0
    True
    """
    return _plot_array.save(animation, path, fps, dpi)


def array_widget(trace, *, cycle: int | None = None, **options):
    """A notebook cycle slider over :func:`plot_array`, with the registers of a chosen PE.

    Needs ipywidgets (``pip install systolic[widgets]``). The slider redraws the view; the row
    and column boxes, or a click on a PE (with an interactive matplotlib backend such as
    ipympl), choose the PE whose registers are listed beside the array. Without ipywidgets the
    same cycles come back as an HTML animation (:func:`animate_array`), so a notebook still
    shows the run.

    Parameters
    ----------
    trace : RunResult or ArrayTrace
        A run with ``trace=True`` (``engine="cycle"``), or its ``trace``.
    cycle : int, optional
        The first cycle shown; the trace's first by default.
    **options
        ``numbers``, ``color`` and ``queue`` of :func:`plot_array`.

    Returns
    -------
    ipywidgets.VBox or IPython.display.HTML
        The widget (its ``figure`` attribute is the matplotlib figure it redraws), or the HTML
        animation when ipywidgets is not installed.

    Examples
    --------
    >>> import numpy as np, systolic
    >>> from systolic.plot import array_widget
    >>> run = systolic.SystolicArray(2, 2, "ws").run(np.ones((2, 2), np.int8),
    ...                                              np.ones((2, 2), np.int8),
    ...                                              engine="cycle", trace=True)
    >>> # in a notebook cell it shows the slider and the view (outside one, only the figure's
    >>> # repr, which is why the doctest run skips it)
    >>> widget = array_widget(run, cycle=3)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    inner = _plot_array._trace_of(trace)
    window = _plot_array._cycles(inner)
    first = window.start if cycle is None else _plot_array._check_cycle(inner, cycle)
    unknown = set(options) - {"numbers", "color", "queue"}
    if unknown:
        raise TypeError(f"array_widget got unknown options {sorted(unknown)}")
    try:
        import ipywidgets as widgets
    except ImportError:
        from IPython.display import HTML

        return HTML(animate_array(inner, cycles=range(first, window.stop),
                                  **options).to_jshtml())
    rows, cols = np.asarray(inner.registers["x"]).shape[1:]
    slider = widgets.IntSlider(value=first, min=window.start, max=window.stop - 1,
                               description="cycle")
    row = widgets.BoundedIntText(value=0, min=0, max=rows - 1, description="PE row")
    col = widgets.BoundedIntText(value=0, min=0, max=cols - 1, description="PE column")
    out = widgets.Output()
    with plt.ioff():
        fig, ax = plt.subplots(layout="constrained",
                               figsize=_plot_array.figsize(inner, options.get("queue", 4),
                                                          (0, 0)))

    def redraw(*_):
        _plot_array.draw_array(ax, inner, slider.value, pe=(row.value, col.value),
                               colorbar=False, **options)
        out.clear_output(wait=True)
        with out:
            from IPython.display import display

            display(fig)

    def clicked(event):
        # PE(r, c) covers the unit square from (c, r)
        if event.inaxes is ax and event.xdata is not None:
            c, r = int(np.floor(event.xdata)), int(np.floor(event.ydata))
            if 0 <= r < rows and 0 <= c < cols:
                row.value, col.value = r, c

    fig.canvas.mpl_connect("button_press_event", clicked)
    for control in (slider, row, col):
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([slider, widgets.HBox([row, col]), out])
    box.figure = fig
    return box
