"""The verdicts CI acts on, as data: the gate over a sweep's rows, and the comparison with a baseline.

Nothing here measures or prints: the command line renders these records (gradcmp.report) and
turns `failed` into the exit status.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from gradcmp.records import Result, Run


def params_text(params: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in params.items())


def gate_failures(entries) -> list[str]:
    """Rows that fail CI: status failed, or a rel. error above the case's tolerance (the other way
    round for the case's expect_failure strategies). `entries`: gradcmp.sweep.Entry records."""
    failures = []
    for entry in entries:
        where = f"{entry.run.problem} {params_text(entry.run.params)}"
        for result in entry.run.results:
            problem = entry.case.gate_problem(result)
            if problem:
                failures.append(f"{where} {result.strategy}: {problem}")
    return failures


def rows_over_tolerance(run: Run, tolerance: float | None) -> list[str]:
    """`run --tolerance`: 'strategy (rel. error)' of each ok row whose rel. error exceeds `tolerance`."""
    if tolerance is None:
        return []
    return [f"{result.strategy} ({result.rel_error:.1e})" for result in run.results
            if result.status == "ok" and result.rel_error is not None and not result.rel_error <= tolerance]


@dataclass(frozen=True)
class Verdict:
    """The gate over a finished sweep: row counts, the rows that fail it, the expected failures."""

    counts: dict[str, int]  # status -> rows
    failures: list[str]
    expected: list[str]  # 'problem strategy' of the expect_failure rows that did fail, as they should

    @property
    def failed(self) -> bool:
        return bool(self.failures)


def verdict(entries) -> Verdict:
    counts = Counter(result.status for entry in entries for result in entry.run.results)
    expected = sorted({f"{entry.run.problem} {result.strategy}" for entry in entries for result in entry.run.results
                       if result.strategy in entry.case.expect_failure and result.status != "skipped"})
    return Verdict({status: counts[status] for status in ("ok", "skipped", "failed")}, gate_failures(entries),
                   expected)


@dataclass(frozen=True)
class BaselineReport:
    """Now against a baseline: the rows measured in both, what makes the comparison doubtful, and the
    verdict against the threshold (None: no gate, only the comparison)."""

    path: str
    threshold: float | None
    comparisons: list[Comparison]
    only_now: int
    only_in_baseline: int
    warnings: list[str] = field(default_factory=list)  # other problems, another machine
    regressions: list[str] = field(default_factory=list)  # rows over the threshold
    nothing_compared: str | None = None  # why no row could be compared, None when some were

    @property
    def failed(self) -> bool:
        """A row regressed, or nothing could be held against the threshold."""
        return bool(self.regressions) or (self.threshold is not None and self.nothing_compared is not None)

    def to_json(self) -> dict:
        return {"path": self.path, "threshold": self.threshold, "only_now": self.only_now,
                "only_in_baseline": self.only_in_baseline,
                "rows": [{"problem": c.run.problem, "params": c.run.params, "strategy": c.new.strategy,
                          "time_ratio": c.time_ratio, "memory_ratio": c.memory_ratio} for c in self.comparisons],
                "regressions": self.regressions, "nothing_compared": self.nothing_compared}


def machine_note(old: dict, new: dict) -> str | None:
    """A warning when the baseline ran on another CPU, device or torch: ratios then mix machine and code."""
    differences = [f"{key} {old.get(key)} -> {new.get(key)}" for key in ("cpu", "device_name", "torch")
                   if old.get(key) != new.get(key) and old.get(key) and new.get(key)]
    if not differences:
        return None
    return "the baseline ran elsewhere (" + "; ".join(differences) + "): ratios mix machine and code changes"


def machine_of(document: dict, runs: list[Run]) -> dict:
    """The machine a results file was measured on: the document's, else its first run's."""
    return document.get("machine") or (runs[0].machine if runs else {})


def against_baseline(path: str, old_runs: list[Run], new_runs: list[Run], old_machine: dict, new_machine: dict,
                     threshold: float | None = None) -> BaselineReport:
    """Compare row by row (same problem, params, strategy, dtype, device; status ok on both sides)."""
    comparisons, only_now, only_old = compare_runs(old_runs, new_runs)
    warnings = []
    old_problems = sorted({run.problem for run in old_runs})
    new_problems = sorted({run.problem for run in new_runs})
    if old_problems != new_problems:
        warnings.append(f"the baseline measured {', '.join(old_problems) or 'nothing'}, this run "
                        f"{', '.join(new_problems) or 'nothing'}: only rows of the same problem are compared")
    note = machine_note(old_machine, new_machine)
    if note:
        warnings.append(note)
    nothing = None
    if not comparisons:
        failed = sum(result.status == "failed" for run in new_runs for result in run.results)
        nothing = ("nothing compared: no row was measured (status ok) in both files"
                   + (f"; {failed} new rows failed" if failed else ""))
    regressions = [f"{c.run.problem} {params_text(c.run.params)} {c.new.strategy}"
                   for c in comparisons if threshold is not None and c.regressed(threshold)]
    return BaselineReport(path, threshold, comparisons, only_now, only_old, warnings, regressions, nothing)


def row_key(run: Run, result: Result) -> tuple:
    """What makes two rows the same measurement: problem, params, strategy, dtype and device."""
    return run.problem, tuple(sorted(run.params.items())), result.strategy, run.dtype, run.device


@dataclass(frozen=True)
class Comparison:
    """One row measured in a baseline and again now; ratios are new / old (above 1: worse)."""

    run: Run
    old: Result
    new: Result

    @property
    def time_ratio(self) -> float | None:
        return _ratio(self.new.time_s, self.old.time_s)

    @property
    def memory_ratio(self) -> float | None:
        return _ratio(self.new.peak_bytes, self.old.peak_bytes)

    def regressed(self, threshold: float) -> bool:
        return any(ratio is not None and ratio > threshold for ratio in (self.time_ratio, self.memory_ratio))


def _ratio(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old <= 0:
        return None
    return new / old if math.isfinite(new / old) else None


def compare_runs(baseline: list[Run], current: list[Run]) -> tuple[list[Comparison], int, int]:
    """Rows measured (status ok) in both, in the current order; and how many rows only one side has."""
    old = {row_key(run, result): result for run in baseline for result in run.results if result.status == "ok"}
    new_keys = set()
    comparisons = []
    for run in current:
        for result in run.results:
            if result.status != "ok":
                continue
            key = row_key(run, result)
            new_keys.add(key)
            if key in old:
                comparisons.append(Comparison(run, old[key], result))
    return comparisons, len(new_keys - old.keys()), len(old.keys() - new_keys)
