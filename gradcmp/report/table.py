"""The terminal exporter: rich tables of cases, lists, comparisons and verdicts.

Each table fits its width: on a narrow layout the secondary columns move under the table, cells wrap at
spaces and never end in an ellipsis; below NARROW columns each row becomes a block of lines.
"""
from __future__ import annotations

import io

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gradcmp.report import cells
from gradcmp.report.case import SECONDARY, CaseView, case_view

STYLES = {"ok": "green", "skipped": "yellow", "failed": "bold red", "best": "bold green", "over": "bold red", "": ""}
# Below this many columns a table's cells shrink to a character: each row becomes a block of lines instead.
NARROW = 60


def narrow_blocks(title: str, headers, rows) -> Group:
    """A table for a narrow terminal: the title, then per row its first cell and `header: value` lines."""
    lines = [Text(title, style="italic")]
    for row in rows:
        lines.append(Text(str(row[0]), style="bold"))
        lines.extend(Text(f"  {header}: ") + (cell if isinstance(cell, Text) else Text(str(cell)))
                     for header, cell in zip(headers[1:], row[1:]) if str(cell) not in ("", "-"))
    return Group(*lines)


def _table(title: str | None, headers, rows, caption: str | None = None, sections=None) -> Table:
    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    for header in headers:
        left = header in ("strategy", "status", "best", "row", "name", "description")
        table.add_column(header, justify="left" if left else "right", overflow="fold",
                         no_wrap=header == "strategy")  # a name broken in two reads as two names
    for number, row in enumerate(rows):
        table.add_row(*row, end_section=bool(sections and number + 1 < len(rows) and sections[number + 1]))
    return table


def _fits(headers, rows, width: int) -> bool:
    """Whether every cell fits unwrapped (headers may wrap at spaces)."""
    widths = [max([max(map(len, header.split()))] + [len(str(row[i])) for row in rows])
              for i, header in enumerate(headers)]
    return sum(widths) + 3 * len(widths) + 1 <= width


def case_table(view: CaseView, width: int | None = None):
    """One case: the table; under it a small table of the counters (and of the secondary columns,
    where the table would not fit in `width`); the notes, the recommendation and the growth laws."""
    rows = [[Text(text, style=STYLES[mark]) for text, mark in row] for row in view.rows]
    under = list(view.under)
    main = [header for header in view.headers if header not in under]
    narrow = width is not None and width < NARROW
    if width is not None and not narrow and not _fits(main, [[row[view.headers.index(h)] for h in main]
                                                             for row in rows], width):
        under = [header for header in SECONDARY if header != "best"] + under
        main = [header for header in main if header not in SECONDARY]

    def pick(headers):
        return [[row[view.headers.index(header)] for header in headers] for row in rows]

    caption = "\n".join(view.caption) or None
    second = [*view.label_headers, *under]
    lower = [[*map(Text, label), *cells] for label, cells in zip(view.labels, pick(under))
             if any(str(cell) != "-" for cell in cells)]
    if narrow:
        rest = main[main.index("strategy") + 1:]
        blocks = [[Text(name), *cells] for name, cells in zip(view.names, pick(rest))]
        parts = [narrow_blocks(view.title + (f"\n{caption}" if caption else ""), ["row", *rest], blocks)]
        if under and lower:
            named = [[Text(name), *cells] for name, cells in zip(view.names, pick(under))
                     if any(str(cell) != "-" for cell in cells)]
            parts.append(narrow_blocks("counters", ["row", *under], named))
    else:
        parts = [_table(view.title, main, pick(main), caption, view.first_of)]
        if under and lower:
            parts.append(_table(None, second, lower))
    parts.extend(Text(note, style="yellow") for note in view.notes)
    parts.extend(Text(f"-> {line}", style="bold") for line in view.recommendation)
    if view.laws:
        parts.append(Text(f"scaling with {view.headers[0]}:"))
        parts.extend(Text(f"  {law}") for law in view.laws)
    return Group(*parts)


def sweep_tables(sweep, width: int | None = None) -> Group:
    """Every case of a finished sweep, one after another."""
    from gradcmp.sweep import by_case

    parts = []
    for number, group in enumerate(by_case(sweep.entries)):
        recommendation = sweep.recommendations[number] if number < len(sweep.recommendations) else None
        if number:
            parts.append(Text(""))
        parts.append(case_table(case_view(group, recommendation, sweep.laws), width))
    return Group(*parts)


def run_text(run, html: bool = False, width: int = 160) -> str:
    """A Run as `gradcmp run` shows it (its table, notes and recommendation), as text or HTML."""
    from rich.console import Console

    from gradcmp.analysis import recommend
    from gradcmp.records import CaseInfo, Entry

    console = Console(width=width, record=True, file=io.StringIO(), force_terminal=html)
    console.print(case_table(case_view([Entry(CaseInfo(1), run)], recommend([run])), width))
    return console.export_html(inline_styles=True) if html else console.export_text()


def list_tables(problems, strategies) -> Group:
    """`gradcmp list`: problems with params, strategies, and which strategy applies to which problem."""
    problem_table = Table(title="problems", title_justify="left")
    for header in ("name", "description", "params (defaults; the first is --size)"):
        problem_table.add_column(header)
    for problem in problems.values():
        problem_table.add_row(problem.name, problem.description,
                              "\n".join(param.describe() for param in problem.params))
    from gradcmp.strategies import representative

    strategy_table = Table(title="strategies (-s NAME or -s 'NAME(OPTION=VALUE,...)')", title_justify="left")
    for header in ("name", "options (defaults)", "description"):
        strategy_table.add_column(header)
    for family in strategies.values():
        strategy = representative(family)
        unavailable = strategy.unavailable()
        description = family.description + (f" [unavailable: {unavailable}]" if unavailable else "")
        options = "\n".join(option.describe() for option in family.options) or ("STRATEGY" if family.wraps else "")
        strategy_table.add_row(family.name, options, Text(description))  # plain text: "[peers]" is not markup
    matrix = Table(title="applies to", title_justify="left")
    matrix.add_column("strategy")
    for problem in problems:
        matrix.add_column(problem, justify="center")
    for strategy in map(representative, strategies.values()):
        marks = []
        for problem in problems.values():
            applies = strategy.unavailable() is None and strategy.applies_to(problem) is None
            marks.append(Text("yes", style="green") if applies else Text("-", style="dim"))
        matrix.add_row(strategy.name, *marks)
    return Group(problem_table, strategy_table, matrix)


def _ratio_text(ratio: float | None, threshold: float | None) -> Text:
    if ratio is None:
        return Text("-")
    return Text(f"{ratio:.2f}x", style="bold red" if threshold is not None and ratio > threshold else "")


def comparison(report, width: int | None = None) -> Group:
    """A gradcmp.gate.BaselineReport: its warnings first, the table (ratios now / baseline, red above the
    threshold), then the counts and the verdict."""
    parts = [Text(warning, style="yellow") for warning in report.warnings]
    if report.nothing_compared:
        return Group(*parts, Text(report.nothing_compared, style="bold red"))
    title = "against the baseline (ratio = now / baseline; above 1 is slower or bigger)"
    headers = ("row", "time then", "time now", "time ratio", "mem then", "mem now", "mem ratio")
    rows = [(f"{c.run.problem} {' '.join(f'{key}={value}' for key, value in c.run.params.items())} "
             f"{c.new.strategy}", cells.seconds(c.old.time_s), cells.seconds(c.new.time_s),
             _ratio_text(c.time_ratio, report.threshold), cells.size(c.old.peak_bytes),
             cells.size(c.new.peak_bytes), _ratio_text(c.memory_ratio, report.threshold))
            for c in report.comparisons]
    parts.append(narrow_blocks(title, headers, rows) if width is not None and width < NARROW
                 else _table(title, headers, rows))
    parts.append(Text(f"{len(report.comparisons)} rows compared with {report.path}; {report.only_now} only now, "
                      f"{report.only_in_baseline} only in the baseline"))
    if report.regressions:
        parts.append(Text(f"{len(report.regressions)} rows regressed beyond {report.threshold:g}x: "
                          + "; ".join(report.regressions), style="bold red"))
    elif report.threshold is not None:
        parts.append(Text(f"no row regressed beyond {report.threshold:g}x", style="green"))
    return Group(*parts)


def verdict_lines(verdict, path: str | None, lost: str | None, comparison=None) -> Group:
    """A gradcmp.gate.Verdict (and the baseline comparison, when there is one): the row counts, where the
    file is, and last the one line that says what sets the exit status."""
    counts = verdict.counts
    parts = [Text(f"{sum(counts.values())} rows: {counts['ok']} ok, {counts['skipped']} skipped, "
                  f"{counts['failed']} failed; results in {path}")]
    if lost:
        parts.append(Text(lost, style="bold red"))
    failures = list(verdict.failures)
    if comparison is not None and comparison.failed:
        failures += [f"{row}: regressed beyond {comparison.threshold:g}x" for row in comparison.regressions]
        if comparison.nothing_compared:
            failures.append(comparison.nothing_compared)
    if failures:
        parts.append(Text(f"gate FAILED on {len(failures)} rows: " + "; ".join(failures), style="bold red"))
    else:
        against = f", nor regressed beyond {comparison.threshold:g}x" if comparison is not None and \
            comparison.threshold is not None else ""
        parts.append(Text(f"gate passed: no row failed or exceeded its tolerance{against}" + (
            f" but those expected to ({', '.join(verdict.expected)})" if verdict.expected else ""), style="green"))
    return Group(*parts)
