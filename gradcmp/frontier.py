"""The memory frontier: which gradient is fastest for the memory it needs, and which fits a budget.

A point is one gradient measured: a configured strategy (its label says its options, e.g.
checkpoint(checkpoints=8,schedule=binomial)) on one problem configuration. Points of the same problem
configuration form a group; the Pareto front of a group keeps the points no other point beats on both
time and peak memory.
"""
from __future__ import annotations

from dataclasses import dataclass

from gradcmp.units import human_bytes, human_time


@dataclass(frozen=True)
class Point:
    label: str  # the strategy's label: "checkpoint(checkpoints=8,schedule=binomial)"
    time_s: float
    peak_bytes: float
    rel_error: float | None


def groups(entries, tolerance_of=lambda entry: None) -> dict[str, tuple[list[Point], float | None]]:
    """{configuration title: (its measured points, the tolerance they are held to)} from bench entries.
    Rows that failed, were skipped, or exceed the case's tolerance are no point."""
    found: dict[str, tuple[dict[str, Point], float | None]] = {}
    for entry in entries:
        run, tolerance = entry.run, tolerance_of(entry)
        shared = " ".join(f"{key}={value}" for key, value in run.params.items())
        points, _ = found.setdefault(f"{run.problem}  {shared}", ({}, tolerance))
        for result in run.results:
            if result.status != "ok" or result.time_s is None or result.peak_bytes is None:
                continue
            if tolerance is not None and not (result.rel_error is not None and result.rel_error <= tolerance):
                continue
            points.setdefault(result.strategy, Point(result.strategy, result.time_s, result.peak_bytes,
                                                     result.rel_error))
    return {title: (list(points.values()), tolerance) for title, (points, tolerance) in found.items()}


def pareto_front(points: list[Point]) -> list[Point]:
    """The points no other point beats on both time and memory (ties on both: the first kept), leanest first."""
    front = []
    for point in sorted(points, key=lambda p: (p.peak_bytes, p.time_s)):
        if not front or point.time_s < front[-1].time_s:
            front.append(point)
    return front


def budget_sentence(points: list[Point], budget: float, tolerance: float | None) -> str:
    """One sentence: the fastest point within `budget` bytes, and what the fastest overall would need."""
    within = f" within {_short(tolerance)}" if tolerance is not None else ""
    limit = human_bytes(budget).replace(".0 ", " ")
    if not points:
        return f"no gradient{within} was measured"
    fitting = [point for point in points if point.peak_bytes <= budget]
    fastest = min(points, key=lambda point: point.time_s)
    if not fitting:
        leanest = min(points, key=lambda point: point.peak_bytes)
        return (f"under {limit} no gradient{within} fits; the leanest is {leanest.label} "
                f"({human_time(leanest.time_s)}, {human_bytes(leanest.peak_bytes)})")
    best = min(fitting, key=lambda point: point.time_s)
    sentence = (f"under {limit} the fastest gradient{within} is {best.label} "
                f"({human_time(best.time_s)}, {human_bytes(best.peak_bytes)})")
    if fastest is not best:
        sentence += f"; {fastest.label} would need {human_bytes(fastest.peak_bytes)}"
    return sentence


def _short(number: float) -> str:
    """1e-08 -> 1e-8."""
    mantissa, exponent = f"{number:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def front_report(entries, budget: float | None):
    """Per configuration: the Pareto front as a table, and with a budget the sentence under it."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts = []
    for title, (points, tolerance) in groups(entries, lambda entry: entry.case.tolerance).items():
        table = Table(title=f"time-memory Pareto front: {title}", title_justify="left")
        for header in ("gradient", "time", "peak mem", "rel. error"):
            table.add_column(header, justify="left" if header == "gradient" else "right")
        for point in pareto_front(points):
            error = "-" if point.rel_error is None else f"{point.rel_error:.1e}"
            table.add_row(point.label, human_time(point.time_s), human_bytes(point.peak_bytes), error)
        parts.append(table)
        if budget is not None:
            parts.append(Text(budget_sentence(points, budget, tolerance)))
    return Group(*parts)
