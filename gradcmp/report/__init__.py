"""Rendering: records in, text out; nothing here measures.

cells     how one time, ratio, size or error reads, everywhere
case      what a case (or a run: a case of one configuration) shows, as cells
table     the terminal tables (cases, lists, comparisons, the gate's verdict)
markdown  the same cases as Markdown; csvtext one line per row; jsontext the records
sheet     `gradcmp list PROBLEM`
"""

FORMATS = ("table", "json", "csv", "markdown")


def export(sweep, output_format: str, width: int | None = None):
    """A finished sweep (gradcmp.sweep.Sweep) in one of FORMATS: a rich renderable for "table", text for the
    others. `run` and `bench` both print through here."""
    if output_format == "table":
        from gradcmp.report.table import sweep_tables

        return sweep_tables(sweep, width)
    if output_format == "markdown":
        from gradcmp.report.markdown import markdown

        return markdown(sweep)
    if output_format == "csv":
        from gradcmp.report.csvtext import csv_text

        return csv_text(sweep)
    from gradcmp.report.jsontext import json_text

    return json_text(sweep)


def shown(sweep, width: int | None):
    """(what comes before the tables, what comes after) when a sweep is shown, live or from its file: the
    comparison with the baseline first; then the fronts (sweep.front, sweep.memory_budget), the plot's path
    (sweep.plot), and last the verdict that sets the exit status."""
    from rich.console import Group
    from rich.text import Text

    from gradcmp.report.table import comparison, verdict_lines

    before = comparison(sweep.comparison, width) if sweep.comparison is not None else None
    after = []
    if sweep.front:
        from gradcmp.frontier import front_report

        after.append(front_report(sweep.entries, sweep.memory_budget))
    if sweep.plot:
        after.append(Text(f"plot: {sweep.plot}"))
    saved = sweep.saved_comparison
    if saved is not None:
        regressed = saved.get("regressions") or []
        after.append(Text(f"baseline {saved.get('path')} is gone, so its comparison is not shown; as saved, "
                          f"{len(regressed)} rows regressed" + (f": {'; '.join(regressed)}" if regressed else ""),
                          style="bold red" if sweep.failed else "yellow"))
    after.append(verdict_lines(sweep.verdict, sweep.path, sweep.lost, sweep.comparison))
    return before, Group(*after)
