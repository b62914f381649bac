"""A Gantt chart of a run's per-instruction timeline (needs matplotlib)."""

from __future__ import annotations

from ._machine import RunReport

__all__ = ["plot_run_timeline", "plot_timeline"]

_UNITS = ("host", "weights", "matrix", "activation")


def plot_run_timeline(report: RunReport, ax=None):
    """One lane per unit, one bar per instruction from its start to its end cycle.

    Every instruction is drawn, each bar outlined so that back-to-back instructions of one unit
    stay apart; one that takes no cycle (``end == start``, such as a Halt with nothing left to
    wait for) is a diamond. The ``control`` lane holds Nop, Sync and Halt. The legend lists
    where the matrix unit's cycles went (``RunReport.breakdown``: computing and each stall
    reason, with its cycles).

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

    Examples
    --------
    >>> from systolic.tpu import TPU, TPUConfig, Program, plot_run_timeline
    >>> report = TPU(TPUConfig(rows=4, cols=4)).run(
    ...     Program.parse("Read_Host_Memory 0, 0, 1\\nHalt"))
    >>> fig = plot_run_timeline(report)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['host', 'control']
    """
    from matplotlib.patches import Patch

    from ..plot import plot_intervals

    if not isinstance(report, RunReport):
        raise TypeError(f"report must be a RunReport, not {report!r}")
    # Lanes appear in the order of their first row: list the units in a fixed order.
    units = _UNITS + tuple(sorted({e.unit for e in report.timeline} - set(_UNITS)))
    rows = [("weight fetch" if unit == "weights" else unit, e.start, e.end)
            for unit in units for e in report.timeline if e.unit == unit]
    fig = plot_intervals(rows, ax=ax, unit="cycle",
                         title=f"{report.cycles:,} cycles, utilisation {report.utilization:.1%}")
    reasons = [Patch(fill=False, edgecolor="none", label=f"{name.replace('_', ' ')}: {n:,}")
               for name, n in report.breakdown.items() if n]
    target = ax if ax is not None else fig.axes[0]
    target.legend(handles=reasons, title="matrix unit cycles", fontsize=7, title_fontsize=7,
                  loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, handlelength=0,
                  handletextpad=0)
    return fig


#: The first name of :func:`plot_run_timeline`, kept working.
plot_timeline = plot_run_timeline
