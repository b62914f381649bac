"""The array view of :mod:`systolic.plot`: PEs, skewed edge queues, de-skew and the tile switch.

Everything drawn is read from a trace (``RunResult.trace``), the registers of contract section
3 during each cycle; nothing is recomputed. The edges come from the same registers: the value
that enters ``PE(r, 0)`` during cycle ``t`` is what its ``x`` register holds during ``t + 1``,
so the left queue of row ``r`` lists the ``x`` register of ``PE(r, 0)`` in the cycles to come
(the skew shows as the staircase of the queues). Likewise the top queue lists the ``w``
register of ``PE(0, c)``, and the de-skew registers below column ``c`` hold the bottom PE's
``psum`` of the last ``C - 1 - c`` cycles (contract section 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._checks import check_bool, check_choice, check_int

#: What a PE does during a cycle, in the order of precedence, and its colour.
ACTIVITIES = ("multiplying", "draining", "loading weight", "holding", "idle")
_ACTIVITY_COLORS = ("#66c2a5", "#fc8d62", "#8da0cb", "#e5d8bd", "#f2f2f2")
_SWITCH_COLOR = "#d7191c"
_COLORS = ("activity", "psum")
#: Above this many rows or columns the view leaves the numbers out (the dense mode).
_DENSE_ABOVE = 8


def _trace_of(trace):
    """The ``ArrayTrace`` of ``trace`` (an ``ArrayTrace`` or a ``RunResult`` with a trace)."""
    inner = getattr(trace, "trace", trace)
    if inner is None:
        raise ValueError("the run has no trace: run it with engine='cycle', trace=True")
    if not hasattr(inner, "registers") or not hasattr(inner, "first_cycle"):
        raise TypeError(f"trace must be a RunResult with a trace or an ArrayTrace, "
                        f"got {type(trace).__name__}")
    return inner


def _cycles(trace) -> range:
    n = np.asarray(trace.registers["x"]).shape[0]
    return range(trace.first_cycle, trace.first_cycle + n)


def _check_cycle(trace, cycle) -> int:
    window = _cycles(trace)
    return check_int("cycle", cycle, window.start, window.stop - 1)


def activity(trace, cycle: int) -> np.ndarray:
    """What every PE does during ``cycle``: an index into :data:`ACTIVITIES` per PE.

    A PE is *multiplying* when its ``x_valid`` register is set (its ``psum`` holds a sum with its
    product), *draining* when it passes a finished sum down without a product (``psum_valid``
    alone, output-stationary drain), *loading weight* when a weight passes through it
    (``w_valid``), *holding* when it keeps a non-zero stationary value (``w_active`` or
    ``w_shadow``, or ``acc`` or ``hold``) and *idle* otherwise.
    """
    trace = _trace_of(trace)
    i = _check_cycle(trace, cycle) - trace.first_cycle
    reg = {name: np.asarray(values[i]) for name, values in trace.registers.items()}
    kept = ("w_active", "w_shadow") if "w_active" in reg else ("acc", "hold")
    states = [reg["x_valid"] != 0,
              reg["psum_valid"] != 0,
              reg["w_valid"] != 0 if "w_active" in reg else np.zeros_like(reg["x_valid"], bool),
              (reg[kept[0]] != 0) | (reg[kept[1]] != 0)]
    return np.select(states, range(len(states)), default=len(states)).astype(np.int8)


def _add(ax, patch) -> None:
    # add_artist, not add_patch: the limits are set once at the end, and updating them per
    # patch made a 16x16 view take a second
    ax.add_artist(patch)


def _text(ax, x, y, text, gid, **kwargs):
    ax.text(x, y, text, gid=gid, ha="center", va="center", family="monospace", **kwargs)


def _edge_values(trace, i: int, name: str, valid: str, r: int, c: int, slots: int) -> list:
    """The register ``name`` of ``PE(r, c)`` during the ``slots`` cycles after index ``i``:
    what enters the PE during cycles ``i .. i + slots - 1`` (``None`` when not valid or beyond
    the trace), with the flag of each."""
    values = trace.registers[name]
    n = values.shape[0]
    out = []
    for k in range(slots):
        j = i + k + 1
        if j >= n or not trace.registers[valid][j, r, c]:
            out.append(None)
        else:
            out.append((int(values[j, r, c]), bool(trace.registers["x_flag"][j, r, c])))
    return out


def draw_array(ax, trace, cycle: int, *, numbers: bool | None = None, color: str = "activity",
               queue: int = 4, pe: tuple[int, int] | None = None, colorbar: bool = True,
               next_frame: bool = False) -> None:
    """Draw the array view of ``cycle`` into ``ax`` (cleared first); see ``plot.plot_array``.

    ``next_frame``: ``ax`` already shows the view of another cycle of the same trace with the
    same options; only the PEs, edges and title are redrawn, the axes, ticks and legend kept
    (an animation frame then draws in about half the time).
    """
    from matplotlib.patches import FancyArrow, Patch, Rectangle

    trace = _trace_of(trace)
    cycle = _check_cycle(trace, cycle)
    check_choice("color", color, _COLORS)
    queue = check_int("queue", queue, 0, 64)
    regs = trace.registers
    n, rows, cols = np.asarray(regs["x"]).shape
    numbers = max(rows, cols) <= _DENSE_ABOVE if numbers is None else check_bool("numbers",
                                                                               numbers)
    if pe is not None:
        if not isinstance(pe, (tuple, list)) or len(pe) != 2:
            raise TypeError(f"pe must be a (row, column) pair, got {pe!r}")
        pe = (check_int("pe row", pe[0], 0, rows - 1), check_int("pe column", pe[1], 0, cols - 1))
    i = cycle - trace.first_cycle
    reg = {name: np.asarray(values[i]) for name, values in regs.items()}
    ws = "w_active" in reg
    if next_frame:
        for artist in [*ax.texts, *ax.patches, *ax.lines]:
            artist.remove()
    else:
        ax.clear()
    fs = 8 if numbers else 6
    box = 0.84
    lo = (1 - box) / 2
    kinds = activity(trace, cycle)
    if color == "psum":
        import matplotlib

        magnitude = np.abs(reg["psum"].astype(float))
        top = max(1.0, float(np.abs(regs["psum"]).max()))
        cmap = matplotlib.colormaps["Blues"]
        faces = cmap(0.05 + 0.75 * magnitude / top)
    else:
        faces = np.array(_ACTIVITY_COLORS, dtype=object)[kinds]

    for r in range(rows):
        for c in range(cols):
            switching = bool(reg["x_flag"][r, c] and reg["x_valid"][r, c])
            _add(ax, Rectangle((c + lo, r + lo), box, box, facecolor=faces[r, c],
                                   edgecolor=_SWITCH_COLOR if switching else "#444444",
                                   lw=2.2 if switching else 0.6, gid=f"pe {r} {c}"))
            if not ws and reg["psum_valid"][r, c]:
                # the output-stationary drain path runs beside the multiplications: a stripe
                # at the foot of the PE marks a finished sum moving down through it
                _add(ax, Rectangle((c + lo, r + lo + box - 0.12), box, 0.12,
                                       facecolor=_ACTIVITY_COLORS[1], lw=0,
                                       gid=f"drain {r} {c}"))
            if not numbers:
                continue
            if reg["x_valid"][r, c]:
                _text(ax, c + 0.5, r + 0.27, f"x {int(reg['x'][r, c])}", f"x {r} {c}",
                      fontsize=fs)
            if ws:
                _text(ax, c + 0.5, r + 0.5, f"w {int(reg['w_active'][r, c])}",
                      f"w_active {r} {c}", fontsize=fs, fontweight="bold")
                # the shadow weight, loaded for the next tile, in grey under the active one
                _text(ax, c + 0.78, r + 0.5, f"{int(reg['w_shadow'][r, c])}",
                      f"w_shadow {r} {c}", fontsize=fs - 2, color="#777777")
            else:
                _text(ax, c + 0.5, r + 0.5, f"a {int(reg['acc'][r, c])}", f"acc {r} {c}",
                      fontsize=fs, fontweight="bold")
                # the finished sum waiting to drain, in grey beside the running one
                _text(ax, c + 0.8, r + 0.5, f"{int(reg['hold'][r, c])}", f"hold {r} {c}",
                      fontsize=fs - 2, color="#777777")
            if reg["psum_valid"][r, c]:
                _text(ax, c + 0.5, r + 0.73, f"p {int(reg['psum'][r, c])}", f"psum {r} {c}",
                      fontsize=fs)
    # What moves on to the next PE at the end of the cycle: x right, psum (and w) down.
    arrow = dict(width=0.02, head_width=0.09, head_length=0.06, length_includes_head=True,
                 lw=0)
    if numbers:
        for r, c in np.argwhere(reg["x_valid"] != 0):
            if c + 1 < cols:
                _add(ax, FancyArrow(c + 1 - lo, r + 0.3, 2 * lo, 0, color="#1b7837",
                                        **arrow))
        for r, c in np.argwhere((reg["psum_valid"] != 0) | (reg["w_valid"] != 0)):
            if r + 1 < rows:
                _add(ax, FancyArrow(c + 0.5, r + 1 - lo, 0, 2 * lo, color="#2c7bb6",
                                        **arrow))

    # Left: the x values waiting to enter each row (skewed by r cycles on the way).
    for r in range(rows):
        for k, value in enumerate(_edge_values(trace, i, "x", "x_valid", r, 0, queue)):
            x0 = -1 - k
            _add(ax, Rectangle((x0 + 0.2, r + 0.25), 0.6, 0.5, facecolor="#ffffff",
                                   edgecolor="#aaaaaa" if value is None else (
                                       _SWITCH_COLOR if value[1] else "#1b7837"),
                                   lw=0.5 if value is None else 1.2))
            if value is not None and numbers:
                _text(ax, x0 + 0.5, r + 0.5, str(value[0]), f"queue x {r} {k}", fontsize=fs)
    # Top: the weights (ws) or second operands (os) waiting to enter each column.
    top_name, top_valid = ("w", "w_valid") if ws else ("w", "x_valid")
    for c in range(cols):
        for k, value in enumerate(_edge_values(trace, i, top_name, top_valid, 0, c, queue)):
            y0 = -1 - k
            _add(ax, Rectangle((c + 0.25, y0 + 0.2), 0.5, 0.6, facecolor="#ffffff",
                                   edgecolor="#aaaaaa" if value is None else "#2c7bb6",
                                   lw=0.5 if value is None else 1.2))
            if value is not None and numbers:
                _text(ax, c + 0.5, y0 + 0.5, str(value[0]), f"queue w {c} {k}", fontsize=fs)
    # Bottom: the de-skew registers of each column; the last one of a chain drives the output
    # port, so all columns of one result vector leave together (column C-1 has none and its
    # port shows the bottom PE's psum directly).
    out_row = rows + max(cols - 2, 0)
    for c in range(cols):
        depth = cols - 1 - c
        ax.plot([c + 0.5, c + 0.5], [rows - lo, out_row + 0.2], color="#bbbbbb", lw=0.6,
                zorder=0)
        for j in range(1, depth + 1) if depth else [0]:
            back = i - j
            y0 = out_row - depth + j
            port = j == depth
            valid = back >= 0 and bool(regs["psum_valid"][back, rows - 1, c])
            _add(ax, Rectangle((c + 0.2, y0 + 0.2), 0.6, 0.6,
                                   facecolor="#fee8c8" if valid and port else "#ffffff",
                                   edgecolor="#e66101" if valid else "#aaaaaa",
                                   lw=1.2 if valid else 0.5))
            if valid and numbers:
                _text(ax, c + 0.5, y0 + 0.5, str(int(regs["psum"][back, rows - 1, c])),
                      f"out {c}" if port else f"deskew {c} {j}", fontsize=fs - 1)
    ax.text(-0.5 - queue / 2, -0.6, "x enters\n(skewed) \u2192", ha="center", va="center",
            fontsize=7, color="#1b7837")
    ax.text(cols + 0.1, -0.5, "\u2193 w (top queue)" if ws else "\u2193 w operand",
            ha="left", va="center", fontsize=7, color="#2c7bb6")
    ax.text(cols + 0.1, out_row + 0.5, "out_data (de-skewed)", ha="left", va="center",
            fontsize=7, color="#e66101")
    if pe is not None:
        r, c = pe
        _add(ax, Rectangle((c + lo / 2, r + lo / 2), 1 - lo, 1 - lo, fill=False,
                               edgecolor="black", lw=2.5, ls="--"))
        lines = [f"PE({r}, {c}) in cycle {cycle}"] + [
            f"{name:>10} {int(values[r, c])}" for name, values in reg.items()]
        ax.text(cols + 0.1, rows / 2, "\n".join(lines), ha="left", va="center", fontsize=7,
                family="monospace", gid="pe registers",
                bbox=dict(facecolor="white", edgecolor="#444444"))
    kind = "weight-stationary" if ws else "output-stationary"
    ax.set_title(f"{rows}x{cols} {kind} array, cycle {cycle}", fontsize=10)
    if next_frame:
        return
    ax.set_xlim(-queue - 0.2, cols + (3.2 if pe is not None else 2.2))
    ax.set_ylim(out_row + 1.1, -queue - 0.2)
    ax.set_aspect("equal")
    ax.set_xticks([c + 0.5 for c in range(cols)], [str(c) for c in range(cols)] if numbers
                  or cols <= 16 else [str(c) if c % 4 == 0 else "" for c in range(cols)])
    ax.set_yticks([r + 0.5 for r in range(rows)], [str(r) for r in range(rows)])
    ax.tick_params(labelsize=7, length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xlabel("PE column")
    ax.set_ylabel("PE row")
    if color == "activity":
        handles = [Patch(facecolor=face, edgecolor="#444444", label=name)
                   for name, face in zip(ACTIVITIES, _ACTIVITY_COLORS)]
        handles.append(Patch(facecolor="white", edgecolor=_SWITCH_COLOR, lw=2.2,
                             label="tile switch (x_flag)" if ws else "last pair (x_flag)"))
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                  frameon=False)
    elif colorbar:
        import matplotlib
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        scale = ScalarMappable(Normalize(0, max(1.0, float(np.abs(regs["psum"]).max()))),
                               matplotlib.colormaps["Blues"])
        ax.figure.colorbar(scale, ax=ax, label="|psum|", shrink=0.6)


def figsize(trace, queue: int, pe) -> tuple[float, float]:
    rows, cols = np.asarray(_trace_of(trace).registers["x"]).shape[1:]
    per = 0.75 if max(rows, cols) <= _DENSE_ABOVE else 0.32
    return (per * (cols + queue + 3 + (3 if pe is not None else 0)) + 1.6,
            per * (rows + cols + queue + 1) + 0.8)


def cycle_frames(trace, cycles) -> range:
    trace = _trace_of(trace)
    window = _cycles(trace)
    if cycles is None:
        return window
    if not isinstance(cycles, range):
        raise TypeError(f"cycles must be a range of cycles, got {cycles!r}")
    if not cycles or cycles.start < window.start or cycles[-1] >= window.stop:
        raise ValueError(f"cycles must be a non-empty range within the trace's cycles "
                         f"{window.start}..{window.stop - 1}, got {cycles!r}")
    return cycles


def save(animation, path, fps: int, dpi: int | None) -> Path:
    """Write ``animation`` to ``path``: ``.gif`` (pillow), ``.mp4`` (ffmpeg) or ``.html``."""
    from matplotlib.animation import Animation

    if not isinstance(animation, Animation):
        raise TypeError(f"animation must be a matplotlib Animation, got "
                        f"{type(animation).__name__}")
    fps = check_int("fps", fps, 1, 60)
    dpi = None if dpi is None else check_int("dpi", dpi, 10, 600)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".html":
        # to_jshtml draws at the figure's own resolution
        path.write_text(animation.to_jshtml(fps=fps))
    elif suffix == ".gif":
        animation.save(path, writer="pillow", fps=fps, dpi=dpi)
    elif suffix == ".mp4":
        animation.save(path, writer="ffmpeg", fps=fps, dpi=dpi)
    else:
        raise ValueError(f"path must end in .gif, .mp4 or .html, got {str(path)!r}")
    return path
