"""A Gantt chart of a run's per-instruction timeline (needs matplotlib)."""

from __future__ import annotations

from ._machine import RunReport

__all__ = ["plot_run_timeline", "plot_timeline"]

_UNITS = ("host", "weights", "matrix", "activation")


def plot_run_timeline(report: RunReport, ax=None):
    """One lane per unit, one bar per instruction from its start to its end cycle.

    Also available as ``systolic.tpu.plot_timeline`` (its first name); not to be confused with
    :func:`systolic.plot.plot_intervals`, which draws any list of named intervals.

    Parameters
    ----------
    report : RunReport
    ax : matplotlib Axes, optional
        Drawn into a new figure when omitted.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..plot import plot_intervals

    if not isinstance(report, RunReport):
        raise TypeError(f"report must be a RunReport, not {report!r}")
    # Lanes appear in the order of their first row: list the units in a fixed order.
    rows = [("weight fetch" if unit == "weights" else unit, e.start, e.end)
            for unit in _UNITS for e in report.timeline if e.unit == unit and e.end > e.start]
    return plot_intervals(rows, ax=ax, unit="cycle",
                          title=f"{report.cycles:,} cycles, utilisation {report.utilization:.1%}")


#: The first name of :func:`plot_run_timeline`, kept working.
plot_timeline = plot_run_timeline
