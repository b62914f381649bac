"""A Gantt chart of a run's per-instruction timeline (needs matplotlib)."""

from __future__ import annotations

from ._machine import RunReport

__all__ = ["plot_timeline"]

_UNITS = ("host", "weights", "matrix", "activation")
_COLOURS = {"host": "tab:green", "weights": "tab:orange", "matrix": "tab:blue",
            "activation": "tab:purple"}


def plot_timeline(report: RunReport, ax=None):
    """One bar per instruction on the lane of its unit, from its start to its end cycle.

    Parameters
    ----------
    report : RunReport
    ax : matplotlib Axes, optional
        Drawn into a new figure when omitted.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(report, RunReport):
        raise TypeError(f"report must be a RunReport, not {report!r}")
    if ax is None:
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(9, 2.8))
    else:
        fig = ax.figure
    for lane, unit in enumerate(_UNITS):
        spans = [(e.start, max(e.end - e.start, 1)) for e in report.timeline
                 if e.unit == unit and e.end > e.start]
        ax.broken_barh(spans, (lane - 0.4, 0.8), facecolors=_COLOURS[unit],
                       edgecolors="white", linewidth=0.3)
    ax.set_yticks(range(len(_UNITS)), [u if u != "weights" else "weight fetch"
                                       for u in _UNITS])
    ax.set_xlim(0, max(report.cycles, 1))
    ax.set_xlabel("cycle")
    ax.set_title(f"{report.cycles:,} cycles, utilisation {report.utilization:.1%}")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
