"""What every exporter shows of one case (a run is a case of one configuration): its rows as cells,
the counters, the notes under the table, the recommendation and the growth laws. The exporters
(table, markdown) only lay these out; each cell's text comes from gradcmp.report.cells."""
from __future__ import annotations

from dataclasses import dataclass, field

from gradcmp.report import cells
from gradcmp.records import Result

# A cell: its text, and what it says beyond the text (the exporters choose how to show that):
# "best" (fastest or leanest), "over" (over the tolerance), or the row's status.
Cell = tuple[str, str]


@dataclass
class CaseView:
    title: str
    caption: list[str]
    headers: list[str]
    rows: list[list[Cell]]
    first_of: list[bool]  # whether a row opens a new configuration (a new value of the swept param)
    labels: list[list[str]]  # what names each row on its own: [strategy], or [value of the swept param, strategy]
    under: list[str]  # headers shown in a small table under the main one: the counters (nfe, ...)
    notes: list[str] = field(default_factory=list)
    recommendation: list[str] = field(default_factory=list)
    laws: list[str] = field(default_factory=list)

    @property
    def label_headers(self) -> list[str]:
        return self.headers[:self.headers.index("strategy") + 1]

    @property
    def names(self) -> list[str]:
        """Each row's label in one piece: 'vjp', or 'size=8 vjp' in a sweep."""
        param = self.label_headers[0] if len(self.label_headers) > 1 else None
        return [f"{param}={label[0]} {label[1]}" if param else label[0] for label in self.labels]


# Headers that move under the table too where it would not fit ("best" is left out: the recommendation names them).
SECONDARY = ("max abs err", "best")


def best(results: list[Result]) -> tuple[Result | None, Result | None]:
    """(fastest, leanest) among the ok rows of one configuration."""
    ok = [result for result in results if result.status == "ok"]
    timed = [result for result in ok if result.time_s is not None]
    sized = [result for result in ok if result.peak_bytes is not None]
    return (min(timed, key=lambda result: result.time_s) if timed else None,
            min(sized, key=lambda result: result.peak_bytes) if sized else None)


def title(group) -> str:
    """The problem, the params no column shows, dtype, device and threads."""
    run, param = group[0].run, group[0].case.sweep
    fixed = " ".join(f"{key}={value}" for key, value in run.params.items() if key != param)
    return "  ".join(part for part in (run.problem, fixed, f"{run.dtype} {run.device}", f"threads={run.threads}")
                     if part)


def _notes(group) -> list[str]:
    """Why rows were skipped or failed, once per strategy and status with the values of the swept param
    it happened at; the measurements' own notes; and one line per reason strategies do not apply."""
    param = group[0].case.sweep
    seen: dict[tuple[str, str], tuple[list, str]] = {}
    inapplicable: dict[str, list[str]] = {}
    notes = []
    for entry in group:
        for result in entry.run.results:
            if result.not_applicable:
                names = inapplicable.setdefault(result.reason or "", [])
                if result.strategy not in names:
                    names.append(result.strategy)
                continue
            if result.reason:
                values, _ = seen.setdefault((result.strategy, result.status), ([], result.reason))
                values.append(entry.run.params[param] if param else None)
            at = f" at {param}={entry.run.params[param]}" if param else ""
            notes.extend(f"{result.strategy}{at}: {note}" for note in result.notes)
    lines = [f"{strategy} {status}" + (f" at {param}={', '.join(map(str, values))}" if param else "")
             + (f"; at {values[0]}" if len(values) > 1 else "") + f": {reason}"
             for (strategy, status), (values, reason) in seen.items()]
    lines += [not_applicable(group[0].run.problem, names, reason) for reason, names in inapplicable.items()]
    return lines + notes


def not_applicable(problem: str, names: list[str], reason: str) -> str:
    """'not applicable to inv-norm: backprop, adjoint (they need an ODE problem)': one line per reason."""
    plural = reason.startswith("needs ") and len(names) > 1
    return f"not applicable to {problem}: {', '.join(names)} ({'they need ' + reason[6:] if plural else reason})"


def case_view(group, recommendation=None, laws=()) -> CaseView:
    """The view of one case's entries (gradcmp.sweep.Entry), in order."""
    param = group[0].case.sweep
    tolerance = group[0].case.tolerance
    main = next(iter(group[0].run.params), "size")  # the main param comes first ("size": none to name)
    shown = [(entry, result) for entry in group for result in entry.run.results if not result.not_applicable]
    compiled = any(result.compile_s is not None for _, result in shown)
    headers = ([param] if param else []) + ["strategy", "status", cells.time_header(),
                                          *(["compile"] if compiled else []), "x primal", "peak mem", "saved",
                                          "rel. error", "max abs err", "best"]
    rows, first_of = [], []
    previous = None
    for entry, result in shown:
        fastest, leanest = best(entry.run.results)
        first = entry is not previous
        previous = entry
        row: list[Cell] = [(str(entry.run.params[param]) if first else "", "")] if param else []
        row += [(result.strategy, ""), (result.status, result.status),
                (cells.time(result), "best" if result is fastest else "")]
        if compiled:
            row.append((cells.seconds(result.compile_s), ""))
        row += [(cells.ratio(result.x_primal), ""),
                (cells.size(result.peak_bytes), "best" if result is leanest else ""),
                (cells.size(result.saved_bytes), ""),
                (cells.error(result.rel_error), "over" if entry.case.over_tolerance(result) else ""),
                (cells.error(result.max_abs_error), ""),
                (", ".join(word for word, winner in (("fastest", fastest), ("leanest", leanest))
                           if result is winner), "")]
        rows.append(row)
        first_of.append(first)
    caption = []
    if len(group) == 1:
        run = group[0].run
        caption.append("  ".join(f"{key}: {value:.3g}" if isinstance(value, float) else f"{key}: {value}"
                                 for key, value in run.info.items()))
        primal = next((r.primal_time_s for r in run.results if r.primal_time_s is not None), None)
        if primal:
            caption.append(f"one loss evaluation (primal): {cells.seconds(primal)}")
    if main != "size":  # say what --size meant where the name does not
        caption.append(f"--sizes set {main}" if param == main else f"--size set {main}={group[0].run.params[main]}")
    if tolerance is not None:
        caption.append(f"tolerance: rel. error <= {tolerance:.0e}")
    counter_names = sorted({name for _, result in shown for name in result.stats})
    for row, (_, result) in zip(rows, shown):
        row.extend((str(result.stats.get(name, "-")), "") for name in counter_names)
    view = CaseView(title(group), [line for line in caption if line], headers + counter_names, rows, first_of,
                    [([str(entry.run.params[param])] if param else []) + [result.strategy] for entry, result in shown],
                    counter_names, notes=_notes(group))
    if recommendation is not None:
        view.recommendation = list(recommendation.lines)
    view.laws = [law.describe() for law in laws if law.problem == group[0].run.problem and law.param == param]
    return view
