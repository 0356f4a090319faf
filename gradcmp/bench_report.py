"""Rendering a sweep: rich tables, Markdown, CSV and baseline comparisons over the same records.

Each exporter is one function of the entries (see gradcmp.sweep.Entry); nothing here measures.
"""
from __future__ import annotations

import csv
import io
import json

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gradcmp.sweep import Entry, by_case
from gradcmp.report import STATUS_STYLE, _error, _time
from gradcmp.results import Comparison, Result
from gradcmp.units import human_bytes, human_time

BEST_STYLE = "bold green"


def _best(results: list[Result]) -> tuple[Result | None, Result | None]:
    """(fastest, leanest) among the ok rows of one configuration."""
    ok = [result for result in results if result.status == "ok"]
    timed = [result for result in ok if result.time_s is not None]
    sized = [result for result in ok if result.peak_bytes is not None]
    return (min(timed, key=lambda result: result.time_s) if timed else None,
            min(sized, key=lambda result: result.peak_bytes) if sized else None)


def _marks(result: Result, fastest: Result | None, leanest: Result | None) -> str:
    return ", ".join(word for word, best in (("fastest", fastest), ("leanest", leanest)) if result is best)


def _title(group: list[Entry]) -> str:
    run, knob = group[0].run, group[0].job.sweep
    fixed = " ".join(f"{key}={value}" for key, value in run.params.items() if key != knob)
    return "  ".join(part for part in (run.problem, fixed, f"{run.dtype} {run.device}", f"threads={run.threads}")
                     if part)


def _rows(group: list[Entry]):
    """(entry, result, fastest, leanest) for every row of a case, in order."""
    for entry in group:
        fastest, leanest = _best(entry.run.results)
        for result in entry.run.results:
            yield entry, result, fastest, leanest


HEADERS = ("strategy", "status", "time (median ± IQR)", "x primal", "peak mem", "saved", "rel. error", "best")


def _cells(result: Result) -> list[str]:
    x_primal = "-" if result.x_primal is None else f"{result.x_primal:.3g}x"
    return [result.strategy, result.status, _time(result.time_s, result.time_iqr_s), x_primal,
            human_bytes(result.peak_bytes), human_bytes(result.saved_bytes), _error(result.rel_error)]


def case_table(group: list[Entry]) -> Table:
    """One case's rows, grouped by configuration (one section per size); the fastest and the
    leanest of each configuration highlighted and named in the `best` column."""
    knob = group[0].job.sweep
    tolerance = group[0].job.tolerance
    table = Table(title=_title(group), title_justify="left", caption_justify="left",
                  caption=f"tolerance: rel. error <= {tolerance:.0e}" if tolerance is not None else None)
    stat_names = sorted({name for entry in group for result in entry.run.results for name in result.stats})
    for header in ((knob,) if knob else ()) + HEADERS + tuple(stat_names):
        table.add_column(header, justify="left" if header in ("strategy", "status", "best") else "right")
    for entry, result, fastest, leanest in _rows(group):
        cells: list = _cells(result)
        cells[1] = Text(result.status, style=STATUS_STYLE[result.status])
        if result is fastest:
            cells[2] = Text(cells[2], style=BEST_STYLE)
        if result is leanest:
            cells[4] = Text(cells[4], style=BEST_STYLE)
        if entry.job.over_tolerance(result):
            cells[6] = Text(cells[6], style="bold red")
        cells.append(_marks(result, fastest, leanest))
        cells.extend(str(result.stats.get(name, "-")) for name in stat_names)
        first = result is entry.run.results[0]
        table.add_row(*(([str(entry.run.params[knob]) if first else ""] if knob else []) + cells),
                      end_section=result is entry.run.results[-1])
    return table


def _notes(group: list[Entry]) -> list[str]:
    """Why rows were skipped or failed: once per strategy and status, with the sizes it happened at."""
    knob = group[0].job.sweep
    seen: dict[tuple[str, str], tuple[list, str]] = {}
    for entry in group:
        for result in entry.run.results:
            if result.reason:
                values, _ = seen.setdefault((result.strategy, result.status), ([], result.reason))
                values.append(entry.run.params[knob] if knob else None)
    return [f"{strategy} {status}" + (f" at {knob}={', '.join(map(str, values))}" if knob else "") +
            (f"; at {values[0]}" if len(values) > 1 else "") + f": {reason}"
            for (strategy, status), (values, reason) in seen.items()]


def bench_tables(entries: list[Entry], recommendations, laws) -> Group:
    """Per case: its table, the skip/failure reasons, the recommendation, then the scaling laws."""
    parts = []
    for group, recommendation in zip(by_case(entries), recommendations):
        parts.append(case_table(group))
        parts.extend(Text(note, style="yellow") for note in _notes(group))
        parts.extend(Text(f"-> {line}", style="bold") for line in recommendation.lines)
        problem_laws = [law for law in laws if law.problem == group[0].run.problem
                        and law.knob == group[0].job.sweep]
        if problem_laws:
            parts.append(Text(f"scaling with {problem_laws[0].knob}:"))
            parts.extend(Text(f"  {law.describe()}") for law in problem_laws)
        parts.append(Text(""))
    return Group(*parts)


def bench_markdown(entries: list[Entry], recommendations, laws) -> str:
    """The same tables as Markdown, best cells in bold, for pasting into a pull request."""
    out = []
    for group, recommendation in zip(by_case(entries), recommendations):
        knob = group[0].job.sweep
        out += [f"### {_title(group)}", ""]
        headers = ((knob,) if knob else ()) + HEADERS
        out.append("| " + " | ".join(headers) + " |")
        out.append("|" + "|".join("---" if header in ("strategy", "status", "best") else "---:"
                                  for header in headers) + "|")
        for entry, result, fastest, leanest in _rows(group):
            cells = _cells(result)
            if result is fastest:
                cells[2] = f"**{cells[2]}**"
            if result is leanest:
                cells[4] = f"**{cells[4]}**"
            cells.append(_marks(result, fastest, leanest))
            out.append("| " + " | ".join(([str(entry.run.params[knob])] if knob else []) + cells) + " |")
        out.append("")
        out += [f"- {note}" for note in _notes(group)]
        out += [f"- **{line}**" for line in recommendation.lines]
        out += [f"- scaling: {law.describe()}" for law in laws
                if law.problem == group[0].run.problem and law.knob == knob]
        out.append("")
    return "\n".join(out)


CSV_COLUMNS = ("case", "problem", "params", "dtype", "device", "threads", "strategy", "status", "reason",
               "time_s", "time_iqr_s", "primal_time_s", "peak_bytes", "saved_bytes", "rel_error",
               "max_abs_error", "tolerance", "stats")


def bench_csv(entries: list[Entry]) -> str:
    """One line per row, numbers unformatted (seconds, bytes); params and stats as JSON objects."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        run = entry.run
        for result in run.results:
            writer.writerow([entry.job.case, run.problem, json.dumps(run.params), run.dtype, run.device,
                             run.threads, result.strategy, result.status, result.reason or "",
                             *("" if value is None else value for value in (
                                 result.time_s, result.time_iqr_s, result.primal_time_s, result.peak_bytes,
                                 result.saved_bytes, result.rel_error, result.max_abs_error,
                                 entry.job.tolerance)),
                             json.dumps(result.stats)])
    return buffer.getvalue()


def _ratio_text(ratio: float | None, threshold: float | None) -> Text:
    if ratio is None:
        return Text("-")
    style = "bold red" if threshold is not None and ratio > threshold else ""
    return Text(f"{ratio:.2f}x", style=style)


def comparison_table(comparisons: list[Comparison], threshold: float | None) -> Table:
    """Baseline vs now, row by row; ratios are now / baseline, red above the regression threshold."""
    table = Table(title="against the baseline (ratio = now / baseline; above 1 is slower or bigger)",
                  title_justify="left")
    for header in ("problem", "params", "strategy", "time then", "time now", "ratio", "mem then", "mem now",
                   "ratio"):
        table.add_column(header, justify="left" if header in ("problem", "params", "strategy") else "right")
    for comparison in comparisons:
        run = comparison.run
        table.add_row(run.problem, " ".join(f"{key}={value}" for key, value in run.params.items()),
                      comparison.new.strategy, human_time(comparison.old.time_s),
                      human_time(comparison.new.time_s), _ratio_text(comparison.time_ratio, threshold),
                      human_bytes(comparison.old.peak_bytes), human_bytes(comparison.new.peak_bytes),
                      _ratio_text(comparison.memory_ratio, threshold))
    return table


def machine_note(old: dict, new: dict) -> str | None:
    """A warning when the baseline ran on another CPU, device or torch: ratios then mix machine and code."""
    differences = [f"{key} {old.get(key)} -> {new.get(key)}" for key in ("cpu", "device_name", "torch")
                   if old.get(key) != new.get(key) and old.get(key) and new.get(key)]
    if not differences:
        return None
    return "the baseline ran elsewhere (" + "; ".join(differences) + "): ratios mix machine and code changes"
