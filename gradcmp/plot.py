"""`--plot`: time and peak memory against the swept knob, log-log, a line per strategy, a column per case.

matplotlib is the optional extra `plot`; `check_plot_path` tells the user how to install it before
a sweep starts, so a long run never ends in an ImportError.
"""
from __future__ import annotations

from pathlib import Path

from gradcmp.config import ConfigError

FORMATS = (".png", ".svg")
INSTALL_HINT = "pip install 'gradcmp[plot]' (or pip install matplotlib)"


def check_plot_path(path: str) -> None:
    """ConfigError unless the image format is known and matplotlib is importable."""
    if Path(path).suffix.lower() not in FORMATS:
        raise ConfigError(f"--plot: {path} must end in {' or '.join(FORMATS)}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError(f"--plot needs matplotlib, which is not installed: {INSTALL_HINT}") from None


def save_plot(entries, path: str) -> None:
    """One column per case (its sweep on the x axis, or the problem's main knob), time above memory."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import NullLocator

    from gradcmp.sweep import by_case

    groups = by_case(entries)
    figure, axes = pyplot.subplots(2, len(groups), figsize=(5 * len(groups), 7.5), squeeze=False)
    for column, group in enumerate(groups):
        knob = group[0].job.sweep or group[0].job.problem.main_knob
        strategies = dict.fromkeys(result.strategy for entry in group for result in entry.run.results)
        for strategy in strategies:
            points = [(entry.run.params[knob], result) for entry in group for result in entry.run.results
                      if result.strategy == strategy and result.status == "ok"]
            for row, (field, label) in enumerate((("time_s", "time per gradient (s)"),
                                                  ("peak_bytes", "peak memory (bytes)"))):
                series = [(size, getattr(result, field)) for size, result in points
                          if getattr(result, field)]
                if series:
                    axes[row][column].plot(*zip(*series), marker="o", label=strategy)
                axes[row][column].set_ylabel(label)
        fixed = " ".join(f"{key}={value}" for key, value in group[0].run.params.items() if key != knob)
        axes[0][column].set_title(f"{group[0].run.problem}\n{fixed}", fontsize=10)
        sizes = sorted({entry.run.params[knob] for entry in group})
        for row in range(2):
            axis = axes[row][column]
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_xticks(sizes, [str(size) for size in sizes])  # the measured sizes, not 4 x 10^0
            axis.xaxis.set_minor_locator(NullLocator())
            axis.set_xlabel(knob)
            axis.grid(True, which="both", alpha=0.3)
            if axis.lines:
                axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
