"""A sweep of Jobs, measured one after another, its results file rewritten after every row.

The file is a JSON document (see README, "The results file") written atomically, so a sweep
stopped at any moment -- Ctrl-C, SIGTERM, a crash -- leaves a valid file with every finished row.
"""
from __future__ import annotations

import datetime
import os
import tempfile
from dataclasses import asdict
from typing import Callable

from gradcmp.analysis import recommend, scaling_laws
from gradcmp.config import Settings
from gradcmp.gate import gate_failures, params_text, verdict
from gradcmp.presets import Job, Preset
from gradcmp.records import CaseInfo, Entry, Result, Run, machine_info
from gradcmp.storage import default_output, load_runs, write_json_atomic
from gradcmp.version import VERSION

FORMAT = "gradcmp-bench/1"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def gradient_arrays(entries: list[Entry]) -> dict:
    """Every kept gradient and reference of a sweep as numpy arrays, keyed
    'case<N>/<problem> <param>=<value> .../<strategy or reference>'."""
    return {f"case{entry.case.number}/{entry.run.problem} {params_text(entry.run.params)}/{name}": array
            for entry in entries for name, array in entry.run.gradient_arrays().items()}


def by_case(entries: list[Entry]) -> list[list[Entry]]:
    """Entries grouped by the case they came from, in order."""
    groups: dict[int, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.case.number, []).append(entry)
    return list(groups.values())


class Sweep:
    """One `gradcmp bench` (or `run`, a sweep of one job) as records: its entries so far, the document on
    disk, and once it ends, what the library made of it: `comparison` with a baseline (a
    gradcmp.gate.BaselineReport, None without one), the gate's `verdict` and `failed`, the exit status's
    reason. `Sweep.load(path)` reads a results file back into the same records, so a saved sweep renders
    as the live one did."""

    def __init__(self, preset: Preset, jobs: list[Job], settings: Settings, path: str | None, command: list[str],
                 keep_gradients: bool = False):
        """path: the results file (None: kept in memory only); keep_gradients: as in gradcmp.run."""
        self.preset, self.jobs, self.settings, self.path = preset, jobs, settings, path
        self.keep_gradients = keep_gradients
        self.entries: list[Entry] = []
        self.status = "running"
        self.extra: dict = {}  # sections added after the sweep (the baseline comparison)
        self.laws: list = []  # the analysis, made once when the sweep ends (see finish)
        self.recommendations: list = []
        self.saved: dict = {}  # the document as last written
        self.lost: str | None = None  # why the rows are not in the file asked for, if they are not
        self.comparison = None  # gradcmp.gate.BaselineReport, once compared with a baseline
        self.front, self.memory_budget, self.plot = False, None, None  # how it is shown (gradcmp.api.bench)
        self.saved_comparison: dict | None = None  # a loaded file's comparison whose baseline file is gone
        self.header = {
            "format": FORMAT,
            "gradcmp_version": VERSION,
            "command": command,
            "started": _now(),
            "preset": {"name": preset.name, "source": preset.source, "description": preset.description},
            "settings": asdict(settings),
        }

    @property
    def total_rows(self) -> int:
        return sum(len(job.strategies) for job in self.jobs)

    @property
    def finished_rows(self) -> int:
        return sum(len(entry.run.results) for entry in self.entries)

    def next_row(self) -> str | None:
        """'problem params strategy' of the row measured next, None when every row is done."""
        current = self.jobs[len(self.entries) - 1] if self.entries else None
        if current is not None and len(self.entries[-1].run.results) < len(current.strategies):
            job, done = current, len(self.entries[-1].run.results)
        elif len(self.entries) < len(self.jobs):
            job, done = self.jobs[len(self.entries)], 0
        else:
            return None
        return f"{job.problem.name} {params_text(job.params)} {job.strategies[done][0].label}"

    def run(self, on_row: Callable[["Sweep", Entry, Result], None] = lambda sweep, entry, result: None) -> None:
        """Measure every job in turn, saving the file after each row; Interrupted passes through."""
        from gradcmp.runner import run_problem

        self.header["machine"] = machine_info(self.settings.device)
        self.save()
        for job in self.jobs:
            partial = Run(job.problem.name, job.params, self.settings.dtype, self.settings.device,
                          self.settings.seed, self.settings.threads)
            entry = Entry(job.info, partial)
            self.entries.append(entry)

            def on_result(result: Result, entry=entry):
                entry.run.results.append(result)
                self.save()
                on_row(self, entry, result)

            entry.run = run_problem(job.problem, job.params, job.strategies, self.settings, on_result,
                                    self.keep_gradients)
            self.save()
        self.finish("complete")

    def finish(self, status: str) -> None:
        """End the sweep (complete, interrupted): analyse the entries once, and save."""
        self.status = status
        self.laws, self.recommendations = analyse(self.entries)
        self.save()

    def analysis(self) -> tuple[list, list]:
        """(scaling laws, recommendations) of the entries, as analysed when the sweep ended."""
        return self.laws, self.recommendations

    @property
    def verdict(self):
        """The gate over the rows (gradcmp.gate.Verdict)."""
        return verdict(self.entries)

    @property
    def failed(self) -> bool:
        """What sets the exit status: a row failed or left its tolerance, or a row regressed against the
        baseline (or nothing could be compared with it under a threshold)."""
        saved = self.saved_comparison or {}  # a loaded file's, when its baseline file is gone
        return self.verdict.failed or (self.comparison is not None and self.comparison.failed) or \
            bool(saved.get("regressions")) or bool(saved.get("threshold") and saved.get("nothing_compared"))

    def compare_with(self, path: str, document: dict, runs: list[Run], threshold: float | None) -> None:
        """Compare the rows with a baseline's (read by load_runs); the report goes into the document at the
        next save."""
        from gradcmp.gate import against_baseline, machine_of

        self.comparison = against_baseline(path, runs, [entry.run for entry in self.entries],
                                           machine_of(document, runs), self.header.get("machine", {}), threshold)
        self.extra["baseline"] = self.comparison.to_json()

    def fronts(self) -> dict[str, list]:
        """Each configuration's time-memory Pareto front (gradcmp.frontier.Point records, leanest first), rows
        over their case's tolerance left out."""
        from gradcmp.frontier import groups, pareto_front

        return {title: pareto_front(points)
                for title, (points, _) in groups(self.entries, lambda entry: entry.case.tolerance).items()}

    @classmethod
    def load(cls, path: str) -> "Sweep":
        """The sweep a results file holds (a bench's, or `run --format json`'s one run), analysed again;
        nothing is written. Its baseline comparison is made again when the baseline file is still there."""
        document, runs = load_runs(path)
        records = document.get("runs", [document])
        sweep = cls(Preset(document.get("preset", {}).get("name", "run"), path), [],
                    Settings(**document.get("settings", {})) if "settings" in document else Settings(),
                    None, document.get("command", []))
        sweep.path, sweep.saved, sweep.status = path, document, document.get("status", "complete")
        sweep.header.update({key: document[key] for key in sweep.header if key in document})
        sweep.entries = [Entry(CaseInfo(record.get("case", 1), record.get("sweep"), record.get("tolerance"),
                                        tuple(record.get("expect_failure", ()))), run)
                         for record, run in zip(records, runs)]
        sweep.laws, sweep.recommendations = analyse(sweep.entries)
        baseline = document.get("baseline", {}).get("path")
        if baseline and os.path.isfile(baseline):
            sweep.compare_with(baseline, *load_runs(baseline), document["baseline"].get("threshold"))
        elif baseline:  # gone: its verdict as saved still counts
            sweep.saved_comparison = document["baseline"]
        return sweep

    def document(self) -> dict:
        failures = gate_failures(self.entries)
        return {
            **self.header,
            "status": self.status,  # running | complete | interrupted | crashed
            "updated": _now(),
            "runs": [entry.to_json() for entry in self.entries],
            "scaling": [law.to_json() for law in self.laws],
            "recommendations": [recommendation.to_json() for recommendation in self.recommendations],
            "gate": {"passed": not failures, "failures": failures},
            **self.extra,
        }

    def save(self) -> None:
        """Write the document; when the file cannot be written (disk full, directory gone) the rows stay in
        memory and go to a fallback file in the temporary directory, `lost` saying what happened."""
        self.saved = self.document()
        if self.path is None:  # a sweep asked for no file (the library's bench without a path)
            return
        try:
            write_json_atomic(self.path, self.saved)
        except OSError as error:
            if self.lost:  # the fallback failed too: the rows are only in memory (and on stdout at the end)
                self.lost = f"{self.lost}; cannot write {self.path} either ({error.strerror})"
                return
            fallback = os.path.join(tempfile.gettempdir(), os.path.basename(default_output(self.preset.name)))
            self.lost = f"cannot write {self.path} ({error.strerror}); the rows went to {fallback}"
            self.path = fallback
            self.save()

    def stop(self) -> None:
        """Record the interruption in the file."""
        self.finish("interrupted")


def analyse(entries: list[Entry]) -> tuple[list, list]:
    """(scaling laws, recommendations) of finished entries, case by case."""
    laws, recommendations = [], []
    for group in by_case(entries):
        runs = [entry.run for entry in group]
        param = group[0].case.sweep
        if param:
            laws.extend(scaling_laws(group[0].run.problem, param, runs))
        recommendations.append(recommend(runs, param))
    return laws, recommendations
