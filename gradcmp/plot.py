"""`--plot`: time and peak memory against the swept param, log-log, a line per strategy, a column per case;
with --front or --memory-budget, time against peak memory instead, the Pareto front marked.

matplotlib is the optional extra `plot`; `check_plot_path` tells the user how to install it before
a sweep starts, so a long run never ends in an ImportError.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

from gradcmp.config import ConfigError

FORMATS = (".png", ".svg")
INSTALL_HINT = "pip install 'gradcmp[plot]' (or pip install matplotlib)"


def check_plot_path(path: str) -> None:
    """ConfigError unless the image format is known and matplotlib importable (where the file may go:
    gradcmp.paths.check_outputs)."""
    if Path(path).suffix.lower() not in FORMATS:
        raise ConfigError(f"--plot: {path} must end in {' or '.join(FORMATS)}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError(f"--plot needs matplotlib, which is not installed: {INSTALL_HINT}") from None


def save(entries, path: str, front: bool, budget: float | None) -> None:
    """The front plot (time against memory) with `front` or a budget, else the growth plot."""
    if front:
        save_front_plot(entries, path, budget)
    else:
        save_plot(entries, path)


def save_plot(entries, path: str) -> None:
    """One column per case (its sweep on the x axis, or the problem's main param), time above memory."""
    from matplotlib.ticker import NullLocator

    from gradcmp.sweep import by_case

    groups = by_case(entries)
    figure, axes = _pyplot().subplots(2, len(groups), figsize=(5 * len(groups), 7.5), squeeze=False)
    for column, group in enumerate(groups):
        param = group[0].case.sweep or next(iter(group[0].run.params), "size")
        strategies = dict.fromkeys(result.strategy for entry in group for result in entry.run.results)
        for strategy in strategies:
            points = [(entry.run.params[param], result) for entry in group for result in entry.run.results
                      if result.strategy == strategy and result.status == "ok"]
            for row, (field, label) in enumerate((("time_s", "time per gradient (s)"),
                                                  ("peak_bytes", "peak memory (bytes)"))):
                series = [(size, getattr(result, field)) for size, result in points
                          if getattr(result, field)]
                if series:
                    axes[row][column].plot(*zip(*series), marker="o", label=strategy)
                axes[row][column].set_ylabel(label)
        fixed = " ".join(f"{key}={value}" for key, value in group[0].run.params.items() if key != param)
        axes[0][column].set_title(f"{group[0].run.problem}\n{fixed}", fontsize=10)
        sizes = sorted({entry.run.params[param] for entry in group})
        for row in range(2):
            axis = axes[row][column]
            _log_log(axis)
            axis.set_xticks(sizes, [str(size) for size in sizes])  # the measured sizes, not 4 x 10^0
            axis.xaxis.set_minor_locator(NullLocator())
            axis.set_xlabel(param)
    _save(figure, path)


def save_front_plot(entries, path: str, budget: float | None) -> None:
    """One panel per configuration (gradcmp.frontier.groups): every gradient within tolerance as a
    point at (peak memory, time), log-log, labelled; the Pareto front joined as a staircase and
    ringed; the budget, when given, a vertical line."""
    from gradcmp.frontier import groups, pareto_front
    from gradcmp.units import human_bytes

    found = groups(entries, lambda entry: entry.case.tolerance)
    figure, axes = _pyplot().subplots(1, len(found), figsize=(6.5 * len(found), 5), squeeze=False)
    for axis, (title, (points, tolerance)) in zip(axes[0], found.items()):
        front = pareto_front(points)
        axis.scatter([p.peak_bytes for p in points], [p.time_s for p in points], color="tab:gray", zorder=2)
        for point in points:
            axis.annotate(point.label, (point.peak_bytes, point.time_s), fontsize=7, xytext=(4, 3),
                          textcoords="offset points")
        if front:
            axis.step([p.peak_bytes for p in front], [p.time_s for p in front], where="post",
                      color="tab:red", label="Pareto front")
            axis.scatter([p.peak_bytes for p in front], [p.time_s for p in front], s=90, facecolors="none",
                         edgecolors="tab:red", zorder=3)
        if budget is not None:
            axis.axvline(budget, color="tab:blue", linestyle="--", label=f"budget {human_bytes(budget)}")
        within = "" if tolerance is None else f", rel. error <= {tolerance:.0e}"
        axis.set_title(textwrap.fill(f"{title}{within}", 90), fontsize=7)
        _log_log(axis)
        axis.set_xlabel("peak memory (bytes)")
        axis.set_ylabel("time per gradient (s)")
    _save(figure, path)


def _pyplot():
    """matplotlib's pyplot on the file-only backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def _log_log(axis) -> None:
    """Both scales logarithmic (before any ticks are set: a scale change resets them)."""
    axis.set_xscale("log")
    axis.set_yscale("log")


def _save(figure, path: str) -> None:
    """Grid and legend on every panel, then write the figure and free it."""
    for axis in figure.axes:
        axis.grid(True, which="both", alpha=0.3)
        if axis.lines:
            axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    _pyplot().close(figure)
