"""`gradcmp list PROBLEM`: one problem's params (help, default, range) and the strategies for it."""
from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gradcmp.config import Param
from gradcmp.report.case import not_applicable


def param_range(param: Param) -> str:
    """The values a param accepts, in words: 'one of a, b', '>= 1', '> 0', 'true or false'."""
    if param.choices:
        return "one of " + ", ".join(param.choices)
    if isinstance(param.default, bool):
        return "true or false"
    bounds = [f">= {param.minimum:g}" if param.minimum is not None else "",
              f"> {param.above:g}" if param.above is not None else "",
              f"<= {param.maximum:g}" if param.maximum is not None else ""]
    kind = {int: "integer", float: "number", str: "text"}[param.type]
    return " ".join(part for part in (kind, *bounds) if part)


def problem_sheet(problem, strategies) -> Group:
    """The problem's params, the strategies that apply, and one line per reason the others do not."""
    params = Table(title=f"{problem.name}: {problem.description}", title_justify="left")
    for header in ("param", "default", "range", "help"):
        params.add_column(header)
    for number, param in enumerate(problem.params):
        help_text = param.help + (" (--size sets it)" if number == 0 else "")
        params.add_row(param.name, str(param.default), param_range(param), Text(help_text))
    applying = Table(title="strategies that apply", title_justify="left")
    for header in ("strategy", "description"):
        applying.add_column(header)
    from gradcmp.strategies import representative

    left_out: dict[str, list[str]] = {}
    for strategy in map(representative, strategies.values()):
        reason = strategy.applies_to(problem)
        if reason:
            left_out.setdefault(reason, []).append(strategy.name)
            continue
        unavailable = strategy.unavailable()
        applying.add_row(strategy.name,
                         Text(strategy.description + (f" [unavailable: {unavailable}]" if unavailable else "")))
    notes = [Text(not_applicable(problem.name, names, reason)) for reason, names in left_out.items()]
    return Group(params, applying, *notes)
