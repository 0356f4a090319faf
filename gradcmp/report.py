"""Rendering: Runs and registries in, rich tables out. Nothing here measures."""
from __future__ import annotations

import sys

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gradcmp.results import Run
from gradcmp.units import human_bytes, human_time

STATUS_STYLE = {"ok": "green", "skipped": "yellow", "failed": "bold red"}
# Below this many columns a table's cells shrink to a character: each row becomes a block of lines instead.
NARROW = 60


def plus_minus() -> str:
    """'±' where stdout can encode it, '+-' where it cannot (PYTHONIOENCODING=ascii, a latin-less locale)."""
    try:
        "±".encode(sys.stdout.encoding or "ascii")
        return "±"
    except (UnicodeEncodeError, LookupError):
        return "+-"


def narrow_blocks(title: str, headers, rows) -> Group:
    """A table for a narrow terminal: the title, then per row its first cell and `header: value` lines."""
    lines = [Text(title, style="italic")]
    for cells in rows:
        lines.append(Text(str(cells[0]), style="bold"))
        lines.extend(Text(f"  {header}: ") + (cell if isinstance(cell, Text) else Text(str(cell)))
                     for header, cell in zip(headers[1:], cells[1:]) if str(cell) not in ("", "-"))
    return Group(*lines)


def _error(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}x" if value >= 100 else f"{value:.3g}x"


def _time(median: float | None, iqr: float | None) -> str:
    if median is None:
        return "-"
    return f"{human_time(median)} {plus_minus()} {human_time(iqr)}"


def run_table(run: Run, width: int | None = None) -> Group:
    """The table of one Run, with the instance facts above it and the reasons for skips below;
    one block per row on a terminal narrower than NARROW columns."""
    params = " ".join(f"{key}={value}" for key, value in run.params.items())
    facts = "  ".join(f"{key}: {value:.3g}" if isinstance(value, float) else f"{key}: {value}"
                      for key, value in run.info.items())
    title = f"{run.problem}  {params}  {run.dtype} {run.device}  threads={run.threads}"
    table = Table(title=title, caption=facts or None, title_justify="left", caption_justify="left")
    stat_names = sorted({name for result in run.results for name in result.stats})
    compiled = any(result.compile_s is not None for result in run.results)
    headers = ("strategy", "status", f"time (median {plus_minus()} IQR)", *(("compile",) if compiled else ()),
               "x primal", "peak mem", "saved", "rel. error", "max abs err", *stat_names)
    for header in headers:
        table.add_column(header, justify="left" if header in ("strategy", "status") else "right")
    notes, rows = [], []
    for result in run.results:
        rows.append((
            result.strategy,
            Text(result.status, style=STATUS_STYLE[result.status]),
            _time(result.time_s, result.time_iqr_s),
            *((human_time(result.compile_s),) if compiled else ()),
            _ratio(result.x_primal),
            human_bytes(result.peak_bytes),
            human_bytes(result.saved_bytes),
            _error(result.rel_error),
            _error(result.max_abs_error),
            *(str(result.stats.get(name, "-")) for name in stat_names),
        ))
        table.add_row(*rows[-1])
        if result.reason:
            notes.append(Text(f"{result.strategy} {result.status}: {result.reason}"))
        notes.extend(Text(f"{result.strategy}: {note}") for note in result.notes)
    primal = next((r.primal_time_s for r in run.results if r.primal_time_s is not None), None)
    lines = [Text(f"one loss evaluation (primal): {human_time(primal)}")] if primal else []
    if width is not None and width < NARROW:
        table = narrow_blocks(title + (f"\n{facts}" if facts else ""), headers, rows)
    return Group(table, *lines, *notes)


def list_tables(problems, strategies) -> Group:
    """`gradcmp list`: problems with knobs, strategies, and which strategy applies to which problem."""
    problem_table = Table(title="problems", title_justify="left")
    for header in ("name", "description", "params (defaults; the first is --size)"):
        problem_table.add_column(header)
    for problem in problems.values():
        problem_table.add_row(problem.name, problem.description,
                              "\n".join(knob.describe() for knob in problem.knobs))
    strategy_table = Table(title="strategies", title_justify="left")
    for header in ("name", "description"):
        strategy_table.add_column(header)
    for strategy in strategies.values():
        unavailable = strategy.unavailable()
        description = strategy.description + (f" [unavailable: {unavailable}]" if unavailable else "")
        strategy_table.add_row(strategy.name, Text(description))  # plain text: "[peers]" is not markup
    matrix = Table(title="applies to", title_justify="left")
    matrix.add_column("strategy")
    for problem in problems:
        matrix.add_column(problem, justify="center")
    for strategy in strategies.values():
        marks = []
        for problem in problems.values():
            applies = strategy.unavailable() is None and strategy.applies_to(problem) is None
            marks.append(Text("yes", style="green") if applies else Text("-", style="dim"))
        matrix.add_row(strategy.name, *marks)
    return Group(problem_table, strategy_table, matrix)
