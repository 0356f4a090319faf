"""The Markdown exporter: each case's table (best cells in bold), its counters, notes, recommendation
and growth laws, for pasting into a pull request."""
from __future__ import annotations

from gradcmp.report.case import case_view

_LEFT = ("strategy", "status", "best", "row")


def _table(headers, rows) -> list[str]:
    return ["| " + " | ".join(headers) + " |",
            "|" + "|".join("---" if header in _LEFT else "---:" for header in headers) + "|",
            *("| " + " | ".join(row) + " |" for row in rows)]


def markdown(sweep) -> str:
    from gradcmp.sweep import by_case

    out = []
    for number, group in enumerate(by_case(sweep.entries)):
        recommendation = sweep.recommendations[number] if number < len(sweep.recommendations) else None
        view = case_view(group, recommendation, sweep.laws)
        main = [header for header in view.headers if header not in view.under]
        out += [f"### {view.title}", ""]
        out += _table(main, [[f"**{text}**" if mark == "best" else text for text, mark in row[:len(main)]]
                             for row in view.rows])
        if view.under:
            counters = [[*label, *(text for text, _ in row[len(main):])] for label, row in zip(view.labels, view.rows)
                        if any(text != "-" for text, _ in row[len(main):])]
            out += [""] + _table([*view.label_headers, *view.under], counters)
        out.append("")
        out += [f"- {line}" for line in view.caption]
        out += [f"- {note}" for note in view.notes]
        out += [f"- **{line}**" for line in view.recommendation]
        out += [f"- scaling: {law}" for law in view.laws]
        out.append("")
    return "\n".join(out)
