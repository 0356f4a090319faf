"""A sweep of Jobs, measured one after another, its results file rewritten after every row.

The file is a JSON document (see README, "The results file") written atomically, so a sweep
stopped at any moment -- Ctrl-C, SIGTERM, a crash -- leaves a valid file with every finished row.
"""
from __future__ import annotations

import datetime
import os
import tempfile
from dataclasses import asdict, dataclass
from typing import Callable

from gradcmp import __version__
from gradcmp.analysis import recommend, scaling_laws
from gradcmp.config import Settings
from gradcmp.gate import gate_failures, params_text
from gradcmp.presets import Job, Preset
from gradcmp.results import Result, Run, default_output, machine_info, write_json_atomic

FORMAT = "gradcmp-bench/1"


@dataclass
class Entry:
    """A Job and its Run (partial while the job is being measured)."""

    job: Job
    run: Run

    def to_json(self) -> dict:
        record = self.run.to_json()
        record.update(case=self.job.case, sweep=self.job.sweep, tolerance=self.job.tolerance,
                      expect_failure=list(self.job.expect_failure))
        return record


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def gradient_arrays(entries: list[Entry]) -> dict:
    """Every kept gradient and reference of a sweep as numpy arrays, keyed
    'case<N>/<problem> <param>=<value> .../<strategy or reference>'."""
    return {f"case{entry.job.case}/{entry.run.problem} {params_text(entry.run.params)}/{name}": array
            for entry in entries for name, array in entry.run.gradient_arrays().items()}


def by_case(entries: list[Entry]) -> list[list[Entry]]:
    """Entries grouped by the case they came from, in order."""
    groups: dict[int, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.job.case, []).append(entry)
    return list(groups.values())


class Sweep:
    """The state of one `gradcmp bench`: its entries so far, and the document on disk."""

    def __init__(self, preset: Preset, jobs: list[Job], settings: Settings, path: str | None, command: list[str],
                 keep_gradients: bool = False):
        """path: the results file (None: kept in memory only); keep_gradients: as in gradcmp.compare."""
        self.preset, self.jobs, self.settings, self.path = preset, jobs, settings, path
        self.keep_gradients = keep_gradients
        self.entries: list[Entry] = []
        self.status = "running"
        self.extra: dict = {}  # sections added after the sweep (the baseline comparison)
        self.laws: list = []  # the analysis, made once when the sweep ends (see finish)
        self.recommendations: list = []
        self.saved: dict = {}  # the document as last written
        self.lost: str | None = None  # why the rows are not in the file asked for, if they are not
        self.header = {
            "format": FORMAT,
            "gradcmp_version": __version__,
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
        """'problem declared strategy' of the row measured next, None when every row is done."""
        if self.entries and len(self.entries[-1].run.results) < len(self.entries[-1].job.strategies):
            job, done = self.entries[-1].job, len(self.entries[-1].run.results)
        elif len(self.entries) < len(self.jobs):
            job, done = self.jobs[len(self.entries)], 0
        else:
            return None
        return f"{job.problem.name} {params_text(job.params)} {job.strategies[done][0].name}"

    def run(self, on_row: Callable[[Entry, Result], None] = lambda entry, result: None) -> None:
        """Measure every job in turn, saving the file after each row; Interrupted passes through."""
        from gradcmp.run import run_problem

        self.header["machine"] = machine_info(self.settings.device)
        self.save()
        for job in self.jobs:
            partial = Run(job.problem.name, job.params, self.settings.dtype, self.settings.device,
                          self.settings.seed, self.settings.threads)
            entry = Entry(job, partial)
            self.entries.append(entry)

            def on_result(result: Result, entry=entry):
                entry.run.results.append(result)
                self.save()
                on_row(entry, result)

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
        param = group[0].job.sweep
        if param:
            laws.extend(scaling_laws(group[0].run.problem, param, runs))
        recommendations.append(recommend(runs, param))
    return laws, recommendations
